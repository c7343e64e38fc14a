#include "tests/gpu/process_peers.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>

#include "collectives/error.hpp"

extern char** environ;

namespace cctune::gpu_check {
namespace {

using Clock = std::chrono::steady_clock;

enum Op : std::uint32_t { kAllgather = 1, kBroadcast = 2, kAny = 3 };

struct RequestHeader {
  std::uint32_t op = 0;
  std::uint32_t root = 0;
  std::uint64_t bytes = 0;  // each rank's contribution (allgather, any), or the broadcast's size
};

struct AnswerHeader {
  std::uint32_t status = 0;  // 0: the answer follows; else an error message follows
  std::uint32_t unused = 0;
  std::uint64_t bytes = 0;
};

const char* op_name(std::uint32_t op) {
  switch (op) {
    case kAllgather: return "allgather";
    case kBroadcast: return "broadcast";
    case kAny: return "any";
    default: return "an unknown call";
  }
}

int milliseconds_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

// false: the deadline passed first. Throws on a socket error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = poll(&p, 1, milliseconds_left(deadline));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) CCTUNE_THROW(std::string("poll: ") + std::strerror(errno));
  }
}

// Returns the bytes read: fewer than `bytes` only when the other end closed the socket.
std::size_t read_all(int fd, void* data, std::size_t bytes, Clock::time_point deadline, const char* what) {
  auto* at = static_cast<unsigned char*>(data);
  std::size_t done = 0;
  while (done < bytes) {
    if (!wait_for(fd, POLLIN, deadline)) CCTUNE_THROW(std::string(what) + ": no answer before the deadline");
    const ssize_t n = recv(fd, at + done, bytes - done, 0);
    if (n == 0) return done;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      CCTUNE_THROW(std::string(what) + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  return done;
}

// false when the other end has closed the socket (no SIGPIPE: MSG_NOSIGNAL).
bool write_all(int fd, const void* data, std::size_t bytes, Clock::time_point deadline, const char* what) {
  const auto* at = static_cast<const unsigned char*>(data);
  std::size_t done = 0;
  while (done < bytes) {
    if (!wait_for(fd, POLLOUT, deadline)) CCTUNE_THROW(std::string(what) + ": could not send before the deadline");
    const ssize_t n = send(fd, at + done, bytes - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == EPIPE || errno == ECONNRESET) return false;
      CCTUNE_THROW(std::string(what) + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

Clock::time_point after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

ProcessPeers::ProcessPeers(int fd, int rank, int size, double timeout_seconds)
    : fd_(fd), rank_(rank), size_(size), timeout_seconds_(timeout_seconds) {
  if (size < 1 || rank < 0 || rank >= size) {
    CCTUNE_THROW("process peers: rank " + std::to_string(rank) + " of " + std::to_string(size));
  }
}

ProcessPeers::~ProcessPeers() { close(fd_); }

std::vector<unsigned char> ProcessPeers::exchange(unsigned op, unsigned root, const void* payload, std::size_t bytes,
                                                  std::size_t answer_bytes) {
  const auto deadline = after(timeout_seconds_);
  const std::string what = "rank " + std::to_string(rank_) + " " + op_name(op);
  const RequestHeader request{op, root, bytes};
  const bool sends_payload = op != kBroadcast || static_cast<int>(root) == rank_;
  if (!write_all(fd_, &request, sizeof request, deadline, what.c_str()) ||
      (sends_payload && bytes && !write_all(fd_, payload, bytes, deadline, what.c_str()))) {
    CCTUNE_THROW(what + ": the parent has closed this run (a peer rank ended early)");
  }
  AnswerHeader answer;
  if (read_all(fd_, &answer, sizeof answer, deadline, what.c_str()) != sizeof answer) {
    CCTUNE_THROW(what + ": the parent has closed this run (a peer rank ended early)");
  }
  std::vector<unsigned char> data(static_cast<std::size_t>(answer.bytes));
  if (read_all(fd_, data.data(), data.size(), deadline, what.c_str()) != data.size()) {
    CCTUNE_THROW(what + ": the parent closed this run in the middle of an answer");
  }
  if (answer.status != 0) CCTUNE_THROW(what + ": " + std::string(data.begin(), data.end()));
  if (data.size() != answer_bytes) {
    CCTUNE_THROW(what + ": " + std::to_string(data.size()) + " bytes answered, " + std::to_string(answer_bytes) +
                 " expected");
  }
  return data;
}

void ProcessPeers::broadcast(void* data, std::size_t bytes, int root) {
  if (root < 0 || root >= size_) CCTUNE_THROW("process peers: broadcast from rank " + std::to_string(root));
  const auto answer = exchange(kBroadcast, static_cast<unsigned>(root), data, bytes, bytes);
  if (bytes) std::memcpy(data, answer.data(), bytes);
}

void ProcessPeers::allgather(const void* mine, void* all, std::size_t bytes) {
  const auto answer = exchange(kAllgather, 0, mine, bytes, bytes * static_cast<std::size_t>(size_));
  if (!answer.empty()) std::memcpy(all, answer.data(), answer.size());
}

bool ProcessPeers::any(bool mine) {
  const unsigned char byte = mine ? 1 : 0;
  const auto answer = exchange(kAny, 0, &byte, 1, 1);
  return answer[0] != 0;
}

namespace {

// The parent's side: one round per collective, answered once every rank has asked for it.
class Hub {
 public:
  Hub(std::vector<int> fds, Clock::time_point deadline) : fds_(std::move(fds)), deadline_(deadline) {}

  // Until every rank has closed its socket; returns the error that ended it early, or "".
  std::string serve() {
    const int size = static_cast<int>(fds_.size());
    std::vector<bool> closed(static_cast<std::size_t>(size), false);
    for (;;) {
      std::vector<RequestHeader> requests(static_cast<std::size_t>(size));
      std::vector<std::vector<unsigned char>> payloads(static_cast<std::size_t>(size));
      std::vector<bool> asked(static_cast<std::size_t>(size), false);
      int waiting = size;  // ranks that have neither asked nor closed this round
      while (waiting > 0) {
        std::vector<pollfd> polled;
        std::vector<int> ranks;
        for (int r = 0; r < size; ++r) {
          const auto i = static_cast<std::size_t>(r);
          if (!asked[i] && !closed[i]) {
            polled.push_back({fds_[i], POLLIN, 0});
            ranks.push_back(r);
          }
        }
        const int rc = poll(polled.data(), polled.size(), milliseconds_left(deadline_));
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return std::string("poll: ") + std::strerror(errno);
        if (rc == 0) return "the ranks did not finish before the deadline";
        for (std::size_t k = 0; k < polled.size(); ++k) {
          if (!polled[k].revents) continue;
          const auto r = static_cast<std::size_t>(ranks[k]);
          RequestHeader header;
          const std::size_t got = read_all(fds_[r], &header, sizeof header, deadline_, "the hub");
          --waiting;
          if (got == 0) {
            closed[r] = true;
            continue;
          }
          if (got != sizeof header) return "rank " + std::to_string(r) + " ended in the middle of a request";
          const bool sends = header.op != kBroadcast || header.root == r;
          if (header.bytes > (std::uint64_t{1} << 30)) return "rank " + std::to_string(r) + " asked for too much";
          payloads[r].resize(sends ? static_cast<std::size_t>(header.bytes) : 0);
          if (read_all(fds_[r], payloads[r].data(), payloads[r].size(), deadline_, "the hub") != payloads[r].size()) {
            return "rank " + std::to_string(r) + " ended in the middle of a request";
          }
          requests[r] = header;
          asked[r] = true;
        }
      }
      const auto gone = std::find(closed.begin(), closed.end(), true);
      const auto first_asker = std::find(asked.begin(), asked.end(), true);
      if (first_asker == asked.end()) return "";  // every rank has closed: the run is over
      const std::string call = op_name(requests[static_cast<std::size_t>(first_asker - asked.begin())].op);
      if (gone != closed.end()) {
        return fail_all(asked, "rank " + std::to_string(gone - closed.begin()) + " ended while rank " +
                                   std::to_string(first_asker - asked.begin()) + " waited in " + call);
      }
      const RequestHeader& first = requests[0];
      for (int r = 1; r < size; ++r) {
        const RequestHeader& other = requests[static_cast<std::size_t>(r)];
        if (other.op != first.op || other.bytes != first.bytes || other.root != first.root) {
          return fail_all(asked, "the ranks called different collectives: rank 0 " + describe(first) + ", rank " +
                                     std::to_string(r) + " " + describe(other));
        }
      }
      std::vector<unsigned char> answer;
      if (first.op == kAllgather) {
        for (const auto& payload : payloads) answer.insert(answer.end(), payload.begin(), payload.end());
      } else if (first.op == kBroadcast) {
        if (first.root >= fds_.size()) return fail_all(asked, "broadcast from rank " + std::to_string(first.root));
        answer = payloads[first.root];
      } else if (first.op == kAny) {
        unsigned char any = 0;
        for (const auto& payload : payloads) {
          if (!payload.empty() && payload[0]) any = 1;
        }
        answer.assign(1, any);
      } else {
        return fail_all(asked, describe(first));
      }
      for (int r = 0; r < size; ++r) {
        if (!answer_rank(r, 0, answer)) return "rank " + std::to_string(r) + " ended while it waited for an answer";
      }
    }
  }

 private:
  static std::string describe(const RequestHeader& h) {
    return std::string(op_name(h.op)) + " of " + std::to_string(h.bytes) + " bytes" +
           (h.op == kBroadcast ? " from rank " + std::to_string(h.root) : "");
  }

  bool answer_rank(int rank, std::uint32_t status, const std::vector<unsigned char>& data) {
    const int fd = fds_[static_cast<std::size_t>(rank)];
    const AnswerHeader header{status, 0, data.size()};
    return write_all(fd, &header, sizeof header, deadline_, "the hub") &&
           write_all(fd, data.data(), data.size(), deadline_, "the hub");
  }

  // Tells every rank that asked why its call cannot be answered; returns the reason.
  std::string fail_all(const std::vector<bool>& asked, const std::string& reason) {
    const std::vector<unsigned char> text(reason.begin(), reason.end());
    for (std::size_t r = 0; r < asked.size(); ++r) {
      if (asked[r]) {
        try {
          answer_rank(static_cast<int>(r), 1, text);
        } catch (const std::exception&) {  // that rank is going anyway
        }
      }
    }
    return reason;
  }

  std::vector<int> fds_;
  Clock::time_point deadline_;
};

struct Sockets {
  std::vector<int> parent_ends, child_ends;
  explicit Sockets(int size) {
    for (int r = 0; r < size; ++r) {
      int pair[2];
      // Close-on-exec: a spawned rank keeps only the copy it is given as child_fd.
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        const std::string why = std::strerror(errno);
        close_all();
        CCTUNE_THROW("socketpair: " + why);
      }
      parent_ends.push_back(pair[0]);
      child_ends.push_back(pair[1]);
    }
  }
  void close_children() {
    for (int fd : child_ends) close(fd);
    child_ends.clear();
  }
  void close_all() {
    close_children();
    for (int fd : parent_ends) close(fd);
    parent_ends.clear();
  }
};

void kill_all(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) kill(pid, SIGKILL);
  for (pid_t pid : pids) waitpid(pid, nullptr, 0);
}

// Serves the ranks' collectives, then reaps them (killing what is left at the deadline).
RunOutcome serve_and_reap(const std::vector<pid_t>& pids, Sockets& sockets, Clock::time_point deadline) {
  sockets.close_children();
  const int size = static_cast<int>(pids.size());
  RunOutcome outcome;
  try {
    outcome.hub_error = Hub(sockets.parent_ends, deadline).serve();
  } catch (const std::exception& e) {
    outcome.hub_error = e.what();
  }
  // Closing our ends ends every rank's next call with an error, so a rank left waiting does not wait
  // for the deadline.
  sockets.close_all();

  outcome.ranks.resize(static_cast<std::size_t>(size));
  std::vector<bool> reaped(static_cast<std::size_t>(size), false);
  int left = size;
  bool killed = false;
  while (left > 0) {
    for (int r = 0; r < size; ++r) {
      const auto i = static_cast<std::size_t>(r);
      if (reaped[i]) continue;
      int status = 0;
      const pid_t rc = waitpid(pids[i], &status, killed ? 0 : WNOHANG);
      if (rc == 0) continue;
      reaped[i] = true;
      --left;
      if (rc < 0) continue;
      if (WIFEXITED(status)) outcome.ranks[i].exit_code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) outcome.ranks[i].signal = WTERMSIG(status);
    }
    if (left == 0) break;
    if (!killed && Clock::now() >= deadline) {
      for (int r = 0; r < size; ++r) {
        if (!reaped[static_cast<std::size_t>(r)]) kill(pids[static_cast<std::size_t>(r)], SIGKILL);
      }
      killed = true;
      if (outcome.hub_error.empty()) outcome.hub_error = "the ranks did not finish before the deadline";
      outcome.hub_error += "; killed the ranks still running";
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return outcome;
}

}  // namespace

RunOutcome run_ranks(int size, double deadline_seconds, const std::function<int(int rank, int fd)>& in_child) {
  if (size < 1) CCTUNE_THROW("run_ranks: " + std::to_string(size) + " ranks");
  const auto deadline = after(deadline_seconds);
  Sockets sockets(size);
  std::fflush(nullptr);  // or a child would print the parent's buffered output again
  std::vector<pid_t> pids;
  for (int r = 0; r < size; ++r) {
    const pid_t pid = fork();
    if (pid < 0) {
      const std::string why = std::strerror(errno);
      kill_all(pids);
      sockets.close_all();
      CCTUNE_THROW("fork: " + why);
    }
    if (pid == 0) {
      for (int fd : sockets.parent_ends) close(fd);
      for (int k = 0; k < size; ++k) {
        if (k != r) close(sockets.child_ends[static_cast<std::size_t>(k)]);
      }
      int code = 1;
      try {
        code = in_child(r, sockets.child_ends[static_cast<std::size_t>(r)]);
      } catch (const Error& e) {
        std::printf("[rank %d] error: %s (%s:%d)\n", r, e.what(), e.file(), e.line());
      } catch (const std::exception& e) {
        std::printf("[rank %d] error: %s\n", r, e.what());
      }
      std::fflush(nullptr);
      std::_Exit(code);  // no destructors: they could wait on a device the rank gave up on
    }
    pids.push_back(pid);
  }
  return serve_and_reap(pids, sockets, deadline);
}

RunOutcome spawn_ranks(const std::vector<std::vector<std::string>>& argv_by_rank, int child_fd,
                       double deadline_seconds) {
  const int size = static_cast<int>(argv_by_rank.size());
  if (size < 1) CCTUNE_THROW("spawn_ranks: no ranks");
  const auto deadline = after(deadline_seconds);
  Sockets sockets(size);
  std::fflush(nullptr);
  std::vector<pid_t> pids;
  for (int r = 0; r < size; ++r) {
    std::vector<char*> argv;
    for (const std::string& arg : argv_by_rank[static_cast<std::size_t>(r)]) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    if (sockets.child_ends[static_cast<std::size_t>(r)] == child_fd) {
      kill_all(pids);
      sockets.close_all();
      CCTUNE_THROW("spawn_ranks: descriptor " + std::to_string(child_fd) + " is taken; pass another");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // dup2 clears close-on-exec on the copy, so the rank finds its socket at child_fd.
    posix_spawn_file_actions_adddup2(&actions, sockets.child_ends[static_cast<std::size_t>(r)], child_fd);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      kill_all(pids);
      sockets.close_all();
      CCTUNE_THROW("posix_spawn " + argv_by_rank[static_cast<std::size_t>(r)][0] + ": " + std::strerror(rc));
    }
    pids.push_back(pid);
  }
  return serve_and_reap(pids, sockets, deadline);
}

}  // namespace cctune::gpu_check
