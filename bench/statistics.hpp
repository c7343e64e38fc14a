#pragma once
// Summaries of per-iteration time samples.
#include <cstddef>
#include <vector>

namespace cctune::bench {

struct Summary {
  std::size_t samples = 0;
  double min = 0, median = 0, p99 = 0, max = 0, mean = 0, stdev = 0;
  double cv_percent() const { return mean > 0 ? 100.0 * stdev / mean : 0.0; }
};

// median: the middle value (mean of the two middle ones for even counts). p99: nearest rank, the
// smallest sample that at least 99% of samples do not exceed. stdev: sample standard deviation.
Summary summarize(std::vector<double> samples);

// Nearest-rank percentile (0 < q <= 100) of an ascending-sorted, non-empty vector.
double percentile_sorted(const std::vector<double>& sorted, double q);

}  // namespace cctune::bench
