#pragma once
// Any results file a user may hand cctune, recognised by its content: an exported record, cctune's or
// nccl-tests' -J JSON, or nccl-tests' text output.
#include <cstddef>
#include <optional>
#include <string>

#include "results/record.hpp"

namespace cctune::results {

struct LoadedFile {
  Record record;
  std::size_t skipped_lines = 0;  // nccl-tests text: table-shaped lines that could not be read
};

// The whole file; throws UsageError "PATH: cannot open".
std::string read_text_file(const std::string& path);

// `collective` names what nccl-tests output measured when the file does not say. Throws UsageError
// "PATH: reason" for a missing, truncated or unrecognised file.
LoadedFile load_record_file(const std::string& path, const std::optional<std::string>& collective = std::nullopt);

}  // namespace cctune::results
