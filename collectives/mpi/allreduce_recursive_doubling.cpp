// Recursive-doubling allreduce: log2(p) steps, each exchanging the whole vector with the partner whose
// rank differs in one bit. Latency-optimal for small vectors; non-powers of two are folded first.
#include <cstring>

#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/algorithms.hpp"
#include "collectives/reduce.hpp"

namespace cctune::mpi {
namespace {

class RecursiveDoublingAllreduce final : public MpiAlgorithm {
 public:
  const AlgorithmInfo& info() const override {
    static constexpr AlgorithmInfo kInfo{
        "recursive_doubling", Collective::allreduce,
        "log2(p) full-vector exchanges with partners one bit apart; folds non-powers of two"};
    return kInfo;
  }

  void run(const Communicator& comm, const CollectiveArgs& args, Workspace& workspace) const override {
    const std::size_t bytes = args.count * size_of(args.type);
    if (comm.size() == 1) {
      if (args.send != args.recv) std::memcpy(args.recv, args.send, bytes);
      return;
    }
    const Fold fold = fold_to_power_of_two(comm.rank(), comm.size());
    // Where this rank's partial result is: the send buffer until the first reduction writes recv.
    const void* current = fold_in(comm, fold, args, workspace);
    if (current) {
      std::byte* incoming = workspace.get(0, bytes);
      for (int mask = 1; mask < fold.participants; mask <<= 1) {
        const int partner = fold.real_rank(fold.virtual_rank ^ mask);
        sendrecv(comm, current, args.count, partner, incoming, args.count, partner, args.type);
        reduce(args.recv, current, incoming, args.count, args.type, args.op);
        current = args.recv;
      }
    }
    fold_out(comm, fold, args);
  }
};

}  // namespace

std::unique_ptr<MpiAlgorithm> make_recursive_doubling_allreduce() {
  return std::make_unique<RecursiveDoublingAllreduce>();
}

}  // namespace cctune::mpi
