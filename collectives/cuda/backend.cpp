#include "collectives/cuda/backend.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <new>

#include "collectives/cuda/setup.hpp"
#include "collectives/error.hpp"

namespace cctune::cuda {
namespace {

// How long a stopped call's stream may take to drain: a stuck barrier looks at the host's word every
// kSpinsBeforeStopCheck spins (milliseconds), and the calls queued behind it leave at their first
// barrier, so seconds mean that a kernel is stuck somewhere no stop reaches.
constexpr double kStopGraceSeconds = 10;

std::uint32_t read_word(std::uint32_t* word) {
  return std::atomic_ref<std::uint32_t>(*word).load(std::memory_order_acquire);
}

class BoundKernel final : public gpu::QueuedCollective {
 public:
  BoundKernel(CudaBackend& backend, const CudaAlgorithm& algorithm) : backend_(backend), algorithm_(algorithm) {}
  const AlgorithmInfo& info() const override { return algorithm_.info(); }

 private:
  cudaStream_t stream() const override { return backend_.stream(); }
  const LaunchSettings& launch() const override { return backend_.launch(); }
  void meet() override { backend_.meet(); }

  void queue(const CollectiveArgs& args) override {
    if (backend_.failed()) {
      CCTUNE_THROW(what() + ": an earlier call of this cuda backend failed or was stopped, so the ranks' barriers "
                            "no longer agree; no call runs again");
    }
    const auto [send, send_offset] = backend_.find_shared(args.send);
    const auto [recv, recv_offset] = backend_.find_shared(args.recv);
    if (send_offset % 16 != 0 || recv_offset % 16 != 0) {
      CCTUNE_THROW("cuda backend: buffers must start on a 16-byte boundary");
    }
    LaunchParams params;
    params.nranks = backend_.size();
    params.count = args.count;
    params.type = args.type;
    params.op = args.op;
    params.in_place = args.send == args.recv;
    params.views = 1;
    params.stop = backend_.stop_words();
    RankView& view = params.view[0];
    view.rank = backend_.rank();
    for (int r = 0; r < params.nranks; ++r) {
      const auto index = static_cast<std::size_t>(r);
      view.input[r] = static_cast<const std::byte*>(send->by_rank[index]) + send_offset;
      view.output[r] = static_cast<std::byte*>(recv->by_rank[index]) + recv_offset;
      view.flags[r] = backend_.flags()[index];
    }
    try {
      backend_.group().launch(algorithm_, params, backend_.stream());
    } catch (const Error&) {  // a launch that failed here may have passed on a peer: the epochs differ
      // The calls of this batch already queued may wait at a barrier for a peer that has gone on:
      // stopped now, before anything on the way to MPI_Abort can wait for the device.
      backend_.stop_calls();
      throw;
    }
  }

  void wait() override {
    bool finished = false;
    try {
      finished = wait_for_calls(backend_.timeout_seconds());
    } catch (const Error&) {  // a fault in a kernel: the device reports it, and nothing waits any more
      backend_.mark_failed();
      throw;
    }
    if (finished && !backend_.calls_were_stopped()) return;
    if (finished) {
      backend_.mark_failed();
      CCTUNE_THROW(what() + " was stopped at a barrier; no result of it counts");
    }
    // Stopped before anything unwinds: a destructor that frees memory would otherwise wait for ever
    // for the kernel, and the error would never reach MPI_Abort.
    const bool drained = backend_.stop_calls();
    CCTUNE_THROW(what() + overdue_call() + " did not finish within " + gpu::seconds_text(backend_.timeout_seconds()) +
                 ": a peer never reached its barrier; " +
                 (drained ? "its kernels were stopped"
                          : "its kernels could not be stopped, and the device is left to the end of the job"));
  }

  std::string what() const {
    return "cuda " + std::string(to_string(algorithm_.info().collective)) + " " + std::string(algorithm_.info().name);
  }

  CudaBackend& backend_;
  const CudaAlgorithm& algorithm_;
};

// A buffer whose memory the table keeps: destroying it only releases the table's entry.
class SharedBuffer final : public gpu::DeviceBufferView {
 public:
  SharedBuffer(const SharedAllocation& allocation, std::shared_ptr<SharedTable> table, std::size_t id)
      : DeviceBufferView(allocation.memory.get(), allocation.bytes), table_(table), id_(id) {}
  SharedBuffer(const SharedBuffer&) = delete;
  SharedBuffer& operator=(const SharedBuffer&) = delete;
  ~SharedBuffer() override {
    if (const auto table = table_.lock()) table->release(id_);
  }

