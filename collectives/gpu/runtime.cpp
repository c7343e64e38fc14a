#include "collectives/gpu/runtime.hpp"

#include <algorithm>
#include <chrono>
#include <sstream>
#include <thread>

#include "collectives/error.hpp"

namespace cctune::gpu {

void check_cuda(cudaError_t rc, std::string_view call, const char* file, int line) {
  if (rc == cudaSuccess) return;
  throw Error(std::string(call) + " failed: " + cudaGetErrorString(rc) + " (" + cudaGetErrorName(rc) + ")", file, line);
}

std::string seconds_text(double seconds) {
  std::ostringstream text;
  text << seconds << " s";
  return text.str();
}

int usable_devices(std::string* why) {
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) {
    if (why) *why = cudaGetErrorString(rc);
    cudaGetLastError();  // clear it, so that it is not reported by the next call
    return 0;
  }
  if (count == 0 && why) *why = "no CUDA device";
  return count;
}

int device_for_local_rank(int local_rank) {
  std::string why;
  const int devices = usable_devices(&why);
  if (devices == 0) CCTUNE_USAGE_ERROR("this rank sees no GPU: " + why);
  return local_rank % devices;
}

CurrentDevice::CurrentDevice(int local_rank) : index(device_for_local_rank(local_rank)) {
  CCTUNE_CUDA(cudaSetDevice(index));
}

std::string CurrentDevice::describe() const {
  cudaDeviceProp properties{};
  CCTUNE_CUDA(cudaGetDeviceProperties(&properties, index));
  char bus[32] = {};
  cudaDeviceGetPCIBusId(bus, sizeof bus, index);
  return std::to_string(index) + " [" + bus + "] " + properties.name;
}

DeviceMemory::DeviceMemory(std::size_t bytes) : bytes_(bytes) {
  // cudaMalloc(0) returns no memory; one byte keeps data() distinct for every buffer.
  CCTUNE_CUDA(cudaMalloc(&pointer_, bytes ? bytes : 1));
}

DeviceMemory& DeviceMemory::operator=(DeviceMemory&& other) noexcept {
  if (this != &other) {
    if (pointer_) cudaFree(pointer_);
    pointer_ = std::exchange(other.pointer_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

DeviceMemory::~DeviceMemory() {
  if (pointer_) cudaFree(pointer_);  // errors cannot be reported from here, and the memory is gone anyway
}

void DeviceMemory::reserve(std::size_t bytes) {
  if (pointer_ && bytes <= bytes_) return;
  *this = DeviceMemory(bytes);
}

OpenedPeerMemory::OpenedPeerMemory(const cudaIpcMemHandle_t& handle) {
  CCTUNE_CUDA(cudaIpcOpenMemHandle(&pointer_, handle, cudaIpcMemLazyEnablePeerAccess));
}

OpenedPeerMemory::~OpenedPeerMemory() {
  if (pointer_) cudaIpcCloseMemHandle(pointer_);
}

Stream::Stream() { CCTUNE_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
Stream::~Stream() {
  if (stream_) cudaStreamDestroy(stream_);
}

Event::Event() { CCTUNE_CUDA(cudaEventCreate(&event_)); }
Event::~Event() {
  if (event_) cudaEventDestroy(event_);
}

bool wait_for_stream(cudaStream_t stream, double timeout_seconds, bool (*still_healthy)(void*), void* context) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto pause = std::chrono::microseconds(1);
  for (;;) {
    const cudaError_t rc = cudaStreamQuery(stream);
    if (rc == cudaSuccess) return true;
    if (rc != cudaErrorNotReady) CCTUNE_CUDA(rc);
    if (still_healthy && !still_healthy(context)) return false;
    if (timeout_seconds > 0 && std::chrono::duration<double>(Clock::now() - start).count() > timeout_seconds) {
      return false;
    }
    // Short calls finish within microseconds: start with a spin-like pause, back off to 1 ms.
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

void CallTimer::reserve(int iterations) {
  while (events_.size() < static_cast<std::size_t>(iterations) + 1) events_.emplace_back();
}

void CallTimer::mark(int index, cudaStream_t stream) {
  CCTUNE_CUDA(cudaEventRecord(events_.at(static_cast<std::size_t>(index)).get(), stream));
}

std::vector<double> CallTimer::microseconds(int iterations) const {
  std::vector<double> samples(static_cast<std::size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    float ms = 0;
    CCTUNE_CUDA(cudaEventElapsedTime(&ms, events_[static_cast<std::size_t>(i)].get(),
                                     events_[static_cast<std::size_t>(i) + 1].get()));
    samples[static_cast<std::size_t>(i)] = static_cast<double>(ms) * 1e3;
  }
  return samples;
}

void DeviceBuffer::copy_from_host(const void* source, std::size_t bytes) {
  if (bytes) CCTUNE_CUDA(cudaMemcpy(memory_.get(), source, bytes, cudaMemcpyHostToDevice));
}

void DeviceBuffer::copy_to_host(void* destination, std::size_t bytes) const {
  if (bytes) CCTUNE_CUDA(cudaMemcpy(destination, memory_.get(), bytes, cudaMemcpyDeviceToHost));
}

void DeviceBuffer::fill_bytes(std::byte value, std::size_t bytes) {
  if (bytes) CCTUNE_CUDA(cudaMemset(memory_.get(), static_cast<int>(value), bytes));
  CCTUNE_CUDA(cudaDeviceSynchronize());
}

}  // namespace cctune::gpu
