#include "bench/watchdog.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <optional>

namespace cctune::bench {
namespace {

enum Tag : int { kTimeout = 1, kQuery = 2, kStatus = 3 };
constexpr auto kPollInterval = std::chrono::milliseconds(50);
constexpr auto kAnswerWait = std::chrono::seconds(3);
constexpr int kAbortCode = 124;
// How long a rank that reported a stuck call waits for rank 0's question before it ends the job itself.
constexpr auto kRankZeroWait = std::chrono::seconds(10);

struct TimeoutMessage {
  std::uint64_t call;
  std::int32_t failed;  // the call failed (an MPI error) rather than taking too long
  std::array<char, 300> what;
};

struct StatusMessage {
  std::uint64_t call;
  int in_call;
};

// stdout and stderr are pipes to the launcher, which may have stopped reading them (a job whose node
// was lost). A blocking write would then hold the abort, and with it the job, forever: so the files
// are written before anything is said, each line gets at most kSayWait to go out, and after that fd 2
// points at /dev/null, so that MPI_Abort's own message cannot hold the abort either.
constexpr auto kSayWait = std::chrono::seconds(2);

bool writable_within(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLOUT, 0};
  const int n = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(wait.count(), 0)));
  return n == 1 && (p.revents & POLLOUT) != 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) == 0;
}

void say(const std::string& line) {
  const auto deadline = std::chrono::steady_clock::now() + kSayWait;
  std::size_t done = 0;
  while (done < line.size()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !writable_within(STDERR_FILENO, left)) break;
    // Writable means room for PIPE_BUF bytes at least: no more at once, so that the write cannot block.
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, std::min<std::size_t>(line.size() - done, PIPE_BUF));
    if (n < 0 && errno != EINTR && errno != EAGAIN) break;
    if (n > 0) done += static_cast<std::size_t>(n);
  }
  if (done < line.size()) {
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, STDERR_FILENO);
      ::close(null);
    }
  }
}

