#pragma once
// The CUDA runtime pieces both GPU backends use: errors as exceptions naming the call, and RAII owners
// for device memory, streams, events and memory opened from another process.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collectives/backend.hpp"

namespace cctune::gpu {

// Throws cctune::Error naming the call and CUDA's own message when rc is not cudaSuccess.
void check_cuda(cudaError_t rc, std::string_view call, const char* file, int line);
#define CCTUNE_CUDA(call) ::cctune::gpu::check_cuda((call), #call, __FILE__, __LINE__)

// "2.5 s" style, for messages (this code builds where there is no fmt).
std::string seconds_text(double seconds);

// How many GPUs this process can use. 0 when there is no driver or no device, with CUDA's reason in
// `why` (the GPU tests print it when they skip).
int usable_devices(std::string* why = nullptr);

// The device a rank uses: its local rank, round robin over the node's GPUs.
int device_for_local_rank(int local_rank);

// Makes that device current. A backend declares it before any member that allocates or creates a
// stream, since those belong to the device current when they are made.
struct CurrentDevice {
  explicit CurrentDevice(int local_rank);
  // "1 [0000:1b:00.0] NVIDIA H200", as nccl-tests lists its devices.
  std::string describe() const;
  int index = 0;
};

class DeviceMemory {
 public:
  DeviceMemory() = default;
  explicit DeviceMemory(std::size_t bytes);
  DeviceMemory(DeviceMemory&& other) noexcept { *this = std::move(other); }
  DeviceMemory& operator=(DeviceMemory&& other) noexcept;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  ~DeviceMemory();

  void* get() const { return pointer_; }
  std::size_t bytes() const { return bytes_; }
  // Grows (never shrinks) to at least `bytes`, dropping the old contents.
  void reserve(std::size_t bytes);

 private:
  void* pointer_ = nullptr;
  std::size_t bytes_ = 0;
};

// Another process's allocation, mapped into this one through its CUDA IPC handle.
class OpenedPeerMemory {
 public:
  explicit OpenedPeerMemory(const cudaIpcMemHandle_t& handle);
  OpenedPeerMemory(OpenedPeerMemory&& other) noexcept : pointer_(std::exchange(other.pointer_, nullptr)) {}
  OpenedPeerMemory& operator=(OpenedPeerMemory&&) = delete;
  OpenedPeerMemory(const OpenedPeerMemory&) = delete;
  ~OpenedPeerMemory();
  void* get() const { return pointer_; }

 private:
  void* pointer_ = nullptr;
};

class Stream {
 public:
  Stream();  // non-blocking: never serialised with the legacy default stream
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class Event {
 public:
  Event();
  Event(Event&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}
  Event& operator=(Event&&) = delete;
  Event(const Event&) = delete;
  ~Event();
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// Waits for everything queued on `stream` so far. Polls (with short sleeps, so that a rank waiting for
// a slow peer leaves the CPU to others) and returns false once `timeout_seconds` have passed with work
// still queued; 0 waits for ever. `still_healthy` is asked at each poll (NCCL's asynchronous error).
bool wait_for_stream(cudaStream_t stream, double timeout_seconds, bool (*still_healthy)(void*) = nullptr,
                     void* context = nullptr);

// `iterations` calls queued back to back, each between two events: what time_on_device returns.
class CallTimer {
 public:
  void reserve(int iterations);
  void mark(int index, cudaStream_t stream);  // 0 before the first call, i after call i
  std::vector<double> microseconds(int iterations) const;  // after the stream has finished

 private:
  std::vector<Event> events_;
};

// Buffers in device memory on the current device (the cuda backend's are also mapped by its peers).
class DeviceBuffer final : public Buffer {
 public:
  explicit DeviceBuffer(DeviceMemory memory) : memory_(std::move(memory)) {}
  void* data() override { return memory_.get(); }
  std::size_t bytes() const override { return memory_.bytes(); }
  void copy_from_host(const void* source, std::size_t bytes) override;
  void copy_to_host(void* destination, std::size_t bytes) const override;
  void fill_bytes(std::byte value, std::size_t bytes) override;

 private:
  DeviceMemory memory_;
};

}  // namespace cctune::gpu
