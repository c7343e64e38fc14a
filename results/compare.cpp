#include "results/compare.hpp"

#include "collectives/error.hpp"
#include "results/text.hpp"

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

namespace {

// Rank sums in half ranks (so that midranks of ties are whole numbers): a's sum, and each pooled
// sample's doubled rank.
struct Ranks {
  std::vector<std::size_t> doubled;  // per pooled sample, in sorted order
  std::size_t a_sum = 0;             // doubled ranks of a's samples
  double tie_term = 0;               // sum of t^3 - t over groups of t tied samples
};

Ranks rank(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<std::pair<double, int>> all;
  for (double v : a) all.emplace_back(v, 0);
  for (double v : b) all.emplace_back(v, 1);
  std::sort(all.begin(), all.end());
  Ranks ranks;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    // Ranks i+1 .. j share their mean, (i+1+j)/2: doubled, i+1+j.
    const std::size_t doubled = i + 1 + j;
    for (std::size_t k = i; k < j; ++k) {
      ranks.doubled.push_back(doubled);
      if (all[k].second == 0) ranks.a_sum += doubled;
    }
    const double tied = static_cast<double>(j - i);
    ranks.tie_term += tied * tied * tied - tied;
    i = j;
  }
  return ranks;
}

// The exact null distribution: every way of choosing a's n1 samples among the pooled ones is equally
// likely, and ways[s] counts those whose doubled rank sum is s (the standard counting recursion, one
// pooled sample at a time; with ties it runs over the midranks, as the conditional test does).
MannWhitney exact(const Ranks& ranks, std::size_t n1) {
  const std::size_t n = ranks.doubled.size();
  const std::size_t most = std::accumulate(ranks.doubled.begin(), ranks.doubled.end(), std::size_t{0});
  std::vector<std::vector<double>> ways(n1 + 1, std::vector<double>(most + 1, 0.0));
  ways[0][0] = 1;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t r = ranks.doubled[k];
    for (std::size_t chosen = std::min(k + 1, n1); chosen >= 1; --chosen) {
      for (std::size_t sum = most; sum >= r; --sum) ways[chosen][sum] += ways[chosen - 1][sum - r];
    }
  }
  const std::vector<double>& count = ways[n1];
  const double total = std::accumulate(count.begin(), count.end(), 0.0);
  double below = 0, at_or_above = total;  // P(W <= w) and P(W >= w), in ways
  for (std::size_t sum = 0; sum < ranks.a_sum; ++sum) below += count[sum];
  at_or_above -= below;
  below += count[ranks.a_sum];
  MannWhitney result;
  result.p = std::min(1.0, 2.0 * std::min(below, at_or_above) / total);
  const auto first = std::find_if(count.begin(), count.end(), [](double c) { return c > 0; });
  const auto last = std::find_if(count.rbegin(), count.rend(), [](double c) { return c > 0; });
  result.smallest_p = std::min(1.0, 2.0 * std::min(*first, *last) / total);
  return result;
}

double normal_p(double u, double n1, double n2, double tie_term) {
  const double n = n1 + n2;
  const double mean = n1 * n2 / 2.0;
  const double variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)));
  if (variance <= 0) return 1.0;  // every sample equal
  const double z = std::max(0.0, std::abs(u - mean) - 0.5) / std::sqrt(variance);
  return std::erfc(z / std::sqrt(2.0));
}

}  // namespace

MannWhitney mann_whitney(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) return {};
  const Ranks ranks = rank(a, b);
  if (a.size() + b.size() <= kExactMannWhitneySamples) return exact(ranks, a.size());
  const double n1 = static_cast<double>(a.size()), n2 = static_cast<double>(b.size());
  const double u = static_cast<double>(ranks.a_sum) / 2.0 - n1 * (n1 + 1) / 2.0;
  return {normal_p(u, n1, n2, ranks.tie_term), normal_p(0, n1, n2, ranks.tie_term)};
}

double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b) { return mann_whitney(a, b).p; }

std::size_t samples_needed_for(double alpha) {
  // Fully separated samples of n each: p = 2 / C(2n, n).
  double splits = 2;  // C(2, 1)
  for (std::size_t n = 1;; ++n) {
    if (2.0 / splits < alpha || n > 1000) return n;
    splits = splits * static_cast<double>((2 * n + 1) * (2 * n + 2)) / static_cast<double>((n + 1) * (n + 1));
  }
}

void check_options(const CompareOptions& options) {
  if (!std::isfinite(options.threshold) || options.threshold < 0) {
    CCTUNE_USAGE_ERROR(fmt::format("threshold {}: give a finite change of 0 or more (5% or 0.05)", options.threshold));
  }
  if (!(options.alpha > 0 && options.alpha < 1)) {
    CCTUNE_USAGE_ERROR(fmt::format("alpha {}: give a significance level between 0 and 1", options.alpha));
  }
}

std::string threshold_only_note(const CompareReport& report) {
  std::size_t count = 0;
  double smallest = 1;
  for (const Comparison& c : report.rows) {
    if (!c.threshold_only) continue;
    ++count;
    if (c.smallest_p) smallest = std::min(smallest, *c.smallest_p);
  }
  if (count == 0) return {};
  return fmt::format("{} comparison(s) have too few samples for the Mann-Whitney test to reach alpha {:g} (the "
                     "smallest p they allow is {:.2g}): the threshold alone decided them. {} or more samples per "
                     "size on each side let the test decide",
                     count, report.alpha, smallest, samples_needed_for(report.alpha));
}

