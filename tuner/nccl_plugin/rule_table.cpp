#include "tuner/nccl_plugin/rule_table.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "collectives/error.hpp"

namespace cctune::tuner {

int nccl_collective_index(const std::string& name) {
  static const char* const kNames[] = {"broadcast", "reduce", "allgather", "reducescatter", "allreduce"};
  for (int i = 0; i < 5; ++i) {
    if (name == kNames[i]) return i;
  }
  return -1;  // alltoall is split into send/recv by NCCL and never reaches a tuner
}

int nccl_algorithm_index(const std::string& name) {
  static const char* const kNames[] = {"tree", "ring", "collnet_direct", "collnet_chain", "nvls", "nvls_tree", "pat"};
  if (name == "any" || name == "-1") return -1;
  for (int i = 0; i < 7; ++i) {
    if (name == kNames[i]) return i;
  }
  return -2;
}

int nccl_protocol_index(const std::string& name) {
  static const char* const kNames[] = {"ll", "ll128", "simple"};
  if (name == "any" || name == "-1") return -1;
  for (int i = 0; i < 3; ++i) {
    if (name == kNames[i]) return i;
  }
  return -2;
}

void RuleTable::add(int collective, const NcclRule& rule) {
  rules_.push_back(rule);
  collective_of_.push_back(collective);
}

RuleTable RuleTable::from_profile(const Profile& profile, std::size_t nranks, std::size_t nnodes) {
  if (static_cast<std::size_t>(profile.shape.nranks) != nranks || static_cast<std::size_t>(profile.shape.nnodes) != nnodes) {
    CCTUNE_USAGE_ERROR("profile tuned for " + std::to_string(profile.shape.nranks) + " ranks on " +
                       std::to_string(profile.shape.nnodes) + " nodes, this communicator has " +
                       std::to_string(nranks) + " ranks on " + std::to_string(nnodes));
  }
  RuleTable table;
  for (const Rule& rule : profile.rules) {
    const int collective = nccl_collective_index(rule.collective);
    if (rule.backend != "nccl" || collective < 0) continue;
    if ((rule.nranks >= 0 && static_cast<std::size_t>(rule.nranks) != nranks) ||
        (rule.nnodes >= 0 && static_cast<std::size_t>(rule.nnodes) != nnodes)) {
      continue;
    }
    table.add(collective, {rule.min_bytes, rule.max_bytes, nccl_algorithm_index(rule.choice.algorithm),
                           nccl_protocol_index(rule.choice.protocol), rule.choice.channels, rule.num_pipe_ops,
                           rule.reg_buff});
  }
  table.index();
  return table;
}

RuleTable RuleTable::from_csv(const std::string& text, const std::string& name, std::size_t nranks, std::size_t nnodes) {
  RuleTable table;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    line = line.substr(0, line.find('#'));
    std::vector<std::string> fields;
    std::string field;
    std::istringstream cells(line);
    while (std::getline(cells, field, ',')) {
      field.erase(std::remove_if(field.begin(), field.end(), [](unsigned char c) { return std::isspace(c); }), field.end());
      std::transform(field.begin(), field.end(), field.begin(), [](unsigned char c) { return std::tolower(c); });
      fields.push_back(field);
    }
    if (fields.empty() || (fields.size() == 1 && fields[0].empty())) continue;
    const std::string where = name + " line " + std::to_string(number) + ": ";
    if (fields.size() < 8 || fields.size() > 10) CCTUNE_USAGE_ERROR(where + "expected 8 to 10 comma-separated fields");
    auto integer = [&](const std::string& value) -> long long {
      std::size_t used = 0;
      long long parsed = 0;
      try {
        parsed = std::stoll(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != value.size()) CCTUNE_USAGE_ERROR(where + "'" + value + "' is not a number");
      return parsed;
    };
    const int collective = nccl_collective_index(fields[0]);
    if (collective < 0) CCTUNE_USAGE_ERROR(where + "unknown collective '" + fields[0] + "'");
    NcclRule rule;
    const long long min_bytes = integer(fields[1]), max_bytes = integer(fields[2]);
    rule.min_bytes = min_bytes < 0 ? 0 : static_cast<std::uint64_t>(min_bytes);
    rule.max_bytes = max_bytes < 0 ? UINT64_MAX : static_cast<std::uint64_t>(max_bytes);
    rule.algorithm = nccl_algorithm_index(fields[3]);
    rule.protocol = nccl_protocol_index(fields[4]);
    if (rule.algorithm == -2) CCTUNE_USAGE_ERROR(where + "unknown algorithm '" + fields[3] + "'");
    if (rule.protocol == -2) CCTUNE_USAGE_ERROR(where + "unknown protocol '" + fields[4] + "'");
    // -1 means "leave NCCL's channel count": never write 1 or any other default when unset.
    rule.channels = static_cast<int>(std::max(0LL, integer(fields[5])));
    const long long rule_nodes = integer(fields[6]), rule_ranks = integer(fields[7]);
    rule.num_pipe_ops = fields.size() > 8 ? static_cast<int>(integer(fields[8])) : -1;
    rule.reg_buff = fields.size() > 9 ? static_cast<int>(integer(fields[9])) : -1;
    if ((rule_nodes >= 0 && static_cast<std::size_t>(rule_nodes) != nnodes) ||
        (rule_ranks >= 0 && static_cast<std::size_t>(rule_ranks) != nranks)) {
      continue;
    }
    table.add(collective, rule);
  }
  table.index();
  return table;
}

void RuleTable::index() {
  for (int collective = 0; collective < 11; ++collective) {
    std::vector<std::uint64_t> cuts;
    for (std::size_t i = 0; i < rules_.size(); ++i) {
      if (collective_of_[i] != collective) continue;
      cuts.push_back(rules_[i].min_bytes);
      if (rules_[i].max_bytes != UINT64_MAX) cuts.push_back(rules_[i].max_bytes + 1);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    for (std::uint64_t start : cuts) {
      Segment segment{start, static_cast<std::uint32_t>(candidates_.size()), 0};
      for (std::size_t i = 0; i < rules_.size(); ++i) {
        if (collective_of_[i] == collective && rules_[i].min_bytes <= start && start <= rules_[i].max_bytes) {
          candidates_.push_back(static_cast<std::uint32_t>(i));
          ++segment.count;
        }
      }
      segments_[collective].push_back(segment);
    }
  }
}

const NcclRule* RuleTable::find(int collective, std::uint64_t bytes, int num_pipe_ops, int reg_buff) const {
  if (collective < 0 || collective >= 11) return nullptr;
  const auto& segments = segments_[collective];
  auto after = std::upper_bound(segments.begin(), segments.end(), bytes,
                                [](std::uint64_t value, const Segment& s) { return value < s.start; });
  if (after == segments.begin()) return nullptr;
  const Segment& segment = *(after - 1);
  for (std::uint32_t k = 0; k < segment.count; ++k) {
    const NcclRule& rule = rules_[candidates_[segment.first + k]];
    if ((rule.num_pipe_ops < 0 || rule.num_pipe_ops == num_pipe_ops) && (rule.reg_buff < 0 || rule.reg_buff == reg_buff)) {
      return &rule;
    }
  }
  return nullptr;
}

}  // namespace cctune::tuner
