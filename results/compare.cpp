#include "results/compare.hpp"

#include "collectives/error.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <pugixml.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <sstream>
#include <tuple>

namespace cctune::results {
namespace {

using Key = std::tuple<std::string, std::string, std::string, std::string, std::string, std::uint64_t, bool>;

Key key_of(const Measurement& m) {
  return {m.collective, m.backend, m.algorithm, m.datatype, m.op, m.bytes, m.in_place};
}

// "allreduce ring float sum out-of-place 1048576": how a compared size is named everywhere.
std::string describe(const std::string& collective, const std::string& algorithm, const std::string& datatype,
                     const std::string& op, bool in_place, std::uint64_t bytes) {
  return fmt::format("{} {} {} {} {} {}", collective, algorithm, datatype, op, in_place ? "in-place" : "out-of-place",
                     bytes);
}

std::string name_of(const Measurement& m) {
  return describe(m.collective, m.algorithm, m.datatype, m.op, m.in_place, m.bytes);
}

std::vector<AlgorithmShift> whole_run_shift(const std::vector<Comparison>& rows, double threshold) {
  const bool several_backends = std::any_of(rows.begin(), rows.end(),
                                            [&](const Comparison& c) { return c.backend != rows.front().backend; });
  std::map<std::string, std::vector<double>> changes;  // ordered by name, for a stable line
  for (const Comparison& c : rows) {
    const std::string name = several_backends ? fmt::format("{} {} {}", c.collective, c.backend, c.algorithm)
                                              : fmt::format("{} {}", c.collective, c.algorithm);
    changes[name].push_back(c.change);
  }
  if (changes.size() < 2) return {};
  std::vector<AlgorithmShift> shifts;
  for (auto& [name, values] : changes) {
    std::sort(values.begin(), values.end());
    const std::size_t half = values.size() / 2;
    const double median = values.size() % 2 ? values[half] : (values[half - 1] + values[half]) / 2.0;
    shifts.push_back({name, median});
  }
  const auto all_beyond = [&](int sign) {
    return std::all_of(shifts.begin(), shifts.end(),
                       [&](const AlgorithmShift& s) { return sign * s.median_change > threshold; });
  };
  return all_beyond(+1) || all_beyond(-1) ? shifts : std::vector<AlgorithmShift>{};
}

}  // namespace

std::string whole_run_shift_note(const CompareReport& report) {
  if (report.whole_run_shift.empty()) return {};
  std::vector<std::string> parts;
  for (const AlgorithmShift& s : report.whole_run_shift) {
    parts.push_back(fmt::format("{} {:+.1f}%", s.name, 100.0 * s.median_change));
  }
  const bool slower = report.whole_run_shift.front().median_change > 0;
  return fmt::format("every algorithm got {} (median change: {}). A shift this wide usually means the machine "
                     "changed between the runs, not the code: measure both sides again, alternating their "
                     "launches, and compare them --paired",
                     slower ? "slower" : "faster", fmt::join(parts, ", "));
}

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::same: return "same";
    case Verdict::regression: return "REGRESSION";
    case Verdict::improvement: return "improvement";
    case Verdict::noise: return "noise";
  }
  return "?";
}

std::string Comparison::name() const { return describe(collective, algorithm, datatype, op, in_place, bytes); }

double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b) {
  const double n1 = static_cast<double>(a.size()), n2 = static_cast<double>(b.size());
  std::vector<std::pair<double, int>> all;
  for (double v : a) all.emplace_back(v, 0);
  for (double v : b) all.emplace_back(v, 1);
  std::sort(all.begin(), all.end());
  const double n = n1 + n2;
  double rank_sum_a = 0, tie_term = 0;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    const double tied = static_cast<double>(j - i);
    const double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (std::size_t k = i; k < j; ++k) {
      if (all[k].second == 0) rank_sum_a += average_rank;
    }
    tie_term += tied * tied * tied - tied;
    i = j;
  }
  const double u = rank_sum_a - n1 * (n1 + 1) / 2.0;
  const double mean = n1 * n2 / 2.0;
  const double variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)));
  if (variance <= 0) return 1.0;  // every sample equal
  const double z = std::max(0.0, std::abs(u - mean) - 0.5) / std::sqrt(variance);
  return std::erfc(z / std::sqrt(2.0));
}

