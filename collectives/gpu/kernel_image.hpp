#pragma once
// Whether the GPU in use can load a kernel this build compiled. A kernel launched on a GPU for which
// the fatbinary holds neither machine code nor PTX fails with CUDA's "no kernel image is available",
// which names neither the GPU nor what the build holds: this asks first (cudaFuncGetAttributes loads
// the kernel without launching it) and refuses with one line that names both.
#include <string>
#include <string_view>

namespace cctune::gpu {

// The oldest compute capability (major * 10 + minor) that a CMake CUDA_ARCHITECTURES list such as
// "75-virtual,80-real,90-real" can run on: its lowest number, since PTX runs on any newer GPU and
// machine code on newer minor versions of its own major. 0 when the list names no number.
int oldest_runnable(std::string_view architectures);

// "GPU 0 (Tesla V100-SXM2-32GB, sm_70) cannot run cctune's <what>: this build has them for sm_75 and
// newer (CUDA architectures 75-virtual,80-real,90-real,90-virtual); ..." — the refusal, built from plain inputs so that
// it can be checked where there is no GPU.
std::string no_kernel_image_message(std::string_view what, int device, std::string_view name, int major, int minor,
                                    std::string_view architectures);

// Throws UsageError with that message when `kernel` (a __global__ function's address) has no image the
// current device can load; other CUDA errors throw cctune::Error as CCTUNE_CUDA does. Asks once per
// device and kernel.
void require_kernel_image(const void* kernel, std::string_view what, std::string_view architectures);

}  // namespace cctune::gpu
