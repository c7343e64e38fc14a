// Shared-memory alltoall for ranks of one node: each rank copies its outgoing blocks into its region
// of a shared segment, meets the others at one barrier of flags, and copies its incoming blocks out
// of theirs. No MPI messages, so no matching, no rendezvous handshake and no kernel call per block:
// what is left is two memcpys and one barrier per round of up to 2 * part / n bytes of each block.
#include <algorithm>
#include <cstring>

#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/algorithms.hpp"
#include "collectives/mpi/node_segment.hpp"

namespace cctune::mpi {
namespace {

class ShmAlltoall final : public MpiAlgorithm {
 public:
  const AlgorithmInfo& info() const override {
    static constexpr AlgorithmInfo kInfo{"shm", Collective::alltoall,
                                         "blocks pass through shared memory; one barrier per round", true};
    return kInfo;
  }

  void run(const Communicator& comm, const CollectiveArgs& args, Workspace& workspace) const override {
    const int n = comm.size();
    const int rank = comm.rank();
    const std::size_t block = args.count * size_of(args.type);
    auto* recv = static_cast<std::byte*>(args.recv);
    const auto* send = static_cast<const std::byte*>(args.send);
    const auto place = [block](auto* base, int peer) { return base + static_cast<std::size_t>(peer) * block; };
    if (send != recv) std::memcpy(place(recv, rank), place(send, rank), block);
    if (n == 1 || block == 0) return;

    NodeSegment& segment = workspace.node_segment(comm);
    // Parts 0 and 1 of a half are adjacent: one area of n slots.
    const std::size_t slot = std::max<std::size_t>(2 * segment.part_bytes() / static_cast<std::size_t>(n) / 64 * 64, 64);
    for (std::size_t offset = 0; offset < block; offset += slot) {
      const std::size_t length = std::min(slot, block - offset);
      segment.next_round();
      std::byte* mine = segment.region(rank, 0);
      for (int peer = 0; peer < n; ++peer) {
        if (peer != rank) std::memcpy(mine + static_cast<std::size_t>(peer) * slot, place(send, peer) + offset, length);
      }
      segment.barrier();
      // In place, this overwrites only bytes this round has already copied out.
      for (int peer = 0; peer < n; ++peer) {
        if (peer != rank) {
          std::memcpy(place(recv, peer) + offset, segment.region(peer, 0) + static_cast<std::size_t>(rank) * slot, length);
        }
      }
    }
  }
};

}  // namespace

std::unique_ptr<MpiAlgorithm> make_shm_alltoall() { return std::make_unique<ShmAlltoall>(); }

}  // namespace cctune::mpi
