#include "accept/spec.hpp"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "bench/size_plan.hpp"
#include "collectives/error.hpp"
#include "collectives/files.hpp"

namespace cctune::accept {
namespace {

// Real specs are a few hundred YAML nodes; this bounds the time any walk of a hostile one takes.
constexpr std::size_t kMaxSpecNodes = 100000;

// A number and its unit, "400Gb/s" or "400 Gb/s". The unit is looked up in `units` (factor to the
// result's unit); a bare number is refused, since "400" could mean bits or bytes.
double with_unit(const std::string& text, const std::map<std::string, double>& units, const char* what) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    throw std::invalid_argument(fmt::format("'{}' is not a {}", text, what));
  }
  std::string unit = text.substr(used);
  unit.erase(0, unit.find_first_not_of(' '));
  std::string known;
  for (const auto& [name, factor] : units) known += (known.empty() ? "" : ", ") + name;
  if (unit.empty()) throw std::invalid_argument(fmt::format("'{}' needs a unit ({})", text, known));
  const auto it = units.find(unit);
  if (it == units.end()) throw std::invalid_argument(fmt::format("'{}': unknown unit '{}' ({})", text, unit, known));
  if (!(value > 0) || !std::isfinite(value)) throw std::invalid_argument(fmt::format("'{}' must be above 0", text));
  return value * it->second;
}

class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& key, const std::string& reason) const {
    CCTUNE_USAGE_ERROR(fmt::format("{}:{}: {}: {}", name_, node.Mark().line + 1, key, reason));
  }

  // Refuses keys the spec does not define: a typo must not silently drop a check.
  void only(const YAML::Node& map, const std::string& where, std::initializer_list<const char*> allowed) const {
    if (!map.IsMap()) fail(map, where, "expected a mapping of keys");
    const std::set<std::string> known(allowed.begin(), allowed.end());
    for (const auto& entry : map) {
      const std::string key = entry.first.as<std::string>();
      if (!known.count(key)) {
        std::string list;
        for (const char* k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
        fail(entry.first, where.empty() ? key : where + "." + key, "unknown key (known here: " + list + ")");
      }
    }
  }

  template <typename T>
  T scalar(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) fail(node, key, "expected a single value");
    try {
      return node.as<T>();
    } catch (const YAML::Exception&) {
      fail(node, key, "'" + node.Scalar() + "' is not " + (std::is_same_v<T, int> ? "a whole number" : "a value of the right kind"));
    }
  }

  // A whole number read as the number it is: "1e3", "2.7", "0x10" and values past `maximum` are refused
  // with the range rather than wrapped, rounded or taken as another base.
  int count(const YAML::Node& node, const std::string& key, int minimum, int maximum) const {
    if (!node.IsScalar()) fail(node, key, "expected a single value");
    const std::string& text = node.Scalar();
    long long value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && end == text.data() + text.size() &&
                                                 value > maximum)) {
      fail(node, key, fmt::format("{} is out of range ({} to {})", text, minimum, maximum));
    }
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      fail(node, key, fmt::format("'{}' is not a whole number ({} to {})", text, minimum, maximum));
    }
    if (value < minimum) fail(node, key, fmt::format("{} is impossible (at least {})", value, minimum));
    return static_cast<int>(value);
  }

  // yaml-cpp keeps the first of two equal keys and drops the other without a word; a spec that says
  // a thing twice is a mistake whichever it meant. Iterative: a hostile spec cannot nest us deep. The
  // tree has no aliases (no_aliases ran first), so each node is visited once; the cap bounds the rest.
  void no_duplicate_keys(const YAML::Node& root) const {
    std::vector<std::pair<YAML::Node, std::string>> pending{{root, ""}};
    std::size_t visited = 0;
    while (!pending.empty()) {
      const auto [node, where] = pending.back();
      pending.pop_back();
      if (++visited > kMaxSpecNodes) {
        CCTUNE_USAGE_ERROR(fmt::format("{}: spec too complex (more than {} YAML nodes; real specs have a few hundred)",
                                       name_, kMaxSpecNodes));
      }
      if (node.IsMap()) {
        std::map<std::string, int> seen;
        for (const auto& entry : node) {
          const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : std::string("(not a name)");
          const std::string path = where.empty() ? key : where + "." + key;
          const auto [at, fresh] = seen.emplace(key, entry.first.Mark().line + 1);
          if (!fresh) fail(entry.first, path, fmt::format("duplicate key (first given at line {})", at->second));
          pending.emplace_back(entry.second, path);
        }
      } else if (node.IsSequence()) {
        for (std::size_t i = 0; i < node.size(); ++i) pending.emplace_back(node[i], fmt::format("{}[{}]", where, i));
      }
    }
  }

  // An alias is its anchored node reached once more: ten levels of `&aN [*aN-1, ... x10]` in 500 bytes
  // are 1e10 nodes to anything that walks the tree (a "billion laughs"). yaml-cpp itself shares the
  // node and parses in linear time, but a spec has no use for aliases, so they are refused outright,
  // from yaml-cpp's own parse events, before anything walks the tree.
  void no_aliases(const std::string& text) const {
    class Aliases final : public YAML::EventHandler {
     public:
      std::optional<YAML::Mark> first;
      void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
        if (!first) first = mark;
      }
      void OnDocumentStart(const YAML::Mark&) override {}
      void OnDocumentEnd() override {}
      void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
      void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
      void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
      void OnSequenceEnd() override {}
      void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
      void OnMapEnd() override {}
    } aliases;
    std::istringstream in(text);
    YAML::Parser parser(in);
    while (!aliases.first && parser.HandleNextDocument(aliases)) {
    }
    if (!aliases.first) return;
    // The mark is the alias token's '*': its name runs to the next blank or flow indicator.
    const auto at = static_cast<std::size_t>(std::max(aliases.first->pos, 0));
    std::string alias = "*name";
    if (at < text.size() && text[at] == '*') alias = text.substr(at, text.find_first_of(" \t\r\n,[]{}", at) - at);
    CCTUNE_USAGE_ERROR(fmt::format("{}:{}: aliases ({}) are not allowed in a spec; write the value out", name_,
                                   aliases.first->line + 1, alias));
  }

  template <typename Parse>
  auto measure(const YAML::Node& node, const std::string& key, Parse parse) const {
    const std::string text = scalar<std::string>(node, key);
    try {
      return parse(text);
    } catch (const std::invalid_argument& e) {
      fail(node, key, e.what());
    }
  }

 private:
  std::string name_;
};

}  // namespace

