#pragma once
// What the plugin must know of how NCCL reads a tuner's outputs: how it scans the cost table, and how
// it sizes a call's channel count. Each rule follows NCCL's source at the tag cited beside it (checked
// against 2.27.7, 2.28.9 and 2.30.7: where they differ it says so). Header-only, allocation- and
// exception-free: the plugin's hot path uses it, and the plugin test checks it directly.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace cctune::tuner::nccl_model {

// NCCL's indices into the cost table (ncclTunerPlugin's float[NCCL_NUM_ALGORITHMS][NCCL_NUM_PROTOCOLS]).
inline constexpr int kTree = 0, kRing = 1, kCollnetDirect = 2, kCollnetChain = 3, kNvls = 4, kNvlsTree = 5, kPat = 6;
inline constexpr int kAlgorithms = 7;
inline constexpr int kLL = 0, kLL128 = 1, kSimple = 2;
inline constexpr int kProtocols = 3;

// NCCL 2.27.7 and 2.28.9 src/enqueue.cc topoGetAlgoInfo start their scan at 3600000000 (a float) and
// skip -1 (NCCL_ALGO_PROTO_IGNORE) and anything not `>= 0`; 2.30.7 starts at FLT_MAX. A cost NCCL can
// pick under every one of them: also false for NaN.
inline constexpr float kScanStart = 3600000000.0f;
constexpr bool pickable(float cost) { return cost >= 0.0f && cost < kScanStart; }

struct Pick {
  int algorithm = -1, protocol = -1;
  bool valid() const { return algorithm >= 0; }
};

// The entry NCCL runs: the cheapest pickable one, algorithm-major, and of equal costs the first (its
// comparison is a strict `<`; same scan in 2.27.7, 2.28.9, 2.30.7).
inline Pick pick(const float* table, int num_algo, int num_proto) {
  Pick best;
  float lowest = kScanStart;
  for (int a = 0; a < num_algo; ++a) {
    for (int p = 0; p < num_proto; ++p) {
      const float cost = table[a * num_proto + p];
      if (pickable(cost) && cost < lowest) {
        best = {a, p};
        lowest = cost;
      }
    }
  }
  return best;
}

// Makes NCCL's scan land on an entry the rule allows (algorithm and protocol: -1 any), and among those
// on the one NCCL itself would run: the allowed entries keep their costs (and NCCL's estimate of the
// time, which ncclGroupSimulateEnd reports), and every pickable entry outside the rule that is not
// already dearer than all of them is raised above them. Zeroing the allowed entries instead would tie
// them and NCCL would take the first by position (Ring+LL at 1 GiB for "ring, any protocol"). A -1 or
// other unpickable entry is never touched, so nothing NCCL disabled is enabled. Returns false, having
// changed nothing, when no allowed entry is pickable: NCCL's own choice stands.
inline bool prefer_allowed(float* table, int num_algo, int num_proto, int algorithm, int protocol) {
  auto allowed = [&](int a, int p) { return (algorithm < 0 || a == algorithm) && (protocol < 0 || p == protocol); };
  bool any = false;
  float dearest = 0.0f;
  for (int a = 0; a < num_algo; ++a) {
    for (int p = 0; p < num_proto; ++p) {
      const float cost = table[a * num_proto + p];
      if (allowed(a, p) && pickable(cost)) {
        dearest = any && dearest > cost ? dearest : cost;
        any = true;
      }
    }
  }
  if (!any) return false;
  // Strictly above `dearest` for every finite non-negative float; if it passes kScanStart the entry
  // simply drops out of NCCL's scan, which still has an allowed entry to land on.
  const float raised = dearest * 2.0f + 1.0f;
  for (int a = 0; a < num_algo; ++a) {
    for (int p = 0; p < num_proto; ++p) {
      float& cost = table[a * num_proto + p];
      if (!allowed(a, p) && pickable(cost) && cost <= dearest) cost = raised;
    }
  }
  return true;
}

