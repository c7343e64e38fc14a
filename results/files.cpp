#include "results/files.hpp"

#include <fstream>
#include <sstream>

#include "collectives/error.hpp"
#include "results/nccl_tests.hpp"

namespace cctune::results {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) CCTUNE_USAGE_ERROR(path + ": cannot open");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

LoadedFile load_record_file(const std::string& path, const std::optional<std::string>& collective) {
  const std::string text = read_text_file(path);
  LoadedFile loaded;
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    const auto document = nlohmann::json::parse(text, nullptr, false);
    if (document.is_discarded()) CCTUNE_USAGE_ERROR(path + ": not valid JSON (truncated?)");
    loaded.record = document.is_object() && document.contains("format")
                        ? record_from_json(document, path)
                        : record_from_bench_json(document, path, collective);
  } else {
    ImportedLog log = record_from_nccl_tests_log(text, path, collective);
    loaded.record = std::move(log.record);
    loaded.skipped_lines = log.skipped_lines;
  }
  if (loaded.record.source.empty()) loaded.record.source = path;
  return loaded;
}

}  // namespace cctune::results
