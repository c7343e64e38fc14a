#pragma once
// One exception type for the whole program. It carries the file and line that raised it so a
// developer can find the cause, while the CLI edge prints only the message to users.
#include <stdexcept>
#include <string>
#include <utility>

namespace cctune {

class Error : public std::runtime_error {
 public:
  Error(std::string message, const char* file, int line)
      : std::runtime_error(std::move(message)), file_(file), line_(line) {}
  const char* file() const noexcept { return file_; }
  int line() const noexcept { return line_; }

 private:
  const char* file_;
  int line_;
};

// A user mistake (bad option, bad file). The CLI maps it to exit code 2; everything else is 1.
class UsageError : public Error {
 public:
  using Error::Error;
};

// An MPI call returned an error: in a job whose peer is gone (its node lost), Open MPI's TCP transport
// can return one from the collective that wanted the peer's data.
class MpiError : public Error {
 public:
  using Error::Error;
};

// An algorithm cannot run on this communicator (its shared memory cannot be had), raised on every
// rank alike before any of the call's data moved: a caller may give the call to another algorithm.
class UnavailableError : public Error {
 public:
  using Error::Error;
};

}  // namespace cctune

#define CCTUNE_THROW(message) throw ::cctune::Error((message), __FILE__, __LINE__)
#define CCTUNE_USAGE_ERROR(message) throw ::cctune::UsageError((message), __FILE__, __LINE__)
#define CCTUNE_CHECK(condition, message) \
  do {                                   \
    if (!(condition)) CCTUNE_THROW(message); \
  } while (0)
