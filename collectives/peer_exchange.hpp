#pragma once
// What a GPU backend needs from whoever started the ranks: its place among them, and a few small
// exchanges while it sets up (NCCL's unique id, CUDA IPC handles). cctune provides it over MPI
// (collectives/backends.cpp); the GPU check program, which runs where there is no MPI, provides it for
// one process alone or over a socket between its processes. The GPU backends call it while they set
// up, and the cuda backend also in allocate() (every rank exports and maps each buffer) and at its
// orderly teardown (close everywhere, meet, then free), and both between timed calls under nccl-tests'
// -z 1 and 3 (any(false) as a barrier); never while a collective is in flight.
#include <cstddef>
#include <cstring>

namespace cctune {

class PeerExchange {
 public:
  virtual ~PeerExchange() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;  // among the ranks on this node
  virtual int local_size() const = 0;
  virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
  // Every rank's `bytes` bytes, in rank order, into `all` (size() * bytes).
  virtual void allgather(const void* mine, void* all, std::size_t bytes) = 0;
  // true on every rank when any rank passed true: ranks fail together instead of leaving peers waiting.
  virtual bool any(bool mine) = 0;
};

class SingleProcess final : public PeerExchange {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  void broadcast(void*, std::size_t, int) override {}
  void allgather(const void* mine, void* all, std::size_t bytes) override {
    if (bytes) std::memcpy(all, mine, bytes);
  }
  bool any(bool mine) override { return mine; }
};

}  // namespace cctune
