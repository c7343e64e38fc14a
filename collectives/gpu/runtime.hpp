#pragma once
// The CUDA runtime pieces both GPU backends use: errors as exceptions naming the call, and RAII owners
// for device memory, streams, events and memory opened from another process.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
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

// After a kernel that could not be stopped, every CUDA call that waits for the device (cudaFree,
// cudaFreeHost, closing an IPC mapping, synchronising) would wait for ever, and the error could never
// reach MPI_Abort at the edge. The owners below then leak what they hold instead of freeing it: the
// process is about to end, and its exit gives the memory back.
void abandon_device() noexcept;
bool device_abandoned() noexcept;

// Makes that device current. A backend declares it before any member that allocates or creates a
// stream, since those belong to the device current when they are made.
struct CurrentDevice {
  CurrentDevice() = default;  // none chosen yet (index -1): a backend that first learns whether it may use one
  explicit CurrentDevice(int local_rank);
  // "1 [0000:1b:00.0] NVIDIA H200", as nccl-tests lists its devices.
  std::string describe() const;
  int index = -1;
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
  // Gives up the memory without freeing it (a peer may still map it after an error; exit reclaims it).
  void leak() noexcept;

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
  // Forgets the mapping without closing it (an error path: closing may wait for the device).
  void leak() noexcept { pointer_ = nullptr; }

 private:
  void* pointer_ = nullptr;
};

// Pinned host memory mapped into the device's address space: words that the host writes while a
// kernel runs and the kernel reads (and the other way round), with no copy and no synchronisation.
class MappedHostWords {
 public:
  MappedHostWords() = default;
  explicit MappedHostWords(std::size_t words);  // zeroed
  MappedHostWords(MappedHostWords&& other) noexcept { *this = std::move(other); }
  MappedHostWords& operator=(MappedHostWords&& other) noexcept;
  MappedHostWords(const MappedHostWords&) = delete;
  MappedHostWords& operator=(const MappedHostWords&) = delete;
  ~MappedHostWords();
  // The host's pointer (read and write it through std::atomic_ref) and the device's.
  std::uint32_t* host() const { return host_; }
  std::uint32_t* device() const { return device_; }

 private:
  std::uint32_t* host_ = nullptr;
  std::uint32_t* device_ = nullptr;
};

class Stream {
 public:
  Stream();  // non-blocking: never serialised with the legacy default stream
  Stream(Stream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}
  Stream& operator=(Stream&&) = delete;
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

// The rule behind every bounded wait here, apart from CUDA so that it can be tested with a fake clock:
// calls 0..calls-1 finish in turn, and each must finish within `timeout_seconds` (0: no limit) of the
// moment the one before it was seen to finish (the first: of the start). So a batch of queued calls
// is bounded per call, not as a whole. Returns the index of the first call that did not finish in
// time, or for which healthy() said no; -1 when all finished. Errors thrown by finished() pass through.
struct WaitSteps {
  std::function<bool(int call)> finished;
  std::function<bool()> healthy;     // empty: always
  std::function<double()> now;       // seconds, monotonic
  std::function<void(int poll)> pause;  // between two polls of the same call (poll counts from 0)
};
int first_overdue_call(int calls, double timeout_seconds, const WaitSteps& steps);

// Waits for `events` in turn (each marks the end of one queued call), then for the rest of `stream`,
// each within `timeout_seconds` of the one before (first_overdue_call's rule). Returns the index of
// the event that did not come in time (events.size(): the stream's tail), or -1 when everything finished.
int wait_for_events(std::span<const cudaEvent_t> events, cudaStream_t stream, double timeout_seconds,
                    bool (*still_healthy)(void*) = nullptr, void* context = nullptr);

// `iterations` calls queued back to back, each between two events: what time_on_device returns.
class CallTimer {
 public:
  void reserve(int iterations);
  void mark(int index, cudaStream_t stream);  // 0 before the first call, i after call i
  std::vector<double> microseconds(int iterations) const;  // after the stream has finished
  double elapsed_us(int from, int to) const;  // between two marks, both reached
  cudaEvent_t event(int index) const { return events_.at(static_cast<std::size_t>(index)).get(); }

 private:
  std::vector<Event> events_;
};

// A CUDA graph captured from a stream (nccl-tests' -G): begin() starts the capture, end() ends it and
// instantiates the graph, launch() replays it on the stream. A capture still open when this is
// destroyed (an error while capturing) is ended and dropped, so that the stream can be used again.
class StreamGraph {
 public:
  explicit StreamGraph(cudaStream_t stream) : stream_(stream) {}
  StreamGraph(const StreamGraph&) = delete;
  StreamGraph& operator=(const StreamGraph&) = delete;
  ~StreamGraph();
  void begin();
  void end();
  void launch();

 private:
  cudaStream_t stream_;
  bool capturing_ = false;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

// A buffer in device memory on the current device that someone else owns (the cuda backend keeps the
// memory it shares with its peers until they have all closed their mappings of it).
class DeviceBufferView : public Buffer {
 public:
  DeviceBufferView(void* pointer, std::size_t bytes) : pointer_(pointer), bytes_(bytes) {}
  void* data() override { return pointer_; }
  std::size_t bytes() const override { return bytes_; }
  void copy_from_host(const void* source, std::size_t bytes) override;
  void copy_to_host(void* destination, std::size_t bytes) const override;
  void fill_bytes(std::byte value, std::size_t bytes) override;
  std::unique_ptr<Buffer> view(std::size_t offset) override;

 private:
  void* pointer_;
  std::size_t bytes_;
};

// A buffer that owns its device memory (the nccl backend's).
class DeviceBuffer final : public DeviceBufferView {
 public:
  explicit DeviceBuffer(DeviceMemory memory)
      : DeviceBufferView(memory.get(), memory.bytes()), memory_(std::move(memory)) {}

 private:
  DeviceMemory memory_;
};

}  // namespace cctune::gpu