// The per-communicator numbers NCCL's channel sizing reads: comm->maxThreads and comm->threadThresholds,
// as NCCL 2.28.9 src/graph/tuning.cc ncclTopoTuneModel sets them (identical in 2.27.7 and 2.30.7).
struct ThreadModel {
  int threads[kAlgorithms][kProtocols] = {};
  long long thresholds[kAlgorithms][kProtocols] = {};  // ssize_t in NCCL
};

namespace detail {
// NCCL's integer parameter (src/misc/param.cc ncclLoadParam): strtoll base 0, an unset, empty or
// out-of-range value is the default (-2 for the thread counts).
inline long long nccl_param(const char* value, long long fallback) {
  if (!value || !*value) return fallback;
  errno = 0;
  const long long parsed = std::strtoll(value, nullptr, 0);
  return errno ? fallback : parsed;
}
// tuning.cc getNthreads: a positive value that is not a multiple of a warp, or above the maximum, is
// the maximum; below the minimum, the minimum; zero or negative, the default.
constexpr int nccl_threads(int env, int min, int max, int fallback) {
  if (env <= 0) return fallback;
  if (env % 32 != 0 || env > max) return max;
  return env < min ? min : env;
}
}  // namespace detail

// Reads the environment NCCL reads (the values NCCL sees; NCCL also exports ~/.nccl.conf and
// /etc/nccl.conf entries into it at its own init, before any tuner's). nthreads: NCCL_NTHREADS,
// ll128_nthreads: NCCL_LL128_NTHREADS, thresholds: NCCL_THREAD_THRESHOLDS (Tree LL LL128 Simple, then
// Ring LL LL128 Simple; a negative value keeps the default).
inline ThreadModel thread_model(std::size_t nranks, const char* nthreads, const char* ll128_nthreads,
                                const char* thresholds) {
  ThreadModel m;
  // getNthreads takes an int: NCCL's int64 parameter converts as it does here.
  const int simple_env = static_cast<int>(detail::nccl_param(nthreads, -2));
  const int ll128_env = static_cast<int>(detail::nccl_param(ll128_nthreads, -2));
  // NCCL's Ring+Simple default is 256 where the ring's intra-node bandwidth times its channels is at
  // most PCI_BW (12 GB/s, PCIe Gen3 x16), else NCCL_SIMPLE_MAX_NTHREADS. The plugin cannot see the
  // graph; it assumes the NVLink case cctune tunes for (on a PCIe-only node only the size at which a
  // cap starts to bind is off, by a factor of 2: see capped_channels).
  m.threads[kRing][kSimple] = detail::nccl_threads(simple_env, 64, 512, 512);
  m.threads[kTree][kSimple] = detail::nccl_threads(simple_env, 64, 512, 512);
  m.threads[kCollnetDirect][kSimple] = m.threads[kCollnetChain][kSimple] = m.threads[kNvls][kSimple] =
      m.threads[kNvlsTree][kSimple] = 640;  // NCCL_MAX_NTHREADS
  m.threads[kRing][kLL] = m.threads[kTree][kLL] = detail::nccl_threads(simple_env, 64, 512, 512);
  m.threads[kRing][kLL128] = m.threads[kTree][kLL128] = detail::nccl_threads(ll128_env, 160, 640, 640);
  // PAT's are never set: 0, so NCCL never lowers its channels by size.
  if (nranks <= 1) return m;  // ncclTopoTuneModel returns before the thresholds: all 0
  for (auto& row : m.thresholds) {
    row[kLL] = 8;       // NCCL_LL_THREAD_THRESHOLD
    row[kLL128] = 8;    // NCCL_LL128_THREAD_THRESHOLD
    row[kSimple] = 64;  // NCCL_SIMPLE_THREAD_THRESHOLD
  }
  m.thresholds[kRing][kLL] *= static_cast<long long>(nranks);  // only Ring+LL scales with the ranks
  m.thresholds[kCollnetDirect][kSimple] = m.thresholds[kCollnetChain][kSimple] = 512;
  if (thresholds) {
    long t[2][kProtocols] = {{-2, -2, -2}, {-2, -2, -2}};
    // NCCL's own parse (sscanf "%ld" x6), so that a partial or odd string means what NCCL makes of it.
    std::sscanf(thresholds, "%ld %ld %ld %ld %ld %ld", &t[0][0], &t[0][1], &t[0][2], &t[1][0], &t[1][1], &t[1][2]);
    for (int a = 0; a < 2; ++a) {  // Tree, then Ring, replacing (not scaling) the defaults
      for (int p = 0; p < kProtocols; ++p) {
        if (t[a][p] >= 0) m.thresholds[a][p] = t[a][p];
      }
    }
  }
  return m;
}