CompareReport compare(const Record& baseline, const Record& current, const CompareOptions& options) {
  check_options(options);
  CompareReport report;
  report.alpha = options.alpha;
  // A run may measure a size more than once (nccl-tests' -N cycles): the k-th measurement of a size
  // in one run is compared with the k-th in the other, never every one with the first.
  std::map<Key, std::vector<const Measurement*>> before;
  for (const Measurement& m : baseline.measurements) before[key_of(m)].push_back(&m);
  std::map<Key, std::size_t> seen;
  for (const Measurement& now : current.measurements) {
    const std::size_t k = seen[key_of(now)]++;
    const auto it = before.find(key_of(now));
    if (it == before.end() || k >= it->second.size()) {
      report.only_in_current.push_back(name_of(now));
      continue;
    }
    const Measurement& then = *it->second[k];
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
    // Every reader refuses non-positive and non-finite medians (unreadable()): the ratio is a number.
    row.change = now.median_us / then.median_us - 1.0;
    row.baseline_busbw_gbs = then.busbw_gbs;
    row.current_busbw_gbs = now.busbw_gbs;
    row.baseline_samples = then.samples_us.size();
    row.current_samples = now.samples_us.size();
    if (then.samples_us.size() >= 3 && now.samples_us.size() >= 3) {
      const MannWhitney test = mann_whitney(then.samples_us, now.samples_us);
      row.p_value = test.p;
      row.smallest_p = test.smallest_p;
      row.threshold_only = !(test.smallest_p < options.alpha);
    }
    const bool beyond = std::abs(row.change) > options.threshold;
    const bool significant = !row.p_value || row.threshold_only || *row.p_value < options.alpha;
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
  for (const auto& [key, measurements] : before) {
    const auto used = seen.find(key);
    for (std::size_t k = used == seen.end() ? 0 : used->second; k < measurements.size(); ++k) {
      report.only_in_baseline.push_back(name_of(*measurements[k]));
    }
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
  check_options(options);
  std::vector<CompareReport> pairs;
  for (std::size_t i = 0; i < baselines.size(); ++i) pairs.push_back(compare(baselines[i], currents[i], options));
  CompareReport report;
  report.alpha = options.alpha;
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

namespace {

// A Markdown table cell: printable, and a '|' in a name cannot end the cell.
std::string cell(const std::string& text) {
  std::string out;
  for (const char c : printable(text)) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

std::string p_text(const Comparison& c) {
  if (!c.p_value) return "-";
  return fmt::format("{:.2g}{}", *c.p_value, c.threshold_only ? " (threshold only)" : "");
}

}  // namespace

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
                       cell(c.collective), cell(c.algorithm), cell(c.datatype), cell(c.op), c.in_place ? "in" : "out",
                       c.bytes, c.baseline_median_us, c.current_median_us, 100.0 * c.change, c.baseline_busbw_gbs,
                       c.current_busbw_gbs, p_text(c),
                       c.verdict == Verdict::regression ? "**REGRESSION**" : std::string(to_string(c.verdict)));
  }
  if (const std::string note = threshold_only_note(report); !note.empty()) out << "\n**Note:** " << note << ".\n";
  if (const std::string note = whole_run_shift_note(report); !note.empty()) {
    out << "\n**Note:** " << cell(note) << ".\n";
  }
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
    test.append_attribute("classname") = printable(fmt::format("{}.{}", c.collective, c.algorithm)).c_str();
    test.append_attribute("name") = printable(c.name()).c_str();
    const std::string detail = fmt::format(
        "median {:.2f} us -> {:.2f} us ({:+.1f}%), busbw {:.3f} -> {:.3f} GB/s, p {}{}; threshold {:g}%",
        c.baseline_median_us, c.current_median_us, 100.0 * c.change, c.baseline_busbw_gbs, c.current_busbw_gbs,
        c.p_value ? fmt::format("{:.2g}", *c.p_value) : "-",
        c.threshold_only ? fmt::format(" (with {} and {} samples no p below alpha {:g} can occur: the threshold alone "
                                       "decided)",
                                       c.baseline_samples, c.current_samples, options.alpha)
                         : "",
        100.0 * options.threshold);
    if (c.verdict == Verdict::regression) {
      auto failure = test.append_child("failure");
      failure.append_attribute("message") = ("slower: " + detail).c_str();
      failure.append_attribute("type") = "regression";
    } else {
      test.append_child("system-out").text() = (std::string(to_string(c.verdict)) + ": " + detail).c_str();
    }
  }
  std::string notes;
  for (const std::string& note : {threshold_only_note(report), printable(whole_run_shift_note(report))}) {
    if (!note.empty()) notes += (notes.empty() ? "" : "\n") + note;
  }
  if (!notes.empty()) suite.append_child("system-out").text() = notes.c_str();
  std::ostringstream out;
  doc.save(out, "  ");
  return out.str();
}

}  // namespace cctune::results
