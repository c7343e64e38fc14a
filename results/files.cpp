#include "results/files.hpp"

#include <algorithm>

#include "collectives/error.hpp"
#include "collectives/files.hpp"
#include "results/nccl_tests.hpp"
#include "results/text.hpp"

namespace cctune::results {
namespace {

constexpr int kMaxJsonDepth = 256;

// The deepest nesting of arrays and objects in JSON text (brackets inside strings do not count).
int json_depth(const std::string& text) {
  int depth = 0, deepest = 0;
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
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

std::string read_text_file(const std::string& path, const std::string& what) {
  return files::read_regular_file(path, what);
}

nlohmann::json parse_json_text(const std::string& text, const std::string& path) {
  if (json_depth(text) > kMaxJsonDepth) {
    CCTUNE_USAGE_ERROR(printable(path) + ": JSON nested more than " + std::to_string(kMaxJsonDepth) +
                       " levels deep: not a file cctune writes");
  }
  return nlohmann::json::parse(text, nullptr, false);
}

LoadedFile load_record_file(const std::string& path, const std::optional<std::string>& collective) {
  const std::string text = read_text_file(path);
  LoadedFile loaded;
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    const auto document = parse_json_text(text, path);
    if (document.is_discarded()) CCTUNE_USAGE_ERROR(printable(path) + ": not valid JSON (truncated?)");
    loaded.record = document.is_object() && document.contains("format")
                        ? record_from_json(document, path)
                        : record_from_bench_json(document, path, collective);
  } else {
    ImportedLog log = record_from_nccl_tests_log(text, path, collective);
    loaded.record = std::move(log.record);
  }
  loaded.skipped_lines = loaded.record.skipped_rows;
  if (loaded.record.source.empty()) loaded.record.source = path;
  return loaded;
}

}  // namespace cctune::results
