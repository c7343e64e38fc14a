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
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "collectives/bootstrap.hpp"

namespace cctune::bench {

class Watchdog {
 public:
  // What the watchdog found: the one-line message, and the world ranks to blame: those that had not
  // reached the stuck call, and those that did not answer at all (stopped, or their node lost).
  struct Hang {
    std::string message;
    std::vector<int> late, silent;
    // Of the late ranks, those furthest behind and not inside any call: they had not entered the call
    // the others wait in. A late rank inside a call may only be waiting on a silent one (its peer
    // stopped mid-exchange while the others got what they needed), so it is not among them.
    std::vector<int> behind;
    std::vector<std::string> hosts;  // each rank's, as set_hosts() gave them (empty before)
  };
  // Called on rank 0, from the watchdog thread, just before the job is aborted.
  using AbortHook = std::function<void(const Hang&)>;

  // Needs MPI_THREAD_MULTIPLE. hosts: each rank's host name, for the message (empty: ranks only, until
  // set_hosts()); collective over `world` (it duplicates it).
  Watchdog(MPI_Comm world, double timeout_seconds, std::vector<std::string> hosts, AbortHook on_abort = {});
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // What the next calls are ("allreduce ring 1 MiB out-of-place"); the same on every rank.
  void describe(std::string what);
  // A watched call failed on this rank (an MPI error: a peer lost): find out who stopped answering, as
  // for a stuck call, and end the job the same way. Never returns: this thread waits for the abort.
  [[noreturn]] void fail_now(const std::string& what);

  // Called on a rank other than 0, from the watchdog thread, when rank 0 never asked about the stuck
  // call this rank reported (rank 0 stopped, or its node lost), with the message and rank 0's host
  // ("" before set_hosts()), just before this rank ends the job.
  using RankZeroGoneHook = std::function<void(const std::string& message, const std::string& host)>;
  void on_rank_zero_gone(RankZeroGoneHook hook);

  // So that the first collective, which learns the hosts, can already be watched.
  void set_hosts(std::vector<std::string> hosts);
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
  void poll_once();
  void report_local_timeout(const std::string& failure = {});
  [[noreturn]] void rank_zero_is_gone();
  [[noreturn]] void diagnose_and_abort(std::uint64_t call, const std::string& what, int reporter, bool failed);
  void answer_query(int source);
  std::string description() const;

  Communicator comm_;
  std::chrono::nanoseconds timeout_;
  std::vector<std::string> hosts_;
  AbortHook on_abort_;
  RankZeroGoneHook on_rank_zero_gone_;  // under mutex_
  std::atomic<std::uint64_t> call_{0};  // number of calls entered so far
  std::atomic<bool> in_call_{false};
  std::atomic<std::int64_t> entered_at_ns_{0};
  std::uint64_t reported_call_ = 0;  // watchdog thread only
  // A rank other than 0 that reported a stuck call: when rank 0 has not asked it how far it got by
  // then, rank 0 itself is gone, and this rank ends the job (watchdog thread only; 0: none pending).
  std::int64_t report_unanswered_after_ns_ = 0;
  bool queried_ = false;
  std::atomic<bool> failed_{false};  // fail_now() was called; failure_ says what failed
  std::string failure_;               // under mutex_  // rank 0 has asked this rank how far it got (watchdog thread only)
  // Sends that must never wait on a peer that may be dead; kept until they complete or the job ends.
  void send_without_waiting(const void* data, int bytes, int destination, int tag);
  std::vector<MPI_Request> pending_sends_;
  std::vector<std::unique_ptr<unsigned char[]>> pending_buffers_;
  mutable std::mutex mutex_;
  std::string description_;
  std::condition_variable stop_signal_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace cctune::bench
