#include "tuner/profile.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "collectives/error.hpp"
#include "collectives/files.hpp"

namespace cctune::tuner {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kMaxProfileDepth = 256;

constexpr std::string_view kBackends[] = {"mpi", "nccl", "cuda"};

template <typename Names>
int index_in(std::string_view value, const Names& names) {
  const auto at = std::find(std::begin(names), std::end(names), value);
  return at == std::end(names) ? -1 : static_cast<int>(at - std::begin(names));
}

// The value as the file has it, short enough for one line. A list or an object is named, not
// written out: that would recurse once per level of nesting, and says little in one line anyway.
std::string shown(const Json& value) {
  if (value.is_array()) return "a list";
  if (value.is_object()) return "an object";
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

// Every value of a profile is read through here, so that each is checked as the type and the number
// it is in the file: nlohmann's get<int>() would turn 2^40 into 0, -3 into 2^64-3 for an unsigned
// field, and 2.7 into 2, without a word. A refusal names the file, where in it, the key, the value
// and what is allowed.
class Reader {
 public:
  explicit Reader(const std::string& name) : name_(name) {}

  [[noreturn]] void fail(const std::string& where, const std::string& reason) const {
    CCTUNE_USAGE_ERROR(name_ + ": " + (where.empty() ? std::string() : where + ": ") + reason);
  }

  const Json& object(const Json& parent, const char* key, const std::string& where) const {
    const Json& value = member(parent, key, where);
    if (!value.is_object()) fail(where, std::string("\"") + key + "\" is " + shown(value) + ", expected an object");
    return value;
  }

  const Json& array(const Json& parent, const char* key, const std::string& where) const {
    const Json& value = member(parent, key, where);
    if (!value.is_array()) fail(where, std::string("\"") + key + "\" is " + shown(value) + ", expected a list");
    return value;
  }

  std::string text(const Json& parent, const char* key, const std::string& where,
                   const std::optional<std::string>& fallback = std::nullopt) const {
    if (fallback && !parent.contains(key)) return *fallback;
    const Json& value = member(parent, key, where);
    if (!value.is_string()) fail(where, std::string("\"") + key + "\" is " + shown(value) + ", expected a string");
    return value.get<std::string>();
  }

  // A whole number in [low, high], compared as the number the file holds (int64 or uint64).
  std::uint64_t unsigned_integer(const Json& parent, const char* key, const std::string& where, std::uint64_t low,
                                 std::uint64_t high, std::optional<std::uint64_t> fallback = std::nullopt) const {
    if (fallback && !parent.contains(key)) return *fallback;
    const Json& value = member(parent, key, where);
    if (value.is_number_unsigned()) {
      const auto number = value.get<std::uint64_t>();
      if (number >= low && number <= high) return number;
    }
    out_of_range(value, key, where, std::to_string(low), std::to_string(high));
  }

  std::int64_t integer(const Json& parent, const char* key, const std::string& where, std::int64_t low,
                       std::int64_t high, std::optional<std::int64_t> fallback = std::nullopt) const {
    if (fallback && !parent.contains(key)) return *fallback;
    const Json& value = member(parent, key, where);
    if (value.is_number_unsigned()) {
      const auto number = value.get<std::uint64_t>();
      if (high >= 0 && number <= static_cast<std::uint64_t>(high) && static_cast<std::int64_t>(number) >= low) {
        return static_cast<std::int64_t>(number);
      }
    } else if (value.is_number_integer()) {
      const auto number = value.get<std::int64_t>();
      if (number >= low && number <= high) return number;
    }
    out_of_range(value, key, where, std::to_string(low), std::to_string(high));
  }

  int small_integer(const Json& parent, const char* key, const std::string& where, int low, int high,
                    std::optional<int> fallback = std::nullopt) const {
    return static_cast<int>(integer(parent, key, where, low, high,
                                    fallback ? std::optional<std::int64_t>(*fallback) : std::nullopt));
  }

  // A finite number of at least 0 (times, counts of seconds).
  double duration(const Json& parent, const char* key, const std::string& where) const {
    if (!parent.contains(key)) return 0.0;
    const Json& value = parent.at(key);
    if (value.is_number()) {
      const auto number = value.get<double>();
      if (std::isfinite(number) && number >= 0) return number;
    }
    fail(where, std::string("\"") + key + "\" is " + shown(value) + ", expected a finite number of 0 or more");
  }

 private:
  const Json& member(const Json& parent, const char* key, const std::string& where) const {
    if (!parent.is_object() || !parent.contains(key)) fail(where, std::string("\"") + key + "\" is missing");
    return parent.at(key);
  }

  [[noreturn]] void out_of_range(const Json& value, const char* key, const std::string& where, const std::string& low,
                                 const std::string& high) const {
    const char* kind = value.is_number_float() ? ", not a whole number" : value.is_number() ? "" : ", not a number";
    fail(where, std::string("\"") + key + "\" is " + shown(value) + kind + "; allowed: a whole number from " + low +
                    " to " + high);
  }

  const std::string& name_;
};

Json choice_json(const Choice& c) {
  Json j{{"algorithm", c.algorithm}, {"protocol", c.protocol}, {"channels", c.channels}};
  if (c.channels_per_net_peer) j["channels_per_net_peer"] = c.channels_per_net_peer;
  if (c.segsize) j["segsize"] = c.segsize;
  if (c.fanout) j["fanout"] = c.fanout;
  return j;
}

Choice choice_from(const Reader& read, const Json& parent, const std::string& where) {
  const std::string inside = where + ": choice";
  const Json& j = read.object(parent, "choice", where);
  Choice c;
  c.algorithm = read.text(j, "algorithm", inside);
  c.protocol = read.text(j, "protocol", inside, std::string("any"));
  c.channels = read.small_integer(j, "channels", inside, 0, kMaxNcclChannels, 0);
  c.channels_per_net_peer = read.small_integer(j, "channels_per_net_peer", inside, 0, kMaxNcclChannels, 0);
  c.segsize = read.unsigned_integer(j, "segsize", inside, 0, INT_MAX, 0);
  c.fanout = read.small_integer(j, "fanout", inside, 0, INT_MAX, 0);
  return c;
}

// The name of a JSON parse error without nlohmann's "[json.exception.parse_error.101] parse error at
// line 1, column 2: " prefix, which says nothing to a user that the byte offset does not.
std::string parse_reason(const Json::parse_error& e) {
  std::string text = e.what();
  const auto colon = text.rfind(": ");
  if (colon != std::string::npos) text = text.substr(colon + 2);
  return "not valid JSON at byte " + std::to_string(e.byte) + " (truncated?): " + text;
}

}  // namespace

int nccl_collective_index(std::string_view name) { return index_in(name, kNcclCollectives); }

int nccl_algorithm_index(std::string_view name) {
  if (name == "any" || name == "-1") return -1;
  const int index = index_in(name, kNcclAlgorithms);
  return index < 0 ? -2 : index;
}

int nccl_protocol_index(std::string_view name) {
  if (name == "any" || name == "-1") return -1;
  const int index = index_in(name, kNcclProtocols);
  return index < 0 ? -2 : index;
}

int ompi_algorithm_limit(std::string_view collective) {
  return collective == "allreduce" ? 6 : collective == "alltoall" ? 5 : -1;
}

std::optional<int> ompi_algorithm_number(std::string_view collective, std::string_view algorithm) {
  if (algorithm.substr(0, 5) != "ompi:") return std::nullopt;
  const std::string_view digits = algorithm.substr(5);
  int number = -1;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  // Digits only: from_chars would take "-1", and "+1" or " 1" are not what tune writes.
  if (digits.empty() || digits.front() == '-' || error != std::errc() || end != digits.data() + digits.size() ||
      number > ompi_algorithm_limit(collective)) {
    return std::nullopt;
  }
  return number;
}

bool operator==(const Choice& a, const Choice& b) {
  return a.algorithm == b.algorithm && a.protocol == b.protocol && a.channels == b.channels &&
         a.channels_per_net_peer == b.channels_per_net_peer && a.segsize == b.segsize && a.fanout == b.fanout;
}

Profile parse_profile(const std::string& text, const std::string& name) {
  const Reader read(name);
  // Before the parser: a deep "[[[[..." must be one line, not a crash in a tenant's job (see
  // files::check_json_depth). No profile needs more than a handful of levels.
  files::check_json_depth(text, kMaxProfileDepth, name);
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::parse_error& e) {
    read.fail("", parse_reason(e));
  }
  Profile p;
  if (!j.is_object() || !j.contains("format") || j.at("format") != "cctune-profile") {
    read.fail("", "not a cctune profile (no \"format\": \"cctune-profile\")");
  }
  p.version = read.small_integer(j, "version", "", 1, INT_MAX);
  if (p.version > kProfileVersion) {
    read.fail("", "profile version " + std::to_string(p.version) + " is newer than this cctune reads (" +
                      std::to_string(kProfileVersion) + ")");
  }
  p.created = read.text(j, "created", "", std::string());
  p.cctune_version = read.text(j, "cctune_version", "", std::string());
  p.git_revision = read.text(j, "git_revision", "", std::string());
  p.backend = read.text(j, "backend", "", std::string("mpi"));  // profiles before the GPU backends were all mpi
  if (index_in(p.backend, kBackends) < 0) read.fail("", "unknown backend '" + p.backend + "' (mpi, nccl, cuda)");
  const Json& shape = read.object(j, "shape", "");
  p.shape.nranks = read.small_integer(shape, "nranks", "shape", 1, INT_MAX);
  p.shape.nnodes = read.small_integer(shape, "nnodes", "shape", 1, p.shape.nranks);
  p.shape.ranks_per_node = read.small_integer(shape, "ranks_per_node", "shape", 0, p.shape.nranks, 0);
  p.shape.fingerprint = read.text(shape, "fingerprint", "shape", std::string());
  p.shape.nccl_version = read.text(shape, "nccl_version", "shape", std::string());
  p.shape.mpi_library = read.text(shape, "mpi_library", "shape", std::string());
  std::size_t index = 0;
  for (const Json& r : read.array(j, "rules", "")) {
    const std::string where = "rule " + std::to_string(index++);
    if (!r.is_object()) read.fail(where, "is " + shown(r) + ", expected an object");
    Rule rule;
    rule.collective = read.text(r, "collective", where);
    rule.backend = read.text(r, "backend", where);
    rule.min_bytes = read.unsigned_integer(r, "min_bytes", where, 0, UINT64_MAX);
    rule.max_bytes = read.unsigned_integer(r, "max_bytes", where, 0, UINT64_MAX);
    rule.nranks = read.small_integer(r, "nranks", where, -1, INT_MAX, -1);
    rule.nnodes = read.small_integer(r, "nnodes", where, -1, INT_MAX, -1);
    rule.num_pipe_ops = read.small_integer(r, "num_pipe_ops", where, -1, INT_MAX, -1);
    rule.reg_buff = read.small_integer(r, "reg_buff", where, -1, 1, -1);
    rule.choice = choice_from(read, r, where);
    rule.median_us = read.duration(r, "median_us", where);
    if (r.contains("runner_up")) {
      const Json& runner_up = read.object(r, "runner_up", where);
      rule.runner_up = choice_from(read, runner_up, where + ": runner_up");
      rule.runner_up_median_us = read.duration(runner_up, "median_us", where + ": runner_up");
    }
    if (r.contains("predicted")) {
      const Json& points = read.array(r, "predicted", where);
      if (points.empty()) read.fail(where, "\"predicted\" is an empty list, expected one point or more");
      for (const Json& point : points) {
        const std::string at = where + ": predicted point " + std::to_string(rule.predicted.size());
        if (!point.is_object()) read.fail(at, "is " + shown(point) + ", expected an object");
        PredictedPoint parsed{read.unsigned_integer(point, "bytes", at, 0, UINT64_MAX), read.duration(point, "us", at)};
        if (!point.contains("us")) read.fail(at, "\"us\" is missing");
        if (parsed.bytes < rule.min_bytes || parsed.bytes > rule.max_bytes) {
          read.fail(at, "bytes " + std::to_string(parsed.bytes) + " is outside the rule's range");
        }
        rule.predicted.push_back(parsed);
      }
      // A shape that was measured has measured rules; a prediction there could only contradict them.
      if (rule.nranks < 1 || rule.nnodes < 1) read.fail(where, "a predicted rule names its \"nranks\" and \"nnodes\"");
      if (rule.nnodes > rule.nranks) read.fail(where, "\"nnodes\" is larger than \"nranks\"");
      if (rule.nranks == p.shape.nranks && rule.nnodes == p.shape.nnodes) {
        read.fail(where, "predicted for the shape the profile measured (" + std::to_string(rule.nranks) + " ranks on " +
                             std::to_string(rule.nnodes) + " nodes)");
      }
    }
    if (index_in(rule.collective, kCollectives) < 0) read.fail(where, "unknown collective '" + rule.collective + "'");
    if (index_in(rule.backend, kBackends) < 0) read.fail(where, "unknown backend '" + rule.backend + "'");
    if (rule.min_bytes > rule.max_bytes) read.fail(where, "min_bytes is larger than max_bytes");
    if (rule.backend == "nccl") {
      const bool p2p = rule.choice.algorithm == "p2p_grouped" && rule.collective == "alltoall";
      if (!p2p && (rule.choice.algorithm == "-1" || nccl_algorithm_index(rule.choice.algorithm) == -2)) {
        read.fail(where, "unknown NCCL algorithm '" + rule.choice.algorithm + "'");
      }
      if (rule.choice.protocol == "-1" || nccl_protocol_index(rule.choice.protocol) == -2) {
        read.fail(where, "unknown NCCL protocol '" + rule.choice.protocol + "'");
      }
    }
    if (rule.backend == "mpi" && rule.choice.algorithm.rfind("ompi:", 0) == 0 &&
        !ompi_algorithm_number(rule.collective, rule.choice.algorithm)) {
      read.fail(where, "'" + rule.choice.algorithm + "' is not an Open MPI " + rule.collective + " algorithm" +
                           (ompi_algorithm_limit(rule.collective) < 0
                                ? std::string()
                                : " (ompi:0 to ompi:" + std::to_string(ompi_algorithm_limit(rule.collective)) + ")"));
    }
    p.rules.push_back(std::move(rule));
  }
  if (j.contains("budget")) {
    const Json& budget = read.object(j, "budget", "");
    p.measurements = read.unsigned_integer(budget, "measurements", "budget", 0, UINT64_MAX, 0);
    p.measurement_seconds = read.duration(budget, "seconds", "budget");
  }
  return p;
}

