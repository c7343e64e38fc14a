#pragma once
// Shared memory for the ranks of one node, used by the shm_* algorithms. Ranks on one node can skip
// MPI's message protocol altogether: each copies its data into its own region of a segment every rank
// has mapped, waits at a barrier made of flags in that segment, and reads the others' regions.
//
// Every rank's region has two halves that calls use in turn ("rounds"). A round writes, then meets a
// barrier, then reads; so once a rank is past the first barrier of round i + 1, every rank has finished
// reading round i - 1's half, which round i + 1 may overwrite. One barrier per round is then enough,
// whichever shm algorithm runs the rounds on this communicator.
#include <cstddef>
#include <cstdint>

#include "collectives/bootstrap.hpp"

namespace cctune::mpi {

class NodeSegment {
 public:
  // Collective over comm. Throws UsageError on every rank when comm spans more than one node, and
  // UnavailableError on every rank when the segment cannot be created or mapped on any one of them
  // (a full /dev/shm fails here, not later with SIGBUS).
  NodeSegment(const Communicator& comm, std::size_t part_bytes);
  NodeSegment(const NodeSegment&) = delete;
  NodeSegment& operator=(const NodeSegment&) = delete;
  ~NodeSegment();

  // Each half of a rank's region has two parts (an algorithm's input and output, say) of this many
  // bytes, a multiple of 64.
  std::size_t part_bytes() const { return part_bytes_; }
  // Starts the next round: the half every rank uses until the next call.
  void next_round() { ++round_; }
  // Part 0 or 1 of `rank`'s current half.
  std::byte* region(int rank, int part) const;
  // Returns once every rank of the communicator has arrived at this barrier. Writes before it are
  // visible to every rank's reads after it.
  void barrier();

 private:
  std::uint64_t& flag(int rank) const;

  int rank_ = 0;
  int size_ = 1;
  std::size_t part_bytes_ = 0;
  std::size_t mapped_bytes_ = 0;
  std::byte* base_ = nullptr;
  std::uint64_t round_ = 0;
  std::uint64_t epoch_ = 0;
};

// The default part size for n ranks: large enough that big messages take few rounds, small enough
// that a full node (128 ranks) maps about 32 MiB in all.
std::size_t default_part_bytes(int nranks);

}  // namespace cctune::mpi
