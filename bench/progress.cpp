#include "bench/progress.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "collectives/bootstrap.hpp"

namespace cctune::bench {
namespace {
constexpr auto kQuietAfterChange = std::chrono::milliseconds(250);
}

std::unique_ptr<ProgressLine> ProgressLine::open_if_terminal() {
  if (!launcher_rank()) {
    if (isatty(STDERR_FILENO)) return std::unique_ptr<ProgressLine>(new ProgressLine(STDERR_FILENO, false));
    return nullptr;
  }
  const std::string launcher_stderr = "/proc/" + std::to_string(getppid()) + "/fd/2";
  const int fd = open(launcher_stderr.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  if (!isatty(fd)) {
    close(fd);
    return nullptr;
  }
  return std::unique_ptr<ProgressLine>(new ProgressLine(fd, true));
}

ProgressLine::~ProgressLine() {
  clear();
  if (owns_fd_) close(fd_);
}

void ProgressLine::write_all(std::string_view text) {
  while (!text.empty()) {
    const ssize_t written = write(fd_, text.data(), text.size());
    if (written <= 0) return;  // a display must never fail the run
    text.remove_prefix(static_cast<std::size_t>(written));
  }
}

void ProgressLine::show(std::string_view text) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_change_ < kQuietAfterChange) return;
  write_all("\r\033[K");
  write_all(text);
  visible_ = true;
  last_change_ = now;
}

void ProgressLine::clear() {
  if (!visible_) return;
  write_all("\r\033[K");
  visible_ = false;
  last_change_ = std::chrono::steady_clock::now();
}

}  // namespace cctune::bench
