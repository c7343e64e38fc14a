// The MPI library's own MPI_Allreduce: whatever algorithm the library's decision logic (or a forced
// coll_tuned setting) picks. The reference every other allreduce is checked against.
#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/algorithms.hpp"

namespace cctune::mpi {
namespace {

class LibraryAllreduce final : public MpiAlgorithm {
 public:
  const AlgorithmInfo& info() const override {
    static constexpr AlgorithmInfo kInfo{"mpi", Collective::allreduce,
                                         "the MPI library's MPI_Allreduce (its own algorithm choice)"};
    return kInfo;
  }
  void run(const Communicator& comm, const CollectiveArgs& args, Workspace&) const override {
    const void* send = args.send == args.recv ? MPI_IN_PLACE : args.send;
    CCTUNE_MPI(MPI_Allreduce(send, args.recv, static_cast<int>(args.count), element_type(args.type),
                             reduce_op(args.op), comm.get()));
  }
};

}  // namespace

std::unique_ptr<MpiAlgorithm> make_library_allreduce() { return std::make_unique<LibraryAllreduce>(); }

}  // namespace cctune::mpi
