#include "accept/isolation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <set>
#include <utility>

namespace cctune::accept {

// The rounds: pairs at distance 1, 2, 4, ... (partner p XOR 2^k, while that is a participant), then
// the pairs at distance 1 shifted by one around the ring ((1,2)(3,4)...(n-1,0)), and for an odd count
// shifted by two as well, leaving out any round that pairs nobody anew. Every participant of 3 or more
// gets at least two different partners, and one of 2^k participants gets k + 1 (all of them, with 4):
// a healthy one is seen with a healthy partner unless every partner it had is broken. That costs
// ceil(log2(n)) + 1 or 2 rounds; the groups of one round all measure at once.
std::vector<Pairing> isolation_rounds(int participants) {
  const int n = participants;
  std::vector<std::vector<int>> partner_rounds;  // each round: every participant's partner, or -1
  for (int d = 1; d < n; d *= 2) {
    std::vector<int> partner(n, -1);
    for (int p = 0; p < n; ++p) {
      if ((p ^ d) < n) partner[p] = p ^ d;
    }
    partner_rounds.push_back(std::move(partner));
  }
  for (int shift = 1; shift <= (n % 2 == 1 ? 2 : 1) && n >= 3; ++shift) {
    std::vector<int> partner(n, -1);
    for (int i = 0; 2 * i + 1 < n; ++i) {
      const int a = (shift + 2 * i) % n, b = (shift + 2 * i + 1) % n;
      partner[a] = b;
      partner[b] = a;
    }
    partner_rounds.push_back(std::move(partner));
  }
  std::set<std::pair<int, int>> seen;
  std::vector<Pairing> rounds;
  for (const auto& partner : partner_rounds) {
    bool anew = false;
    for (int p = 0; p < n; ++p) {
      if (partner[p] > p) anew |= seen.insert({p, partner[p]}).second;
    }
    if (!anew) continue;
    Pairing group(n, -1);
    int groups = 0;
    for (int p = 0; p < n; ++p) {
      if (group[p] >= 0) continue;
      group[p] = groups;
      if (partner[p] >= 0) group[partner[p]] = groups;
      ++groups;
    }
    rounds.push_back(std::move(group));
  }
  return rounds;
}

namespace {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace

// The rule. A group runs at the pace of its slowest member, so a participant is at least as fast as
// the best group it was in: its *best* value. A healthy participant that shared any round with a
// healthy partner has a healthy best, however many of the groups were slow (with 3 nodes and one
// broken, two of the three pairs are slow; judging groups against the median group named nobody).
//
// The baseline is the median of the bests of the faster half of the participants (the ceil(n/2) with
// the best bests: healthy ones while at most half are broken), and the spread their median absolute
// deviation (MAD). Both are taken on a log scale, since a slowdown is a factor (a pair at half speed
// is as far below as one at twice the time is above). A participant is blamed when its best
//  - misses the spec's floor,
//  - is kSlowFactor slower than the baseline (below a third of its bus bandwidth, or above three times its time),
//  - and is further below it than kSpreads x 1.4826 MAD (about three standard deviations of the
//    healthy half: noise among healthy participants is not a fault).
// Nobody blamed while every participant missed the floor: the shortfall is everyone's alike (the
// fabric, the floor), not one node's.
IsolationJudgement judge_isolation(int participants, const std::vector<RoundValues>& rounds, Better better,
                                   double floor) {
  const bool higher = better == Better::higher;
  const auto is_better = [&](double a, double b) { return higher ? a > b : a < b; };
  const auto meets_floor = [&](double v) { return higher ? v >= floor : v <= floor; };
  // Goodness on a log scale: larger is better, for bandwidths and times alike.
  const auto good = [&](double v) { return higher ? std::log(v) : -std::log(v); };
  IsolationJudgement judgement;
  judgement.better = better;
  std::vector<double>& best = judgement.best;
  best.assign(static_cast<std::size_t>(participants), std::nan(""));
  for (const RoundValues& round : rounds) {
    for (const GroupValue& group : round) {
      if (group.members.size() < 2 || !(group.value > 0) || !std::isfinite(group.value)) continue;
      for (int p : group.members) {
        if (p < 0 || p >= participants) continue;
        if (std::isnan(best[p]) || is_better(group.value, best[p])) best[p] = group.value;
      }
    }
  }
  std::vector<double> goodness;
  for (double b : best) {
    if (std::isnan(b)) continue;
    goodness.push_back(good(b));
    judgement.below_floor += meets_floor(b) ? 0 : 1;
  }
  judgement.judged = static_cast<int>(goodness.size());
  if (goodness.empty()) {
    judgement.summary = "no group of two was measured";
    return judgement;
  }
  std::sort(goodness.begin(), goodness.end(), std::greater<>());
  const std::vector<double> faster(goodness.begin(), goodness.begin() + static_cast<std::ptrdiff_t>((goodness.size() + 1) / 2));
  const double centre = median(faster);
  std::vector<double> deviations;
  for (double g : faster) deviations.push_back(std::abs(g - centre));
  const double mad = median(deviations);
  judgement.baseline = higher ? std::exp(centre) : std::exp(-centre);
  judgement.spread = std::exp(mad) - 1;
  const double margin = std::max(std::log(kSlowFactor), kSpreads * 1.4826 * mad);
  for (int p = 0; p < participants; ++p) {
    const double b = best[p];
    if (std::isnan(b) || meets_floor(b) || centre - good(b) <= margin) continue;
    judgement.blamed.push_back(
        {p, b,
         fmt::format("its best group ran {:.4g} against the faster half's {:.4g} (spread {:.0f}%) and the floor {:g}: "
                     "{} in every group with it",
                     b, judgement.baseline, 100 * judgement.spread, floor,
                     higher ? "below a third of the bus bandwidth" : "above three times the time")});
  }
  if (!judgement.blamed.empty()) return judgement;
  if (judgement.below_floor == judgement.judged) {
    judgement.summary = fmt::format(
        "every one of the {} missed the floor alike (typical best {:.4g}, floor {:g}): the shortfall is not one "
        "node or rank",
        judgement.judged, judgement.baseline, floor);
  } else if (judgement.below_floor > 0) {
    judgement.summary =
        fmt::format("{} of {} missed the floor, but within the others' spread (typical best {:.4g}, floor {:g}): "
                    "no one node or rank stands out",
                    judgement.below_floor, judgement.judged, judgement.baseline, floor);
  } else {
    judgement.summary = fmt::format(
        "every group of two met the floor (typical {:.4g}, floor {:g}): the shortfall shows only at the "
        "allocation's size, not in one node or rank",
        judgement.baseline, floor);
  }
  return judgement;
}

std::vector<Pairing> confirmation_rounds(int participants, const IsolationJudgement& suspects) {
  std::vector<bool> blamed(static_cast<std::size_t>(participants), false);
  std::vector<int> accused;
  for (const Blame& b : suspects.blamed) {
    if (b.participant < 0 || b.participant >= participants) continue;
    blamed[static_cast<std::size_t>(b.participant)] = true;
    accused.push_back(b.participant);
  }
  std::vector<int> partners;
  for (int p = 0; p < participants; ++p) {
    const std::size_t i = static_cast<std::size_t>(p);
    if (!blamed[i] && i < suspects.best.size() && !std::isnan(suspects.best[i])) partners.push_back(p);
  }
  // Bandwidths and times alike: the fastest is the one whose best is better.
  std::stable_sort(partners.begin(), partners.end(), [&](int a, int b) {
    const double x = suspects.best[static_cast<std::size_t>(a)], y = suspects.best[static_cast<std::size_t>(b)];
    return suspects.better == Better::higher ? x > y : x < y;
  });
  std::vector<Pairing> rounds;
  if (partners.empty()) return rounds;
  for (std::size_t first = 0; first < accused.size(); first += partners.size()) {
    Pairing group(static_cast<std::size_t>(participants), -1);
    int groups = 0;
    for (std::size_t k = 0; first + k < accused.size() && k < partners.size(); ++k) {
      group[static_cast<std::size_t>(accused[first + k])] = groups;
      group[static_cast<std::size_t>(partners[k])] = groups;
      ++groups;
    }
    for (int& g : group) {
      if (g < 0) g = groups++;  // alone this round
    }
    rounds.push_back(std::move(group));
  }
  return rounds;
}

IsolationJudgement judge_confirmed(int participants, const std::vector<RoundValues>& rounds, double floor,
                                   const IsolationJudgement& suspects) {
  IsolationJudgement judgement = judge_isolation(participants, rounds, suspects.better, floor);
  std::vector<Blame> kept;
  for (Blame& b : judgement.blamed) {
    const bool accused = std::any_of(suspects.blamed.begin(), suspects.blamed.end(),
                                     [&](const Blame& s) { return s.participant == b.participant; });
    if (!accused) continue;
    b.reason += ", again in a retest with a faster partner";
    kept.push_back(std::move(b));
  }
  const std::size_t cleared = suspects.blamed.size() - kept.size();  // kept are suspects
  judgement.blamed = std::move(kept);
  if (judgement.blamed.empty()) {
    judgement.summary = fmt::format(
        "{} first looked slow, but ran at the others' pace (typical {:.4g}) when retested with a faster "
        "partner: no one node or rank stands out",
        cleared == 1 ? "one participant" : fmt::format("{} participants", cleared), judgement.baseline);
  }
  return judgement;
}

}  // namespace cctune::accept
