#include "bench/statistics.hpp"

#include <algorithm>
#include <boost/math/statistics/univariate_statistics.hpp>
#include <cmath>

namespace cctune::bench {

double percentile_sorted(const std::vector<double>& sorted, double q) {
  const auto rank = static_cast<std::size_t>(std::ceil(q / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

Summary summarize(std::vector<double> samples) {
  Summary s;
  s.samples = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.min = samples.front();
  s.max = samples.back();
  s.p99 = percentile_sorted(samples, 99.0);
  s.mean = boost::math::statistics::mean(samples);
  s.stdev = samples.size() > 1 ? std::sqrt(boost::math::statistics::sample_variance(samples)) : 0.0;
  s.median = boost::math::statistics::median(samples);
  return s;
}

}  // namespace cctune::bench