// NCCL 2.28.9 src/enqueue.cc topoGetAlgoInfo, its Ring/Tree branch (every algorithm but CollNet
// Direct, NVLS and NVLS Tree): from `start` channels, one fewer while the call has less than
// threads * threshold bytes per channel, never below 1. That is the largest count whose share is at
// least threads * threshold, as NCCL's one-at-a-time loop finds it. The threshold is an int there.
constexpr int lowered_channels(std::uint64_t bytes, int start, int threads, long long threshold) {
  const long long per_channel = static_cast<long long>(threads) * static_cast<int>(threshold);
  if (start <= 1 || per_channel == 0) return start;  // PAT (no threads set), one rank (no thresholds)
  if (per_channel < 0) return 1;  // a threshold past INT_MAX wraps negative: NCCL's unsigned compare lowers to 1
  const std::uint64_t fits = bytes / static_cast<std::uint64_t>(per_channel);
  if (fits >= static_cast<std::uint64_t>(start)) return start;
  return fits < 1 ? 1 : static_cast<int>(fits);
}

// What to hand NCCL as nChannels for a profile's channel cap, a cap tune measured as
// ncclConfig_t.maxCTAs, when NCCL runs `chosen` (the plugin knows it: pick() of the table as the plugin
// leaves it). NCCL uses a tuner's nChannels verbatim, after its own sizing (NCCL 2.28.9 src/enqueue.cc
// getAlgoInfo: `nMaxChannels == 0 ? info->nMaxChannels : nMaxChannels`), so a cap exported as a
// count gives small calls more channels than the capped communicator ran. 0 leaves NCCL's count.
// - Ring, Tree, PAT: a capped communicator has min(cap, its count) channels (src/graph/connect.cc)
//   and lowers from there by size (lowered_channels). Where that lowering goes below the cap, NCCL's
//   own count, lowered the same way from the uncapped count, is that same number: return 0, so that
//   NCCL's own threads and thresholds decide it exactly. Otherwise return the cap, which NCCL's
//   scheduler clamps to the communicator's count (scheduleCollTasksToPlan: nMaxChannels[kind]).
// - NVLS on one node, NVLS Tree: NCCL does not lower by size; it runs comm->nvlsChannels, which
//   maxCTAs caps (src/transport/nvls.cc), and the scheduler clamps a tuner's count to it: the cap.
// - CollNet Direct, CollNet Chain and NVLS across nodes: the scheduler's CollNet path uses the count
//   unclamped (`int nChannels = task->nMaxChannels`), so a count above the communicator's own, which
//   the plugin cannot know, would name channels it has not set up; CollNet Direct also lowers by its
//   number of heads, which the plugin cannot see: 0, the cap is not replayed there.
inline int capped_channels(int cap, std::uint64_t bytes, Pick chosen, const ThreadModel& model, std::size_t nnodes) {
  if (cap <= 0 || chosen.algorithm < 0 || chosen.algorithm >= kAlgorithms || chosen.protocol < 0 ||
      chosen.protocol >= kProtocols) {
    return 0;
  }
  switch (chosen.algorithm) {
    case kCollnetDirect:
    case kCollnetChain:
      return 0;
    case kNvls:
      return nnodes > 1 ? 0 : cap;
    case kNvlsTree:
      return cap;
    default:
      break;
  }
  const int lowered = lowered_channels(bytes, cap, model.threads[chosen.algorithm][chosen.protocol],
                                       model.thresholds[chosen.algorithm][chosen.protocol]);
  return lowered < cap ? 0 : cap;
}

}  // namespace cctune::tuner::nccl_model
