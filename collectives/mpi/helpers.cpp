#include <bit>
#include <climits>
#include <cstring>
#include <string>

#include "collectives/error.hpp"
#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/node_segment.hpp"
#include "collectives/reduce.hpp"

namespace cctune::mpi {

Workspace::Workspace() = default;
Workspace::~Workspace() = default;

NodeSegment& Workspace::node_segment(const Communicator& comm) {
  if (!segment_) segment_ = std::make_unique<NodeSegment>(comm, default_part_bytes(comm.size()));
  return *segment_;
}

std::byte* Workspace::get(int slot, std::size_t bytes) {
  auto& buffer = slots_[slot];
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

MPI_Datatype element_type(DataType type) {
  switch (type) {
    case DataType::float32: return MPI_FLOAT;
    case DataType::float64: return MPI_DOUBLE;
    case DataType::int32: return MPI_INT32_T;
    // MPI has no half-precision type; alltoall only moves the bits.
    case DataType::float16:
    case DataType::bfloat16: return MPI_UINT16_T;
  }
  CCTUNE_THROW("no MPI datatype for this element type");
}

MPI_Op reduce_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::avg: return MPI_SUM;  // the backend divides afterwards
    case ReduceOp::max: return MPI_MAX;
    case ReduceOp::min: return MPI_MIN;
  }
  CCTUNE_THROW("no MPI op for this reduction");
}

Block block_of(std::size_t count, int parts, int index) {
  const std::size_t base = count / parts;
  const std::size_t longer = count % parts;
  const auto i = static_cast<std::size_t>(index);
  return {i * base + std::min(i, longer), base + (i < longer ? 1 : 0)};
}

namespace {
int mpi_count(std::size_t count) {
  // Bench validates counts before any rank communicates; this guards programmatic callers.
  CCTUNE_CHECK(count <= static_cast<std::size_t>(INT_MAX), "message of " + std::to_string(count) +
                                                              " elements exceeds MPI's int count");
  return static_cast<int>(count);
}
constexpr int kTag = 0x6363;  // a fixed tag; each algorithm runs on its own communicator
}  // namespace

void send(const Communicator& comm, const void* data, std::size_t count, DataType type, int peer) {
  CCTUNE_MPI(MPI_Send(data, mpi_count(count), element_type(type), peer, kTag, comm.get()));
}

void recv(const Communicator& comm, void* data, std::size_t count, DataType type, int peer) {
  CCTUNE_MPI(MPI_Recv(data, mpi_count(count), element_type(type), peer, kTag, comm.get(), MPI_STATUS_IGNORE));
}

void sendrecv(const Communicator& comm, const void* send_data, std::size_t send_count, int destination,
              void* recv_data, std::size_t recv_count, int source, DataType type) {
  const MPI_Datatype datatype = element_type(type);
  CCTUNE_MPI(MPI_Sendrecv(send_data, mpi_count(send_count), datatype, destination, kTag, recv_data,
                          mpi_count(recv_count), datatype, source, kTag, comm.get(), MPI_STATUS_IGNORE));
}

const void* outgoing_blocks(const CollectiveArgs& args, int nranks, Workspace& workspace) {
  if (args.send != args.recv) return args.send;
  const std::size_t bytes = args.count * size_of(args.type) * static_cast<std::size_t>(nranks);
  std::byte* copy = workspace.get(0, bytes);
  std::memcpy(copy, args.recv, bytes);
  return copy;
}

Fold fold_to_power_of_two(int rank, int size) {
  const int participants = static_cast<int>(std::bit_floor(static_cast<unsigned>(size)));
  const int extra = size - participants;
  int virtual_rank = -1;
  if (rank >= 2 * extra) {
    virtual_rank = rank - extra;
  } else if (rank % 2 == 1) {
    virtual_rank = rank / 2;
  }
  return {participants, extra, virtual_rank};
}

const void* fold_in(const Communicator& comm, const Fold& fold, const CollectiveArgs& args, Workspace& workspace) {
  const int rank = comm.rank();
  if (rank >= 2 * fold.extra) return args.send;
  if (rank % 2 == 0) {
    send(comm, args.send, args.count, args.type, rank + 1);
    return nullptr;
  }
  std::byte* incoming = workspace.get(0, args.count * size_of(args.type));
  recv(comm, incoming, args.count, args.type, rank - 1);
  reduce(args.recv, args.send, incoming, args.count, args.type, args.op);
  return args.recv;
}

void fold_out(const Communicator& comm, const Fold& fold, const CollectiveArgs& args) {
  const int rank = comm.rank();
  if (rank >= 2 * fold.extra) return;
  if (rank % 2 == 0) {
    recv(comm, args.recv, args.count, args.type, rank + 1);
  } else {
    send(comm, args.recv, args.count, args.type, rank - 1);
  }
}

}  // namespace cctune::mpi
