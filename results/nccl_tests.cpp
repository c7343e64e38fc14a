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

bool is_number(const std::string& word) {
  double value = 0;
  return parse_number(word, value);
}

// A whole number of at most kMaxRecordInteger (what the store keeps), written as digits only.
bool parse_count(const std::string& word, std::uint64_t& value) {
  if (word.empty() || word.size() > 19 || word.find_first_not_of("0123456789") != std::string::npos) return false;
  value = std::stoull(word);  // 19 digits always fit
  return value <= kMaxRecordInteger;
}

// A root as nccl-tests prints it ("%6i": -1 for collectives without one).
bool parse_root(const std::string& word, int& root) {
  if (word == "-1") {
    root = -1;
    return true;
  }
  std::uint64_t value = 0;
  if (!parse_count(word, value) || value > 1'000'000'000) return false;
  root = static_cast<int>(value);
  return true;
}

// The columns of one table, as its header names them. nccl-tests changed them over the years: no
// root or no redop column before 2.13 (by collective), `error` (the largest relative error) where
// later versions count wrong elements, four per-iteration columns per placement with -I 1 (2.19.2),
// a timestamp after the in-place block with -S 1 (2.17.6), `cputime` for `time` with -C 1.
struct Layout {
  bool from_header = false;
  bool redop = true, root = true;
  int placements = 2;
  bool errors = false;
  bool per_iteration = false;
  bool timestamp = false;
  bool cputime = false;
  bool stats = false;  // cctune bench --stats: min, median, p99 after the placements
  bool sol = false;    // cctune bench's %SOL, after those (recomputed from the topology, not read)
  std::size_t placement_words() const { return per_iteration ? 8 : 4; }
  std::size_t words() const {
    return 3 + (redop ? 1 : 0) + (root ? 1 : 0) + static_cast<std::size_t>(placements) * placement_words() +
           (stats ? 3 : 0) + (sol ? 1 : 0) + (timestamp ? 2 : 0);
  }
};

// "size count type ..." with or without its '#' (logs pasted into web pages lose it).
bool is_table_header(const std::vector<std::string>& words) {
  std::size_t at = 0;
  if (at < words.size() && words[at] == "#") ++at;
  return at + 2 < words.size() && words[at] == "size" && words[at + 1] == "count" && words[at + 2] == "type";
}

Layout layout_of_header(const std::vector<std::string>& words) {
  Layout layout;
  layout.from_header = true;
  layout.redop = layout.root = false;
  layout.placements = 0;
  for (const std::string& word : words) {
    if (word == "redop") layout.redop = true;
    if (word == "root") layout.root = true;
    if (word == "time" || word == "cputime") ++layout.placements;
    if (word == "cputime") layout.cputime = true;
    if (word == "error") layout.errors = true;
    if (word == "i_min") layout.per_iteration = true;
    if (word == "timestamp") layout.timestamp = true;
    if (word == "median") layout.stats = true;
    if (word == "%SOL") layout.sol = true;
  }
  layout.placements = std::clamp(layout.placements, 1, 2);
  return layout;
}

// A row whose header was lost: told from its word count, as nccl-tests printed them before -I and -S.
// 13 or 9 words: with redop and root (both placements, or out of place only); 12 or 8: the old
// layout with redop and `error` but no root.
std::optional<Layout> layout_of_row(std::size_t words) {
  Layout layout;
  switch (words) {
    case 13: return layout;
    case 9: layout.placements = 1; return layout;
    case 12: layout.root = false; layout.errors = true; return layout;
    case 8: layout.root = false; layout.errors = true; layout.placements = 1; return layout;
    default: return std::nullopt;
  }
}

// One placement's columns from words[at]: time, algbw, busbw, then #wrong ("N/A" when not checked;
// "%6g", so a count from a million on reads "1.04858e+06") or the old largest relative error, then
// with -I 1 the per-iteration minimum, maximum, p99 and CV. A row whose times are not positive is
// unreadable.
bool parse_placement(const std::vector<std::string>& words, std::size_t at, const Layout& layout, Measurement& m) {
  double time = 0, algbw = 0, busbw = 0, last = 0;
  if (!parse_number(words[at], time) || !parse_number(words[at + 1], algbw) || !parse_number(words[at + 2], busbw)) {
    return false;
  }
  m.median_us = m.mean_us = time;
  m.algbw_gbs = algbw;
  m.busbw_gbs = busbw;
  m.wrong = -1;
  if (words[at + 3] != "N/A") {
    if (!parse_number(words[at + 3], last) || !std::isfinite(last) || last < 0) return false;
    if (layout.errors) {
      m.max_error = last;
    } else {
      if (last > static_cast<double>(kMaxRecordInteger) / 2) return false;
      m.wrong = std::llround(last);
    }
  }
  if (layout.per_iteration) {
    double min = 0, p99 = 0;
    if (parse_number(words[at + 4], min) && parse_number(words[at + 6], p99)) {
      m.min_us = min;
      m.p99_us = p99;
    }
  }
  return unreadable(m).empty();
}

// Launchers' prefixes: mpirun --tag-output's "[1,0]<stdout>:" anywhere in the line (nccl-tests prints
// a row in several writes, and each may get its own), Intel MPI's -prepend-rank "[0] " and srun
// --label's "0: " at its start.
std::string without_launcher_prefixes(std::string line) {
  for (std::size_t from = 0; (from = line.find('[', from)) != std::string::npos;) {
    std::size_t i = from + 1;
    const auto digits = [&] {
      const std::size_t first = i;
      while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
      return i > first;
    };
    bool tag = digits() && i < line.size() && line[i] == ',' && (++i, digits()) && i < line.size() && line[i] == ']';
    if (tag) {
      ++i;
      tag = false;
      for (const char* name : {"<stdout>:", "<stderr>:"}) {
        if (line.compare(i, std::char_traits<char>::length(name), name) == 0) {
          line.erase(from, i + std::char_traits<char>::length(name) - from);
          // The piece it began may follow text without a blank ("-1[1,0]<stdout>:   12.5").
          if (from > 0 && from < line.size() && line[from - 1] != ' ' && line[from] != ' ') line.insert(from, " ");
          tag = true;
          break;
        }
      }
    }
    if (!tag) ++from;
  }
  std::size_t i = 0;
  if (!line.empty() && line[0] == '[') {
    i = 1;
    while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
    if (i > 1 && i + 1 < line.size() && line[i] == ']' && line[i + 1] == ' ') return line.substr(i + 2);
    return line;
  }
  // srun --label pads the task id to the widest one (" 0: " with 10 tasks or more).
  while (i < line.size() && line[i] == ' ') ++i;
  const std::size_t digits = i;
  while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  if (i > digits && i + 1 < line.size() && line[i] == ':' && line[i + 1] == ' ') return line.substr(i + 2);
  return line;
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

// Whether anything in the text is nccl-tests' own: its header, prelude or footer lines, or a binary.
bool mentions_nccl_tests(const std::string& text) {
  for (const char* mark : {"nccl-tests", "nThread", "Collective test", "Avg bus bandwidth", "Out of bounds values",
                           "(elements)"}) {
    if (text.find(mark) != std::string::npos) return true;
  }
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() <= kMaxLineBytes && is_table_header(words_of(without_launcher_prefixes(line)))) return true;
    if (line.size() <= kMaxLineBytes && !collective_of_nccl_tests_binary(line).empty()) return true;
  }
  return false;
}

