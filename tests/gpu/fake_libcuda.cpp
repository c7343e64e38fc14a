// A stand-in for the NVIDIA driver's libcuda.so.1, for testing where there is no driver: it reports
// the driver version FAKE_CUDA_DRIVER_VERSION (default 12040, CUDA 12.4, the 550 driver series) and
// answers every other entry point the CUDA runtime asks for with an error. The runtime then says what
// it says on a machine whose driver is older than the runtime (cudaErrorInsufficientDriver), which is
// what gpu_check must name instead of "no GPU". Only the entry points the CUDA 13 runtime looks up by
// name are defined; it finds the rest through cuGetProcAddress_v2.
#include <cstdlib>
#include <cstring>

namespace {
int driver_version() {
  const char* text = std::getenv("FAKE_CUDA_DRIVER_VERSION");
  return text ? std::atoi(text) : 12040;
}
int not_initialized() { return 3; }  // CUDA_ERROR_NOT_INITIALIZED
}  // namespace

extern "C" {
__attribute__((visibility("default"))) int cuDriverGetVersion(int* version) {
  *version = driver_version();
  return 0;
}
__attribute__((visibility("default"))) int cuInit(unsigned) { return 0; }
__attribute__((visibility("default"))) int cuGetProcAddress_v2(const char* symbol, void** function, int,
                                                               unsigned long long, int* status) {
  if (std::strcmp(symbol, "cuDriverGetVersion") == 0) {
    *function = reinterpret_cast<void*>(&cuDriverGetVersion);
  } else if (std::strcmp(symbol, "cuInit") == 0) {
    *function = reinterpret_cast<void*>(&cuInit);
  } else if (std::strcmp(symbol, "cuGetProcAddress") == 0) {
    *function = reinterpret_cast<void*>(&cuGetProcAddress_v2);
  } else {
    *function = reinterpret_cast<void*>(&not_initialized);
  }
  if (status) *status = 0;  // CU_GET_PROC_ADDRESS_SUCCESS
  return 0;
}
}