 private:
  std::weak_ptr<SharedTable> table_;
  std::size_t id_;
};

// What a rank reports after opening its peers' memory.
struct OpenReport {
  int peer = -1;  // the first rank whose memory this one could not map (its own: could not export)
  char error[200] = {};
};

}  // namespace

// ---- the exported-handle table ----

std::size_t SharedTable::add(std::unique_ptr<SharedAllocation> allocation) {
  entries_.push_back(Entry{std::move(allocation), false});
  return entries_.size() - 1;
}

void SharedTable::release(std::size_t id) {
  if (id < entries_.size()) entries_[id].released = true;
}

std::pair<const SharedAllocation*, std::size_t> SharedTable::find(const void* pointer) const {
  const auto* byte = static_cast<const std::byte*>(pointer);
  for (const Entry& entry : entries_) {
    if (entry.released) continue;
    const auto* base = static_cast<const std::byte*>(entry.allocation->local);
    if (byte >= base && byte < base + std::max<std::size_t>(entry.allocation->bytes, 1)) {
      return {entry.allocation.get(), static_cast<std::size_t>(byte - base)};
    }
  }
  CCTUNE_THROW("cuda backend: a buffer it did not allocate, or one already destroyed, was passed to a collective");
}

std::size_t SharedTable::live() const {
  const auto live = std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) { return !e.released; });
  return static_cast<std::size_t>(live);
}

std::size_t SharedTable::mappings() const {
  std::size_t open = 0;
  for (const Entry& entry : entries_) open += entry.allocation->opened.size();
  return open;
}

void SharedTable::tear_down(bool healthy, const std::function<void()>& barrier) noexcept {
  if (healthy) {
    for (Entry& entry : entries_) {
      entry.allocation->opened.clear();  // cudaIpcCloseMemHandle
      entry.allocation->by_rank.clear();
    }
    try {
      barrier();
    } catch (const std::exception&) {
      healthy = false;  // a peer may still map our memory: keep it
    }
  }
  if (!healthy) {
    for (Entry& entry : entries_) {
      for (gpu::OpenedPeerMemory& opened : entry.allocation->opened) opened.leak();
      entry.allocation->memory.leak();
    }
  }
  entries_.clear();
}

// ---- the backend ----

CudaBackend::CudaBackend(std::unique_ptr<PeerExchange> peers, const BackendSettings& settings)
    : peers_(std::move(peers)), settings_(settings) {
  if (peers_->local_size() != peers_->size()) {
    CCTUNE_USAGE_ERROR("the cuda backend's kernels reach their peers over NVLink inside one node, and this job "
                       "spans nodes (use --backend nccl)");
  }
  if (peers_->size() > kMaxRanks) {
    CCTUNE_USAGE_ERROR("the cuda backend runs up to " + std::to_string(kMaxRanks) + " ranks, not " +
                       std::to_string(peers_->size()));
  }
  // The one set-up step: what every rank's GPU is, refused alike on every rank, and the grid agreed.
  const std::vector<const void*> kernels = registry_kernels();
  const DeviceFacts mine = probe_this_device(peers_->local_rank(), kernels);
  const Agreement agreed = agree_with_peers(*peers_, mine, reach_from_this_device);
  device_.index = mine.index;
  group_ = LaunchGroup(GridLimits(kernels, agreed.device_blocks));

  // A rank that cannot make its own pieces still takes part in the exchange, or its peers would wait.
  gpu::DeviceMemory flags;
  std::string problem;
  try {
    CCTUNE_CUDA(cudaSetDevice(device_.index));
    stream_.emplace();
    stop_ = gpu::MappedHostWords(2);
    sticky_ = gpu::DeviceMemory(sizeof(std::uint32_t));
    flags = gpu::DeviceMemory(kFlagsPerRank * sizeof(std::uint32_t));
    CCTUNE_CUDA(cudaMemset(sticky_.get(), 0, sticky_.bytes()));
    CCTUNE_CUDA(cudaMemset(flags.get(), 0, flags.bytes()));
    CCTUNE_CUDA(cudaDeviceSynchronize());
  } catch (const Error& e) {
    problem = e.what();
  }
  if (peers_->any(!problem.empty())) {
    if (!problem.empty()) CCTUNE_THROW("cuda backend set-up on rank " + std::to_string(rank()) + ": " + problem);
    CCTUNE_THROW("cuda backend set-up failed on another rank");
  }
  auto shared_flags = share(std::move(flags));
  for (void* pointer : shared_flags->by_rank) flags_by_rank_.push_back(static_cast<std::uint32_t*>(pointer));
  shared_->add(std::move(shared_flags));
}

