# Compiler flags for recur's own binaries (tests, benchmarks, examples); the exported INTERFACE
# targets carry none of these, so consumers keep their own flags.
add_library(recur_project_flags INTERFACE)
target_compile_options(recur_project_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-unknown-pragmas>)
if(RECUR_NATIVE)
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-march=native RECUR_HAS_MARCH_NATIVE)
  if(RECUR_HAS_MARCH_NATIVE)
    target_compile_options(recur_project_flags INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
  endif()
endif()
# GCC 12 reports -Wuninitialized inside its own AVX-512 intrinsics once xsimd's exp is inlined
# (GCC PR 105593, fixed in GCC 13); silence only that compiler's false positive.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(recur_project_flags INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Wno-uninitialized>)
endif()
