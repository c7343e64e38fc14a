// Shared-memory allreduce for small vectors on one node: every rank copies its vector into shared
// memory, meets the others at one barrier, and reduces all n vectors itself. n times the reads of a
// split reduction, but a single barrier: the cheapest where latency, not bandwidth, decides.
#include <algorithm>
#include <cstring>

#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/algorithms.hpp"
#include "collectives/mpi/node_segment.hpp"
#include "collectives/reduce.hpp"

namespace cctune::mpi {
namespace {

class ShmDirectAllreduce final : public MpiAlgorithm {
 public:
  const AlgorithmInfo& info() const override {
    static constexpr AlgorithmInfo kInfo{"shm_direct", Collective::allreduce,
                                         "every rank reduces all vectors from shared memory; one barrier", true};
    return kInfo;
  }

  void run(const Communicator& comm, const CollectiveArgs& args, Workspace& workspace) const override {
    const std::size_t element = size_of(args.type);
    const int n = comm.size();
    if (n == 1 || args.count == 0) {
      if (args.send != args.recv) std::memcpy(args.recv, args.send, args.count * element);
      return;
    }
    NodeSegment& segment = workspace.node_segment(comm);
    const std::size_t chunk = 2 * segment.part_bytes() / element;  // parts 0 and 1 as one area
    for (std::size_t offset = 0; offset < args.count; offset += chunk) {
      const std::size_t length = std::min(chunk, args.count - offset);
      segment.next_round();
      std::memcpy(segment.region(comm.rank(), 0), at(args.send, offset, args.type), length * element);
      segment.barrier();
      // The same order on every rank, so that every rank computes the same bits.
      void* out = at(args.recv, offset, args.type);
      reduce(out, segment.region(0, 0), segment.region(1, 0), length, args.type, args.op);
      for (int peer = 2; peer < n; ++peer) reduce_into(out, segment.region(peer, 0), length, args.type, args.op);
    }
  }
};

}  // namespace

std::unique_ptr<MpiAlgorithm> make_shm_direct_allreduce() { return std::make_unique<ShmDirectAllreduce>(); }

}  // namespace cctune::mpi
