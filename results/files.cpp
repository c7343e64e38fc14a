#include "results/files.hpp"

#include <fmt/format.h>

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

std::vector<LoadedFile> load_record_files(const std::string& path, const std::optional<std::string>& collective) {
  const std::string text = read_text_file(path);
  std::vector<LoadedFile> loaded;
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    const auto document = parse_json_text(text, path);
    if (document.is_discarded()) CCTUNE_USAGE_ERROR(printable(path) + ": not valid JSON (truncated?)");
    if (document.is_object() && document.contains("format")) {
      loaded.push_back({record_from_json(document, path), 0});
    } else if (is_nccl_tests_json(document)) {
      loaded.push_back({record_from_nccl_tests_json(document, path, collective), 0});
    } else {
      loaded.push_back({record_from_bench_json(document, path, collective), 0});
    }
  } else {
    for (ImportedLog& log : records_from_nccl_tests_log(text, path, collective)) {
      loaded.push_back({std::move(log.record), 0});
    }
  }
  for (LoadedFile& file : loaded) {
    file.skipped_lines = file.record.skipped_rows;
    if (file.record.source.empty()) file.record.source = path;
  }
  return loaded;
}

LoadedFile load_record_file(const std::string& path, const std::optional<std::string>& collective) {
  std::vector<LoadedFile> loaded = load_record_files(path, collective);
  if (loaded.size() == 1) return std::move(loaded.front());
  // Several runs read as one would put rows of different runs side by side under one key.
  std::string runs;
  for (const LoadedFile& file : loaded) {
    const std::string c = file.record.measurements.empty() ? "?" : file.record.measurements.front().collective;
    runs += (runs.empty() ? "" : ", ") + c;
  }
  CCTUNE_USAGE_ERROR(fmt::format("{}: holds {} nccl-tests runs ({}): `cctune results import {}` stores each as its "
                                 "own record; then name them by id",
                                 printable(path), loaded.size(), runs, printable(path)));
}

}  // namespace cctune::results
