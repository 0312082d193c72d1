# recorder_warnings: an interface target every project target links, so the warning set is
# defined once. -Werror is on by default (CI); turn it off with -DRECORDER_WERROR=OFF.
add_library(recorder_warnings INTERFACE)
target_compile_options(recorder_warnings INTERFACE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
                                                   -Wno-missing-field-initializers)
if(RECORDER_WERROR)
  target_compile_options(recorder_warnings INTERFACE -Werror)
endif()
