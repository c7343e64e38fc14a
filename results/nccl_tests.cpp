#include "results/nccl_tests.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>
#include <vector>

#include "collectives/error.hpp"
#include "results/text.hpp"

namespace cctune::results {
namespace {

// nccl-tests' binaries and the collective names cctune uses.
constexpr std::pair<const char*, const char*> kBinaries[] = {
    {"all_reduce_perf", "allreduce"},     {"all_gather_perf", "allgather"}, {"alltoall_perf", "alltoall"},
    {"reduce_scatter_perf", "reducescatter"}, {"broadcast_perf", "broadcast"}, {"reduce_perf", "reduce"},
    {"sendrecv_perf", "sendrecv"},        {"gather_perf", "gather"},       {"scatter_perf", "scatter"},
    {"hypercube_perf", "hypercube"},
};

// Longer than any line nccl-tests prints (its table rows and "Rank N ... device" lines are under 300
// characters). Longer lines are not read at all: skipped, and counted when they begin like a row.
constexpr std::size_t kMaxLineBytes = 4096;

bool parse_number(const std::string& word, double& value) {
  std::size_t used = 0;
  try {
    value = std::stod(word, &used);
  } catch (const std::exception&) {
    return false;
  }
  return used == word.size();
}

// A whole number of at most kMaxRecordInteger (what the store keeps), written as digits only.
bool parse_count(const std::string& word, std::uint64_t& value) {
  if (word.empty() || word.size() > 19 || word.find_first_not_of("0123456789") != std::string::npos) return false;
  value = std::stoull(word);  // 19 digits always fit
  return value <= kMaxRecordInteger;
}

// One placement's four columns: time, algbw, busbw, #wrong ("N/A" when not checked). Old versions
// (no root column) print the largest relative error there instead of a count: kept as -1, unknown.
// A row whose times are not positive or whose count is not a whole number is unreadable.
bool parse_placement(const std::vector<std::string>& words, std::size_t at, bool counts_wrong, Measurement& m) {
  double time = 0, algbw = 0, busbw = 0, error = 0;
  std::uint64_t wrong = 0;
  if (!parse_number(words[at], time) || !parse_number(words[at + 1], algbw) || !parse_number(words[at + 2], busbw)) {
    return false;
  }
  m.median_us = m.mean_us = time;
  m.algbw_gbs = algbw;
  m.busbw_gbs = busbw;
  m.wrong = -1;
  if (words[at + 3] != "N/A") {
    if (counts_wrong) {
      if (!parse_count(words[at + 3], wrong)) return false;
      m.wrong = static_cast<std::int64_t>(wrong);
    } else if (!parse_number(words[at + 3], error) || !std::isfinite(error)) {
      return false;
    }
  }
  return unreadable(m).empty();
}

// mpirun --tag-output writes "[1,0]<stdout>:", Intel MPI's -prepend-rank "[0] ": the line without it.
std::string without_launcher_prefix(const std::string& line) {
  if (line.empty() || line[0] != '[') return line;
  std::size_t i = 1;
  const auto digits = [&] {
    const std::size_t from = i;
    while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
    return i > from;
  };
  if (!digits()) return line;
  if (i < line.size() && line[i] == ',') {
    ++i;
    if (!digits()) return line;
  }
  if (i >= line.size() || line[i] != ']') return line;
  ++i;
  for (const char* tag : {"<stdout>:", "<stderr>:"}) {
    if (line.compare(i, std::char_traits<char>::length(tag), tag) == 0) {
      i += std::char_traits<char>::length(tag);
      break;
    }
  }
  return line.substr(i);
}

std::vector<std::string> words_of(const std::string& line) {
  std::istringstream split(line);
  std::vector<std::string> words;
  for (std::string word; split >> word;) words.push_back(word);
  return words;
}

// "#  Rank  0 Group  0 Pid  12345 on host-1 device  0 [0x1b] NVIDIA H100": the rank and its host.
bool parse_rank_line(const std::vector<std::string>& words, std::string& rank, std::string& host) {
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (words[i] != "Rank" && words[i] != "#Rank") continue;
    std::size_t at = i + 1;
    std::uint64_t number = 0;
    if (at >= words.size() || !parse_count(words[at], number)) continue;
    rank = words[at++];
    if (at + 1 < words.size() && words[at] == "Group" && parse_count(words[at + 1], number)) at += 2;
    if (at + 4 < words.size() && words[at] == "Pid" && parse_count(words[at + 1], number) && words[at + 2] == "on" &&
        words[at + 4] == "device") {
      host = words[at + 3];
      return true;
    }
  }
  return false;
}

// A table row starts with two whole numbers (size, count) followed by a type name.
bool looks_like_row(const std::vector<std::string>& words, std::uint64_t& size, std::uint64_t& count) {
  return words.size() >= 3 && parse_count(words[0], size) && parse_count(words[1], count) &&
         !std::isdigit(static_cast<unsigned char>(words[2][0]));
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

namespace {

// "size count type ..." with or without its '#': the column header that begins every table.
bool is_table_header(const std::vector<std::string>& words) {
  std::size_t at = 0;
  if (at < words.size() && words[at] == "#") ++at;
  return at + 2 < words.size() && words[at] == "size" && words[at + 1] == "count" && words[at + 2] == "type";
}

// The first line of the file that says why a run that printed no table failed: NCCL's own warning,
// or a launcher's or nccl-tests' error line.
std::string failure_reason(const std::string& text) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > 300) continue;
    if (line.find("NCCL WARN") != std::string::npos || line.find("error:") != std::string::npos ||
        line.find("Test failure") != std::string::npos || line.find("Test NCCL failure") != std::string::npos) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
  }
  return "";
}