double parse_link_speed_gbps(const std::string& text) {
  return with_unit(text, {{"Gb/s", 1.0}, {"Gbps", 1.0}, {"Tb/s", 1000.0}, {"Mb/s", 0.001}}, "link speed");
}
double parse_bandwidth_gbs(const std::string& text) {
  return with_unit(text, {{"GB/s", 1.0}, {"MB/s", 0.001}, {"TB/s", 1000.0}}, "bandwidth");
}
double parse_duration_us(const std::string& text) {
  return with_unit(text, {{"us", 1.0}, {"ms", 1000.0}, {"s", 1e6}}, "duration");
}
std::uint64_t parse_size_bytes(const std::string& text) {
  const double bytes = with_unit(
      text, {{"B", 1.0}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"K", 1024.0}, {"M", 1048576.0},
             {"G", 1073741824.0}},
      "size");
  if (bytes != std::floor(bytes)) throw std::invalid_argument(fmt::format("'{}' is not a whole number of bytes", text));
  // Converting a double at or past 2^64 to an integer is undefined: refuse it as the number it is.
  if (bytes >= 18446744073709551616.0) {
    throw std::invalid_argument(fmt::format("'{}' is {:g} bytes, more than 64 bits can count", text, bytes));
  }
  return static_cast<std::uint64_t>(bytes);
}

std::string CollectiveCheck::name() const {
  std::string size = fmt::format("{} B", bytes);
  for (const auto& [unit, factor] : {std::pair{"GiB", 1ull << 30}, std::pair{"MiB", 1ull << 20}, std::pair{"KiB", 1ull << 10}}) {
    if (bytes >= factor && bytes % factor == 0) {
      size = fmt::format("{} {}", bytes / factor, unit);
      break;
    }
  }
  if (min_sol_pct) return fmt::format("{} {} busbw >= {:g}% of SOL", collective, size, *min_sol_pct);
  if (min_busbw_gbs) return fmt::format("{} {} busbw >= {:g} GB/s", collective, size, *min_busbw_gbs);
  return fmt::format("{} {} latency <= {:g} us", collective, size, max_latency_us.value_or(0));
}

