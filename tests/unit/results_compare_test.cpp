// compare's statistics and verdicts on synthetic runs, and its JUnit XML read back by an XML parser.
#include "results/compare.hpp"

#include "collectives/error.hpp"

#include <gtest/gtest.h>
#include <pugixml.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <tuple>

namespace cctune::results {
namespace {

// Samples of sizes m and n whose U (the number of pairs in which a's sample is the larger) is u:
// b holds 10, 20, ..., and a's samples, all different (ties would change the distribution), lie
// above as many of them as make u.
std::pair<std::vector<double>, std::vector<double>> with_u(std::size_t m, std::size_t n, std::size_t u) {
  std::vector<double> a, b;
  for (std::size_t j = 1; j <= n; ++j) b.push_back(10.0 * static_cast<double>(j));
  for (std::size_t i = 0; i < m; ++i) {
    const std::size_t above = std::min(u, n);
    u -= above;
    a.push_back(10.0 * static_cast<double>(above) + 5 + 0.01 * static_cast<double>(i));
  }
  return {a, b};
}

TEST(MannWhitney, ExactPMatchesTextbookValues_Item17) {
  // Fully separated samples: one split in C(m+n, m) is this extreme, two-sided twice that.
  EXPECT_DOUBLE_EQ(mann_whitney_p({1, 2, 3}, {4, 5, 6}), 2.0 / 20);
  EXPECT_DOUBLE_EQ(mann_whitney_p({4, 5, 6}, {1, 2, 3}), 2.0 / 20);
  EXPECT_DOUBLE_EQ(mann_whitney_p({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}), 2.0 / 252);
  EXPECT_DOUBLE_EQ(mann_whitney_p({1, 2, 3}, {4, 5, 6, 7}), 2.0 / 35);
  // n = 5 and 5: U <= 1 in 2 of 252 splits, U <= 2 in 4, U <= 3 in 7 (partitions of U into at most 5
  // parts of at most 5).
  auto [a, b] = with_u(5, 5, 2);
  EXPECT_DOUBLE_EQ(mann_whitney_p(a, b), 2.0 * 4 / 252);
  std::tie(a, b) = with_u(5, 5, 3);
  EXPECT_DOUBLE_EQ(mann_whitney_p(a, b), 2.0 * 7 / 252);
  // The critical values of the two-sided test at 0.05 in the standard tables: the largest U that is
  // significant, for m = n = 5, 6, 7, 8, 10 and for 4 against 9.
  for (const auto& [m, n, critical] : {std::tuple{5u, 5u, 2u}, std::tuple{6u, 6u, 5u}, std::tuple{7u, 7u, 8u},
                                       std::tuple{8u, 8u, 13u}, std::tuple{10u, 10u, 23u}, std::tuple{4u, 9u, 4u}}) {
    std::tie(a, b) = with_u(m, n, critical);
    EXPECT_LT(mann_whitney_p(a, b), 0.05) << m << " " << n;
    std::tie(a, b) = with_u(m, n, critical + 1);
    EXPECT_GT(mann_whitney_p(a, b), 0.05) << m << " " << n;
  }
  // Symmetric in the direction, 1 in the middle.
  std::tie(a, b) = with_u(4, 4, 8);
  EXPECT_DOUBLE_EQ(mann_whitney_p(a, b), 1.0);
  EXPECT_DOUBLE_EQ(mann_whitney_p({2, 2, 2}, {2, 2, 2}), 1.0);
  // Ties across the groups count half.
  EXPECT_GT(mann_whitney_p({1, 2, 2, 3}, {2, 2, 3, 3}), 0.3);
}

TEST(MannWhitney, SmallestReachablePAndTheSamplesAlphaNeeds_Item17) {
  EXPECT_DOUBLE_EQ(mann_whitney({1, 2, 3, 4, 5}, {1.5, 2.5, 3.5, 4.5, 5.5}).smallest_p, 2.0 / 252);
  EXPECT_DOUBLE_EQ(mann_whitney({1, 2, 3, 4, 5, 6, 7}, {8, 9, 10, 11, 12, 13, 14}).smallest_p, 2.0 / 3432);
  EXPECT_EQ(samples_needed_for(0.001), 7u);  // 2 / C(14, 7) = 0.00058; 2 / C(12, 6) = 0.0022
  EXPECT_EQ(samples_needed_for(0.05), 4u);   // 2 / C(8, 4) = 0.029; 2 / C(6, 3) = 0.1
}

TEST(MannWhitney, LargeSamplesUseTheNormalApproximation) {
  // 30 against 30, fully separated: U = 0, mean 450, variance 30 * 30 * 61 / 12 = 4575.
  std::vector<double> a, b;
  for (int i = 0; i < 30; ++i) a.push_back(i), b.push_back(100 + i);
  const double z = (450 - 0.5) / std::sqrt(4575.0);
  EXPECT_NEAR(mann_whitney_p(a, b) / std::erfc(z / std::sqrt(2.0)), 1.0, 1e-9);
}

TEST(Compare, FiveSamplesASideStillFailATenfoldSlowdown_Item17) {
  Record before, after;
  for (Record* r : {&before, &after}) {
    Measurement m;
    m.collective = "allreduce";
    m.backend = "mpi";
    m.algorithm = "ring";
    m.datatype = "float";
    m.op = "sum";
    m.bytes = 8192;
    const double scale = r == &after ? 10.0 : 1.0;
    m.samples_us = {10 * scale, 11 * scale, 10.5 * scale, 12 * scale, 10.2 * scale};
    m.median_us = 10.5 * scale;
    r->measurements.push_back(m);
  }
  const CompareOptions options;
  const CompareReport report = compare(before, after, options);
  ASSERT_EQ(report.rows.size(), 1u);
  const Comparison& row = report.rows[0];
  EXPECT_EQ(row.verdict, Verdict::regression);
  EXPECT_TRUE(report.any_regression);
  EXPECT_TRUE(row.threshold_only);
  EXPECT_DOUBLE_EQ(*row.smallest_p, 2.0 / 252);
  EXPECT_NE(threshold_only_note(report).find("the threshold alone decided them. 7 or more samples"),
            std::string::npos)
      << threshold_only_note(report);
  EXPECT_NE(to_markdown(report, options).find("(threshold only)"), std::string::npos);
  EXPECT_NE(to_markdown(report, options).find("too few samples"), std::string::npos);
  EXPECT_NE(to_junit(report, options).find("with 5 and 5 samples no p below alpha 0.001 can occur"), std::string::npos);
  // Within the threshold it is still the same, and a test that can decide still decides.
  EXPECT_EQ(compare(before, before, options).rows[0].verdict, Verdict::same);
  EXPECT_FALSE(compare(before, after, CompareOptions{0.05, 0.05}).rows[0].threshold_only);
}


TEST(MannWhitney, SeparatesShiftedSamplesAndNotSameOnes) {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> noise(0.0, 0.05);
  std::vector<double> a, b, shifted;
  for (int i = 0; i < 50; ++i) {
    a.push_back(100 * noise(rng));
    b.push_back(100 * noise(rng));
    shifted.push_back(110 * noise(rng));
  }
  EXPECT_GT(mann_whitney_p(a, b), 0.01);
  EXPECT_LT(mann_whitney_p(a, shifted), 1e-6);
}

Record run_with(double scale_ring, double scale_linear) {
  Record r;
  std::mt19937_64 rng(static_cast<std::uint64_t>(scale_ring * 1000 + scale_linear));
  std::lognormal_distribution<double> noise(0.0, 0.03);
  for (const char* algorithm : {"ring", "linear"}) {
    for (std::uint64_t bytes : {1024u, 65536u}) {
      Measurement m;
      m.collective = "allreduce";
      m.backend = "mpi";
      m.algorithm = algorithm;
      m.datatype = "float";
      m.op = "sum";
      m.bytes = bytes;
      const double base = static_cast<double>(bytes) / 100 * (std::string(algorithm) == "ring" ? scale_ring : scale_linear);
      for (int i = 0; i < 40; ++i) m.samples_us.push_back(base * noise(rng));
      std::vector<double> sorted = m.samples_us;
      std::sort(sorted.begin(), sorted.end());
      m.median_us = sorted[20];
      m.busbw_gbs = static_cast<double>(bytes) / m.median_us / 1e3;
      r.measurements.push_back(m);
    }
  }
  return r;
}

TEST(Compare, NamesTheSlowedAlgorithmOnly) {
  const CompareReport report = compare(run_with(1.0, 1.0), run_with(1.3, 1.0), CompareOptions{});
  ASSERT_EQ(report.rows.size(), 4u);
  EXPECT_TRUE(report.any_regression);
  for (const Comparison& c : report.rows) {
    EXPECT_EQ(c.verdict == Verdict::regression, c.algorithm == "ring") << c.name();
  }
  const CompareReport same = compare(run_with(1.0, 1.0), run_with(1.0, 1.0), CompareOptions{});
  EXPECT_FALSE(same.any_regression);
  const CompareReport faster = compare(run_with(1.3, 1.0), run_with(1.0, 1.0), CompareOptions{});
  EXPECT_FALSE(faster.any_regression);
  EXPECT_EQ(faster.rows[0].verdict, Verdict::improvement);
}

TEST(Compare, SizesMeasuredSeveralTimesPairByOccurrence) {
  // nccl-tests' -N cycles measure each size again: a slow first cycle and a fast second one, each
  // compared with its own cycle, never every cycle with the first.
  Record cycles = run_with(3.0, 3.0);
  for (const Measurement& m : run_with(1.0, 1.0).measurements) cycles.measurements.push_back(m);
  const CompareReport report = compare(cycles, cycles, CompareOptions{});
  EXPECT_FALSE(report.any_regression);
  EXPECT_EQ(report.rows.size(), cycles.measurements.size());
  for (const Comparison& c : report.rows) EXPECT_EQ(c.verdict, Verdict::same) << c.name();
  // One cycle fewer on one side: the second cycle's rows are listed, not compared with the first.
  const CompareReport shorter = compare(cycles, run_with(3.0, 3.0), CompareOptions{});
  EXPECT_EQ(shorter.rows.size(), 4u);
  EXPECT_EQ(shorter.only_in_baseline.size(), 4u);
  EXPECT_FALSE(shorter.any_regression);
}

TEST(Compare, EveryAlgorithmMovingTogetherIsNamedAsAWholeRunShift) {
  // Both algorithms 50% slower: still regressions, and said to look like the machine.
  const CompareReport slower = compare(run_with(1.0, 1.0), run_with(1.5, 1.5), CompareOptions{});
  EXPECT_TRUE(slower.any_regression);
  ASSERT_EQ(slower.whole_run_shift.size(), 2u);
  EXPECT_EQ(slower.whole_run_shift[0].name, "allreduce linear");
  EXPECT_NEAR(slower.whole_run_shift[0].median_change, 0.5, 0.1);
  const std::string note = whole_run_shift_note(slower);
  EXPECT_NE(note.find("every algorithm got slower (median change: allreduce linear +"), std::string::npos) << note;
  EXPECT_NE(note.find("the machine changed between the runs"), std::string::npos) << note;
  EXPECT_NE(to_markdown(slower, CompareOptions{}).find("**Note:** every algorithm got slower"), std::string::npos);
  pugi::xml_document junit;
  ASSERT_TRUE(junit.load_string(to_junit(slower, CompareOptions{}).c_str()));
  EXPECT_EQ(std::string(junit.child("testsuites").child("testsuite").child_value("system-out")), note);

  EXPECT_NE(whole_run_shift_note(compare(run_with(1.3, 1.3), run_with(1.0, 1.0), CompareOptions{})).find("faster"),
            std::string::npos);
  // One algorithm slowed is that algorithm, not the machine.
  const CompareReport one = compare(run_with(1.0, 1.0), run_with(1.5, 1.0), CompareOptions{});
  EXPECT_TRUE(one.whole_run_shift.empty());
  EXPECT_EQ(whole_run_shift_note(one), "");
  EXPECT_EQ(to_markdown(one, CompareOptions{}).find("Note"), std::string::npos);
  // Nor can a run of one algorithm tell the two apart.
  Record before = run_with(1.0, 1.0), after = run_with(1.5, 1.5);
  for (Record* r : {&before, &after}) {
    std::erase_if(r->measurements, [](const Measurement& m) { return m.algorithm != "ring"; });
  }
  EXPECT_TRUE(compare(before, after, CompareOptions{}).whole_run_shift.empty());
}

TEST(Compare, PairedLaunchesPassOverOnePairSpoiledByTheMachine) {
  // Alternating launches; the machine turned 50% slower right after the first baseline launch.
  const std::vector<Record> baselines{run_with(1.0, 1.0), run_with(1.5, 1.5), run_with(1.51, 1.51)};
  const std::vector<Record> currents{run_with(1.49, 1.49), run_with(1.52, 1.52), run_with(1.5, 1.5)};
  // Each side's best sees a 50% regression of everything...
  EXPECT_TRUE(compare(best_of(baselines), best_of(currents), CompareOptions{}).any_regression);
  // ...while two of the three pairs saw no change.
  const CompareReport paired = compare_paired(baselines, currents, CompareOptions{});
  ASSERT_EQ(paired.rows.size(), 4u);
  EXPECT_FALSE(paired.any_regression);
  EXPECT_TRUE(paired.whole_run_shift.empty());
  // A real regression shows in every pair and is named, with the median pair's numbers.
  const std::vector<Record> before{run_with(1.0, 1.0), run_with(1.01, 1.01), run_with(1.02, 1.02)};
  const std::vector<Record> slowed{run_with(1.3, 1.0), run_with(1.31, 1.01), run_with(1.32, 1.02)};
  const CompareReport regressed = compare_paired(before, slowed, CompareOptions{});
  EXPECT_TRUE(regressed.any_regression);
  for (const Comparison& c : regressed.rows) {
    EXPECT_EQ(c.verdict == Verdict::regression, c.algorithm == "ring") << c.name();
    if (c.algorithm == "ring") {
      EXPECT_NEAR(c.change, 0.3, 0.05);
    }
  }
  // A size missing from one pair is not compared, and said so.
  std::vector<Record> partial = currents;
  partial[2].measurements.pop_back();
  EXPECT_EQ(compare_paired(baselines, partial, CompareOptions{}).not_in_every_pair.size(), 1u);
  EXPECT_THROW(compare_paired(baselines, {currents[0], currents[1]}, CompareOptions{}), UsageError);
  EXPECT_THROW(compare_paired({baselines[0]}, {currents[0]}, CompareOptions{}), UsageError);
}

TEST(Compare, ABigChangeWithoutConfidenceIsNoise) {
  Record a = run_with(1.0, 1.0), b = run_with(1.0, 1.0);
  // Eight calls each, overlapping: the medians differ by 20%, the samples cannot tell.
  a.measurements.resize(1);
  b.measurements.resize(1);
  a.measurements[0].samples_us = {10, 14, 12, 9, 15, 11, 13, 12};
  a.measurements[0].median_us = 12;
  b.measurements[0].samples_us = {9, 16, 14.4, 10, 17, 15, 11, 14.4};
  b.measurements[0].median_us = 14.4;
  const CompareReport report = compare(a, b, CompareOptions{});
  EXPECT_EQ(report.rows[0].verdict, Verdict::noise);
  EXPECT_FALSE(report.any_regression);
  // Summaries only (nccl-tests logs): the threshold alone decides.
  a.measurements[0].samples_us.clear();
  EXPECT_EQ(compare(a, b, CompareOptions{}).rows[0].verdict, Verdict::regression);
}

TEST(Compare, UnmatchedMeasurementsAreListedNotCompared) {
  Record a = run_with(1.0, 1.0), b = run_with(1.0, 1.0);
  b.measurements.back().bytes = 999;
  const CompareReport report = compare(a, b, CompareOptions{});
  EXPECT_EQ(report.rows.size(), 3u);
  EXPECT_EQ(report.only_in_baseline.size(), 1u);
  EXPECT_EQ(report.only_in_current.size(), 1u);
}

TEST(Compare, JunitListsEverySizeAndFailsTheRegressions) {
  const CompareOptions options;
  const CompareReport report = compare(run_with(1.0, 1.0), run_with(1.3, 1.0), options);
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(to_junit(report, options).c_str()));
  const auto suite = doc.child("testsuites").child("testsuite");
  EXPECT_EQ(suite.attribute("tests").as_int(), 4);
  EXPECT_EQ(suite.attribute("failures").as_int(), 2);
  int failed = 0;
  for (auto test : suite.children("testcase")) {
    if (test.child("failure")) {
      ++failed;
      EXPECT_NE(std::string(test.attribute("name").value()).find("ring"), std::string::npos);
    }
  }
  EXPECT_EQ(failed, 2);
  const std::string markdown = to_markdown(report, options);
  EXPECT_NE(markdown.find("2 regression(s)"), std::string::npos);
  EXPECT_NE(markdown.find("**REGRESSION**"), std::string::npos);
}

TEST(Compare, BestOfSeveralRunsKeepsEachSizesFastestRun) {
  Record slow_period = run_with(1.5, 1.5), normal = run_with(1.0, 1.0);
  normal.measurements[1].median_us *= 2;  // this size was hit in the "normal" run only
  const Record best = best_of({slow_period, normal});
  ASSERT_EQ(best.measurements.size(), normal.measurements.size());
  EXPECT_EQ(best.measurements[0].median_us, normal.measurements[0].median_us);
  EXPECT_EQ(best.measurements[1].median_us, slow_period.measurements[1].median_us);
  EXPECT_EQ(best.measurements[1].samples_us, slow_period.measurements[1].samples_us);
  // A slow stretch in one of three current runs is not a regression; a slowdown in all of them is.
  EXPECT_FALSE(compare(best_of({run_with(1.0, 1.0)}), best_of({run_with(1.0, 1.0), slow_period}), {}).any_regression);
  EXPECT_TRUE(compare(run_with(1.0, 1.0), best_of({run_with(1.3, 1.0), run_with(1.31, 1.0)}), {}).any_regression);
}

TEST(Compare, NonFiniteOptionsAreRefused_Item18) {
  const Record r = run_with(1.0, 1.0);
  EXPECT_THROW(compare(r, r, CompareOptions{0.05, std::nan("")}), UsageError);
  EXPECT_THROW(compare(r, r, CompareOptions{std::numeric_limits<double>::infinity(), 0.001}), UsageError);
  EXPECT_THROW(compare(r, r, CompareOptions{-0.1, 0.001}), UsageError);
  EXPECT_THROW(compare_paired({r, r}, {r, r}, CompareOptions{0.05, 0}), UsageError);
}

}  // namespace
}  // namespace cctune::results
