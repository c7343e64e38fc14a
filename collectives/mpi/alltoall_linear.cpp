// Linear alltoall: post every receive and every send at once and wait for all. Lets the transport
// overlap everything, at the risk of congestion when n is large.
#include <cstring>
#include <vector>

#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/algorithms.hpp"

namespace cctune::mpi {
namespace {

class LinearAlltoall final : public MpiAlgorithm {
 public:
  const AlgorithmInfo& info() const override {
    static constexpr AlgorithmInfo kInfo{"linear", Collective::alltoall,
                                         "all isend/irecv posted at once, then one waitall"};
    return kInfo;
  }

  void run(const Communicator& comm, const CollectiveArgs& args, Workspace& workspace) const override {
    const int n = comm.size();
    const int rank = comm.rank();
    const std::size_t block = args.count * size_of(args.type);
    const void* send = outgoing_blocks(args, n, workspace);
    const MPI_Datatype type = element_type(args.type);
    const int count = static_cast<int>(args.count);
    std::vector<MPI_Request> requests;
    requests.reserve(2 * static_cast<std::size_t>(n));
    constexpr int kTag = 0x6364;
    // Start with the neighbours after this rank so that not every rank targets rank 0 first.
    for (int step = 1; step < n; ++step) {
      const int source = (rank - step + n) % n;
      CCTUNE_MPI(MPI_Irecv(at(args.recv, args.count * source, args.type), count, type, source, kTag, comm.get(),
                           &requests.emplace_back()));
    }
    for (int step = 1; step < n; ++step) {
      const int destination = (rank + step) % n;
      CCTUNE_MPI(MPI_Isend(at(send, args.count * destination, args.type), count, type, destination, kTag,
                           comm.get(), &requests.emplace_back()));
    }
    std::memcpy(at(args.recv, args.count * rank, args.type), at(send, args.count * rank, args.type), block);
    CCTUNE_MPI(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
  }
};

}  // namespace

std::unique_ptr<MpiAlgorithm> make_linear_alltoall() { return std::make_unique<LinearAlltoall>(); }

}  // namespace cctune::mpi
