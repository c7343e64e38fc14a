#pragma once
// A PeerExchange between real processes on one machine, without MPI, for the GPU check's two-process
// run (one process per GPU: what one-GPU virtual ranks never exercise, i.e. system-scope ordering over
// NVLink, offsets into memory opened through CUDA IPC, and each process's own barrier epochs).
//
// The parent starts the ranks and takes no part in them: each rank holds one end of a Unix socket
// pair, the parent the other ends, and the parent answers every collective once all ranks have asked
// for it (a hub). A rank that ends early, or a collective the ranks disagree on, ends the others' calls
// with an error instead of leaving them waiting; so does a deadline.
#include <functional>
#include <string>
#include <vector>

#include "collectives/peer_exchange.hpp"

namespace cctune::gpu_check {

class ProcessPeers final : public PeerExchange {
 public:
  // `fd`: this rank's end of its socket to the parent. Each exchange throws cctune::Error when the
  // parent does not answer within `timeout_seconds`, or answers that a peer has gone.
  ProcessPeers(int fd, int rank, int size, double timeout_seconds);
  ProcessPeers(const ProcessPeers&) = delete;
  ProcessPeers& operator=(const ProcessPeers&) = delete;
  ~ProcessPeers() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return rank_; }  // every rank on this machine
  int local_size() const override { return size_; }
  void broadcast(void* data, std::size_t bytes, int root) override;
  void allgather(const void* mine, void* all, std::size_t bytes) override;
  bool any(bool mine) override;

 private:
  // Sends one request and returns the parent's answer (or throws).
  std::vector<unsigned char> exchange(unsigned op, unsigned root, const void* payload, std::size_t bytes,
                                      std::size_t answer_bytes);
  int fd_;
  int rank_, size_;
  double timeout_seconds_;
};

// How each rank ended, as run_ranks reports it.
struct RankOutcome {
  int exit_code = -1;  // the rank's exit status; -1 when it was killed
  int signal = 0;      // the signal that ended it, 0 when it exited
};

struct RunOutcome {
  std::vector<RankOutcome> ranks;
  std::string hub_error;  // empty when every collective was answered and every rank closed its socket
};

// Starts `size` ranks with fork(). `in_child(rank, fd)` runs in each child with its socket end (the
// other ends are closed there) and returns the child's exit code; it may instead exec() a program that
// builds a ProcessPeers on `fd` (a process that has initialised CUDA must, since CUDA does not survive
// fork()). The parent serves the collectives until every rank has closed its socket, then reaps them.
// Past `deadline_seconds` it kills every rank that is left (SIGKILL) and says so in hub_error.
RunOutcome run_ranks(int size, double deadline_seconds, const std::function<int(int rank, int fd)>& in_child);

// The same with each rank a fresh program, started with posix_spawn (no copy of this process, whose
// CUDA state cannot be used after fork() anyway): rank r runs argv_by_rank[r], with its socket end as
// file descriptor `child_fd`.
RunOutcome spawn_ranks(const std::vector<std::vector<std::string>>& argv_by_rank, int child_fd,
                       double deadline_seconds);

}  // namespace cctune::gpu_check
