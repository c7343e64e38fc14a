// Bruck's alltoall: ceil(log2 n) steps instead of n-1, at the price of moving each block up to
// log2(n) times. Wins when messages are small and per-message latency dominates.
#include <cstring>

#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/algorithms.hpp"

namespace cctune::mpi {
namespace {

class BruckAlltoall final : public MpiAlgorithm {
 public:
  const AlgorithmInfo& info() const override {
    static constexpr AlgorithmInfo kInfo{"bruck", Collective::alltoall,
                                         "log2(n) steps of packed blocks; fewest messages, more copies"};
    return kInfo;
  }

  void run(const Communicator& comm, const CollectiveArgs& args, Workspace& workspace) const override {
    const int n = comm.size();
    const int rank = comm.rank();
    const std::size_t block = args.count * size_of(args.type);
    // rotated[i] starts as the block this rank owes rank (rank + i); each step moves the blocks whose
    // index has bit k set k ranks to the right, so block i travels exactly i ranks in total.
    std::byte* rotated = workspace.get(0, block * n);
    std::byte* packed = workspace.get(1, block * (n / 2 + 1));
    std::byte* unpacked = workspace.get(2, block * (n / 2 + 1));
    for (int i = 0; i < n; ++i) {
      std::memcpy(rotated + block * i, at(args.send, args.count * ((rank + i) % n), args.type), block);
    }
    for (int distance = 1; distance < n; distance <<= 1) {
      std::size_t blocks = 0;
      for (int i = distance; i < n; ++i) {
        if (i & distance) std::memcpy(packed + block * blocks++, rotated + block * i, block);
      }
      sendrecv(comm, packed, args.count * blocks, (rank + distance) % n, unpacked, args.count * blocks,
               (rank - distance + n) % n, args.type);
      blocks = 0;
      for (int i = distance; i < n; ++i) {
        if (i & distance) std::memcpy(rotated + block * i, unpacked + block * blocks++, block);
      }
    }
    // Now rotated[i] came from rank (rank - i). The send buffer is no longer read, so in place is safe.
    for (int i = 0; i < n; ++i) {
      std::memcpy(at(args.recv, args.count * ((rank - i + n) % n), args.type), rotated + block * i, block);
    }
  }
};

}  // namespace

std::unique_ptr<MpiAlgorithm> make_bruck_alltoall() { return std::make_unique<BruckAlltoall>(); }

}  // namespace cctune::mpi
