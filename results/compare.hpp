#pragma once
// `cctune compare`: did anything get slower between two runs? Per collective, algorithm and size:
// the change in median time and bus bandwidth, a Mann-Whitney U test on the per-iteration samples,
// and a threshold below which a change does not count, however significant.
#include <optional>
#include <string>
#include <vector>

#include "results/record.hpp"

namespace cctune::results {

struct CompareOptions {
  double threshold = 0.05;  // relative change in median time that counts (0.05: 5%)
  double alpha = 0.001;     // significance level of each size's test
};

enum class Verdict {
  same,         // within the threshold
  regression,   // slower beyond the threshold, and significant (or no samples to test)
  improvement,  // faster beyond the threshold, and significant (or no samples to test)
  noise,        // beyond the threshold, but the samples do not show it with confidence
};
std::string_view to_string(Verdict verdict);

struct Comparison {
  std::string collective, backend, algorithm, datatype, op;
  std::uint64_t bytes = 0;
  bool in_place = false;
  double baseline_median_us = 0, current_median_us = 0;
  double change = 0;  // current / baseline - 1, in time: +0.10 is 10% slower
  double baseline_busbw_gbs = 0, current_busbw_gbs = 0;
  std::optional<double> p_value;  // two-sided; none when either side has fewer than 3 samples
  std::size_t baseline_samples = 0, current_samples = 0;
  // The smallest p these sample counts (and ties) allow. When it is not below alpha, no change could
  // ever be significant: the threshold alone decides (threshold_only), as with no samples.
  std::optional<double> smallest_p;
  bool threshold_only = false;
  Verdict verdict = Verdict::same;
  std::string name() const;  // "allreduce ring float sum out-of-place 1048576"
};

// One algorithm's typical change: the median over its sizes and placements.
struct AlgorithmShift {
  std::string name;  // "allreduce ring" (with the backend when the runs used several)
  double median_change = 0;
};

struct CompareReport {
  std::vector<Comparison> rows;
  std::vector<std::string> only_in_baseline, only_in_current;  // names of unmatched measurements
  std::vector<std::string> not_in_every_pair;                   // compare_paired: missing from some pair
  bool any_regression = false;
  double alpha = 0.001;  // as compared, for the notes
  // Filled when two or more algorithms were compared and every one of them moved beyond the threshold
  // in the same direction. One code change rarely does that to every algorithm (the MPI library's own
  // included); a machine that got slower or faster between the runs does: other jobs on a shared host,
  // clock speed, where the hypervisor placed the CPUs. The verdicts stand; this says where to look.
  std::vector<AlgorithmShift> whole_run_shift;
};

CompareReport compare(const Record& baseline, const Record& current, const CompareOptions& options);

// Launches made alternately (baseline 1, current 1, baseline 2, ...) compared pair by pair: each size's
// row is the pair whose change is the median of the pairs' changes (the lower middle one for an even
// count). A shared machine that switches speed between two launches spoils the pair that straddles the
// switch, and the median of three or more pairs passes it over; a real regression shows in every pair.
// Both sides must hold the same number of runs, two or more (UsageError).
CompareReport compare_paired(const std::vector<Record>& baselines, const std::vector<Record>& currents,
                             const CompareOptions& options);

// Several runs of the same sweep as one: per collective, algorithm, size and placement, the run with
// the lowest median time, with its samples. On a shared machine a slow stretch only ever adds time, so
// the best of a few launches is what the code costs; a real regression slows every launch.
Record best_of(const std::vector<Record>& runs);

// Two-sided Mann-Whitney U test: the chance of samples this far apart if both came from the same
// distribution (p), and the smallest p that samples of these sizes and ties could give at all.
// Exact (the rank sum's distribution over every split of the pooled samples, midranks for ties) up to
// kExactMannWhitneySamples samples in all, where the normal approximation is far off (3 against 3: its
// smallest p is 0.08, the true one 0.1; 5 against 5: 0.012 and 0.008); beyond, the normal
// approximation with tie and continuity corrections.
inline constexpr std::size_t kExactMannWhitneySamples = 50;
struct MannWhitney {
  double p = 1;
  double smallest_p = 1;
};
MannWhitney mann_whitney(const std::vector<double>& a, const std::vector<double>& b);
double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b);

// How many samples per side, at least, let the test reach p below alpha (no ties): 7 for 0.001.
std::size_t samples_needed_for(double alpha);

// Throws UsageError unless the threshold is finite and not negative and alpha in (0, 1).
void check_options(const CompareOptions& options);

// One sentence on the comparisons the threshold alone decided because their samples were too few for
// the test to reach alpha, empty when there are none.
std::string threshold_only_note(const CompareReport& report);

// One sentence on the report's whole_run_shift ("every algorithm got slower (median change: ...). ..."),
// empty when there is none.
std::string whole_run_shift_note(const CompareReport& report);

// The report as a Markdown table (for CI comments) and as JUnit XML (one test case per size).
std::string to_markdown(const CompareReport& report, const CompareOptions& options);
std::string to_junit(const CompareReport& report, const CompareOptions& options);

}  // namespace cctune::results