Spec parse_spec(const std::string& text, const std::string& name) {
  std::vector<YAML::Node> documents;
  const Reader read(name);
  try {
    documents = YAML::LoadAll(text);
    read.no_aliases(text);
  } catch (const YAML::Exception& e) {
    CCTUNE_USAGE_ERROR(fmt::format("{}:{}: not valid YAML: {}", name, e.mark.line + 1, e.msg));
  }
  // A second document ("---") would be ignored: whatever it checks would silently not be checked.
  if (documents.size() > 1) {
    read.fail(documents[1], "---", fmt::format("{} YAML documents; a spec is one", documents.size()));
  }
  const YAML::Node root = documents.empty() ? YAML::Node() : documents.front();
  if (!root.IsMap()) CCTUNE_USAGE_ERROR(name + ": expected a mapping with 'version', 'node', 'collectives'");
  read.no_duplicate_keys(root);
  read.only(root, "", {"version", "node", "collectives", "run"});
  if (!root["version"] || read.count(root["version"], "version", 0, 1000) != 1) {
    read.fail(root["version"] ? root["version"] : root, "version", "must be 1 (this cctune reads version 1)");
  }
  Spec spec;
  if (const YAML::Node node = root["node"]) {
    read.only(node, "node", {"gpus", "nics", "gpu_nic_path", "numa_nodes"});
    if (const YAML::Node gpus = node["gpus"]) {
      read.only(gpus, "node.gpus", {"count", "model"});
      if (gpus["count"]) spec.node.gpu_count = read.count(gpus["count"], "node.gpus.count", 0, kMaxDevices);
      if (gpus["model"]) spec.node.gpu_model = read.scalar<std::string>(gpus["model"], "node.gpus.model");
      if (spec.node.gpu_model && spec.node.gpu_count == 0) {
        read.fail(gpus["model"], "node.gpus.model", "a model for zero GPUs is impossible");
      }
    }
    if (const YAML::Node nics = node["nics"]) {
      read.only(nics, "node.nics", {"count", "rdma", "min_speed"});
      if (nics["count"]) spec.node.nic_count = read.count(nics["count"], "node.nics.count", 0, kMaxDevices);
      if (nics["rdma"]) spec.node.nic_rdma = read.scalar<bool>(nics["rdma"], "node.nics.rdma");
      if (nics["min_speed"]) {
        spec.node.nic_min_speed_gbps = read.measure(nics["min_speed"], "node.nics.min_speed", parse_link_speed_gbps);
      }
    }
    if (const YAML::Node path = node["gpu_nic_path"]) {
      const std::string value = read.scalar<std::string>(path, "node.gpu_nic_path");
      if (value != "PIX" && value != "PXB" && value != "PHB" && value != "NODE" && value != "SYS") {
        read.fail(path, "node.gpu_nic_path", "'" + value + "' is not a path class (PIX, PXB, PHB, NODE, SYS)");
      }
      spec.node.gpu_nic_path = value;
    }
    if (node["numa_nodes"]) spec.node.numa_nodes = read.count(node["numa_nodes"], "node.numa_nodes", 1, kMaxDevices);
  }
  if (const YAML::Node run = root["run"]) {
    read.only(run, "run", {"backend", "algorithm", "iterations", "warmup"});
    if (run["backend"]) spec.run.backend = read.scalar<std::string>(run["backend"], "run.backend");
    if (run["algorithm"]) spec.run.algorithm = read.scalar<std::string>(run["algorithm"], "run.algorithm");
    if (run["iterations"]) spec.run.iterations = read.count(run["iterations"], "run.iterations", 1, kMaxRunCount);
    if (run["warmup"]) spec.run.warmup = read.count(run["warmup"], "run.warmup", 0, kMaxRunCount);
  }
  if (const YAML::Node checks = root["collectives"]) {
    if (!checks.IsSequence()) read.fail(checks, "collectives", "expected a list of checks");
    for (std::size_t i = 0; i < checks.size(); ++i) {
      const YAML::Node c = checks[i];
      const std::string where = fmt::format("collectives[{}]", i);
      read.only(c, where, {"collective", "size", "scope", "min_busbw", "min_sol_pct", "max_latency"});
      CollectiveCheck check;
      check.line = c.Mark().line + 1;
      if (!c["collective"]) read.fail(c, where, "needs 'collective' (allreduce or alltoall)");
      check.collective = read.scalar<std::string>(c["collective"], where + ".collective");
      if (check.collective != "allreduce" && check.collective != "alltoall") {
        read.fail(c["collective"], where + ".collective", "'" + check.collective + "' is not allreduce or alltoall");
      }
      if (!c["size"]) read.fail(c, where, "needs 'size', with a unit (8B, 1MiB)");
      check.bytes = read.measure(c["size"], where + ".size", parse_size_bytes);
      if (c["scope"]) {
        const std::string scope = read.scalar<std::string>(c["scope"], where + ".scope");
        if (scope == "node") {
          check.scope = Scope::node;
        } else if (scope == "allocation") {
          check.scope = Scope::allocation;
        } else if (scope == "both") {
          check.scope = Scope::both;
        } else {
          read.fail(c["scope"], where + ".scope", "'" + scope + "' is not node, allocation or both");
        }
      }
      if (c["min_busbw"]) check.min_busbw_gbs = read.measure(c["min_busbw"], where + ".min_busbw", parse_bandwidth_gbs);
      if (c["max_latency"]) {
        check.max_latency_us = read.measure(c["max_latency"], where + ".max_latency", parse_duration_us);
      }
      if (c["min_sol_pct"]) {
        const double pct = read.scalar<double>(c["min_sol_pct"], where + ".min_sol_pct");
        if (!(pct > 0 && pct <= 100)) read.fail(c["min_sol_pct"], where + ".min_sol_pct", "a percentage above 0, at most 100");
        check.min_sol_pct = pct;
      }
      if (check.min_busbw_gbs.has_value() + check.min_sol_pct.has_value() + check.max_latency_us.has_value() != 1) {
        read.fail(c, where, "give exactly one of min_busbw, min_sol_pct and max_latency");
      }
      check.index = i;
      spec.collectives.push_back(check);
    }
  }
  if (!spec.checks_anything()) {
    CCTUNE_USAGE_ERROR(name + ": nothing to check (no node counts, models, speeds or paths, and no collectives): "
                              "a spec that checks nothing would accept any node");
  }
  return spec;
}

