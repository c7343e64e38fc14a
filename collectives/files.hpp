#pragma once
// Every file cctune reads or writes whole goes through here, in the CLI and inside other people's
// programs (the NCCL plugin, the MPI shim) alike:
// - a read never blocks on what is not a regular file (a FIFO, /dev/zero, a terminal) and never takes
//   more than a cap, so a wrong path costs one line, not a hung job or all of the memory;
// - a write never leaves a half-written file, nor destroys the last complete one, nor a temporary
//   file beside it: it goes to a temporary file in the same folder, every write is checked, and a
//   rename puts it in place.
#include <cstdint>
#include <string>
#include <string_view>

namespace cctune::files {

// Larger than any file cctune reads (profiles, specs, logs, rule files are kilobytes to a few MiB).
inline constexpr std::uint64_t kMaxInputBytes = 64ull << 20;

// The whole of a regular file of at most max_bytes. Anything else is a UsageError "PATH: reason"
// (no such file, a directory, not a regular file, too large, cannot be read). The checks are made on
// the opened descriptor, which was opened without blocking, so nothing swapped in between a check and
// the read can block either. `what` names the file in the message ("the profile", "the spec").
std::string read_regular_file(const std::string& path, std::string_view what,
                              std::uint64_t max_bytes = kMaxInputBytes);

// Replaces `path` with `text` or leaves it as it was: written to a temporary file in the same folder,
// flushed to disk, renamed over it. A failure (disk full, folder removed) is a cctune::Error naming the
// path and the reason; the temporary file is removed. A new file gets the mode of the one it replaces,
// or 0666 less the umask.
void write_file_atomically(const std::string& path, std::string_view text);

// Checks, before any work is done, that write_file_atomically(path, ...) can succeed as far as can be
// known: a non-empty path, not a directory, in an existing folder we may create files in. UsageError
// "WHAT 'PATH': reason" otherwise.
void check_output_file(const std::string& path, std::string_view what);

// The same for a folder that outputs go into: it exists (or can be made in an existing, writable
// folder), is a folder, and we may create files in it.
void check_output_folder(const std::string& path, std::string_view what);

// Refuses JSON text whose arrays and objects nest more than max_depth deep, before any JSON library
// sees it: nlohmann parses without recursing, but writing a value out again (dump(), which messages
// quoting a value use) recurses once per level, and a 1 MiB "[[[[..." would overflow the stack of
// whatever program reads it: the CLI, or a tenant's NCCL or MPI job through the plugin and the shim.
// Brackets inside strings do not count. UsageError "NAMED: JSON nested more than N levels deep".
void check_json_depth(std::string_view text, int max_depth, const std::string& named);

}  // namespace cctune::files
