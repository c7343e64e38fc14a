#pragma once
// The rules one communicator uses, indexed for getCollInfo's hot path: per collective, the size axis
// cut into segments, each listing (in file order, first match wins) the rules that cover it.
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
  int channels = 0;
  int num_pipe_ops = -1, reg_buff = -1;
};

class RuleTable {
 public:
  // The NCCL rules of a profile that apply to this communicator. Throws UsageError when the profile
  // was tuned for another shape.
  static RuleTable from_profile(const Profile& profile, std::size_t nranks, std::size_t nnodes);
  // NVIDIA's example CSV (collective_type,min_bytes,max_bytes,algorithm,protocol,channels,nNodes,nRanks
  // [,numPipeOps[,regBuff]]). Throws UsageError "NAME line N: reason".
  static RuleTable from_csv(const std::string& text, const std::string& name, std::size_t nranks, std::size_t nnodes);

  // The first rule matching, or nullptr. Does not allocate.
  const NcclRule* find(int collective, std::uint64_t bytes, int num_pipe_ops, int reg_buff) const;
  std::size_t size() const { return rules_.size(); }

 private:
  void add(int collective, const NcclRule& rule);
  void index();

  struct Segment {
    std::uint64_t start;   // covers [start, next segment's start)
    std::uint32_t first;   // range in candidates_
    std::uint32_t count;
  };
  std::vector<NcclRule> rules_;
  std::vector<int> collective_of_;
  std::vector<Segment> segments_[11];
  std::vector<std::uint32_t> candidates_;
};

int nccl_collective_index(const std::string& name);  // -1 when NCCL's tuner never sees it
int nccl_algorithm_index(const std::string& name);   // -1 for "any"; -2 unknown
int nccl_protocol_index(const std::string& name);

}  // namespace cctune::tuner
