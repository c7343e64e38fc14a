// Isolation's rounds and its rule, on synthetic clusters: each participant has a speed, and a group
// measures what its slowest member allows (as a pair over a throttled link does).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "accept/acceptance.hpp"
#include "accept/isolation.hpp"

namespace cctune::accept {
namespace {

// Bus bandwidth (higher is better) of each of `pairings`' groups, from each participant's own speed;
// a group's value is its slowest member's times `noise(round, group)`.
std::vector<RoundValues> measure_pairings(const std::vector<double>& speed, const std::vector<Pairing>& pairings,
                                          const std::function<double(int, int)>& noise = [](int, int) { return 1.0; }) {
  const int n = static_cast<int>(speed.size());
  std::vector<RoundValues> rounds;
  int r = 0;
  for (const Pairing& pairing : pairings) {
    std::map<int, GroupValue> groups;
    for (int p = 0; p < n; ++p) groups[pairing[p]].members.push_back(p);
    RoundValues values;
    for (auto& [g, group] : groups) {
      double slowest = INFINITY;
      for (int p : group.members) slowest = std::min(slowest, speed[p]);
      group.value = slowest * noise(r, g);
      values.push_back(group);
    }
    rounds.push_back(values);
    ++r;
  }
  return rounds;
}

// The same over isolation's own rounds.
std::vector<RoundValues> measure(const std::vector<double>& speed,
                                 const std::function<double(int, int)>& noise = [](int, int) { return 1.0; }) {
  return measure_pairings(speed, isolation_rounds(static_cast<int>(speed.size())), noise);
}

std::vector<int> blamed(const IsolationJudgement& j) {
  std::vector<int> out;
  for (const Blame& b : j.blamed) out.push_back(b.participant);
  return out;
}

std::vector<double> cluster(int n, std::set<int> bad, double good = 10, double slow = 1) {
  std::vector<double> speed(n, good);
  for (int p : bad) speed[p] = slow;
  return speed;
}

TEST(IsolationRounds, EveryParticipantMeetsTwoPartnersInLogManyRounds) {
  std::vector<int> counts;
  for (int n = 3; n <= 64; ++n) counts.push_back(n);
  for (int n : {100, 1000, 1023, 1024, 1025, 4096}) counts.push_back(n);
  for (int n : counts) {
    const auto rounds = isolation_rounds(n);
    EXPECT_LE(static_cast<double>(rounds.size()), std::ceil(std::log2(n)) + 2) << n;
    std::vector<std::set<int>> partners(n);
    for (const Pairing& pairing : rounds) {
      ASSERT_EQ(static_cast<int>(pairing.size()), n);
      std::map<int, std::vector<int>> groups;
      for (int p = 0; p < n; ++p) groups[pairing[p]].push_back(p);
      for (const auto& [g, members] : groups) {
        ASSERT_LE(members.size(), 2u) << n;  // pairs only: a triple would hide which member is slow
        if (members.size() == 2) {
          partners[members[0]].insert(members[1]);
          partners[members[1]].insert(members[0]);
        }
      }
    }
    for (int p = 0; p < n; ++p) EXPECT_GE(partners[p].size(), 2u) << "participant " << p << " of " << n;
    // A power of two: one partner per bit, so that two broken nodes of 8 cannot hide a healthy one.
    if ((n & (n - 1)) == 0) {
      for (int p = 0; p < n; ++p) EXPECT_GE(partners[p].size(), static_cast<std::size_t>(std::log2(n))) << n;
    }
  }
}

TEST(IsolationRounds, ThreeParticipantsMeetInEveryPair) {
  // Today's failing case: one group of three could not tell them apart; each pair once can.
  const auto rounds = isolation_rounds(3);
  EXPECT_EQ(rounds.size(), 3u);
}

TEST(JudgeIsolation, ThreeNodesOneThrottledIsNamedThoughTwoOfThreePairsAreSlow) {
  for (int bad = 0; bad < 3; ++bad) {
    const auto j = judge_isolation(3, measure(cluster(3, {bad})), Better::higher, 5);
    EXPECT_EQ(blamed(j), std::vector<int>{bad}) << bad;
    EXPECT_DOUBLE_EQ(j.baseline, 10);
  }
}

TEST(JudgeIsolation, OneBadOfFourOrEightIsNamedWherever) {
  for (int n : {4, 5, 8, 13, 100}) {
    for (int bad = 0; bad < n; ++bad) {
      const auto j = judge_isolation(n, measure(cluster(n, {bad})), Better::higher, 5);
      EXPECT_EQ(blamed(j), std::vector<int>{bad}) << n << " nodes, bad " << bad;
      ASSERT_EQ(j.blamed.size(), 1u);
      EXPECT_NE(j.blamed[0].reason.find("below a third"), std::string::npos);
    }
  }
}

TEST(JudgeIsolation, TwoBadOfEightAreBothNamedAndNobodyElse) {
  // Every placement, including 1 and 3, between which a ring pairing alone would name 2 as well.
  for (int a = 0; a < 8; ++a) {
    for (int b = a + 1; b < 8; ++b) {
      const auto j = judge_isolation(8, measure(cluster(8, {a, b})), Better::higher, 5);
      EXPECT_EQ(blamed(j), (std::vector<int>{a, b})) << a << "," << b;
    }
  }
}

TEST(JudgeIsolation, NoneBadNamesNobody) {
  const auto j = judge_isolation(8, measure(cluster(8, {})), Better::higher, 5);
  EXPECT_TRUE(j.blamed.empty());
  EXPECT_EQ(j.below_floor, 0);
  EXPECT_NE(j.summary.find("every group of two met the floor"), std::string::npos) << j.summary;
}

TEST(JudgeIsolation, AllUniformlySlowNamesNobodyAndSaysItIsNotOneNode) {
  // An impossible floor, or a fabric slow for everyone: all below the floor, all alike.
  const auto j = judge_isolation(8, measure(cluster(8, {}, 1)), Better::higher, 5);
  EXPECT_TRUE(j.blamed.empty());
  EXPECT_EQ(j.below_floor, 8);
  EXPECT_NE(j.summary.find("not one node or rank"), std::string::npos) << j.summary;
}

TEST(JudgeIsolation, NoiseWithinTheSpreadNamesNobody) {
  // Groups side by side on shared cores differ by tens of percent; a node at 0.7x is not broken.
  const auto noise = [](int round, int group) { return 0.7 + 0.1 * ((round * 7 + group * 3) % 6); };
  auto speed = cluster(8, {});
  speed[5] = 7;  // slowish, still not half
  const auto j = judge_isolation(8, measure(speed, noise), Better::higher, 9);
  EXPECT_TRUE(j.blamed.empty()) << j.blamed.size();
  // A really broken one among the same noise is named, and only it.
  speed[2] = 1;
  EXPECT_EQ(blamed(judge_isolation(8, measure(speed, noise), Better::higher, 9)), std::vector<int>{2});
}

TEST(JudgeIsolation, HealthyRanksStraddlingTheFloorAreNotBlamed) {
  // As seen on this project's loaded VM: healthy pairs from 1 to 2.1 GB/s against a floor of 2, and
  // the delayed rank at 0.35. A baseline of those meeting the floor (2.1 alone) would blame rank 1.
  const auto j = judge_isolation(4, measure({2.1, 1.0, 1.4, 0.35}), Better::higher, 2);
  EXPECT_EQ(blamed(j), std::vector<int>{3});
  EXPECT_NEAR(j.baseline, 1.4, 1e-9);
}

TEST(JudgeIsolation, ABrokenNodeAboveTheFloorIsNotBlamed) {
  // Half the others' speed but meeting the spec: the allocation's shortfall is not that node's.
  const auto j = judge_isolation(4, measure(cluster(4, {1}, 10, 4)), Better::higher, 3);
  EXPECT_TRUE(j.blamed.empty());
}

TEST(JudgeIsolation, LatencyIsLowerIsBetter) {
  // Times: a slow node's groups take ten times as long.
  const int n = 6;
  std::vector<RoundValues> rounds;
  for (const Pairing& pairing : isolation_rounds(n)) {
    std::map<int, GroupValue> groups;
    for (int p = 0; p < n; ++p) groups[pairing[p]].members.push_back(p);
    RoundValues values;
    for (auto& [g, group] : groups) {
      group.value = 20;
      for (int p : group.members) {
        if (p == 4) group.value = 200;
      }
      values.push_back(group);
    }
    rounds.push_back(values);
  }
  const auto j = judge_isolation(n, rounds, Better::lower, 50);
  EXPECT_EQ(blamed(j), std::vector<int>{4});
  EXPECT_DOUBLE_EQ(j.baseline, 20);
  EXPECT_NE(j.blamed[0].reason.find("above three times the time"), std::string::npos);
}

TEST(JudgeIsolation, UnmeasuredGroupsAndGroupsOfOneJudgeNobody) {
  std::vector<RoundValues> rounds{{{{0, 1}, NAN}, {{2}, 0.1}}};
  const auto j = judge_isolation(3, rounds, Better::higher, 5);
  EXPECT_TRUE(j.blamed.empty());
  EXPECT_EQ(j.judged, 0);
}

}  // namespace
}  // namespace cctune::accept

