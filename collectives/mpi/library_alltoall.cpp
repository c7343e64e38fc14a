// The MPI library's own MPI_Alltoall, the reference for the alltoall algorithms written here.
#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/algorithms.hpp"

namespace cctune::mpi {
namespace {

class LibraryAlltoall final : public MpiAlgorithm {
 public:
  const AlgorithmInfo& info() const override {
    static constexpr AlgorithmInfo kInfo{"mpi", Collective::alltoall,
                                         "the MPI library's MPI_Alltoall (its own algorithm choice)"};
    return kInfo;
  }
  void run(const Communicator& comm, const CollectiveArgs& args, Workspace&) const override {
    const MPI_Datatype type = element_type(args.type);
    const int count = static_cast<int>(args.count);
    const void* send = args.send == args.recv ? MPI_IN_PLACE : args.send;
    CCTUNE_MPI(MPI_Alltoall(send, count, type, args.recv, count, type, comm.get()));
  }
};

}  // namespace

std::unique_ptr<MpiAlgorithm> make_library_alltoall() { return std::make_unique<LibraryAlltoall>(); }

}  // namespace cctune::mpi
