#pragma once
// Naming the slow node or rank once a whole-allocation check missed its floor: which participants
// (nodes, or the ranks of a single node) measure together in each round, and, from what each group
// measured, whom to blame. Pure functions: the MPI side is in acceptance.cpp, and the unit tests feed
// synthetic values.
#include <string>
#include <vector>

namespace cctune::accept {

// Each round: the group of every participant (0..groups-1). A participant without a partner that
// round is a group of one: it still runs the check (so that every rank makes the same calls, which
// the watchdog counts), but a group of one measures no link and is not judged.
using Pairing = std::vector<int>;
std::vector<Pairing> isolation_rounds(int participants);

enum class Better { higher, lower };  // bus bandwidth, or time

struct GroupValue {
  std::vector<int> members;
  double value = 0;  // NaN: not measured
};
using RoundValues = std::vector<GroupValue>;

struct Blame {
  int participant = 0;
  double best = 0;     // the best value of any group it was in, in the check's unit
  std::string reason;  // one line for people
};

struct IsolationJudgement {
  std::vector<Blame> blamed;  // in participant order
  double baseline = 0;        // the faster half's median best, in the check's unit
  double spread = 0;          // their median absolute deviation, as a fraction (0.1: 10%)
  int below_floor = 0;        // participants whose every group missed the floor
  int judged = 0;             // participants in at least one measured group of two or more
  Better better = Better::higher;  // of the values below
  std::vector<double> best;   // each participant's best group value, NaN where none was measured
  std::string summary;        // when nobody is blamed: why, one line
};

// The slowdown a participant must show, against the baseline, before it is blamed: groups running
// side by side on a shared machine differ by tens of percent (a 0.7x rule named an innocent rank on
// this project's VM, and healthy pairs there ranged over 2.1x under load, which a 2x rule named); a
// broken node or rank is slower by far more (a link at a tenth of its rate: 10x).
inline constexpr double kSlowFactor = 3.0;
// ... and beyond this many scaled MADs (1.4826 MAD estimates one standard deviation) of the faster
// half's bests, on a log scale.
inline constexpr double kSpreads = 3.0;

IsolationJudgement judge_isolation(int participants, const std::vector<RoundValues>& rounds, Better better,
                                   double floor);

// Before anyone is named, a retest: each participant judge_isolation() blamed is paired with one it
// did not blame, the fastest first, while the others run alone. On a shared machine two stalls can
// slow both of a healthy participant's pairs (CI saw rank 0 of 4 named beside the slowed rank 2);
// a broken one is slow with any partner. As many rounds as it takes to give every suspect a partner
// of its own: one, while at most half are blamed.
std::vector<Pairing> confirmation_rounds(int participants, const IsolationJudgement& suspects);

// The judgement with the confirmation rounds' values added: only a participant blamed both before and
// after them is named (more rounds only raise the bests, and so the baseline; a participant that
// first passed is not named by the retest of others).
IsolationJudgement judge_confirmed(int participants, const std::vector<RoundValues>& rounds, double floor,
                                   const IsolationJudgement& suspects);

}  // namespace cctune::accept
