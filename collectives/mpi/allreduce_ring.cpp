// Ring allreduce: a reduce-scatter around the ring (n-1 steps, each rank reducing one block) then an
// allgather around the ring (n-1 steps). Bandwidth-optimal: each rank sends 2(n-1)/n of the vector.
#include <cstring>

#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/algorithms.hpp"
#include "collectives/reduce.hpp"

namespace cctune::mpi {
namespace {

class RingAllreduce final : public MpiAlgorithm {
 public:
  const AlgorithmInfo& info() const override {
    static constexpr AlgorithmInfo kInfo{"ring", Collective::allreduce,
                                         "reduce-scatter then allgather around a ring; 2(n-1) steps"};
    return kInfo;
  }

  void run(const Communicator& comm, const CollectiveArgs& args, Workspace& workspace) const override {
    const std::size_t element = size_of(args.type);
    const int n = comm.size();
    if (n == 1) {
      if (args.send != args.recv) std::memcpy(args.recv, args.send, args.count * element);
      return;
    }
    const int rank = comm.rank();
    const int right = (rank + 1) % n;
    const int left = (rank + n - 1) % n;
    std::byte* incoming = workspace.get(0, block_of(args.count, n, 0).length * element);

    // After step s of the reduce-scatter, this rank's block (rank - s - 1) holds s + 2 contributions;
    // after n - 1 steps block (rank + 1) is complete. Each block arrives once and is combined with this
    // rank's own contribution straight from the send buffer, so the vector is never copied whole.
    for (int step = 0; step < n - 1; ++step) {
      const Block out = block_of(args.count, n, (rank - step + n) % n);
      const Block in = block_of(args.count, n, (rank - step - 1 + 2 * n) % n);
      const void* outgoing = step == 0 ? args.send : args.recv;  // block `rank` is this rank's own data
      sendrecv(comm, at(outgoing, out.offset, args.type), out.length, right, incoming, in.length, left,
               args.type);
      reduce(at(args.recv, in.offset, args.type), at(args.send, in.offset, args.type), incoming, in.length,
             args.type, args.op);
    }
    for (int step = 0; step < n - 1; ++step) {
      const Block out = block_of(args.count, n, (rank + 1 - step + n) % n);
      const Block in = block_of(args.count, n, (rank - step + n) % n);
      sendrecv(comm, at(args.recv, out.offset, args.type), out.length, right,
               at(args.recv, in.offset, args.type), in.length, left, args.type);
    }
  }
};

}  // namespace

std::unique_ptr<MpiAlgorithm> make_ring_allreduce() { return std::make_unique<RingAllreduce>(); }

}  // namespace cctune::mpi
