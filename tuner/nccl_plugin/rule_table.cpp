#include "tuner/nccl_plugin/rule_table.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <queue>
#include <sstream>
#include <tuple>

#include "collectives/error.hpp"

namespace cctune::tuner {
namespace {

// A CSV cell as the whole number it is, in [low, high]: "4294967300" for an int column is refused,
// never wrapped to 4, and "12abc" or "1e3" are not numbers.
std::int64_t csv_integer(const std::string& where, const char* column, const std::string& value, std::int64_t low,
                         std::int64_t high) {
  std::int64_t parsed = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  const bool whole = !value.empty() && error != std::errc::invalid_argument && end == value.data() + value.size();
  if (!whole) CCTUNE_USAGE_ERROR(where + column + " '" + value + "' is not a whole number");
  if (error == std::errc::result_out_of_range || parsed < low || parsed > high) {
    CCTUNE_USAGE_ERROR(where + column + " " + value + " is out of range: " + std::to_string(low) + " to " +
                       std::to_string(high));
  }
  return parsed;
}

// min_bytes and max_bytes: -1 (any) or a size up to 2^64-1.
std::uint64_t csv_bytes(const std::string& where, const char* column, const std::string& value, std::uint64_t any) {
  if (value == "-1") return any;
  std::uint64_t parsed = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  const bool whole = !value.empty() && value.front() != '-' && error != std::errc::invalid_argument &&
                     end == value.data() + value.size();
  if (!whole) CCTUNE_USAGE_ERROR(where + column + " '" + value + "' is not a whole number");
  if (error == std::errc::result_out_of_range) {
    CCTUNE_USAGE_ERROR(where + column + " " + value + " is out of range: -1 (any) or 0 to " + std::to_string(UINT64_MAX));
  }
  return parsed;
}

}  // namespace

RuleTable RuleTable::from_profile(const Profile& profile, std::size_t nranks, std::size_t nnodes) {
  // Counts beyond int are no shape a profile can name (its reader caps them there).
  const int ranks = nranks > INT_MAX ? -2 : static_cast<int>(nranks), nodes = nnodes > INT_MAX ? -2 : static_cast<int>(nnodes);
  const bool measured_shape = profile.shape.nranks == ranks && profile.shape.nnodes == nodes;
  // Another shape is served only by rules made for it: `cctune plan --add-to` writes predicted ones.
  if (!measured_shape && !has_rules_for(profile, "nccl", ranks, nodes)) {
    CCTUNE_USAGE_ERROR("profile tuned for " + std::to_string(profile.shape.nranks) + " ranks on " +
                       std::to_string(profile.shape.nnodes) + " nodes, with no rule predicted for this communicator's " +
                       std::to_string(nranks) + " ranks on " + std::to_string(nnodes));
  }
  std::vector<Pending> pending;
  for (const Rule& rule : profile.rules) {
    const int collective = nccl_collective_index(rule.collective);
    if (rule.backend != "nccl" || collective < 0) continue;
    if (!applies_to(profile, rule, ranks, nodes)) continue;
    pending.push_back({collective,
                       {rule.min_bytes, rule.max_bytes, nccl_algorithm_index(rule.choice.algorithm),
                        nccl_protocol_index(rule.choice.protocol), rule.choice.channels, true, rule.num_pipe_ops,
                        rule.reg_buff}});
  }
  return build(std::move(pending));
}

RuleTable RuleTable::from_csv(const std::string& text, const std::string& name, std::size_t nranks, std::size_t nnodes) {
  std::vector<Pending> pending;
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
    const int collective = nccl_collective_index(fields[0]);
    if (collective < 0) CCTUNE_USAGE_ERROR(where + "unknown collective '" + fields[0] + "'");
    NcclRule rule;
    rule.min_bytes = csv_bytes(where, "min_bytes", fields[1], 0);
    rule.max_bytes = csv_bytes(where, "max_bytes", fields[2], UINT64_MAX);
    if (rule.min_bytes > rule.max_bytes) CCTUNE_USAGE_ERROR(where + "min_bytes is larger than max_bytes");
    rule.algorithm = nccl_algorithm_index(fields[3]);
    rule.protocol = nccl_protocol_index(fields[4]);
    if (rule.algorithm == -2) CCTUNE_USAGE_ERROR(where + "unknown algorithm '" + fields[3] + "'");
    if (rule.protocol == -2) CCTUNE_USAGE_ERROR(where + "unknown protocol '" + fields[4] + "'");
    // -1 means "leave NCCL's channel count": never write 1 or any other default when unset.
    const std::int64_t channels = csv_integer(where, "channels", fields[5], -1, kMaxNcclChannels);
    rule.channels = static_cast<int>(std::max<std::int64_t>(0, channels));
    const std::int64_t rule_nodes = csv_integer(where, "nNodes", fields[6], -1, INT_MAX);
    const std::int64_t rule_ranks = csv_integer(where, "nRanks", fields[7], -1, INT_MAX);
    rule.num_pipe_ops =
        fields.size() > 8 ? static_cast<int>(csv_integer(where, "numPipeOps", fields[8], -1, INT_MAX)) : -1;
    rule.reg_buff = fields.size() > 9 ? static_cast<int>(csv_integer(where, "regBuff", fields[9], -1, 1)) : -1;
    if ((rule_nodes >= 0 && static_cast<std::size_t>(rule_nodes) != nnodes) ||
        (rule_ranks >= 0 && static_cast<std::size_t>(rule_ranks) != nranks)) {
      continue;
    }
    pending.push_back({collective, rule});
  }
  return build(std::move(pending));
}

