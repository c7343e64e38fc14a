#include "results/files.hpp"

#include "collectives/error.hpp"
#include "collectives/files.hpp"
#include "results/nccl_tests.hpp"
#include "results/text.hpp"

namespace cctune::results {
namespace {

// No file cctune reads needs more (see files::check_json_depth).
constexpr int kMaxJsonDepth = 256;

}  // namespace

std::string read_text_file(const std::string& path, const std::string& what) {
  return files::read_regular_file(path, what);
}

nlohmann::json parse_json_text(const std::string& text, const std::string& path) {
  files::check_json_depth(text, kMaxJsonDepth, printable(path));
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
