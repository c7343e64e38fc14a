// Shared-memory allreduce for large vectors on one node: every rank copies its vector into shared
// memory; after a barrier each rank reduces its 1/n of it into its own result part; after a second
// barrier every rank copies all n results out. Each byte is read n + 2 times in all, not n^2 times.
#include <algorithm>
#include <cstring>

#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/algorithms.hpp"
#include "collectives/mpi/node_segment.hpp"
#include "collectives/reduce.hpp"

namespace cctune::mpi {
namespace {

class ShmSplitAllreduce final : public MpiAlgorithm {
 public:
  const AlgorithmInfo& info() const override {
    static constexpr AlgorithmInfo kInfo{"shm_split", Collective::allreduce,
                                         "each rank reduces 1/n in shared memory, all copy out; two barriers", true};
    return kInfo;
  }

  void run(const Communicator& comm, const CollectiveArgs& args, Workspace& workspace) const override {
    const std::size_t element = size_of(args.type);
    const int n = comm.size();
    const int rank = comm.rank();
    if (n == 1 || args.count == 0) {
      if (args.send != args.recv) std::memcpy(args.recv, args.send, args.count * element);
      return;
    }
    NodeSegment& segment = workspace.node_segment(comm);
    const std::size_t chunk = segment.part_bytes() / element;
    for (std::size_t offset = 0; offset < args.count; offset += chunk) {
      const std::size_t length = std::min(chunk, args.count - offset);
      segment.next_round();
      std::memcpy(segment.region(rank, 0), at(args.send, offset, args.type), length * element);
      segment.barrier();
      const Block mine = block_of(length, n, rank);
      const auto slice = [&](int peer, const Block& part) { return at(segment.region(peer, 0), part.offset, args.type); };
      void* result = segment.region(rank, 1);
      reduce(result, slice(0, mine), slice(1, mine), mine.length, args.type, args.op);
      for (int peer = 2; peer < n; ++peer) reduce_into(result, slice(peer, mine), mine.length, args.type, args.op);
      segment.barrier();
      for (int peer = 0; peer < n; ++peer) {
        const Block theirs = block_of(length, n, peer);
        std::memcpy(at(args.recv, offset + theirs.offset, args.type), segment.region(peer, 1), theirs.length * element);
      }
    }
  }
};

}  // namespace

std::unique_ptr<MpiAlgorithm> make_shm_split_allreduce() { return std::make_unique<ShmSplitAllreduce>(); }

}  // namespace cctune::mpi