struct Table {
  ImportedLog log;
  Layout layout;
  std::string collective;  // from the lines above it (or its "concluded" line); "" when none named it
  bool inherited = false;  // the collective came from the table before it: its own "concluded" line wins
  std::set<std::string> ranks, hosts;
  std::string version;     // "# nccl-tests version X ..."
  std::string backend = "nccl", algorithm = "nccl";  // cctune bench's own blocks name theirs
};

// A Markdown fence ("```", "```text", "~~~"): a report's log block begins or ends.
bool is_fence(const std::string& line) {
  const std::size_t at = line.find_first_not_of(" \t>");
  return at != std::string::npos && (line.compare(at, 3, "```") == 0 || line.compare(at, 3, "~~~") == 0);
}

}  // namespace

std::vector<ImportedLog> records_from_nccl_tests_log(const std::string& text, const std::string& name,
                                                     const std::optional<std::string>& collective) {
  std::vector<Table> tables;
  bool open = false;             // rows go to tables.back()
  std::string named;             // the binary named since the last table began
  std::set<std::string> ranks, hosts;  // rank lines since the last table began
  std::string command;           // the last "nThread ..." line
  std::string version;           // the last "# nccl-tests version" line
  std::string backend, algorithm;  // from cctune bench's "starting" line
  std::size_t stray = 0;         // unreadable row-shaped lines outside any table
  std::vector<std::string> pending;  // the first part of a row that a launcher broke across lines
  const auto begin_table = [&](const Layout& layout) {
    Table table;
    table.layout = layout;
    table.collective = named.empty() && !tables.empty() ? tables.back().collective : named;
    table.inherited = named.empty() && !tables.empty();
    table.ranks = ranks.empty() && !tables.empty() ? tables.back().ranks : ranks;
    table.hosts = hosts.empty() && !tables.empty() ? tables.back().hosts : hosts;
    table.version = version.empty() && !tables.empty() ? tables.back().version : version;
    table.log.record.command = command;
    if (!algorithm.empty()) {
      table.backend = backend;
      table.algorithm = algorithm;
    }
    backend.clear();
    algorithm.clear();
    tables.push_back(std::move(table));
    named.clear();
    ranks.clear();
    hosts.clear();
    version.clear();
    open = true;
  };
  // An unreadable row outside a table counts against the table before it (a line appended after a
  // footer), or, before any table, against none: then it only explains a refusal.
  const auto skip_row = [&] { ++(!tables.empty() ? tables.back().log.skipped_lines : stray); };
  // A table is over at its footer, or when a new run's lines (its binary, its ranks) begin after rows.
  const auto close_if_rows = [&] {
    if (open && !tables.back().log.record.measurements.empty()) open = false;
  };
  // The row in `words`, into the open table; false when it is not one the table's layout reads.
  const auto add_row = [&](const std::vector<std::string>& words, std::uint64_t size, std::uint64_t count) {
    if (!open) {
      const std::optional<Layout> guessed = layout_of_row(words.size());
      if (!guessed) return false;
      begin_table(*guessed);  // rows whose header was lost
    }
    Table& table = tables.back();
    Layout layout = table.layout;
    if (!layout.from_header) {
      const std::optional<Layout> guessed = layout_of_row(words.size());
      if (!guessed) return false;
      layout = *guessed;
    }
    // Old alltoall and all_gather print an empty redop under their redop header: one word fewer.
    bool redop = layout.redop;
    if (redop && words.size() + 1 == layout.words() && is_number(words[3])) redop = false;
    if (words.size() != layout.words() - (layout.redop && !redop ? 1 : 0)) return false;
    Measurement out;
    out.backend = table.backend;
    out.algorithm = table.algorithm;
    out.datatype = words[2];
    std::size_t at = 3;
    out.op = redop ? words[at++] : "none";
    if (layout.root && !parse_root(words[at++], out.root)) return false;
    out.bytes = size;
    out.count = count;
    Measurement in = out;
    in.in_place = true;
    if (!parse_placement(words, at, layout, out)) return false;
    if (layout.placements == 2 && !parse_placement(words, at + layout.placement_words(), layout, in)) return false;
    if (layout.stats) {
      // Ours, over the slowest rank's time per iteration, out of place.
      const std::size_t first = at + static_cast<std::size_t>(layout.placements) * layout.placement_words();
      double min = 0, median = 0, p99 = 0;
      if (!parse_number(words[first], min) || !parse_number(words[first + 1], median) ||
          !parse_number(words[first + 2], p99)) {
        return false;
      }
      out.min_us = min;
      out.median_us = median;
      out.p99_us = p99;
      if (!unreadable(out).empty()) return false;
    }
    table.log.record.measurements.push_back(out);
    if (layout.placements == 2) table.log.record.measurements.push_back(in);
    return true;
  };
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > kMaxLineBytes) {
      std::uint64_t size = 0, count = 0;
      if (looks_like_row(words_of(without_launcher_prefixes(line.substr(0, 200))), size, count)) skip_row();
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (is_fence(line)) continue;
    line = without_launcher_prefixes(line);
    std::vector<std::string> words = words_of(line);
    if (words.empty()) continue;
    if (!pending.empty()) {
      // The rest of a broken row begins with a number (or N/A). When the two do not make a row, the
      // first part is left out and this line read on its own (it may be the next row).
      std::vector<std::string> joined = pending;
      pending.clear();
      std::uint64_t size = 0, count = 0;
      if (is_number(words[0]) || words[0] == "N/A") {
        joined.insert(joined.end(), words.begin(), words.end());
        if (looks_like_row(joined, size, count) && add_row(joined, size, count)) continue;
      }
      skip_row();
    }
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
      if (!tables.empty() && (tables.back().collective.empty() || tables.back().inherited) && !binary.empty()) {
        tables.back().collective = binary;
        tables.back().inherited = false;
      }
      open = false;
      continue;
    }
    if (line.find("Avg bus bandwidth") != std::string::npos) {
      if (!tables.empty()) tables.back().log.record.complete = true;
      open = false;
      continue;
    }
    std::uint64_t size = 0, count = 0;
    if (!looks_like_row(words, size, count)) {
      if (is_table_header(words)) {
        const Layout layout = layout_of_header(words);
        if (!open || !tables.back().log.record.measurements.empty()) {
          begin_table(layout);
        } else {
          tables.back().layout = layout;
        }
        continue;
      }
      if (line.find("nccl-tests version") != std::string::npos) {
        close_if_rows();
        version = words.size() > 3 && words[0] == "#" ? words[3] : "";
      }
      if (const std::string binary = collective_of_nccl_tests_binary(line); !binary.empty()) {
        close_if_rows();
        named = binary;
        // cctune bench: "# Collective test starting: all_reduce_perf (cctune backend mpi algorithm ring)".
        const std::size_t ours = line.find("(cctune backend ");
        if (line.find("Collective test starting") != std::string::npos && ours != std::string::npos) {
          const std::vector<std::string> more = words_of(line.substr(ours));
          if (more.size() >= 5 && more[3] == "algorithm" && more[4].size() > 1 && more[4].back() == ')') {
            backend = more[2];
            algorithm = more[4].substr(0, more[4].size() - 1);
          }
        }
      }
      if (line.find("nThread") != std::string::npos) {
        close_if_rows();
        command = line;
        if (open) tables.back().log.record.command = line;
      }
      continue;
    }
    if (add_row(words, size, count)) continue;
    const std::size_t expected = open ? tables.back().layout.words() : 13;
    if (words.size() < expected && (!open || tables.back().layout.from_header)) {
      pending = words;  // perhaps the rest is on the next line
      continue;
    }
    skip_row();
  }
  if (!pending.empty()) skip_row();
  // Tables with no readable row (a header printed before a run died) are no record.
  std::size_t unreadable_rows = stray;
  std::vector<Table> kept;
  std::size_t carried = 0;  // unreadable rows of a table with no readable one: told with a neighbour
  for (Table& table : tables) {
    if (table.log.record.measurements.empty()) {
      unreadable_rows += table.log.skipped_lines;
      carried += table.log.skipped_lines;
      continue;
    }
    table.log.skipped_lines += carried;
    carried = 0;
    kept.push_back(std::move(table));
  }
  if (!kept.empty()) kept.back().log.skipped_lines += carried;
  if (kept.empty()) {
    if (!mentions_nccl_tests(text)) {
      CCTUNE_USAGE_ERROR(printable(name) + ": not nccl-tests output (no nccl-tests table header, prelude or footer "
                         "in it)");
    }
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
                          {"time_statistic", table.layout.cputime ? "cputime" : "mean"},
                          {"skipped_lines", table.log.skipped_lines}};
    if (!table.version.empty()) record.environment["nccl_tests_version"] = table.version;
    out.push_back(std::move(table.log));
  }
  return out;
}

}  // namespace cctune::results

