// Pairwise-exchange alltoall: n-1 steps; at step s each rank sends to rank+s and receives from
// rank-s, so every step is a perfect matching and no link carries two messages.
#include <cstring>

#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/algorithms.hpp"

namespace cctune::mpi {
namespace {

class PairwiseAlltoall final : public MpiAlgorithm {
 public:
  const AlgorithmInfo& info() const override {
    static constexpr AlgorithmInfo kInfo{"pairwise", Collective::alltoall,
                                         "n-1 steps; step s sends to rank+s and receives from rank-s"};
    return kInfo;
  }

  void run(const Communicator& comm, const CollectiveArgs& args, Workspace& workspace) const override {
    const int n = comm.size();
    const int rank = comm.rank();
    const std::size_t block = args.count * size_of(args.type);
    const void* send = outgoing_blocks(args, n, workspace);
    std::memcpy(at(args.recv, args.count * rank, args.type), at(send, args.count * rank, args.type), block);
    for (int step = 1; step < n; ++step) {
      const int destination = (rank + step) % n;
      const int source = (rank - step + n) % n;
      sendrecv(comm, at(send, args.count * destination, args.type), args.count, destination,
               at(args.recv, args.count * source, args.type), args.count, source, args.type);
    }
  }
};

}  // namespace

std::unique_ptr<MpiAlgorithm> make_pairwise_alltoall() { return std::make_unique<PairwiseAlltoall>(); }

}  // namespace cctune::mpi