struct Table {
  ImportedLog log;
  std::string collective;  // from the lines above it (or its "concluded" line); "" when none named it
  std::set<std::string> ranks, hosts;
};

}  // namespace

std::vector<ImportedLog> records_from_nccl_tests_log(const std::string& text, const std::string& name,
                                                     const std::optional<std::string>& collective) {
  std::vector<Table> tables;
  bool open = false;             // rows go to tables.back()
  std::string named;             // the binary named since the last table began
  std::set<std::string> ranks, hosts;  // rank lines since the last table began
  std::string command;           // the last "nThread ..." line
  std::size_t stray = 0;         // unreadable row-shaped lines outside any table
  const auto begin_table = [&] {
    Table table;
    table.collective = named.empty() && !tables.empty() ? tables.back().collective : named;
    table.ranks = ranks.empty() && !tables.empty() ? tables.back().ranks : ranks;
    table.hosts = hosts.empty() && !tables.empty() ? tables.back().hosts : hosts;
    table.log.record.command = command;
    tables.push_back(std::move(table));
    named.clear();
    ranks.clear();
    hosts.clear();
    open = true;
  };
  // A table is over at its footer, or when a new run's lines (its binary, its ranks) begin after rows.
  const auto close_if_rows = [&] {
    if (open && !tables.back().log.record.measurements.empty()) open = false;
  };
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > kMaxLineBytes) {
      std::uint64_t size = 0, count = 0;
      if (looks_like_row(words_of(without_launcher_prefix(line.substr(0, 200))), size, count)) {
        ++(open ? tables.back().log.skipped_lines : stray);
      }
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    line = without_launcher_prefix(line);
    const std::vector<std::string> words = words_of(line);
    std::string rank, host;
    if (parse_rank_line(words, rank, host)) {
      close_if_rows();
      ranks.insert(rank);
      hosts.insert(host);
      continue;
    }
    if (line.find("Collective test concluded") != std::string::npos) {
      // Names the table it ends; never the next one.
      const std::string binary = collective_of_nccl_tests_binary(line);
      if (!tables.empty() && tables.back().collective.empty()) tables.back().collective = binary;
      open = false;
      continue;
    }
    if (line.find("Avg bus bandwidth") != std::string::npos) {
      if (!tables.empty()) tables.back().log.record.complete = true;
      open = false;
      continue;
    }
    std::uint64_t size = 0, count = 0;
    const bool row = looks_like_row(words, size, count);
    if (!row) {
      if (is_table_header(words)) {
        if (!open || !tables.back().log.record.measurements.empty()) begin_table();
        continue;
      }
      if (const std::string binary = collective_of_nccl_tests_binary(line); !binary.empty()) {
        close_if_rows();
        named = binary;
      }
      if (line.find("nThread") != std::string::npos) {
        close_if_rows();
        command = line;
        if (open) tables.back().log.record.command = line;
      }
      continue;
    }
    if (!open) begin_table();  // rows whose header was lost
    ImportedLog& imported = tables.back().log;
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
    imported.record.measurements.push_back(out);
    if (both) imported.record.measurements.push_back(in);
  }
  // Tables with no readable row (a header printed before a run died) are no record.
  std::size_t unreadable_rows = stray;
  std::vector<Table> kept;
  for (Table& table : tables) {
    if (table.log.record.measurements.empty()) {
      unreadable_rows += table.log.skipped_lines;
      continue;
    }
    kept.push_back(std::move(table));
  }
  if (kept.empty()) {
    const std::string reason = failure_reason(text);
    CCTUNE_USAGE_ERROR(printable(name) + ": no nccl-tests table rows found" +
                       (unreadable_rows ? " (" + std::to_string(unreadable_rows) + " unreadable)" : "") +
                       (reason.empty() ? "" : "; the log says: " + printable(reason)));
  }
  const bool names_any = std::any_of(kept.begin(), kept.end(), [](const Table& t) { return !t.collective.empty(); });
  std::vector<ImportedLog> out;
  for (std::size_t k = 0; k < kept.size(); ++k) {
    Table& table = kept[k];
    // A table before the first name in the file takes the first table's name that follows it.
    if (table.collective.empty() && names_any) {
      for (std::size_t j = k + 1; j < kept.size() && table.collective.empty(); ++j) table.collective = kept[j].collective;
    }
    const std::string chosen = table.collective.empty() ? collective.value_or("") : table.collective;
    if (chosen.empty()) {
      CCTUNE_USAGE_ERROR(printable(name) +
                         ": the log does not name its binary (all_reduce_perf, ...): give --collective");
    }
    Record& record = table.log.record;
    record.kind = "nccl-tests";
    record.source = kept.size() == 1 ? name : fmt::format("{} [{} of {}]", name, k + 1, kept.size());
    for (Measurement& m : record.measurements) m.collective = chosen;
    record.skipped_rows = table.log.skipped_lines;
    record.nranks = static_cast<int>(table.ranks.size());
    record.nnodes = static_cast<int>(table.hosts.size());
    record.environment = {{"hosts", std::vector<std::string>(table.hosts.begin(), table.hosts.end())},
                          {"time_statistic", "mean"},
                          {"skipped_lines", table.log.skipped_lines}};
    out.push_back(std::move(table.log));
  }
  return out;
}

}  // namespace cctune::results
