#include "collectives/gpu/runtime.hpp"

#include <algorithm>
#include <atomic>
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

namespace {
std::atomic<bool> abandoned{false};
}  // namespace

void abandon_device() noexcept { abandoned.store(true); }
bool device_abandoned() noexcept { return abandoned.load(); }

int usable_devices(std::string* why) {
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) {
    if (why) {
      // CUDA says "driver version is insufficient" both where there is no driver at all and where it
      // is too old for this runtime: name which, and the versions (gpu_check's one line does too).
      int driver = 0, runtime = 0;
      cudaDriverGetVersion(&driver);
      cudaRuntimeGetVersion(&runtime);
      auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
      if (driver == 0) {
        *why = std::string("no NVIDIA driver here (") + cudaGetErrorString(rc) + ")";
      } else if (driver < runtime) {
        *why = "the NVIDIA driver supports CUDA " + version(driver) + ", older than this build's CUDA runtime " +
               version(runtime) + ": update the driver";
      } else {
        *why = cudaGetErrorString(rc);
      }
    }
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
    if (pointer_ && !device_abandoned()) cudaFree(pointer_);
    pointer_ = std::exchange(other.pointer_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

DeviceMemory::~DeviceMemory() {
  // Errors cannot be reported from here, and the memory is gone anyway.
  if (pointer_ && !device_abandoned()) cudaFree(pointer_);
}

void DeviceMemory::leak() noexcept {
  pointer_ = nullptr;
  bytes_ = 0;
}

void DeviceMemory::reserve(std::size_t bytes) {
  if (pointer_ && bytes <= bytes_) return;
  *this = DeviceMemory(bytes);
}

OpenedPeerMemory::OpenedPeerMemory(const cudaIpcMemHandle_t& handle) {
  CCTUNE_CUDA(cudaIpcOpenMemHandle(&pointer_, handle, cudaIpcMemLazyEnablePeerAccess));
}

OpenedPeerMemory::~OpenedPeerMemory() {
  if (pointer_ && !device_abandoned()) cudaIpcCloseMemHandle(pointer_);
}

MappedHostWords::MappedHostWords(std::size_t words) {
  void* host = nullptr;
  CCTUNE_CUDA(cudaHostAlloc(&host, words * sizeof(std::uint32_t), cudaHostAllocMapped));
  host_ = static_cast<std::uint32_t*>(host);
  std::fill(host_, host_ + words, 0u);
  void* device = nullptr;
  const cudaError_t rc = cudaHostGetDevicePointer(&device, host, 0);
  if (rc != cudaSuccess) {
    cudaFreeHost(host);
    host_ = nullptr;
    CCTUNE_CUDA(rc);
  }
  device_ = static_cast<std::uint32_t*>(device);
}

MappedHostWords& MappedHostWords::operator=(MappedHostWords&& other) noexcept {
  if (this != &other) {
    if (host_ && !device_abandoned()) cudaFreeHost(host_);
    host_ = std::exchange(other.host_, nullptr);
    device_ = std::exchange(other.device_, nullptr);
  }
  return *this;
}

MappedHostWords::~MappedHostWords() {
  // A kernel that could not be stopped may still read these words: they stay.
  if (host_ && !device_abandoned()) cudaFreeHost(host_);
}

Stream::Stream() { CCTUNE_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
Stream::~Stream() {
  if (stream_) cudaStreamDestroy(stream_);
}

Event::Event() { CCTUNE_CUDA(cudaEventCreate(&event_)); }
Event::~Event() {
  if (event_) cudaEventDestroy(event_);
}

int first_overdue_call(int calls, double timeout_seconds, const WaitSteps& steps) {
  double since = steps.now();
  for (int call = 0; call < calls; ++call) {
    for (int poll = 0;; ++poll) {
      if (steps.finished(call)) break;
      if (steps.healthy && !steps.healthy()) return call;
      if (timeout_seconds > 0 && steps.now() - since > timeout_seconds) return call;
      steps.pause(poll);
    }
    since = steps.now();  // the next call started no earlier than this
  }
  return -1;
}

namespace {

// Polls with short sleeps, so that a rank waiting for a slow peer leaves the CPU to others: short
// calls finish within microseconds, so a spin-like pause first, backing off to 1 ms.
WaitSteps real_steps(std::function<bool(int)> finished, bool (*still_healthy)(void*), void* context) {
  WaitSteps steps;
  steps.finished = std::move(finished);
  if (still_healthy) steps.healthy = [still_healthy, context] { return still_healthy(context); };
  steps.now = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
  steps.pause = [](int poll) {
    std::this_thread::sleep_for(std::chrono::microseconds(1 << std::min(poll, 10)));
  };
  return steps;
}

// true when done; throws on a CUDA error (a fault in an earlier call, a lost device).
bool query_done(cudaError_t rc, std::string_view call) {
  if (rc == cudaSuccess) return true;
  if (rc != cudaErrorNotReady) check_cuda(rc, call, __FILE__, __LINE__);
  return false;
}

}  // namespace

bool wait_for_stream(cudaStream_t stream, double timeout_seconds, bool (*still_healthy)(void*), void* context) {
  const auto done = [stream](int) { return query_done(cudaStreamQuery(stream), "cudaStreamQuery(stream)"); };
  return first_overdue_call(1, timeout_seconds, real_steps(done, still_healthy, context)) < 0;
}

int wait_for_events(std::span<const cudaEvent_t> events, cudaStream_t stream, double timeout_seconds,
                    bool (*still_healthy)(void*), void* context) {
  const auto count = static_cast<int>(events.size());
  const auto done = [&](int call) {
    if (call < count) return query_done(cudaEventQuery(events[static_cast<std::size_t>(call)]), "cudaEventQuery");
    return query_done(cudaStreamQuery(stream), "cudaStreamQuery(stream)");
  };
  return first_overdue_call(count + 1, timeout_seconds, real_steps(done, still_healthy, context));
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

double CallTimer::elapsed_us(int from, int to) const {
  float ms = 0;
  CCTUNE_CUDA(cudaEventElapsedTime(&ms, events_.at(static_cast<std::size_t>(from)).get(),
                                   events_.at(static_cast<std::size_t>(to)).get()));
  return static_cast<double>(ms) * 1e3;
}

void StreamGraph::begin() {
  // Thread-local: a capture must not fail because another thread (NCCL's proxy) makes a CUDA call
  // that global capture mode forbids meanwhile.
  CCTUNE_CUDA(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  capturing_ = true;
}

void StreamGraph::end() {
  capturing_ = false;
  CCTUNE_CUDA(cudaStreamEndCapture(stream_, &graph_));
  CCTUNE_CUDA(cudaGraphInstantiate(&exec_, graph_, 0));
}

void StreamGraph::launch() { CCTUNE_CUDA(cudaGraphLaunch(exec_, stream_)); }

StreamGraph::~StreamGraph() {
  if (device_abandoned()) return;
  if (capturing_) {
    cudaGraph_t partial = nullptr;
    if (cudaStreamEndCapture(stream_, &partial) == cudaSuccess && partial) cudaGraphDestroy(partial);
    cudaGetLastError();  // the capture's own error was already reported by what threw
  }
  // An executable graph still running is freed when it completes (CUDA's rule), so this never waits.
  if (exec_) cudaGraphExecDestroy(exec_);
  if (graph_) cudaGraphDestroy(graph_);
}

void DeviceBufferView::copy_from_host(const void* source, std::size_t bytes) {
  if (bytes) CCTUNE_CUDA(cudaMemcpy(pointer_, source, bytes, cudaMemcpyHostToDevice));
}

void DeviceBufferView::copy_to_host(void* destination, std::size_t bytes) const {
  if (bytes) CCTUNE_CUDA(cudaMemcpy(destination, pointer_, bytes, cudaMemcpyDeviceToHost));
}

std::unique_ptr<Buffer> DeviceBufferView::view(std::size_t offset) {
  offset = std::min(offset, bytes_);
  return std::make_unique<DeviceBufferView>(static_cast<std::byte*>(pointer_) + offset, bytes_ - offset);
}

void DeviceBufferView::fill_bytes(std::byte value, std::size_t bytes) {
  if (bytes) CCTUNE_CUDA(cudaMemset(pointer_, static_cast<int>(value), bytes));
  CCTUNE_CUDA(cudaDeviceSynchronize());
}

}  // namespace cctune::gpu