CudaBackend::~CudaBackend() {
  // Unwinding means an error on its way to the edge (MPI_Abort, or a refusal every rank raised): no
  // peer may be waiting to meet us here.
  bool healthy = !failed_ && std::uncaught_exceptions() == 0 && !gpu::device_abandoned();
  if (stream_) {
    if (healthy) {
      // Every call was waited for (run and time_on_device always wait): this returns at once.
      healthy = cudaStreamSynchronize(stream_->get()) == cudaSuccess;
    } else if (!gpu::device_abandoned() && cudaStreamQuery(stream_->get()) == cudaErrorNotReady) {
      // Calls still queued on an error path may wait for a peer that never comes: freeing the scratch
      // memory below would wait with them.
      stop_calls();
    }
  }
  shared_->tear_down(healthy, [this] { peers_->any(false); });
}

StopWords CudaBackend::stop_words() const {
  return {stop_.device(), stop_.device() + 1, static_cast<std::uint32_t*>(sticky_.get())};
}

bool CudaBackend::stop_calls() noexcept {
  failed_ = true;
  std::atomic_ref<std::uint32_t>(*stop_.host()).store(1, std::memory_order_release);
  bool drained = true;
  try {
    drained = gpu::wait_for_stream(stream_->get(), kStopGraceSeconds);
  } catch (const Error&) {  // the device reported an error: nothing of ours runs on it any more
  }
  if (!drained) gpu::abandon_device();
  return drained;
}

bool CudaBackend::calls_were_stopped() const { return read_word(stop_.host() + 1) != 0; }

std::unique_ptr<SharedAllocation> CudaBackend::share(gpu::DeviceMemory memory) {
  OpenReport report;
  cudaIpcMemHandle_t mine{};
  const cudaError_t exported = cudaIpcGetMemHandle(&mine, memory.get());
  if (exported != cudaSuccess) {
    report.peer = rank();
    std::strncpy(report.error, cudaGetErrorString(exported), sizeof report.error - 1);
    cudaGetLastError();
  }
  std::vector<cudaIpcMemHandle_t> all(static_cast<std::size_t>(size()));
  peers_->allgather(&mine, all.data(), sizeof mine);
  auto shared = std::make_unique<SharedAllocation>();
  shared->local = memory.get();
  shared->bytes = memory.bytes();
  for (int r = 0; r < size() && report.peer < 0; ++r) {
    if (r == rank()) {
      shared->by_rank.push_back(memory.get());
      continue;
    }
    try {
      shared->opened.emplace_back(all[static_cast<std::size_t>(r)]);
      shared->by_rank.push_back(shared->opened.back().get());
    } catch (const Error& e) {
      report.peer = r;
      std::strncpy(report.error, e.what(), sizeof report.error - 1);
      cudaGetLastError();
    }
  }
  std::vector<OpenReport> reports(static_cast<std::size_t>(size()));
  peers_->allgather(&report, reports.data(), sizeof report);
  // A rank that could not export is the cause of its peers' failures to map: it is named first.
  std::optional<std::size_t> named;
  for (std::size_t r = 0; r < reports.size() && !named; ++r) {
    if (reports[r].peer == static_cast<int>(r)) named = r;
  }
  for (std::size_t r = 0; r < reports.size() && !named; ++r) {
    if (reports[r].peer >= 0) named = r;
  }
  if (named) {
    OpenReport& failed = reports[*named];
    failed.error[sizeof failed.error - 1] = '\0';
    // Whatever was opened stays open: a peer may be about to fail the same way, and nothing here may
    // wait for it to close its side first.
    for (gpu::OpenedPeerMemory& opened : shared->opened) opened.leak();
    memory.leak();
    const std::string who = "rank " + std::to_string(*named);
    if (failed.peer == static_cast<int>(*named)) {
      throw UsageError(who + " cannot export its GPU memory through CUDA IPC (" + failed.error +
                           "), which the cuda backend needs; use --backend nccl",
                       __FILE__, __LINE__);
    }
    throw UsageError(who + " cannot map rank " + std::to_string(failed.peer) + "'s GPU memory through CUDA IPC (" +
                         failed.error + "): the cuda backend needs peer-to-peer access between its GPUs; use "
                         "--backend nccl",
                     __FILE__, __LINE__);
  }
  shared->memory = std::move(memory);
  return shared;
}

std::unique_ptr<Buffer> CudaBackend::allocate(std::size_t bytes) {
  // A rank that cannot allocate must still take part in the exchange, or its peers would wait for it.
  gpu::DeviceMemory memory;
  bool failed = false;
  try {
    memory = gpu::DeviceMemory(bytes);
  } catch (const Error&) {
    failed = true;
  }
  if (peers_->any(failed)) throw std::bad_alloc();
  auto shared = share(std::move(memory));
  const SharedAllocation& allocation = *shared;
  const std::size_t id = shared_->add(std::move(shared));
  return std::make_unique<SharedBuffer>(allocation, shared_, id);
}

std::unique_ptr<BoundCollective> CudaBackend::bind(Collective collective, std::string_view algorithm) {
  return std::make_unique<BoundKernel>(*this, find_algorithm(collective, algorithm));
}

}  // namespace cctune::cuda