RuleTable RuleTable::build(std::vector<Pending> pending) {
  RuleTable table;
  table.rule_count_ = pending.size();
  if (pending.size() >= kNone) CCTUNE_USAGE_ERROR("more than " + std::to_string(kNone - 1) + " rules");
  // Lanes: the rules of one collective with one (numPipeOps, regBuff) filter, each in file order.
  auto key = [](const Pending& p) {
    return std::make_tuple(p.collective, std::max(p.rule.num_pipe_ops, -1), std::max(p.rule.reg_buff, -1));
  };
  std::vector<std::uint32_t> order(pending.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return key(pending[a]) < key(pending[b]); });
  std::vector<std::uint32_t> kept(pending.size(), kNone);  // file order -> rules_
  for (std::size_t begin = 0; begin < order.size();) {
    std::size_t end = begin;
    while (end < order.size() && key(pending[order[end]]) == key(pending[order[begin]])) ++end;
    const auto [collective, num_pipe_ops, reg_buff] = key(pending[order[begin]]);
    Lane lane{collective, num_pipe_ops, reg_buff, {}};
    // Sweep the size axis: at each cut, the earliest rule (in file order) among those covering it.
    std::vector<std::uint32_t> by_min(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                      order.begin() + static_cast<std::ptrdiff_t>(end));
    std::sort(by_min.begin(), by_min.end(),
              [&](std::uint32_t a, std::uint32_t b) { return pending[a].rule.min_bytes < pending[b].rule.min_bytes; });
    std::vector<std::uint64_t> cuts;
    cuts.reserve(2 * by_min.size());
    for (std::uint32_t i : by_min) {
      cuts.push_back(pending[i].rule.min_bytes);
      if (pending[i].rule.max_bytes != UINT64_MAX) cuts.push_back(pending[i].rule.max_bytes + 1);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    std::priority_queue<std::uint32_t, std::vector<std::uint32_t>, std::greater<>> active;  // earliest on top
    std::size_t next = 0;
    for (std::uint64_t cut : cuts) {
      while (next < by_min.size() && pending[by_min[next]].rule.min_bytes <= cut) active.push(by_min[next++]);
      while (!active.empty() && pending[active.top()].rule.max_bytes < cut) active.pop();  // ended before
      const std::uint32_t winner = active.empty() ? kNone : active.top();
      const std::uint32_t previous = lane.segments.empty() ? kNone : lane.segments.back().order;
      if (winner == previous) continue;  // the same rule goes on: one segment
      if (winner == kNone) {
        lane.segments.push_back({cut, kNone, kNone});
        continue;
      }
      if (kept[winner] == kNone) {
        kept[winner] = static_cast<std::uint32_t>(table.rules_.size());
        table.rules_.push_back(pending[winner].rule);
      }
      lane.segments.push_back({cut, kept[winner], winner});
    }
    lane.segments.shrink_to_fit();
    table.lanes_.push_back(std::move(lane));
    begin = end;
  }
  table.rules_.shrink_to_fit();
  table.lanes_.shrink_to_fit();
  std::uint32_t lane = 0;
  for (int collective = 0; collective <= kCollectiveSlots; ++collective) {
    while (lane < table.lanes_.size() && table.lanes_[lane].collective < collective) ++lane;
    table.first_lane_[static_cast<std::size_t>(collective)] = lane;
  }
  return table;
}

