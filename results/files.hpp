#pragma once
// Any results file a user may hand cctune, recognised by its content: an exported record, cctune's or
// nccl-tests' -J JSON, or nccl-tests' text output.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "results/record.hpp"

namespace cctune::results {

struct LoadedFile {
  Record record;
  std::size_t skipped_lines = 0;  // table lines or rows that could not be read (Record::skipped_rows)
};

// The whole of a regular file (files::read_regular_file: a FIFO, a device, a directory or a file over
// 64 MiB is refused, never read); throws UsageError "PATH: WHAT: reason".
std::string read_text_file(const std::string& path, const std::string& what = "the results file");

// `text` as JSON, or a discarded value when it is not JSON. Throws UsageError naming `path` for
// arrays and objects nested more than 256 deep: no file cctune reads needs that many, and the JSON
// library would recurse once per level when it writes the value out again.
nlohmann::json parse_json_text(const std::string& text, const std::string& path);

// Every run in the file: one for JSON, one per table for nccl-tests' text (a log of several binaries
// or runs). `collective` names what nccl-tests output measured where the file does not say. Throws
// UsageError "PATH: reason" for a missing, truncated or unrecognised file.
std::vector<LoadedFile> load_record_files(const std::string& path,
                                          const std::optional<std::string>& collective = std::nullopt);

// The one run in the file, for readers that take one (compare, report); a file of several runs is a
// UsageError that lists them and says to import it.
LoadedFile load_record_file(const std::string& path, const std::optional<std::string>& collective = std::nullopt);

}  // namespace cctune::results
