# The noise probes the runner takes around every measured phase (bench/noise.h): steal time,
# CPU frequency; the workers add involuntary switches and migrations.
target_sources(pb_harness PRIVATE ${CMAKE_CURRENT_LIST_DIR}/noise.c)