bool applies_to(const Profile& profile, const Rule& rule, int nranks, int nnodes) {
  return (rule.nranks >= 0 ? rule.nranks : profile.shape.nranks) == nranks &&
         (rule.nnodes >= 0 ? rule.nnodes : profile.shape.nnodes) == nnodes;
}

bool has_rules_for(const Profile& profile, std::string_view backend, int nranks, int nnodes) {
  return std::any_of(profile.rules.begin(), profile.rules.end(), [&](const Rule& rule) {
    return rule.backend == backend && applies_to(profile, rule, nranks, nnodes);
  });
}

std::size_t predicted_rules_for(const Profile& profile, int nranks, int nnodes) {
  return static_cast<std::size_t>(std::count_if(profile.rules.begin(), profile.rules.end(), [&](const Rule& rule) {
    return !rule.predicted.empty() && applies_to(profile, rule, nranks, nnodes);
  }));
}

void check_node_fingerprint(const Profile& profile, std::string_view node_fingerprint) {
  if (node_fingerprint.empty() || profile.shape.fingerprint.empty() || node_fingerprint == profile.shape.fingerprint) return;
  CCTUNE_USAGE_ERROR("tuned on nodes with fingerprint " + profile.shape.fingerprint + ", this job's node has " +
                     std::string(node_fingerprint) + " (" + kNodeFingerprintVariable + ")");
}

