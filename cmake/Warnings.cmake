# Warnings every cctune target compiles with. CCTUNE_WERROR turns them into errors (CI sets it).
add_library(cctune_warnings INTERFACE)
target_compile_options(cctune_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
    -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough>)
# Device code: nvcc's own warnings, and the host compiler's for the host half of each .cu file.
target_compile_options(cctune_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Wshadow -Xptxas=-warn-spills,-warn-lmem-usage>)
if(CCTUNE_WERROR)
  target_compile_options(cctune_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>
                         $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings>)
endif()
