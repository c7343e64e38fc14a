#include "collectives/backends.hpp"

#include <string>
#include <vector>

#include "collectives/bootstrap.hpp"
#include "collectives/error.hpp"
#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/backend.hpp"
#include "collectives/peer_exchange.hpp"
#if CCTUNE_HAVE_CUDA
#include "collectives/cuda/algorithm.hpp"
#include "collectives/cuda/backend.hpp"
#endif
#if CCTUNE_HAVE_NCCL
#include "collectives/nccl/backend.hpp"
#endif

namespace cctune {
namespace {

// The GPU backends' set-up exchanges, over a duplicate of the world communicator.
class MpiPeerExchange final : public PeerExchange {
 public:
  explicit MpiPeerExchange(MPI_Comm world) : comm_(Communicator::duplicate(world)) {
    MPI_Comm node = MPI_COMM_NULL;
    CCTUNE_MPI(MPI_Comm_split_type(comm_.get(), MPI_COMM_TYPE_SHARED, comm_.rank(), MPI_INFO_NULL, &node));
    CCTUNE_MPI(MPI_Comm_rank(node, &local_rank_));
    CCTUNE_MPI(MPI_Comm_size(node, &local_size_));
    MPI_Comm_free(&node);
  }
  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  void broadcast(void* data, std::size_t bytes, int root) override {
    CCTUNE_MPI(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, comm_.get()));
  }
  void allgather(const void* mine, void* all, std::size_t bytes) override {
    CCTUNE_MPI(MPI_Allgather(mine, static_cast<int>(bytes), MPI_BYTE, all, static_cast<int>(bytes), MPI_BYTE,
                             comm_.get()));
  }
  bool any(bool mine) override { return comm_.sum(mine ? 1 : 0) > 0; }

 private:
  Communicator comm_;
  int local_rank_ = 0;
  int local_size_ = 1;
};

std::unique_ptr<Backend> create_mpi(MPI_Comm world, const BackendSettings&) {
  return std::make_unique<mpi::MpiBackend>(world);
}
void check_mpi_types(Collective, DataType, ReduceOp) {}

#if CCTUNE_HAVE_CUDA
std::unique_ptr<Backend> create_cuda(MPI_Comm world, const BackendSettings& settings) {
  return std::make_unique<cuda::CudaBackend>(std::make_unique<MpiPeerExchange>(world), settings);
}
void check_cuda_types(Collective collective, DataType type, ReduceOp) {
  if (collective == Collective::allreduce && !cuda::kernels_reduce(type)) {
    CCTUNE_USAGE_ERROR("the cuda backend's allreduce kernels reduce float, half and bfloat16, not " +
                       std::string(to_string(type)));
  }
}
#endif

#if CCTUNE_HAVE_NCCL
std::unique_ptr<Backend> create_nccl(MPI_Comm world, const BackendSettings& settings) {
  return std::make_unique<nccl::NcclBackend>(std::make_unique<MpiPeerExchange>(world), settings);
}
void check_nccl_types(Collective collective, DataType, ReduceOp op) {
  if (collective == Collective::allreduce && op == ReduceOp::avg) {
    CCTUNE_USAGE_ERROR("the nccl backend runs sum, max and min: NCCL's avg scales each input before the sum, "
                       "which is not the one exact result bench checks");
  }
}
#endif

// What only the nccl backend honours, as the others refuse it.
constexpr std::string_view kRegistrationIsNccls = "buffer registration is NCCL's (--backend nccl)";
constexpr std::string_view kCtaPolicyIsNccls = "a CTA policy is NCCL's (--backend nccl)";

const std::vector<BackendEntry>& entries() {
  static const std::vector<BackendEntry> list{
      {"mpi", "host buffers; the MPI library's collectives and host algorithms over MPI p2p", mpi::registry_infos,
       check_mpi_types, create_mpi,
       {.null_stream = "the mpi backend uses no CUDA stream",
        .graphs = "CUDA graphs need a device backend (--backend nccl)",
        .registration = kRegistrationIsNccls,
        .cta_policy = kCtaPolicyIsNccls,
        .unaligned = {}}},
#if CCTUNE_HAVE_NCCL
      {"nccl", "device buffers; NCCL's collectives, one GPU per rank, NCCL's choice or forced algorithm/protocol",
       nccl::configuration_infos, check_nccl_types, create_nccl, {}},
#endif
#if CCTUNE_HAVE_CUDA
      {"cuda", "device buffers; our own kernels over NVLink peer memory (CUDA IPC), one node, up to 8 GPUs",
       cuda::registry_infos, check_cuda_types, create_cuda,
       // Each call of our kernels meets its peers at a barrier of a new epoch, set on the host as it is
       // queued: a graph would replay one epoch.
       {.null_stream = "the cuda backend queues its kernels on its own stream only",
        .graphs = "each call of the cuda backend's kernels is set up on the host as it is queued, which a graph "
                  "would not replay",
        .registration = kRegistrationIsNccls,
        .cta_policy = kCtaPolicyIsNccls,
        .unaligned = "the cuda backend's kernels move 16-byte words, from buffers on a 16-byte boundary"}},
#endif
  };
  return list;
}

}  // namespace

std::span<const BackendEntry> backend_registry() { return entries(); }

const BackendEntry& find_backend(std::string_view name) {
  std::string known;
  for (const auto& entry : entries()) {
    if (entry.name == name) return entry;
    known += (known.empty() ? "" : ", ") + std::string(entry.name);
  }
  if (name == "nccl" || name == "cuda") {
    CCTUNE_USAGE_ERROR("backend '" + std::string(name) + "' needs CUDA" + (name == "nccl" ? " and NCCL" : "") +
                       ", and this binary was built without it (this build has: " + known + ")");
  }
  CCTUNE_USAGE_ERROR("unknown backend '" + std::string(name) + "' (this build has: " + known + ")");
}

}  // namespace cctune
