# recorder_warnings: an interface target every project target links, so the warning set is
# defined once. -Werror only with -DRECORDER_WERROR=ON (scripts/test.sh turns it on).
add_library(recorder_warnings INTERFACE)
target_compile_options(recorder_warnings INTERFACE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
                                                   -Wno-missing-field-initializers)
if(RECORDER_WERROR)
  target_compile_options(recorder_warnings INTERFACE -Werror)
endif()
