#pragma once
// The rules one communicator uses, indexed for getCollInfo's hot path. Only what a lookup can return
// is kept: per collective and per (numPipeOps, regBuff) filter the rules carry, the size axis cut into
// segments, each naming the first rule in file order that covers it. Memory and build time grow with
// the number of rules (n log n), never with its square, however the ranges overlap.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tuner/profile.hpp"

namespace cctune::tuner {

struct NcclRule {
  std::uint64_t min_bytes = 0, max_bytes = 0;  // inclusive
  int algorithm = -1;                          // index into NCCL's cost table, -1: any
  int protocol = -1;
  int channels = 0;                            // 0: NCCL's count
  // A profile's channels are a cap (tune measured them as ncclConfig_t.maxCTAs), which the plugin
  // replays as NCCL would lower it (nccl_model::capped_channels); NVIDIA's CSV column is the exact
  // count, handed to NCCL verbatim as NVIDIA's example plugin does.
  bool channels_are_cap = false;
  int num_pipe_ops = -1, reg_buff = -1;
};

class RuleTable {
 public:
  // The NCCL rules of a profile that apply to this communicator. Throws UsageError when the profile
  // was tuned for another shape.
  static RuleTable from_profile(const Profile& profile, std::size_t nranks, std::size_t nnodes);
  // NVIDIA's example CSV (collective_type,min_bytes,max_bytes,algorithm,protocol,channels,nNodes,nRanks
  // [,numPipeOps[,regBuff]]). Throws UsageError "NAME line N: reason"; every number is checked as
  // the number it is ("NAME line 3: channels 4294967300 is out of range: -1 to 64").
  static RuleTable from_csv(const std::string& text, const std::string& name, std::size_t nranks, std::size_t nnodes);

  // The first rule in file order matching, or nullptr. Does not allocate.
  const NcclRule* find(int collective, std::uint64_t bytes, int num_pipe_ops, int reg_buff) const;
  // The rules of the file that apply to this communicator (what the plugin's log line counts).
  std::size_t size() const { return rule_count_; }
  // What the index holds, for the tests' and the benchmark's bounds: segments, and heap bytes in all.
  std::size_t segment_count() const;
  std::size_t memory_bytes() const;

 private:
  struct Pending {
    int collective;
    NcclRule rule;
  };
  static RuleTable build(std::vector<Pending> pending);

  struct Segment {
    std::uint64_t start;  // covers [start, next segment's start)
    std::uint32_t rule;   // into rules_, or kNone
    std::uint32_t order;  // the rule's place in the file: of several lanes' matches the earliest wins
  };
  // Rules of one collective with the same filter (-1: any).
  struct Lane {
    int collective, num_pipe_ops, reg_buff;
    std::vector<Segment> segments;
  };
  static constexpr std::uint32_t kNone = UINT32_MAX;
  static constexpr int kCollectiveSlots = 11;  // ncclFunc_t's values
  static const Segment* segment_in(const Lane& lane, std::uint64_t bytes);
  const Segment* segment_at(int collective, int num_pipe_ops, int reg_buff, std::uint64_t bytes) const;

  std::vector<NcclRule> rules_;  // only rules some segment names
  std::vector<Lane> lanes_;      // sorted by (collective, num_pipe_ops, reg_buff)
  std::array<std::uint32_t, kCollectiveSlots + 1> first_lane_{};  // collective c's lanes: [first_lane_[c], [c + 1])
  std::size_t rule_count_ = 0;
};

}  // namespace cctune::tuner
