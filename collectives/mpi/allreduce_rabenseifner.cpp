// Rabenseifner's allreduce: a reduce-scatter by recursive halving, then an allgather by recursive
// doubling that retraces the same halves. log2(p) steps each way, and each rank sends about 2x the
// vector in total: good for medium and large vectors. Non-powers of two are folded first.
#include <cstring>
#include <vector>

#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/algorithms.hpp"
#include "collectives/reduce.hpp"

namespace cctune::mpi {
namespace {

struct HalvingStep {
  int partner;
  Block kept;
  Block given;
};

class RabenseifnerAllreduce final : public MpiAlgorithm {
 public:
  const AlgorithmInfo& info() const override {
    static constexpr AlgorithmInfo kInfo{
        "rabenseifner", Collective::allreduce,
        "reduce-scatter by recursive halving, allgather by recursive doubling; folds non-powers of two"};
    return kInfo;
  }

  void run(const Communicator& comm, const CollectiveArgs& args, Workspace& workspace) const override {
    if (comm.size() == 1) {
      if (args.send != args.recv) std::memcpy(args.recv, args.send, args.count * size_of(args.type));
      return;
    }
    const Fold fold = fold_to_power_of_two(comm.rank(), comm.size());
    if (const void* current = fold_in(comm, fold, args, workspace)) exchange_halves(comm, fold, current, args, workspace);
    fold_out(comm, fold, args);
  }

 private:
  // current: where this rank's vector is (send buffer, or recv after a fold). The first halving step
  // reduces from it into recv; later steps only touch the halves recv already holds.
  static void exchange_halves(const Communicator& comm, const Fold& fold, const void* current,
                              const CollectiveArgs& args, Workspace& workspace) {
    std::byte* incoming = workspace.get(1, (args.count / 2 + 1) * size_of(args.type));
    std::vector<HalvingStep> steps;
    Block range{0, args.count};
    // Partners share every bit below `mask`, hence the same range, hence the same split point.
    for (int mask = 1; mask < fold.participants; mask <<= 1) {
      const int partner_virtual = fold.virtual_rank ^ mask;
      const Block lower{range.offset, range.length / 2};
      const Block upper{range.offset + lower.length, range.length - lower.length};
      const bool keep_lower = fold.virtual_rank < partner_virtual;
      const HalvingStep step{fold.real_rank(partner_virtual), keep_lower ? lower : upper,
                             keep_lower ? upper : lower};
      sendrecv(comm, at(current, step.given.offset, args.type), step.given.length, step.partner, incoming,
               step.kept.length, step.partner, args.type);
      reduce(at(args.recv, step.kept.offset, args.type), at(current, step.kept.offset, args.type), incoming,
             step.kept.length, args.type, args.op);
      steps.push_back(step);
      range = step.kept;
      current = args.recv;
    }
    // Retrace in reverse: give the reduced half back, receive the partner's reduced half.
    for (auto step = steps.rbegin(); step != steps.rend(); ++step) {
      sendrecv(comm, at(args.recv, step->kept.offset, args.type), step->kept.length, step->partner,
               at(args.recv, step->given.offset, args.type), step->given.length, step->partner, args.type);
    }
  }
};

}  // namespace

std::unique_ptr<MpiAlgorithm> make_rabenseifner_allreduce() {
  return std::make_unique<RabenseifnerAllreduce>();
}

}  // namespace cctune::mpi
