// `cctune compare BASELINE CURRENT`: exit 0 no regression, 1 regression, 2 usage error (docs/results.md).
#include "cli/compare_command.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <optional>

#include "bench/options.hpp"
#include "bench/text_writer.hpp"
#include "cli/edge.hpp"
#include "collectives/error.hpp"
#include "collectives/files.hpp"
#include "results/compare.hpp"
#include "results/files.hpp"
#include "results/store.hpp"
#include "results/text.hpp"

namespace cctune::cli {

struct CompareCommand {
  std::string baseline, current;
  std::string db;
  std::string threshold = "5%";
  double alpha = 0.001;
  std::string markdown_path, junit_path;
  bool markdown = false;
  bool paired = false;
  std::string collective;
};

CompareCommand* add_compare_command(CLI::App& app) {
  static CompareCommand command;
  auto* sub = app.add_subcommand("compare", "Compare two runs size by size; exit 1 when something got slower");
  sub->add_option("baseline", command.baseline,
                  "Run id in the results database, or a file (cctune or nccl-tests JSON or text output, an "
                  "exported record); several, comma-separated, "
                  "count as one run that kept each size's best (see --paired)")
      ->required();
  sub->add_option("current", command.current, "Run id(s) or file(s), as for the baseline")->required();
  sub->add_option("--threshold", command.threshold, "Change in median time that counts, e.g. 5% or 0.05")
      ->capture_default_str();
  sub->add_option("--alpha", command.alpha, "Significance level of each size's Mann-Whitney U test")
      ->check(CLI::Range(1e-12, 0.5))
      ->capture_default_str();
  sub->add_option("--db", command.db, "The results database for run ids (default: as cctune results)");
  sub->add_option("--collective", command.collective,
                  "For nccl-tests output that does not name its binary: allreduce, alltoall, ...");
  sub->add_flag("--paired", command.paired,
                "The lists name launches made alternately (baseline 1, current 1, baseline 2, ...): compare them "
                "pair by pair and keep each size's median pair, instead of each side's best");
  sub->add_flag("--markdown", command.markdown, "Print Markdown (for a CI comment) instead of the table");
  sub->add_option("--markdown-file", command.markdown_path, "Also write the Markdown report to this file");
  sub->add_option("--junit", command.junit_path, "Also write JUnit XML (one test case per size) to this file");
  return &command;
}

namespace {

double parse_threshold(const std::string& text) {
  std::string number = text;
  const bool percent = !number.empty() && number.back() == '%';
  if (percent) number.pop_back();
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(number, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != number.size() || !std::isfinite(value) || !(value >= 0)) {
    CCTUNE_USAGE_ERROR("--threshold '" + text + "': give a percentage like 5% or a fraction like 0.05");
  }
  if (!percent && value >= 1) {
    CCTUNE_USAGE_ERROR("--threshold '" + text + "' is ambiguous: write " + text + "% or a fraction below 1");
  }
  return percent ? value / 100.0 : value;
}

std::vector<results::Record> load(const std::string& specs, const std::string& db,
                                  const std::optional<std::string>& collective) {
  std::vector<results::Record> runs;
  std::size_t start = 0;
  while (start <= specs.size()) {
    const std::size_t comma = std::min(specs.find(',', start), specs.size());
    const std::string spec = specs.substr(start, comma - start);
    if (spec.empty()) CCTUNE_USAGE_ERROR("'" + specs + "': an empty run id or file name in the list");
    runs.push_back(load_run(spec, db, collective));
    start = comma + 1;
  }
  return runs;
}

// What was left out of each run read: rows whose times are not positive finite numbers.
std::vector<std::string> skipped_notes(const std::vector<results::Record>& runs) {
  std::vector<std::string> notes;
  for (const results::Record& run : runs) {
    if (std::string note = results::skipped_note(run); !note.empty()) notes.push_back(std::move(note));
  }
  return notes;
}

void print_table(const results::CompareReport& report, const results::CompareOptions& options,
                 const std::vector<std::string>& skipped) {
  using results::printable;
  fmt::print("# cctune compare: threshold {:g}% on the median time, Mann-Whitney U at alpha {:g}\n",
             100.0 * options.threshold, options.alpha);
  fmt::print("# {:<10} {:<20} {:<6} {:<4} {:<5} {:>11} {:>13} {:>13} {:>8} {:>9} {:>9} {:>8}  {}\n", "collective",
             "algorithm", "type", "op", "place", "size (B)", "baseline (us)", "current (us)", "change", "busbw was",
             "busbw now", "p", "verdict");
  for (const auto& c : report.rows) {
    fmt::print("  {:<10} {:<20} {:<6} {:<4} {:<5} {:>11} {:>13.2f} {:>13.2f} {:>+7.1f}% {:>9.3f} {:>9.3f} {:>8}  {}\n",
               printable(c.collective), printable(c.algorithm), printable(c.datatype), printable(c.op),
               c.in_place ? "in" : "out", c.bytes, c.baseline_median_us, c.current_median_us, 100.0 * c.change,
               c.baseline_busbw_gbs, c.current_busbw_gbs,
               c.p_value ? fmt::format("{:.2g}{}", *c.p_value, c.threshold_only ? "*" : "") : "-",
               to_string(c.verdict));
  }
  if (const std::string note = results::threshold_only_note(report); !note.empty()) fmt::print("# * {}\n", note);
  for (const std::string& note : skipped) fmt::print("# {}\n", note);
  if (!report.only_in_baseline.empty() || !report.only_in_current.empty()) {
    fmt::print("# not compared: {} measurement(s) only in the baseline, {} only in the current run\n",
               report.only_in_baseline.size(), report.only_in_current.size());
  }
  if (!report.not_in_every_pair.empty()) {
    fmt::print("# not compared: {} measurement(s) missing from some pairs\n", report.not_in_every_pair.size());
  }
  if (const std::string note = results::whole_run_shift_note(report); !note.empty()) {
    fmt::print("# {}\n", printable(note));
  }
  std::vector<std::string> slower;
  for (const auto& c : report.rows) {
    if (c.verdict == results::Verdict::regression) slower.push_back(printable(c.name()));
  }
  if (slower.empty()) {
    fmt::print("# no regression in {} comparisons\n", report.rows.size());
  } else {
    fmt::print("# REGRESSION at {} of {} comparisons: {}\n", slower.size(), report.rows.size(), fmt::join(slower, "; "));
  }
}

}  // namespace

int run_compare_command(CompareCommand* command) {
  try {
    results::CompareOptions options;
    options.threshold = parse_threshold(command->threshold);
    // CLI11's range check lets NaN through (every comparison with it is false).
    if (!std::isfinite(command->alpha)) {
      CCTUNE_USAGE_ERROR(fmt::format("--alpha {}: give a number from 1e-12 to 0.5", command->alpha));
    }
    options.alpha = command->alpha;
    results::check_options(options);
    // Outputs are checked before anything is read: two names for one file would keep only the second.
    bench::refuse_same_output("--junit", command->junit_path, "--markdown-file", command->markdown_path);
    if (!command->junit_path.empty()) files::check_output_file(command->junit_path, "--junit");
    if (!command->markdown_path.empty()) files::check_output_file(command->markdown_path, "--markdown-file");
    const std::optional<std::string> collective =
        command->collective.empty() ? std::nullopt : std::optional<std::string>(command->collective);
    const std::vector<results::Record> baselines = load(command->baseline, command->db, collective);
    const std::vector<results::Record> currents = load(command->current, command->db, collective);
    const results::CompareReport report =
        command->paired ? results::compare_paired(baselines, currents, options)
                        : results::compare(results::best_of(baselines), results::best_of(currents), options);
    if (report.rows.empty()) {
      CCTUNE_USAGE_ERROR("the two runs have no collective, algorithm and size in common: nothing to compare");
    }
    if (!command->junit_path.empty()) write_file_atomically(command->junit_path, results::to_junit(report, options));
    const std::string markdown = results::to_markdown(report, options);
    if (!command->markdown_path.empty()) write_file_atomically(command->markdown_path, markdown);
    if (command->markdown) {
      std::fwrite(markdown.data(), 1, markdown.size(), stdout);
    } else {
      std::vector<std::string> skipped = skipped_notes(baselines);
      for (std::string& note : skipped_notes(currents)) skipped.push_back(std::move(note));
      print_table(report, options, skipped);
    }
    // A table on a full disk (or /dev/full) must not pass for one that was read.
    if (const auto failure = bench::write_failure(stdout, "standard output")) {
      std::fprintf(stderr, "cctune: error: %s\n", failure->c_str());
      return kFailed;
    }
    return report.any_regression ? kFailed : kOk;
  } catch (const UsageError& e) {
    return report_usage_error(e.what());
  }
}

}  // namespace cctune::cli