// Verdicts under statistical control: the judging rule on synthetic readings.
namespace cctune::accept {
namespace {

TEST(StatisticalControl, WithinTheSpreadIsRetestedThenWarnedBeyondItFails) {
  // Floor 10 GB/s, spread 1 GB/s.
  EXPECT_EQ(decide(10, {10.5, 1}, Better::higher, 1), Decision::pass);
  EXPECT_EQ(decide(10, {10.0, 1}, Better::higher, 1), Decision::pass);  // meeting the floor is enough
  EXPECT_EQ(decide(10, {8.5, 1}, Better::higher, 1), Decision::fail);   // short by more than the spread
  EXPECT_EQ(decide(10, {9.5, 1}, Better::higher, 1), Decision::retest);
  EXPECT_EQ(decide(10, {9.5, 1}, Better::higher, 2), Decision::retest);
  EXPECT_EQ(decide(10, {9.5, 1}, Better::higher, kMaxMeasurements), Decision::warn);
  EXPECT_EQ(decide(10, {8.5, 1}, Better::higher, kMaxMeasurements), Decision::fail);
  EXPECT_EQ(decide(10, {10.2, 1}, Better::higher, kMaxMeasurements), Decision::pass);
  // No spread measured: any shortfall fails at once, as before.
  EXPECT_EQ(decide(10, {9.99, 0}, Better::higher, 1), Decision::fail);
  EXPECT_EQ(kMaxMeasurements, 3);
}

TEST(StatisticalControl, LatencyIsLowerIsBetter) {
  EXPECT_EQ(decide(100, {90, 5}, Better::lower, 1), Decision::pass);
  EXPECT_EQ(decide(100, {103, 5}, Better::lower, 1), Decision::retest);
  EXPECT_EQ(decide(100, {103, 5}, Better::lower, 3), Decision::warn);
  EXPECT_EQ(decide(100, {110, 5}, Better::lower, 1), Decision::fail);
}

TEST(StatisticalControl, TheSpreadIsHalfTheInterquartileRangeOfTheCalls) {
  // Times 1..8 us plus one very slow call: the quartiles (nearest rank) are 3 and 7, the median 5.
  const std::vector<double> times = {5, 1, 7, 2, 8, 3, 6, 4, 1000};
  const Reading latency = reading_of(5, times, Better::lower);
  EXPECT_DOUBLE_EQ(latency.value, 5);
  EXPECT_DOUBLE_EQ(latency.spread, 2);  // (7 - 3) / 2; the 1000 us call does not widen it
  // busbw 10 GB/s at the median time 5 us: 50/3 at the first quartile, 50/7 at the third.
  const Reading busbw = reading_of(10, times, Better::higher);
  EXPECT_DOUBLE_EQ(busbw.value, 10);
  EXPECT_NEAR(busbw.spread, (50.0 / 3 - 50.0 / 7) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(reading_of(10, {5}, Better::higher).spread, 0);  // one call has no spread
  EXPECT_DOUBLE_EQ(reading_of(10, {4, 4, 4, 4}, Better::higher).spread, 0);
}

// What `suspects` blamed, retested as accept retests them: the first rounds, then the confirmation
// rounds measured from the true speeds, without noise.
IsolationJudgement confirm(const std::vector<double>& speed, std::vector<RoundValues> rounds,
                           const IsolationJudgement& suspects, double floor) {
  const int n = static_cast<int>(speed.size());
  for (RoundValues& r : measure_pairings(speed, confirmation_rounds(n, suspects))) rounds.push_back(std::move(r));
  return judge_confirmed(n, rounds, floor, suspects);
}

TEST(ConfirmIsolation, EachSuspectMeetsAPartnerItDidNotBlameTheFastestFirstWhileTheRestRunAlone) {
  IsolationJudgement suspects;
  suspects.best = {10, 10, 1, 10, 10, 1, 12, 11};
  for (int p : {2, 5}) suspects.blamed.push_back({p, 1, ""});
  const auto rounds = confirmation_rounds(8, suspects);
  ASSERT_EQ(rounds.size(), 1u);
  const Pairing& pairing = rounds[0];
  ASSERT_EQ(pairing.size(), 8u);
  std::map<int, std::vector<int>> groups;
  for (int p = 0; p < 8; ++p) groups[pairing[p]].push_back(p);
  EXPECT_EQ(groups.size(), 6u);  // two pairs, four alone
  EXPECT_EQ(pairing[2], pairing[6]);
  EXPECT_EQ(pairing[5], pairing[7]);
  for (int p : {0, 1, 3, 4}) EXPECT_EQ(groups[pairing[p]].size(), 1u) << p;
  // Times: the fastest is the lowest.
  suspects.better = Better::lower;
  suspects.best = {5, 6, 90, 7, 4, 80, 8, 9};
  const Pairing latency = confirmation_rounds(8, suspects).at(0);
  EXPECT_EQ(latency[2], latency[4]);
  EXPECT_EQ(latency[5], latency[0]);
  // Nobody blamed: nothing to retest.
  EXPECT_TRUE(confirmation_rounds(8, judge_isolation(8, measure(cluster(8, {})), Better::higher, 5)).empty());
}

TEST(ConfirmIsolation, MoreSuspectsThanPartnersTakeAsManyRoundsAsItNeeds) {
  IsolationJudgement suspects;
  suspects.best = {1, 1, 1, 10, 9};
  for (int p : {0, 1, 2}) suspects.blamed.push_back({p, 1, ""});
  const auto rounds = confirmation_rounds(5, suspects);
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_EQ(rounds[0][0], rounds[0][3]);
  EXPECT_EQ(rounds[0][1], rounds[0][4]);
  EXPECT_EQ(rounds[1][2], rounds[1][3]);
  EXPECT_NE(rounds[1][0], rounds[1][1]);
}

TEST(ConfirmIsolation, AHealthyRankWhosePairsBothStalledIsClearedAndTheSlowOneStillNamed) {
  // CI's failure: of 4 ranks with rank 2 slowed, both of rank 0's pairs with healthy partners ((0,1)
  // in round 0, (3,0) in round 2) ran a fifth as fast as they should: rank 0 was named beside 2.
  const auto speed = cluster(4, {2});
  const auto stalls = [](int round, int group) { return (round == 0 && group == 0) || (round == 2 && group == 0) ? 0.2 : 1.0; };
  const auto rounds = measure(speed, stalls);
  const auto suspects = judge_isolation(4, rounds, Better::higher, 5);
  ASSERT_EQ(blamed(suspects), (std::vector<int>{0, 2}));
  const auto named = confirm(speed, rounds, suspects, 5);
  EXPECT_EQ(blamed(named), std::vector<int>{2});
  ASSERT_EQ(named.blamed.size(), 1u);
  EXPECT_NE(named.blamed[0].reason.find("again in a retest with a faster partner"), std::string::npos);
}

TEST(ConfirmIsolation, SuspectsAllClearedNameNobodyAndSaySo) {
  const auto speed = cluster(4, {});
  // Every pair rank 0 was in stalled.
  const auto stalls = [](int, int group) { return group == 0 ? 0.2 : 1.0; };
  const auto rounds = measure(speed, stalls);
  const auto suspects = judge_isolation(4, rounds, Better::higher, 15);
  ASSERT_EQ(blamed(suspects), std::vector<int>{0});
  const auto named = confirm(speed, rounds, suspects, 15);
  EXPECT_TRUE(named.blamed.empty());
  EXPECT_NE(named.summary.find("one participant first looked slow"), std::string::npos) << named.summary;
}

TEST(ConfirmIsolation, TheRetestNamesNobodyItDidNotSuspect) {
  // A participant just inside the margin at first stays unnamed, however the retests raise the baseline.
  for (int n : {3, 4, 8, 13}) {
    for (int bad = 0; bad < n; ++bad) {
      const auto speed = cluster(n, {bad});
      const auto rounds = measure(speed);
      const auto suspects = judge_isolation(n, rounds, Better::higher, 5);
      EXPECT_EQ(blamed(confirm(speed, rounds, suspects, 5)), std::vector<int>{bad}) << n << " " << bad;
    }
  }
  for (int a = 0; a < 8; ++a) {
    for (int b = a + 1; b < 8; ++b) {
      const auto speed = cluster(8, {a, b});
      const auto rounds = measure(speed);
      EXPECT_EQ(blamed(confirm(speed, rounds, judge_isolation(8, rounds, Better::higher, 5), 5)), (std::vector<int>{a, b}));
    }
  }
}

TEST(StatisticalControl, ANodeFarBelowTheFleetIsAnOutlierEvenAboveTheFloor) {
  // Eight nodes near 100 GB/s, one at 60: under 70% of the median and far beyond its MAD.
  const std::vector<double> fleet = {100, 101, 99, 102, 98, 100, 60, 101};
  const std::vector<bool> expected = {false, false, false, false, false, false, true, false};
  EXPECT_EQ(fleet_outliers(fleet, Better::higher), expected);
  // 75% of the median is not far enough below, however tight the others.
  EXPECT_EQ(fleet_outliers({100, 100, 100, 75}, Better::higher), std::vector<bool>(4, false));
  // Under 70% but within the fleet's own wide spread: not singled out.
  EXPECT_EQ(fleet_outliers({100, 40, 160, 65, 130, 90}, Better::higher), std::vector<bool>(6, false));
  // Two nodes cannot say which of them is off.
  EXPECT_EQ(fleet_outliers({100, 10}, Better::higher), std::vector<bool>(2, false));
  EXPECT_EQ(fleet_outliers({100, 100, 10}, Better::higher), (std::vector<bool>{false, false, true}));
  // Latency: over median / 0.7.
  EXPECT_EQ(fleet_outliers({10, 10.2, 9.9, 10.1, 15}, Better::lower),
            (std::vector<bool>{false, false, false, false, true}));
  EXPECT_EQ(fleet_outliers({10, 10.2, 9.9, 10.1, 13}, Better::lower), std::vector<bool>(5, false));
}

}  // namespace
}  // namespace cctune::accept
