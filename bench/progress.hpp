#pragma once
// A one-line progress display for people watching a terminal; silent when nobody is.
#include <chrono>
#include <memory>
#include <string_view>

namespace cctune::bench {

class ProgressLine {
 public:
  // nullptr unless the user's terminal is reachable. Under mpirun a rank's own stdout is a pty even
  // when the user redirected the output to a file, and its stderr is a pipe even on a terminal, so
  // isatty() inside a rank says nothing useful: we ask about the launcher's stderr instead.
  static std::unique_ptr<ProgressLine> open_if_terminal();
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Redrawn at most a few times a second, and not right after clear(), so that rows the launcher is
  // still forwarding are not overwritten.
  void show(std::string_view text);
  void clear();

 private:
  ProgressLine(int fd, bool owns_fd) : fd_(fd), owns_fd_(owns_fd) {}
  void write_all(std::string_view text);
  int fd_;
  bool owns_fd_;
  bool visible_ = false;
  std::chrono::steady_clock::time_point last_change_{};
};

}  // namespace cctune::bench
