#include "results/nccl_tests.hpp"

#include <regex>
#include <set>
#include <sstream>
#include <vector>

#include "collectives/error.hpp"

namespace cctune::results {
namespace {

// nccl-tests' binaries and the collective names cctune uses.
constexpr std::pair<const char*, const char*> kBinaries[] = {
    {"all_reduce_perf", "allreduce"},     {"all_gather_perf", "allgather"}, {"alltoall_perf", "alltoall"},
    {"reduce_scatter_perf", "reducescatter"}, {"broadcast_perf", "broadcast"}, {"reduce_perf", "reduce"},
    {"sendrecv_perf", "sendrecv"},        {"gather_perf", "gather"},       {"scatter_perf", "scatter"},
    {"hypercube_perf", "hypercube"},
};

bool parse_number(const std::string& word, double& value) {
  std::size_t used = 0;
  try {
    value = std::stod(word, &used);
  } catch (const std::exception&) {
    return false;
  }
  return used == word.size();
}

bool parse_count(const std::string& word, std::uint64_t& value) {
  if (word.empty() || word.find_first_not_of("0123456789") != std::string::npos) return false;
  try {
    value = std::stoull(word);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// One placement's four columns: time, algbw, busbw, #wrong ("N/A" when not checked). Old versions
// (no root column) print the largest relative error there instead of a count: kept as -1, unknown.
bool parse_placement(const std::vector<std::string>& words, std::size_t at, bool counts_wrong, Measurement& m) {
  double time = 0, algbw = 0, busbw = 0, wrong = -1;
  if (!parse_number(words[at], time) || !parse_number(words[at + 1], algbw) || !parse_number(words[at + 2], busbw)) {
    return false;
  }
  if (words[at + 3] != "N/A" && !parse_number(words[at + 3], wrong)) return false;
  m.median_us = m.mean_us = time;
  m.algbw_gbs = algbw;
  m.busbw_gbs = busbw;
  m.wrong = counts_wrong ? static_cast<std::int64_t>(wrong) : -1;
  return true;
}

}  // namespace

std::string collective_of_nccl_tests_binary(const std::string& text) {
  std::string found;
  std::size_t earliest = std::string::npos;
  for (const auto& [binary, collective] : kBinaries) {
    // "all_reduce_perf" also ends in "reduce_perf": the earliest, longest match is the binary.
    const std::size_t at = text.find(binary);
    if (at != std::string::npos && (at < earliest || (at == earliest && std::string(collective).size() > found.size()))) {
      if (at > 0 && (std::isalnum(static_cast<unsigned char>(text[at - 1])) || text[at - 1] == '_')) continue;
      earliest = at;
      found = collective;
    }
  }
  return found;
}

ImportedLog record_from_nccl_tests_log(const std::string& text, const std::string& name,
                                       const std::optional<std::string>& collective) {
  ImportedLog imported;
  Record& record = imported.record;
  record.kind = "nccl-tests";
  record.source = name;
  // mpirun --tag-output writes "[1,0]<stdout>:", Intel MPI's -prepend-rank "[0] ".
  const std::regex launcher_prefix(R"(^\[\d+(?:,\d+)?\](?:<std(?:out|err)>:)?)");
  const std::regex rank_line(R"(Rank\s+(\d+)\s+(?:Group\s+\d+\s+)?Pid\s+\d+\s+on\s+(\S+)\s+device)");
  std::set<int> ranks;
  std::set<std::string> hosts;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    line = std::regex_replace(line, launcher_prefix, "");
    std::smatch match;
    if (std::regex_search(line, match, rank_line)) {
      ranks.insert(std::stoi(match[1]));
      hosts.insert(match[2]);
      continue;
    }
    if (line.find("Avg bus bandwidth") != std::string::npos) record.complete = true;
    if (line.find("nThread") != std::string::npos && record.command.empty()) record.command = line;
    std::istringstream split(line);
    std::vector<std::string> words;
    for (std::string word; split >> word;) words.push_back(word);
    // A table row starts with two whole numbers (size, count) followed by a type name.
    std::uint64_t size = 0, count = 0;
    if (words.size() < 3 || !parse_count(words[0], size) || !parse_count(words[1], count) ||
        std::isdigit(static_cast<unsigned char>(words[2][0]))) {
      continue;
    }
    // 13 or 9 words: with the root column (both placements, or out of place only); 12 or 8: without.
    const std::size_t n = words.size();
    const bool with_root = n == 13 || n == 9;
    const std::size_t first = with_root ? 5 : 4;
    const bool both = n == 13 || n == 12;
    if (n != 13 && n != 12 && n != 9 && n != 8) {
      ++imported.skipped_lines;
      continue;
    }
    Measurement out;
    out.backend = "nccl";
    out.algorithm = "nccl";
    out.datatype = words[2];
    out.op = words[3];
    out.bytes = size;
    out.count = count;
    Measurement in = out;
    in.in_place = true;
    if (!parse_placement(words, first, with_root, out) || (both && !parse_placement(words, first + 4, with_root, in))) {
      ++imported.skipped_lines;
      continue;
    }
    record.measurements.push_back(out);
    if (both) record.measurements.push_back(in);
  }
  if (record.measurements.empty()) {
    CCTUNE_USAGE_ERROR(name + ": no nccl-tests table rows found" +
                       (imported.skipped_lines ? " (" + std::to_string(imported.skipped_lines) + " unreadable)" : ""));
  }
  const std::string detected = collective_of_nccl_tests_binary(text);
  const std::string chosen = collective.value_or(detected);
  if (chosen.empty()) {
    CCTUNE_USAGE_ERROR(name + ": the log does not name its binary (all_reduce_perf, ...): give --collective");
  }
  for (Measurement& m : record.measurements) m.collective = chosen;
  record.nranks = static_cast<int>(ranks.size());
  record.nnodes = static_cast<int>(hosts.size());
  record.environment = {{"hosts", std::vector<std::string>(hosts.begin(), hosts.end())},
                        {"time_statistic", "mean"},
                        {"skipped_lines", imported.skipped_lines}};
  return imported;
}

}  // namespace cctune::results
