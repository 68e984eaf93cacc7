# Warning flags for fastpot's own targets; an INTERFACE target that is never exported.
add_library(fastpot_warnings INTERFACE)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(fastpot_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
    -Wno-sign-conversion)
  if(FASTPOT_WERROR)
    target_compile_options(fastpot_warnings INTERFACE -Werror)
  endif()
endif()