namespace cctune::results {
namespace {

using Json = nlohmann::json;


// A number where nccl-tests writes one: its doubles ("%lf"), or the string "nan" it writes for NaN
// (a placement that did not run), which reads as NaN and makes the row unreadable.
double number_at(const Json& object, const char* key, const std::string& name, const std::string& where,
                 double fallback) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (it->is_number()) return it->get<double>();
  if (it->is_string() && (*it == "nan" || *it == "-nan")) return std::nan("");
  refuse(name, fmt::format("{}.{}: {} is not a number", where, key, shown(*it)));
}

std::uint64_t whole_at(const Json& object, const char* key, const std::string& name, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end()) refuse(name, fmt::format("{}: no \"{}\"", where, key));
  if (it->is_number_unsigned()) return it->get<std::uint64_t>() <= kMaxRecordInteger ? it->get<std::uint64_t>() : ~0ull;
  if (it->is_number_integer() && it->get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(it->get<std::int64_t>());
  refuse(name, fmt::format("{}.{}: {} is not a whole number from 0 to 2^63-1", where, key, shown(*it)));
}


// The root nccl-tests writes as its "%6i" string ("    -1"), or as a number.
int root_at(const Json& row, const std::string& name, const std::string& where) {
  const auto it = row.find("root");
  if (it == row.end() || it->is_null()) return -1;
  int root = -1;
  if (it->is_number_integer() && it->get<std::int64_t>() >= -1 && it->get<std::int64_t>() <= 1'000'000'000) {
    return static_cast<int>(it->get<std::int64_t>());
  }
  std::string text = it->is_string() ? it->get<std::string>() : std::string();
  text.erase(0, text.find_first_not_of(' '));
  if (!text.empty() && parse_root(text, root)) return root;
  refuse(name, fmt::format("{}.root: {} is not a rank or -1", where, shown(*it)));
}

Measurement placement_of(const Json& row, const char* key, bool in_place, const Measurement& base,
                         const std::string& name, const std::string& where) {
  Measurement m = base;
  m.in_place = in_place;
  const Json& p = row.at(key);
  const std::string at = where + "." + key;
  // -C 1 writes "cpu_time" in place of "time".
  const double time = number_at(p, p.contains("cpu_time") ? "cpu_time" : "time", name, at, 0.0);
  m.median_us = m.mean_us = time;
  m.algbw_gbs = number_at(p, "alg_bw", name, at, 0.0);
  m.busbw_gbs = number_at(p, "bus_bw", name, at, 0.0);
  const auto count_of = [&](const Json& object, const std::string& here) {
    const double wrong = number_at(object, "nwrong", name, here, -1.0);
    if (std::isfinite(wrong) && wrong >= 0 && wrong <= static_cast<double>(kMaxRecordInteger) / 2) {
      m.wrong = std::llround(wrong);
    }
  };
  count_of(p, at);
  const std::string per_iter = std::string(key) + "_per_iter";
  const auto samples_of = [&](const Json& object) {
    m.samples_us.clear();
    if (object.contains("times_us") && object["times_us"].is_array()) {
      for (const Json& t : object["times_us"]) m.samples_us.push_back(t.is_number() ? t.get<double>() : std::nan(""));
    }
  };
  if (row.contains(per_iter) && row[per_iter].is_object()) {
    const Json& it = row[per_iter];
    const std::string at_iter = where + "." + per_iter;
    m.min_us = number_at(it, "min_us", name, at_iter, 0.0);
    m.p99_us = number_at(it, "p99_us", name, at_iter, 0.0);
    samples_of(it);
  }
  // cctune's own rows keep their statistics (over the slowest rank's time) and the wrong count of
  // placements nccl-tests leaves unchecked under "cctune".
  if (row.contains("cctune") && row["cctune"].is_object() && row["cctune"].contains(key) &&
      row["cctune"][key].is_object()) {
    const Json& ours = row["cctune"][key];
    const std::string here = where + ".cctune." + key;
    m.median_us = number_at(ours, "median_us", name, here, time);
    m.mean_us = number_at(ours, "mean_us", name, here, time);
    m.min_us = number_at(ours, "min_us", name, here, 0.0);
    m.p99_us = number_at(ours, "p99_us", name, here, 0.0);
    m.wrong = -1;
    count_of(ours, here);
    samples_of(ours);
  }
  return m;
}

}  // namespace

