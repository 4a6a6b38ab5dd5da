# Scrubbing (scrub.h) is built into pb_heap: allocation and free call its heap side. This name
# stays for what links "the scrubbers".
add_library(pb_scrub INTERFACE)
target_link_libraries(pb_scrub INTERFACE pb_heap)