CompareReport compare(const Record& baseline, const Record& current, const CompareOptions& options) {
  CompareReport report;
  std::map<Key, const Measurement*> before;
  for (const Measurement& m : baseline.measurements) before.emplace(key_of(m), &m);
  std::map<Key, bool> matched;
  for (const Measurement& now : current.measurements) {
    const auto it = before.find(key_of(now));
    if (it == before.end()) {
      report.only_in_current.push_back(name_of(now));
      continue;
    }
    matched[it->first] = true;
    const Measurement& then = *it->second;
    Comparison row;
    row.collective = now.collective;
    row.backend = now.backend;
    row.algorithm = now.algorithm;
    row.datatype = now.datatype;
    row.op = now.op;
    row.bytes = now.bytes;
    row.in_place = now.in_place;
    row.baseline_median_us = then.median_us;
    row.current_median_us = now.median_us;
    row.change = then.median_us > 0 ? now.median_us / then.median_us - 1.0 : 0.0;
    row.baseline_busbw_gbs = then.busbw_gbs;
    row.current_busbw_gbs = now.busbw_gbs;
    if (then.samples_us.size() >= 3 && now.samples_us.size() >= 3) {
      row.p_value = mann_whitney_p(then.samples_us, now.samples_us);
    }
    const bool beyond = std::abs(row.change) > options.threshold;
    const bool significant = !row.p_value || *row.p_value < options.alpha;
    if (!beyond) {
      row.verdict = Verdict::same;
    } else if (!significant) {
      row.verdict = Verdict::noise;
    } else {
      row.verdict = row.change > 0 ? Verdict::regression : Verdict::improvement;
    }
    report.any_regression |= row.verdict == Verdict::regression;
    report.rows.push_back(std::move(row));
  }
  for (const auto& [key, measurement] : before) {
    if (!matched.count(key)) report.only_in_baseline.push_back(name_of(*measurement));
  }
  report.whole_run_shift = whole_run_shift(report.rows, options.threshold);
  return report;
}

CompareReport compare_paired(const std::vector<Record>& baselines, const std::vector<Record>& currents,
                             const CompareOptions& options) {
  if (baselines.size() != currents.size() || baselines.size() < 2) {
    CCTUNE_USAGE_ERROR(fmt::format("--paired needs as many baseline runs as current runs, two or more (got {} and {})",
                                   baselines.size(), currents.size()));
  }
  std::vector<CompareReport> pairs;
  for (std::size_t i = 0; i < baselines.size(); ++i) pairs.push_back(compare(baselines[i], currents[i], options));
  CompareReport report;
  report.only_in_baseline = pairs.front().only_in_baseline;
  report.only_in_current = pairs.front().only_in_current;
  std::vector<std::map<std::string, const Comparison*>> by_name(pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    for (const Comparison& c : pairs[i].rows) by_name[i].emplace(c.name(), &c);
  }
  for (const Comparison& first : pairs.front().rows) {
    std::vector<const Comparison*> rows;
    for (const auto& pair : by_name) {
      if (const auto it = pair.find(first.name()); it != pair.end()) rows.push_back(it->second);
    }
    if (rows.size() != pairs.size()) {
      report.not_in_every_pair.push_back(first.name());
      continue;
    }
    std::sort(rows.begin(), rows.end(), [](const Comparison* a, const Comparison* b) { return a->change < b->change; });
    const Comparison& median = *rows[(rows.size() - 1) / 2];
    report.any_regression |= median.verdict == Verdict::regression;
    report.rows.push_back(median);
  }
  report.whole_run_shift = whole_run_shift(report.rows, options.threshold);
  return report;
}

Record best_of(const std::vector<Record>& runs) {
  if (runs.size() == 1) return runs.front();
  Record best = runs.front();
  best.measurements.clear();
  std::map<Key, std::size_t> where;
  for (const Record& run : runs) {
    for (const Measurement& m : run.measurements) {
      const auto [it, inserted] = where.emplace(key_of(m), best.measurements.size());
      if (inserted) {
        best.measurements.push_back(m);
      } else if (m.median_us < best.measurements[it->second].median_us) {
        best.measurements[it->second] = m;
      }
    }
  }
  return best;
}