bool is_nccl_tests_json(const Json& document) {
  return document.is_object() && document.contains("version") && document["version"].is_number() &&
         document.contains("results") && document["results"].is_array();
}

std::vector<Measurement> measurements_from_nccl_tests_row(const Json& row, const std::string& name,
                                                          const std::string& where, const std::string& collective,
                                                          std::size_t& skipped) {
  if (!row.is_object()) refuse(name, fmt::format("{}: {} is not an object", where, shown(row)));
  Measurement base;
  base.collective = collective;
  base.backend = base.algorithm = "nccl";
  if (row.contains("cctune") && row["cctune"].is_object()) {
    const Json& ours = row["cctune"];
    if (!json_string(ours, "collective").empty()) base.collective = json_string(ours, "collective");
    base.backend = json_string(ours, "backend");
    base.algorithm = json_string(ours, "algorithm");
  }
  if (base.collective.empty()) {
    refuse(name, "\"args\" does not name the binary (all_reduce_perf, ...): give --collective");
  }
  base.datatype = json_string(row, "type");
  base.op = json_string(row, "redop").empty() ? "none" : json_string(row, "redop");
  base.bytes = whole_at(row, "size", name, where);
  base.count = row.contains("count") ? whole_at(row, "count", name, where) : 0;
  base.root = root_at(row, name, where);
  if (base.bytes > kMaxRecordInteger || base.count > kMaxRecordInteger) {
    refuse(name, where + ": size or count beyond 2^63-1");
  }
  std::vector<Measurement> measurements;
  for (const auto& [key, in_place] : {std::pair{"out_of_place", false}, std::pair{"in_place", true}}) {
    if (!row.contains(key) || !row[key].is_object()) continue;
    Measurement m = placement_of(row, key, in_place, base, name, where);
    if (!unreadable(m).empty()) {
      ++skipped;
      continue;
    }
    measurements.push_back(std::move(m));
  }
  return measurements;
}