void check_this_node(const Profile& profile) {
  const char* node = std::getenv(kNodeFingerprintVariable);
  check_node_fingerprint(profile, node ? node : "");
}

Profile read_profile(const std::string& path) {
  const std::string text = files::read_regular_file(path, "the profile", kMaxProfileBytes);
  if (text.empty()) CCTUNE_USAGE_ERROR(path + ": the profile: empty file");
  return parse_profile(text, path);
}
std::string profile_to_json(const Profile& p) {
  Json j;
  j["format"] = "cctune-profile";
  j["version"] = p.version;
  j["created"] = p.created;
  j["cctune_version"] = p.cctune_version;
  j["git_revision"] = p.git_revision;
  j["backend"] = p.backend;
  j["shape"] = {{"nranks", p.shape.nranks}, {"nnodes", p.shape.nnodes}, {"ranks_per_node", p.shape.ranks_per_node},
                {"fingerprint", p.shape.fingerprint}, {"nccl_version", p.shape.nccl_version},
                {"mpi_library", p.shape.mpi_library}};
  Json rules = Json::array();
  for (const Rule& r : p.rules) {
    Json rule{{"collective", r.collective}, {"backend", r.backend}, {"min_bytes", r.min_bytes},
              {"max_bytes", r.max_bytes}};
    if (r.nranks >= 0) rule["nranks"] = r.nranks;
    if (r.nnodes >= 0) rule["nnodes"] = r.nnodes;
    if (r.num_pipe_ops >= 0) rule["num_pipe_ops"] = r.num_pipe_ops;
    if (r.reg_buff >= 0) rule["reg_buff"] = r.reg_buff;
    rule["choice"] = choice_json(r.choice);
    rule["median_us"] = r.median_us;
    if (r.runner_up) rule["runner_up"] = {{"choice", choice_json(*r.runner_up)}, {"median_us", r.runner_up_median_us}};
    if (!r.predicted.empty()) {
      Json points = Json::array();
      for (const PredictedPoint& point : r.predicted) points.push_back({{"bytes", point.bytes}, {"us", point.us}});
      rule["predicted"] = points;
    }
    rules.push_back(rule);
  }
  j["rules"] = rules;
  j["budget"] = {{"measurements", p.measurements}, {"seconds", p.measurement_seconds}};
  return j.dump(1) + "\n";
}

}  // namespace cctune::tuner
