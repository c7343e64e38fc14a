#include "tuner/profile.hpp"

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "collectives/error.hpp"

namespace cctune::tuner {
namespace {

using Json = nlohmann::ordered_json;

const char* const kCollectives[] = {"allreduce", "alltoall", "allgather", "reducescatter", "broadcast", "reduce"};
const char* const kBackends[] = {"mpi", "nccl", "cuda"};
const char* const kNcclAlgorithms[] = {"tree", "ring", "collnet_direct", "collnet_chain", "nvls", "nvls_tree", "pat", "any"};
const char* const kNcclProtocols[] = {"ll", "ll128", "simple", "any"};

template <std::size_t N>
bool one_of(const std::string& value, const char* const (&names)[N]) {
  for (const char* name : names) {
    if (value == name) return true;
  }
  return false;
}

Json choice_json(const Choice& c) {
  Json j{{"algorithm", c.algorithm}, {"protocol", c.protocol}, {"channels", c.channels}};
  if (c.channels_per_net_peer) j["channels_per_net_peer"] = c.channels_per_net_peer;
  if (c.segsize) j["segsize"] = c.segsize;
  if (c.fanout) j["fanout"] = c.fanout;
  return j;
}

Choice choice_from(const Json& j) {
  Choice c;
  c.algorithm = j.at("algorithm").get<std::string>();
  c.protocol = j.value("protocol", std::string("any"));
  c.channels = j.value("channels", 0);
  c.channels_per_net_peer = j.value("channels_per_net_peer", 0);
  c.segsize = j.value("segsize", std::uint64_t{0});
  c.fanout = j.value("fanout", 0);
  return c;
}

}  // namespace

bool operator==(const Choice& a, const Choice& b) {
  return a.algorithm == b.algorithm && a.protocol == b.protocol && a.channels == b.channels &&
         a.channels_per_net_peer == b.channels_per_net_peer && a.segsize == b.segsize && a.fanout == b.fanout;
}

Profile parse_profile(const std::string& text, const std::string& name) {
  auto fail = [&](const std::string& reason) -> void { CCTUNE_USAGE_ERROR(name + ": " + reason); };
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::parse_error& e) {
    fail(std::string("not valid JSON (truncated?): ") + e.what());
  }
  Profile p;
  try {
    if (j.value("format", std::string()) != "cctune-profile") fail("not a cctune profile (no \"format\": \"cctune-profile\")");
    p.version = j.at("version").get<int>();
    if (p.version > kProfileVersion) {
      fail("profile version " + std::to_string(p.version) + " is newer than this cctune reads (" +
           std::to_string(kProfileVersion) + ")");
    }
    p.created = j.value("created", std::string());
    p.cctune_version = j.value("cctune_version", std::string());
    p.git_revision = j.value("git_revision", std::string());
    p.backend = j.value("backend", std::string("mpi"));  // profiles before the GPU backends were all mpi
    if (!one_of(p.backend, kBackends)) fail("unknown backend '" + p.backend + "'");
    const Json& shape = j.at("shape");
    p.shape.nranks = shape.at("nranks").get<int>();
    p.shape.nnodes = shape.at("nnodes").get<int>();
    p.shape.ranks_per_node = shape.value("ranks_per_node", 0);
    p.shape.fingerprint = shape.value("fingerprint", std::string());
    p.shape.nccl_version = shape.value("nccl_version", std::string());
    p.shape.mpi_library = shape.value("mpi_library", std::string());
    if (p.shape.nranks < 1 || p.shape.nnodes < 1) fail("shape needs nranks and nnodes of 1 or more");
    std::size_t index = 0;
    for (const Json& r : j.at("rules")) {
      Rule rule;
      rule.collective = r.at("collective").get<std::string>();
      rule.backend = r.at("backend").get<std::string>();
      rule.min_bytes = r.at("min_bytes").get<std::uint64_t>();
      rule.max_bytes = r.at("max_bytes").get<std::uint64_t>();
      rule.nranks = r.value("nranks", -1);
      rule.nnodes = r.value("nnodes", -1);
      rule.num_pipe_ops = r.value("num_pipe_ops", -1);
      rule.reg_buff = r.value("reg_buff", -1);
      rule.choice = choice_from(r.at("choice"));
      rule.median_us = r.value("median_us", 0.0);
      if (r.contains("runner_up")) {
        rule.runner_up = choice_from(r.at("runner_up").at("choice"));
        rule.runner_up_median_us = r.at("runner_up").value("median_us", 0.0);
      }
      const std::string where = "rule " + std::to_string(index++);
      if (!one_of(rule.collective, kCollectives)) fail(where + ": unknown collective '" + rule.collective + "'");
      if (!one_of(rule.backend, kBackends)) fail(where + ": unknown backend '" + rule.backend + "'");
      if (rule.min_bytes > rule.max_bytes) fail(where + ": min_bytes is larger than max_bytes");
      if (rule.backend == "nccl") {
        const bool p2p = rule.choice.algorithm == "p2p_grouped" && rule.collective == "alltoall";
        if (!p2p && !one_of(rule.choice.algorithm, kNcclAlgorithms)) fail(where + ": unknown NCCL algorithm '" + rule.choice.algorithm + "'");
        if (!one_of(rule.choice.protocol, kNcclProtocols)) fail(where + ": unknown NCCL protocol '" + rule.choice.protocol + "'");
        if (rule.choice.channels < 0) fail(where + ": channels must be 0 (NCCL's choice) or more");
        if (rule.choice.channels_per_net_peer < 0) fail(where + ": channels_per_net_peer must be 0 (NCCL's choice) or more");
      }
      if (rule.backend == "mpi" && rule.choice.algorithm.rfind("ompi:", 0) == 0) {
        const int limit = rule.collective == "allreduce" ? 6 : rule.collective == "alltoall" ? 5 : -1;
        const std::string number = rule.choice.algorithm.substr(5);
        if (limit < 0 || number.empty() || number.find_first_not_of("0123456789") != std::string::npos ||
            std::stoi(number) > limit) {
          fail(where + ": '" + rule.choice.algorithm + "' is not an Open MPI " + rule.collective + " algorithm");
        }
        if (rule.choice.fanout < 0) fail(where + ": fanout must be 0 (Open MPI's) or more");
      }
      p.rules.push_back(std::move(rule));
    }
    if (j.contains("budget")) {
      p.measurements = j["budget"].value("measurements", std::uint64_t{0});
      p.measurement_seconds = j["budget"].value("seconds", 0.0);
    }
  } catch (const Json::exception& e) {
    fail(std::string("malformed profile: ") + e.what());
  }
  return p;
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
  std::ifstream in(path);
  if (!in) CCTUNE_USAGE_ERROR(path + ": cannot open the profile");
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().empty()) CCTUNE_USAGE_ERROR(path + ": empty file");
  return parse_profile(text.str(), path);
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
    rules.push_back(rule);
  }
  j["rules"] = rules;
  j["budget"] = {{"measurements", p.measurements}, {"seconds", p.measurement_seconds}};
  return j.dump(1) + "\n";
}

}  // namespace cctune::tuner