// What the command printed before the abort (verdict lines are flushed as they come: little is left).
void flush_stdout_if_it_can() {
  if (writable_within(STDOUT_FILENO, std::chrono::milliseconds(0))) std::fflush(stdout);
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Watchdog::Watchdog(MPI_Comm world, double timeout_seconds, std::vector<std::string> hosts, AbortHook on_abort)
    : comm_(Communicator::duplicate(world)),
      timeout_(std::chrono::nanoseconds(static_cast<std::int64_t>(timeout_seconds * 1e9))),
      hosts_(std::move(hosts)),
      on_abort_(std::move(on_abort)),
      thread_([this] { loop(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  stop_signal_.notify_all();
  thread_.join();
  // Sends to a peer that never took them (a report whose call finished after all): MPI keeps what it
  // needs of a freed request, and the buffers are not ours to free before it is done.
  for (MPI_Request& request : pending_sends_) {
    if (request != MPI_REQUEST_NULL) MPI_Request_free(&request);
  }
  for (auto& buffer : pending_buffers_) static_cast<void>(buffer.release());
}

void Watchdog::on_rank_zero_gone(RankZeroGoneHook hook) {
  std::lock_guard lock(mutex_);
  on_rank_zero_gone_ = std::move(hook);
}

void Watchdog::set_hosts(std::vector<std::string> hosts) {
  std::lock_guard lock(mutex_);
  hosts_ = std::move(hosts);
}

void Watchdog::describe(std::string what) {
  std::lock_guard lock(mutex_);
  description_ = std::move(what);
}

std::string Watchdog::description() const {
  std::lock_guard lock(mutex_);
  return description_;
}

void Watchdog::enter() {
  entered_at_ns_.store(now_ns(), std::memory_order_relaxed);
  call_.fetch_add(1, std::memory_order_relaxed);
  in_call_.store(true, std::memory_order_release);
}

void Watchdog::leave() { in_call_.store(false, std::memory_order_release); }

void Watchdog::loop() {
  std::unique_lock lock(mutex_);
  while (!stop_signal_.wait_for(lock, kPollInterval, [this] { return stop_; })) {
    lock.unlock();
    try {
      poll_once();
    } catch (...) {  // nothing may leave this thread; a watchdog that cannot watch ends the job
      say("cctune: watchdog: failed while watching; aborting\n");
      MPI_Abort(MPI_COMM_WORLD, kAbortCode);
      std::_Exit(kAbortCode);
    }
    lock.lock();
  }
}

void Watchdog::fail_now(const std::string& what) {
  {
    std::lock_guard lock(mutex_);
    failure_ = what;
  }
  failed_.store(true, std::memory_order_release);
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // the watchdog thread ends the job
}

void Watchdog::poll_once() {
  if (failed_.load(std::memory_order_acquire)) {
    std::string what;
    {
      std::lock_guard lock(mutex_);
      what = failure_;
    }
    report_local_timeout(what);
  } else if (in_call_.load(std::memory_order_acquire) &&
             now_ns() - entered_at_ns_.load(std::memory_order_relaxed) > timeout_.count()) {
    report_local_timeout();
  }
  if (report_unanswered_after_ns_ != 0 && now_ns() > report_unanswered_after_ns_) rank_zero_is_gone();
  int pending = 0;
  MPI_Status status;
  MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_.get(), &pending, &status);
  if (pending) {
    if (status.MPI_TAG == kTimeout) {
      TimeoutMessage message{};
      MPI_Recv(&message, sizeof message, MPI_BYTE, status.MPI_SOURCE, kTimeout, comm_.get(), MPI_STATUS_IGNORE);
      message.what.back() = '\0';
      diagnose_and_abort(message.call, message.what.data(), status.MPI_SOURCE, message.failed != 0);
    } else if (status.MPI_TAG == kQuery) {
      std::uint64_t ignored = 0;
      MPI_Recv(&ignored, sizeof ignored, MPI_BYTE, status.MPI_SOURCE, kQuery, comm_.get(), MPI_STATUS_IGNORE);
      report_unanswered_after_ns_ = 0;
      queried_ = true;
      answer_query(status.MPI_SOURCE);
    }
  }
}

void Watchdog::report_local_timeout(const std::string& failure) {
  const std::uint64_t call = call_.load(std::memory_order_relaxed);
  if (call == reported_call_) return;
  reported_call_ = call;
  const bool failed = !failure.empty();
  const std::string what = failed ? description() + " failed (" + failure + ")" : description();
  if (comm_.rank() == 0) diagnose_and_abort(call, what, 0, failed);
  // Never a blocking send: rank 0 may be the one that is gone, and a send to it would wait forever.
  TimeoutMessage message{};
  message.call = call;
  message.failed = failed ? 1 : 0;
  std::strncpy(message.what.data(), what.c_str(), message.what.size() - 1);
  send_without_waiting(&message, sizeof message, 0, kTimeout);
  // Once rank 0 has asked, it is alive and aborting: its slow teardown is no sign that it is gone.
  if (!queried_) report_unanswered_after_ns_ = now_ns() + std::chrono::nanoseconds(kRankZeroWait).count();
}

void Watchdog::send_without_waiting(const void* data, int bytes, int destination, int tag) {
  auto buffer = std::make_unique<unsigned char[]>(static_cast<std::size_t>(bytes));
  std::memcpy(buffer.get(), data, static_cast<std::size_t>(bytes));
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Isend(buffer.get(), bytes, MPI_BYTE, destination, tag, comm_.get(), &request);
  pending_buffers_.push_back(std::move(buffer));
  pending_sends_.push_back(request);
}

void Watchdog::rank_zero_is_gone() {
  std::vector<std::string> hosts;
  RankZeroGoneHook hook;
  {
    std::lock_guard lock(mutex_);
    hosts = hosts_;
    hook = on_rank_zero_gone_;
  }
  const std::string message = fmt::format(
      "watchdog: {} did not finish within {:g} s (seen by rank {}), and rank 0{} did not answer within {} s: "
      "it is stopped or its node is lost",
      description(), std::chrono::duration<double>(timeout_).count(), comm_.rank(),
      hosts.empty() ? "" : " (" + hosts.front() + ")",
      std::chrono::duration_cast<std::chrono::seconds>(kRankZeroWait).count());
  if (hook) {
    try {
      hook(message, hosts.empty() ? std::string() : hosts.front());
    } catch (...) {  // the abort must happen whatever the hook does
    }
  }
  say(fmt::format("cctune: {}; aborting\n", message));
  MPI_Abort(MPI_COMM_WORLD, kAbortCode);
  std::_Exit(kAbortCode);
}

void Watchdog::answer_query(int source) {
  const StatusMessage status{call_.load(std::memory_order_relaxed), in_call_.load(std::memory_order_acquire)};
  MPI_Send(&status, sizeof status, MPI_BYTE, source, kStatus, comm_.get());
}

void Watchdog::diagnose_and_abort(std::uint64_t call, const std::string& what, int reporter, bool failed) {
  const int n = comm_.size();
  std::vector<std::optional<StatusMessage>> answers(static_cast<std::size_t>(n));
  answers[0] = StatusMessage{call_.load(std::memory_order_relaxed), in_call_.load(std::memory_order_acquire)};
  // Never blocking sends: a rank that is gone (its node lost) would hold the query, and the job, forever.
  for (int r = 1; r < n; ++r) send_without_waiting(&call, sizeof call, r, kQuery);
  int missing = n - 1;
  const auto deadline = std::chrono::steady_clock::now() + kAnswerWait;
  while (missing > 0 && std::chrono::steady_clock::now() < deadline) {
    int pending = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_.get(), &pending, &status);
    if (!pending) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (status.MPI_TAG == kStatus) {
      StatusMessage answer{};
      MPI_Recv(&answer, sizeof answer, MPI_BYTE, status.MPI_SOURCE, kStatus, comm_.get(), MPI_STATUS_IGNORE);
      answers[static_cast<std::size_t>(status.MPI_SOURCE)] = answer;
      --missing;
    } else {  // another rank's timeout report, or our own query to ourselves: drain it
      std::vector<char> drain(sizeof(TimeoutMessage));
      MPI_Recv(drain.data(), static_cast<int>(drain.size()), MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG,
               comm_.get(), MPI_STATUS_IGNORE);
    }
  }
  std::vector<std::string> hosts;
  {
    std::lock_guard lock(mutex_);
    hosts = hosts_;
  }
  Hang hang;
  hang.hosts = hosts;
  std::string late, silent;
  for (int r = 0; r < n; ++r) {
    const auto& answer = answers[static_cast<std::size_t>(r)];
    const std::string name =
        hosts.size() == static_cast<std::size_t>(n) ? fmt::format("{} ({})", r, hosts[static_cast<std::size_t>(r)])
                                                    : std::to_string(r);
    if (!answer) {
      silent += (silent.empty() ? "" : ", ") + name;
      hang.silent.push_back(r);
    } else if (answer->call < call) {
      late += (late.empty() ? "" : ", ") + name;
      hang.late.push_back(r);
    }
  }
  std::uint64_t furthest_behind = call;
  for (int r : hang.late) furthest_behind = std::min(furthest_behind, answers[static_cast<std::size_t>(r)]->call);
  for (int r : hang.late) {
    const auto& answer = answers[static_cast<std::size_t>(r)];
    if (answer->call == furthest_behind && answer->in_call == 0) hang.behind.push_back(r);
  }
  std::string who = late.empty() ? "every rank that answered had arrived (stuck inside the collective)"
                                 : "ranks that had not arrived: " + late;
  if (!silent.empty()) who += "; no answer from: " + silent;
  hang.message = failed ? fmt::format("watchdog: {} (seen by rank {}); {}", what, reporter, who)
                        : fmt::format("watchdog: {} did not finish within {:g} s (seen by rank {}); {}", what,
                                      std::chrono::duration<double>(timeout_).count(), reporter, who);
  if (on_abort_) {
    try {
      on_abort_(hang);
    } catch (...) {  // the abort must happen whatever the hook does
    }
  }
  flush_stdout_if_it_can();
  say(fmt::format("cctune: {}; aborting\n", hang.message));
  MPI_Abort(MPI_COMM_WORLD, kAbortCode);
  std::_Exit(kAbortCode);
}

}  // namespace cctune::bench