Record record_from_nccl_tests_json(const Json& document, const std::string& name,
                                   const std::optional<std::string>& collective) {
  if (!is_nccl_tests_json(document)) refuse(name, "not nccl-tests JSON (no numeric \"version\" and \"results\")");
  const Json* ours = document.contains("cctune") && document["cctune"].is_object() ? &document["cctune"] : nullptr;
  Record record;
  record.kind = ours ? "bench" : "nccl-tests";
  record.started = json_string(document, "start_time");
  record.ended = json_string(document, "end_time");
  std::vector<std::string> args;
  if (document.contains("args") && document["args"].is_array()) {
    for (const Json& arg : document["args"]) {
      if (arg.is_string()) args.push_back(arg.get<std::string>());
    }
  } else if (document.contains("args") && document["args"].is_string()) {
    args.push_back(document["args"].get<std::string>());
  }
  record.command = fmt::format("{}", fmt::join(args, " "));
  std::string chosen = args.empty() ? std::string() : collective_of_nccl_tests_binary(args.front());
  if (chosen.empty()) chosen = collective_of_nccl_tests_binary(record.command);
  if (chosen.empty()) chosen = collective.value_or("");
  // The devices: one entry per process (with nThread x nGpus ranks each) in "config" (2.19).
  const Json* devices = nullptr;
  if (document.contains("config") && document["config"].is_object() && document["config"].contains("devices")) {
    devices = &document["config"]["devices"];
  } else if (document.contains("devices")) {
    devices = &document["devices"];
  }
  std::set<std::string> hosts;
  if (devices && devices->is_array()) {
    for (const Json& device : *devices) {
      if (!device.is_object()) continue;
      const std::string host = json_string(device, "hostname").empty() ? json_string(device, "host") : json_string(device, "hostname");
      if (!host.empty()) hosts.insert(host);
    }
    std::uint64_t per_process = 1;
    if (document.contains("config") && document["config"].is_object()) {
      for (const char* key : {"nthreads", "ngpus"}) {
        const Json& config = document["config"];
        if (config.contains(key) && config[key].is_number_unsigned() && config[key].get<std::uint64_t>() >= 1 &&
            config[key].get<std::uint64_t>() <= 1024) {
          per_process *= config[key].get<std::uint64_t>();
        }
      }
    }
    const std::uint64_t ranks = devices->size() * per_process;
    if (ranks > 100'000'000) refuse(name, "devices: more ranks than can be counted");
    record.nranks = static_cast<int>(ranks);
  }
  record.nnodes = static_cast<int>(hosts.size());
  // Of the environment nccl-tests copies whole (it may hold anyone's secrets), only NCCL's settings.
  Json nccl_env = Json::array();
  if (document.contains("env") && document["env"].is_array()) {
    for (const Json& entry : document["env"]) {
      if (entry.is_string() && entry.get<std::string>().rfind("NCCL_", 0) == 0) nccl_env.push_back(entry);
    }
  }
  record.environment = {{"hosts", std::vector<std::string>(hosts.begin(), hosts.end())},
                        {"time_statistic", ours ? "median" : "mean"},
                        {"nccl_env", nccl_env},
                        {"json_version", document["version"]}};
  if (document.contains("nccl_version")) record.environment["nccl_version"] = document["nccl_version"];
  if (document.contains("config")) record.environment["config"] = document["config"];
  if (document.contains("errors")) record.environment["errors"] = document["errors"];
  // 2.17.3 to 2.17.8 spell the footer "average_bus_bandwidith".
  record.complete = document.contains("average_bus_bandwidth") || document.contains("average_bus_bandwidith");
  if (ours) {
    // Ours: who ran it, where, and whether it finished, from the run itself.
    record.cctune_version = json_string(*ours, "version");
    record.git_revision = json_string(*ours, "git_revision");
    record.command = json_string(*ours, "command").empty() ? record.command : json_string(*ours, "command");
    record.started = json_string(*ours, "start_time");
    record.ended = json_string(*ours, "end_time");
    record.complete = ours->contains("complete") && (*ours)["complete"].is_boolean() && (*ours)["complete"].get<bool>();
    for (const char* key : {"nranks", "nnodes"}) {
      const auto it = ours->find(key);
      if (it != ours->end() && it->is_number_unsigned() && it->get<std::uint64_t>() <= 100'000'000) {
        (std::string(key) == "nranks" ? record.nranks : record.nnodes) = static_cast<int>(it->get<std::uint64_t>());
      }
    }
    if (ours->contains("hosts") && (*ours)["hosts"].is_array()) record.environment["hosts"] = (*ours)["hosts"];
    for (const char* key : {"backend", "mpi_library", "ranks_per_node", "config", "tables", "speed_of_light"}) {
      if (ours->contains(key)) record.environment[key] = (*ours)[key];
    }
  }
  const Json& rows = document["results"];
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (Measurement& m : measurements_from_nccl_tests_row(rows[i], name, fmt::format("results[{}]", i), chosen,
                                                           record.skipped_rows)) {
      record.measurements.push_back(std::move(m));
    }
  }
  if (record.measurements.empty() && (record.skipped_rows > 0 || !ours)) {
    refuse(name, record.skipped_rows ? fmt::format("no readable row: all {} have times that are not positive "
                                                        "finite numbers", record.skipped_rows)
                                          : "no results in it");
  }
  return record;
}

}  // namespace cctune::results
