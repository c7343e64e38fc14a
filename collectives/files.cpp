#include "collectives/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "collectives/error.hpp"

namespace cctune::files {
namespace {

std::string reason(int error) { return std::strerror(error); }

// Closes a descriptor on every path out, including exceptions.
class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports the error close() gives (a delayed write error on some file systems).
  int release_and_close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

std::string folder_of(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

mode_t new_file_mode() {
  // umask() can only be read by setting it: set it back at once.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return 0666 & ~mask;
}

void write_all(int fd, std::string_view text, const std::string& path) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) CCTUNE_THROW("cannot write '" + path + "': " + reason(n < 0 ? errno : ENOSPC));
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::string read_regular_file(const std::string& path, std::string_view what, std::uint64_t max_bytes) {
  const std::string named = path + ": " + std::string(what);
  if (path.empty()) CCTUNE_USAGE_ERROR(std::string(what) + ": the path is empty");
  // O_NONBLOCK: opening a FIFO with no writer must not wait for one.
  Descriptor fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) CCTUNE_USAGE_ERROR(named + ": no such file");
    CCTUNE_USAGE_ERROR(named + ": cannot open (" + reason(error) + ")");
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) CCTUNE_USAGE_ERROR(named + ": cannot read its size (" + reason(errno) + ")");
  if (S_ISDIR(info.st_mode)) CCTUNE_USAGE_ERROR(named + ": is a directory, not a file");
  if (!S_ISREG(info.st_mode)) {
    CCTUNE_USAGE_ERROR(named + ": not a regular file (a FIFO, device or socket cannot be read as one)");
  }
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size > max_bytes) {
    CCTUNE_USAGE_ERROR(named + ": " + std::to_string(size) + " bytes, more than the " +
                       std::to_string(max_bytes >> 20) + " MiB any such file needs");
  }
  std::string text;
  text.resize(static_cast<std::size_t>(size));
  std::size_t done = 0;
  // Read until end of file, but never past the cap: the file may be growing while we read it.
  while (true) {
    if (done == text.size()) {
      if (text.size() > max_bytes) {
        CCTUNE_USAGE_ERROR(named + ": grew past the " + std::to_string(max_bytes >> 20) + " MiB limit while read");
      }
      text.resize(text.size() + 4096);
    }
    const ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) CCTUNE_USAGE_ERROR(named + ": cannot be read (" + reason(errno) + ")");
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  text.resize(done);
  return text;
}

void write_file_atomically(const std::string& path, std::string_view text) {
  if (path.empty()) CCTUNE_USAGE_ERROR("cannot write a file with an empty name");
  const std::filesystem::path target(path);
  std::string temporary =
      (std::filesystem::path(folder_of(path)) / ("." + target.filename().string() + ".cctune-XXXXXX")).string();
  Descriptor fd(::mkstemp(temporary.data()));
  if (fd.get() < 0) CCTUNE_THROW("cannot write '" + path + "': " + reason(errno));
  bool renamed = false;
  try {
    struct stat existing {};
    const mode_t mode = ::stat(path.c_str(), &existing) == 0 && S_ISREG(existing.st_mode)
                            ? (existing.st_mode & 07777)
                            : new_file_mode();
    if (::fchmod(fd.get(), mode) != 0) CCTUNE_THROW("cannot write '" + path + "': " + reason(errno));
    write_all(fd.get(), text, path);
    if (::fsync(fd.get()) != 0) CCTUNE_THROW("cannot write '" + path + "': " + reason(errno));
    if (const int error = fd.release_and_close(); error != 0) {
      CCTUNE_THROW("cannot write '" + path + "': " + reason(error));
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
      CCTUNE_THROW("cannot write '" + path + "': " + reason(errno));
    }
    renamed = true;
  } catch (...) {
    if (!renamed) ::unlink(temporary.c_str());
    throw;
  }
}

void check_output_file(const std::string& path, std::string_view what) {
  const std::string named = std::string(what) + " '" + path + "'";
  if (path.empty()) CCTUNE_USAGE_ERROR(std::string(what) + ": the path is empty");
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode)) CCTUNE_USAGE_ERROR(named + ": is a directory");
    if (!S_ISREG(info.st_mode)) CCTUNE_USAGE_ERROR(named + ": exists and is not a regular file");
  }
  const std::string folder = folder_of(path);
  struct stat folder_info {};
  if (::stat(folder.c_str(), &folder_info) != 0) CCTUNE_USAGE_ERROR(named + ": the folder '" + folder + "' does not exist");
  if (!S_ISDIR(folder_info.st_mode)) CCTUNE_USAGE_ERROR(named + ": '" + folder + "' is not a folder");
  if (::access(folder.c_str(), W_OK | X_OK) != 0) {
    CCTUNE_USAGE_ERROR(named + ": cannot create files in '" + folder + "' (" + reason(errno) + ")");
  }
}

void check_output_folder(const std::string& path, std::string_view what) {
  const std::string named = std::string(what) + " '" + path + "'";
  if (path.empty()) CCTUNE_USAGE_ERROR(std::string(what) + ": the path is empty");
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    if (!S_ISDIR(info.st_mode)) CCTUNE_USAGE_ERROR(named + ": exists and is not a folder");
    if (::access(path.c_str(), W_OK | X_OK) != 0) {
      CCTUNE_USAGE_ERROR(named + ": cannot create files in it (" + reason(errno) + ")");
    }
    return;
  }
  // It will be made: its nearest existing ancestor must be a folder we may create in.
  std::filesystem::path ancestor = std::filesystem::path(path).lexically_normal().parent_path();
  while (!ancestor.empty() && ::stat(ancestor.c_str(), &info) != 0) ancestor = ancestor.parent_path();
  const std::string folder = ancestor.empty() ? std::string(".") : ancestor.string();
  if (::stat(folder.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    CCTUNE_USAGE_ERROR(named + ": '" + folder + "' is not a folder");
  }
  if (::access(folder.c_str(), W_OK | X_OK) != 0) {
    CCTUNE_USAGE_ERROR(named + ": cannot be made in '" + folder + "' (" + reason(errno) + ")");
  }
}

void check_json_depth(std::string_view text, int max_depth, const std::string& named) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        CCTUNE_USAGE_ERROR(named + ": JSON nested more than " + std::to_string(max_depth) + " levels deep");
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

}  // namespace cctune::files
