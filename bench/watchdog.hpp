#pragma once
// `-T SECONDS`: a thread per rank that notices a collective call running longer than the timeout,
// asks every rank (through rank 0) how far it got, prints one line naming the call, its size and the
// ranks that had not arrived, and aborts the job. It only polls (no busy waiting) so that it does not
// disturb the timings on oversubscribed cores.
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "collectives/bootstrap.hpp"

namespace cctune::bench {

class Watchdog {
 public:
  // Called on rank 0, from the watchdog thread, with the message just before the job is aborted.
  using AbortHook = std::function<void(const std::string&)>;

  // Needs MPI_THREAD_MULTIPLE. hosts: each rank's host name, for the message.
  Watchdog(MPI_Comm world, double timeout_seconds, std::vector<std::string> hosts, AbortHook on_abort = {});
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // What the next calls are ("allreduce ring 1 MiB out-of-place"); the same on every rank.
  void describe(std::string what);
  // Around every call that needs all ranks. Cheap: two atomic stores.
  void enter();
  void leave();

  // Entered and left together; RAII so that an exception cannot leave a call "in progress".
  class Call {
   public:
    explicit Call(Watchdog* watchdog) : watchdog_(watchdog) {
      if (watchdog_) watchdog_->enter();
    }
    ~Call() {
      if (watchdog_) watchdog_->leave();
    }
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

   private:
    Watchdog* watchdog_;
  };

 private:
  void loop();
  void report_local_timeout();
  [[noreturn]] void diagnose_and_abort(std::uint64_t call, const std::string& what, int reporter);
  void answer_query(int source);
  std::string description() const;

  Communicator comm_;
  std::chrono::nanoseconds timeout_;
  std::vector<std::string> hosts_;
  AbortHook on_abort_;
  std::atomic<std::uint64_t> call_{0};  // number of calls entered so far
  std::atomic<bool> in_call_{false};
  std::atomic<std::int64_t> entered_at_ns_{0};
  std::uint64_t reported_call_ = 0;  // watchdog thread only
  mutable std::mutex mutex_;
  std::string description_;
  std::condition_variable stop_signal_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace cctune::bench