std::string to_markdown(const CompareReport& report, const CompareOptions& options) {
  std::ostringstream out;
  const auto regressions = std::count_if(report.rows.begin(), report.rows.end(),
                                         [](const Comparison& c) { return c.verdict == Verdict::regression; });
  out << "### cctune compare: " << (regressions ? fmt::format("{} regression(s)", regressions) : "no regression")
      << "\n\nThreshold " << fmt::format("{:g}", options.threshold * 100) << "% on the median time, Mann-Whitney U at "
      << fmt::format("{:g}", options.alpha) << ".\n\n"
      << "| collective | algorithm | type | op | placement | size (B) | baseline (us) | current (us) | change | "
         "busbw (GB/s) | p | verdict |\n"
      << "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---|\n";
  for (const Comparison& c : report.rows) {
    out << fmt::format("| {} | {} | {} | {} | {} | {} | {:.2f} | {:.2f} | {:+.1f}% | {:.2f} → {:.2f} | {} | {} |\n",
                       c.collective, c.algorithm, c.datatype, c.op, c.in_place ? "in" : "out", c.bytes,
                       c.baseline_median_us, c.current_median_us, 100.0 * c.change, c.baseline_busbw_gbs,
                       c.current_busbw_gbs, c.p_value ? fmt::format("{:.2g}", *c.p_value) : "-",
                       c.verdict == Verdict::regression ? "**REGRESSION**" : std::string(to_string(c.verdict)));
  }
  if (const std::string note = whole_run_shift_note(report); !note.empty()) out << "\n**Note:** " << note << ".\n";
  if (!report.only_in_baseline.empty() || !report.only_in_current.empty()) {
    out << "\nNot compared: " << report.only_in_baseline.size() << " only in the baseline, "
        << report.only_in_current.size() << " only in the current run.\n";
  }
  return out.str();
}

std::string to_junit(const CompareReport& report, const CompareOptions& options) {
  pugi::xml_document doc;
  auto declaration = doc.append_child(pugi::node_declaration);
  declaration.append_attribute("version") = "1.0";
  declaration.append_attribute("encoding") = "UTF-8";
  auto suites = doc.append_child("testsuites");
  auto suite = suites.append_child("testsuite");
  const auto failures = std::count_if(report.rows.begin(), report.rows.end(),
                                      [](const Comparison& c) { return c.verdict == Verdict::regression; });
  suite.append_attribute("name") = "cctune compare";
  suite.append_attribute("tests") = static_cast<unsigned long long>(report.rows.size());
  suite.append_attribute("failures") = static_cast<long long>(failures);
  suite.append_attribute("errors") = 0;
  for (const Comparison& c : report.rows) {
    auto test = suite.append_child("testcase");
    test.append_attribute("classname") = fmt::format("{}.{}", c.collective, c.algorithm).c_str();
    test.append_attribute("name") = c.name().c_str();
    const std::string detail =
        fmt::format("median {:.2f} us -> {:.2f} us ({:+.1f}%), busbw {:.3f} -> {:.3f} GB/s, p {}; threshold {:g}%",
                    c.baseline_median_us, c.current_median_us, 100.0 * c.change, c.baseline_busbw_gbs,
                    c.current_busbw_gbs, c.p_value ? fmt::format("{:.2g}", *c.p_value) : "-", 100.0 * options.threshold);
    if (c.verdict == Verdict::regression) {
      auto failure = test.append_child("failure");
      failure.append_attribute("message") = ("slower: " + detail).c_str();
      failure.append_attribute("type") = "regression";
    } else {
      test.append_child("system-out").text() = (std::string(to_string(c.verdict)) + ": " + detail).c_str();
    }
  }
  if (const std::string note = whole_run_shift_note(report); !note.empty()) {
    suite.append_child("system-out").text() = note.c_str();
  }
  std::ostringstream out;
  doc.save(out, "  ");
  return out.str();
}

}  // namespace cctune::results
