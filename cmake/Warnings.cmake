# Warnings every cctune target compiles with. CCTUNE_WERROR turns them into errors (CI sets it).
add_library(cctune_warnings INTERFACE)
target_compile_options(cctune_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
    -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough>)
if(CCTUNE_WERROR)
  target_compile_options(cctune_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()