bool Spec::checks_anything() const {
  return node.gpu_count || node.gpu_model || node.nic_count || node.nic_min_speed_gbps || node.gpu_nic_path ||
         node.numa_nodes || !collectives.empty();
}

void check_runnable(const Spec& spec, const std::string& name, std::uint64_t element_bytes, std::string_view type_name,
                    int nranks) {
  for (const CollectiveCheck& check : spec.collectives) {
    const std::string where = fmt::format("{}:{}: collectives[{}].size", name, check.line, check.index);
    if (check.bytes < element_bytes) {
      CCTUNE_USAGE_ERROR(fmt::format("{}: {} B is smaller than one {} element ({} B)", where, check.bytes, type_name,
                                     element_bytes));
    }
    if (check.bytes / element_bytes > bench::kMaxElementCount) {
      CCTUNE_USAGE_ERROR(fmt::format("{}: {} is more than the {} {} elements ({}) one MPI call can count", where,
                                     bench::format_size(check.bytes), bench::kMaxElementCount, type_name,
                                     bench::format_size(bench::kMaxElementCount * element_bytes)));
    }
    // alltoall sends each peer its share: below one element per peer it would move nothing.
    if (nranks > 0 && check.collective == "alltoall" &&
        check.bytes / element_bytes < static_cast<std::uint64_t>(nranks)) {
      CCTUNE_USAGE_ERROR(fmt::format("{}: alltoall of {} B on {} ranks is less than one {} element ({} B) per rank; "
                                     "give at least {} B",
                                     where, check.bytes, nranks, type_name, element_bytes,
                                     element_bytes * static_cast<std::uint64_t>(nranks)));
    }
  }
}

Spec read_spec(const std::string& path) {
  return parse_spec(files::read_regular_file(path, "the spec", kMaxSpecBytes), path);
}

}  // namespace cctune::accept