std::size_t RuleTable::segment_count() const {
  std::size_t count = 0;
  for (const Lane& lane : lanes_) count += lane.segments.size();
  return count;
}

std::size_t RuleTable::memory_bytes() const {
  std::size_t bytes = rules_.capacity() * sizeof(NcclRule) + lanes_.capacity() * sizeof(Lane);
  for (const Lane& lane : lanes_) bytes += lane.segments.capacity() * sizeof(Segment);
  return bytes;
}

const RuleTable::Segment* RuleTable::segment_in(const Lane& lane, std::uint64_t bytes) {
  const auto after = std::upper_bound(lane.segments.begin(), lane.segments.end(), bytes,
                                      [](std::uint64_t value, const Segment& s) { return value < s.start; });
  if (after == lane.segments.begin() || (after - 1)->rule == kNone) return nullptr;
  return &*(after - 1);
}

const RuleTable::Segment* RuleTable::segment_at(int collective, int num_pipe_ops, int reg_buff,
                                                std::uint64_t bytes) const {
  const auto begin = lanes_.begin() + first_lane_[static_cast<std::size_t>(collective)];
  const auto end = lanes_.begin() + first_lane_[static_cast<std::size_t>(collective) + 1];
  const auto wanted = std::make_pair(num_pipe_ops, reg_buff);
  const auto lane = std::lower_bound(begin, end, wanted, [](const Lane& l, const std::pair<int, int>& k) {
    return std::make_pair(l.num_pipe_ops, l.reg_buff) < k;
  });
  if (lane == end || lane->num_pipe_ops != num_pipe_ops || lane->reg_buff != reg_buff) return nullptr;
  return segment_in(*lane, bytes);
}

const NcclRule* RuleTable::find(int collective, std::uint64_t bytes, int num_pipe_ops, int reg_buff) const {
  if (collective < 0 || collective >= kCollectiveSlots) return nullptr;
  const std::uint32_t first = first_lane_[static_cast<std::size_t>(collective)];
  const std::uint32_t lanes = first_lane_[static_cast<std::size_t>(collective) + 1] - first;
  if (lanes == 0) return nullptr;
  if (lanes == 1 && lanes_[first].num_pipe_ops == -1 && lanes_[first].reg_buff == -1) {
    // The common case, and the hot path: no rule of this collective filters on anything.
    const Segment* found = segment_in(lanes_[first], bytes);
    return found ? &rules_[found->rule] : nullptr;
  }
  // A rule's filter is either "any" (-1) or one value; a call matches the lanes of its own values and
  // of "any" (a call with a negative value, "any" only). Of their segments' rules the earliest in the
  // file wins, as in a scan of the file.
  int pipes[2], registered[2], npipes = 0, nregistered = 0;
  if (num_pipe_ops >= 0) pipes[npipes++] = num_pipe_ops;
  pipes[npipes++] = -1;
  if (reg_buff >= 0) registered[nregistered++] = reg_buff;
  registered[nregistered++] = -1;
  const Segment* best = nullptr;
  for (int p = 0; p < npipes; ++p) {
    for (int r = 0; r < nregistered; ++r) {
      const Segment* found = segment_at(collective, pipes[p], registered[r], bytes);
      if (found && (!best || found->order < best->order)) best = found;
    }
  }
  return best ? &rules_[best->rule] : nullptr;
}

}  // namespace cctune::tuner
