#pragma once
// What one launch of our CUDA collective kernels is given. The same kernels serve two layouts:
//   - one process per GPU: one view, this rank's, whose peer pointers were opened through CUDA IPC;
//   - virtual ranks: N views on one device, one per rank, all launched together (the GPU tests).
// A kernel runs grid.y = views, and block (x, y) works for rank view[y].rank.
#include <cstddef>
#include <cstdint>

#include "collectives/types.hpp"

namespace cctune::cuda {

inline constexpr int kMaxRanks = 8;        // peers reachable by load/store: one NVLink domain of a node
inline constexpr int kMaxBlocks = 128;     // per rank and launch; sizes the barrier flags
inline constexpr int kThreads = 512;       // per block
inline constexpr int kFlagsPerRank = kMaxBlocks * kMaxRanks;  // uint32 barrier flags each rank owns

// One rank's view of the group: every pointer is valid on the device that runs this rank.
struct RankView {
  int rank = 0;
  const void* input[kMaxRanks] = {};     // every rank's input (the send buffer), by rank
  void* output[kMaxRanks] = {};          // every rank's output (the receive buffer), by rank
  std::uint32_t* flags[kMaxRanks] = {};  // every rank's barrier flags, by rank
  void* scratch = nullptr;               // this rank's own, not shared: room for a whole output
};

// How a stuck call is ended (a peer never reached its barrier and -T ran out): the host sets
// `requested`, every barrier gives up and its kernel returns, so that the stream drains and nothing
// waits for the device for ever. All null: nothing can stop a call (virtual ranks, which no peer can
// leave waiting).
struct StopWords {
  const std::uint32_t* requested = nullptr;  // pinned host memory mapped into the device; set by the host
  std::uint32_t* stopped = nullptr;          // the same memory; set by a block that gave up: no result counts
  std::uint32_t* sticky = nullptr;  // this rank's device memory, also set then: the calls queued behind give up
                                    // at their first barrier, without waiting to see the host's word
};

struct LaunchParams {
  int nranks = 1;
  std::size_t count = 0;  // allreduce: elements of the vector; alltoall: elements per peer
  DataType type = DataType::float32;
  ReduceOp op = ReduceOp::sum;
  bool in_place = false;
  std::uint32_t epoch = 0;  // the launch's barriers wait for epoch + 1, epoch + 2, ...
  int blocks = 1;           // per rank (grid.x)
  int views = 1;            // grid.y
  StopWords stop;
  RankView view[kMaxRanks];
};

// The element types our kernels reduce (in float32); alltoall moves any type.
constexpr bool kernels_reduce(DataType type) {
  return type == DataType::float32 || type == DataType::float16 || type == DataType::bfloat16;
}

}  // namespace cctune::cuda
