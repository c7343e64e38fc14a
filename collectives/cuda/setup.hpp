#pragma once
// The cuda backend's one collective set-up step, taken before it shares any memory: every rank says
// what its GPU is, and where the job cannot run every rank refuses alike, with the same one line
// (a UsageError), decided from the same exchanged facts, so that no rank is left waiting for another.
// The decisions are pure functions, tested on the host with made-up GPUs (tests/gpu/host_side_test.cpp).
// Nothing here needs MPI.
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "collectives/peer_exchange.hpp"

namespace cctune::cuda {

// The oldest GPU the kernels are built for (sm_80, cmake/Dependencies.cmake) and can run on: they
// use sys-scope acquire/release and bf16 conversions.
inline constexpr int kMinComputeMajor = 8;
// Room for the registry's kernels in one exchanged record.
inline constexpr int kMaxAgreedKernels = 32;

// What one rank says about its GPU. Exchanged as bytes: fixed size, trivially copyable.
struct DeviceFacts {
  char problem[200] = {};  // non-empty: this rank cannot use a GPU, and why (then only `index` may be set)
  char name[96] = {};      // "NVIDIA H200"
  char bus_id[32] = {};    // "0000:1b:00.0"
  std::array<unsigned char, 16> uuid = {};
  int index = -1;  // CUDA's index of the GPU in this rank's process
  int major = 0;   // compute capability
  int minor = 0;
  int kernels = 0;                             // entries of device_blocks that are set
  int device_blocks[kMaxAgreedKernels] = {};  // per registry kernel (registry_kernels()): local_device_blocks
};

// "GPU 1 [0000:1b:00.0] NVIDIA H200".
std::string describe(const DeviceFacts& gpu);

// The line every rank refuses with, from what every rank said, in this order: a rank that cannot use
// a GPU at all; a GPU older than sm_80; two ranks on one GPU (NCCL refuses that too: NCCL 2.28.9
// src/init.cc, "Duplicate GPU detected"). nullopt: none of these.
std::optional<std::string> refusal(std::span<const DeviceFacts> ranks);

// reach[i * n + j] != 0: rank i's GPU can access rank j's memory peer to peer. The first pair that
// cannot, either way, is refused, naming both GPUs.
std::optional<std::string> refusal_without_peer_access(std::span<const DeviceFacts> ranks,
                                                       std::span<const std::uint8_t> reach);

// Per kernel, the fewest blocks any rank's device holds at once: the grid every rank plans with.
std::vector<int> agreed_device_blocks(std::span<const DeviceFacts> ranks);

struct Agreement {
  std::vector<DeviceFacts> ranks;  // what each rank said, by rank
  std::vector<int> device_blocks;  // agreed_device_blocks
};

// This rank's row of the access matrix, given every rank's GPU.
using ReachRow = std::function<std::vector<std::uint8_t>(std::span<const DeviceFacts> ranks, int self)>;

// The step: exchanges `mine`, refuses (refusal()), asks reach_row only when nothing was refused,
// exchanges the rows, refuses again (refusal_without_peer_access()), and returns what was agreed.
// Every rank takes the same branches, since each decides from the same exchanged bytes.
Agreement agree_with_peers(PeerExchange& peers, const DeviceFacts& mine, const ReachRow& reach_row);

// ---- the real inputs, from CUDA ----

// Chooses this rank's GPU by local rank, makes it current, and says what it is and what it holds of
// each kernel. Never throws: a problem (no GPU, a GPU too old, no kernel image for it) goes into the
// facts, so that every rank learns it in the exchange instead of some waiting for a rank that left.
DeviceFacts probe_this_device(int local_rank, std::span<const void* const> kernels);

// cudaDeviceCanAccessPeer from this rank's GPU to every rank's, each found by its PCI bus id. A GPU
// that this process cannot see (CUDA_VISIBLE_DEVICES differing per rank) counts as reachable, as NCCL
// counts it (NCCL 2.28.9 src/transport/p2p.cc: CUDA 10.1 and later can use P2P with invisible devices).
std::vector<std::uint8_t> reach_from_this_device(std::span<const DeviceFacts> ranks, int self);

}  // namespace cctune::cuda
