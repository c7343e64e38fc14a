#pragma once
// What one host algorithm written over MPI implements. Adding an algorithm: one new file with a
// class deriving from MpiAlgorithm, plus one line in registry.cpp.
#include <mpi.h>

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "collectives/backend.hpp"
#include "collectives/bootstrap.hpp"

namespace cctune::mpi {

class NodeSegment;

// Scratch memory kept across calls, so that timed iterations do not pay for allocation and page faults.
// One per communicator an algorithm runs on.
class Workspace {
 public:
  Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace();

  static constexpr int kSlots = 3;
  std::byte* get(int slot, std::size_t bytes);
  // The communicator's shared-memory segment (node_segment.hpp), created by the first call that
  // needs it: collective over comm, which must be the communicator of every later call.
  NodeSegment& node_segment(const Communicator& comm);

 private:
  std::vector<std::byte> slots_[kSlots];
  std::unique_ptr<NodeSegment> segment_;
};

class MpiAlgorithm {
 public:
  virtual ~MpiAlgorithm() = default;
  virtual const AlgorithmInfo& info() const = 0;
  // The communicator the bound algorithm runs on: a duplicate of the backend's, so that each
  // algorithm's messages stay apart. Collective (all ranks bind in the same order).
  virtual Communicator communicator(const Communicator& parent) const { return Communicator::duplicate(parent.get()); }
  // args.type is never half precision for allreduce: the backend widens it to float32 first.
  virtual void run(const Communicator& comm, const CollectiveArgs& args, Workspace& workspace) const = 0;
};

// The explicit list of algorithms, in the order `--algorithm all` runs them.
std::span<const std::unique_ptr<MpiAlgorithm>> registry();
std::span<const AlgorithmInfo> registry_infos();

// ---- helpers shared by the algorithm files ----

MPI_Datatype element_type(DataType type);
MPI_Op reduce_op(ReduceOp op);

// Elements [offset, offset + length) of a vector cut into `parts` nearly equal blocks; the first
// count % parts blocks are one element longer, so any count and any rank count work.
struct Block {
  std::size_t offset;
  std::size_t length;
};
Block block_of(std::size_t count, int parts, int index);

inline std::byte* at(void* base, std::size_t elements, DataType type) {
  return static_cast<std::byte*>(base) + elements * size_of(type);
}
inline const std::byte* at(const void* base, std::size_t elements, DataType type) {
  return static_cast<const std::byte*>(base) + elements * size_of(type);
}

void send(const Communicator& comm, const void* data, std::size_t count, DataType type, int peer);
void recv(const Communicator& comm, void* data, std::size_t count, DataType type, int peer);
void sendrecv(const Communicator& comm, const void* send_data, std::size_t send_count, int destination,
              void* recv_data, std::size_t recv_count, int source, DataType type);

// Where an alltoall reads its outgoing blocks: the send buffer, or for an in-place call a copy in
// workspace slot 0, so that incoming blocks cannot overwrite blocks not yet sent.
const void* outgoing_blocks(const CollectiveArgs& args, int nranks, Workspace& workspace);

// Non-power-of-two fold used by recursive doubling and Rabenseifner: the largest power of two p <=
// n ranks does the work; the first 2*(n-p) ranks pair up and the even one of each pair sits out.
struct Fold {
  int participants;  // p
  int extra;         // n - p
  int virtual_rank;  // this rank's index among the p participants, or -1 when it sits out
  int real_rank(int participant) const { return participant < extra ? 2 * participant + 1 : participant + extra; }
};
Fold fold_to_power_of_two(int rank, int size);
// Before: even ranks of the folded pairs hand their send buffer to their odd partner, which reduces
// it into its receive buffer. Returns where this rank's vector now is (args.send, or args.recv after
// a fold); nullptr for a rank that sits out.
const void* fold_in(const Communicator& comm, const Fold& fold, const CollectiveArgs& args, Workspace& workspace);
// After: odd partners hand the finished vector back into the even ranks' receive buffers.
void fold_out(const Communicator& comm, const Fold& fold, const CollectiveArgs& args);

}  // namespace cctune::mpi
