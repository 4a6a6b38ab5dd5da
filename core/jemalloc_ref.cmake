# The jemalloc reference allocator. gcc links with --as-needed here: keep libjemalloc in the
# link even where nothing else names it, so that it replaces malloc for the whole process.
pb_module(pb_jemalloc_ref SOURCES ${CMAKE_CURRENT_LIST_DIR}/jemalloc_ref.c
  LIBS pb_common -Wl,--no-as-needed -ljemalloc -Wl,--as-needed PkgConfig::JEMALLOC)
