#include "results/record.hpp"

#include <set>

#include "collectives/error.hpp"
#include "results/nccl_tests.hpp"

namespace cctune::results {
namespace {

using Json = nlohmann::json;

[[noreturn]] void refuse(const std::string& name, const std::string& reason) {
  CCTUNE_USAGE_ERROR(name + ": " + reason);
}

Measurement measurement_from_placement(const Json& row, const Json& placement, bool in_place) {
  Measurement m;
  m.collective = json_string(row, "collective");
  m.backend = json_string(row, "backend");
  m.algorithm = json_string(row, "algorithm");
  m.datatype = json_string(row, "type");
  m.op = json_string(row, "redop");
  m.bytes = row.at("size").get<std::uint64_t>();
  m.count = row.value("count", std::uint64_t{0});
  m.in_place = in_place;
  m.median_us = placement.value("median_us", 0.0);
  m.min_us = placement.value("min_us", 0.0);
  m.p99_us = placement.value("p99_us", 0.0);
  m.mean_us = placement.value("mean_us", 0.0);
  m.algbw_gbs = placement.value("alg_bw", 0.0);
  m.busbw_gbs = placement.value("bus_bw", 0.0);
  m.wrong = placement.contains("nwrong") && placement["nwrong"].is_number() ? placement["nwrong"].get<std::int64_t>() : -1;
  if (placement.contains("times_us")) m.samples_us = placement["times_us"].get<std::vector<double>>();
  return m;
}

}  // namespace

std::string json_string(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Record record_from_bench_json(const Json& document, const std::string& name,
                             const std::optional<std::string>& collective) {
  if (!document.is_object() || !document.contains("results") || !document.contains("config")) {
    refuse(name, "not a cctune bench JSON file (no \"results\" and \"config\")");
  }
  try {
    Record record;
    record.kind = "bench";
    record.started = json_string(document, "start_time");
    record.ended = json_string(document, "end_time");
    record.command = json_string(document, "args");
    record.complete = document.value("complete", false);
    const Json& env = document.value("env", Json::object());
    record.cctune_version = json_string(env, "cctune_version");
    record.git_revision = json_string(env, "git_revision");
    record.nranks = env.value("nranks", 0);
    record.nnodes = env.value("nnodes", 0);
    if (record.nranks == 0 && document.contains("devices") && document["devices"].is_array()) {
      // nccl-tests says it per device: one entry per rank, with its host.
      std::set<std::string> hosts;
      for (const Json& device : document["devices"]) {
        if (device.is_object()) hosts.insert(json_string(device, "host"));
      }
      record.nranks = static_cast<int>(document["devices"].size());
      record.nnodes = static_cast<int>(hosts.size());
    }
    record.fingerprint = json_string(env, "fingerprint");
    record.environment = {{"env", env}, {"config", document.at("config")}};
    if (document.contains("errors")) record.environment["errors"] = document["errors"];
    // nccl-tests' rows do not say what they measured: its binary's name does.
    const std::string fallback = collective.value_or(collective_of_nccl_tests_binary(record.command));
    for (const Json& row : document.at("results")) {
      if (!row.contains("collective")) {
        if (fallback.empty()) refuse(name, "the rows do not name their collective, nor does \"args\": give --collective");
        record.kind = "nccl-tests";
      }
      for (const auto& [key, in_place] : {std::pair{"out_of_place", false}, std::pair{"in_place", true}}) {
        if (!row.contains(key) || !row[key].is_object()) continue;
        Measurement m = measurement_from_placement(row, row[key], in_place);
        if (m.collective.empty()) {
          m.collective = fallback;
          m.backend = m.algorithm = "nccl";
        }
        record.measurements.push_back(std::move(m));
      }
    }
    return record;
  } catch (const Json::exception& e) {
    refuse(name, std::string("malformed bench JSON: ") + e.what());
  }
}

Json record_to_json(const Record& record) {
  Json measurements = Json::array();
  for (const Measurement& m : record.measurements) {
    measurements.push_back({{"collective", m.collective}, {"backend", m.backend}, {"algorithm", m.algorithm},
                            {"datatype", m.datatype}, {"op", m.op}, {"bytes", m.bytes}, {"count", m.count},
                            {"in_place", m.in_place}, {"median_us", m.median_us}, {"min_us", m.min_us},
                            {"p99_us", m.p99_us}, {"mean_us", m.mean_us}, {"algbw_gbs", m.algbw_gbs},
                            {"busbw_gbs", m.busbw_gbs}, {"wrong", m.wrong}, {"samples_us", m.samples_us}});
  }
  return {{"format", "cctune-record"}, {"version", 1}, {"id", record.id}, {"kind", record.kind},
          {"started", record.started}, {"ended", record.ended}, {"command", record.command},
          {"cctune_version", record.cctune_version}, {"git_revision", record.git_revision},
          {"nranks", record.nranks}, {"nnodes", record.nnodes}, {"fingerprint", record.fingerprint},
          {"environment", record.environment}, {"source", record.source}, {"complete", record.complete},
          {"measurements", measurements}};
}

Record record_from_json(const Json& document, const std::string& name) {
  if (!document.is_object() || document.value("format", "") != "cctune-record") {
    refuse(name, "not a cctune record (format \"cctune-record\")");
  }
  if (document.value("version", 0) > 1) refuse(name, "a record from a newer cctune");
  try {
    Record r;
    r.id = document.value("id", std::int64_t{0});
    r.kind = document.at("kind").get<std::string>();
    r.started = document.value("started", "");
    r.ended = document.value("ended", "");
    r.command = document.value("command", "");
    r.cctune_version = document.value("cctune_version", "");
    r.git_revision = document.value("git_revision", "");
    r.nranks = document.value("nranks", 0);
    r.nnodes = document.value("nnodes", 0);
    r.fingerprint = document.value("fingerprint", "");
    r.environment = document.value("environment", Json::object());
    r.source = document.value("source", "");
    r.complete = document.value("complete", false);
    for (const Json& j : document.at("measurements")) {
      Measurement m;
      m.collective = j.at("collective").get<std::string>();
      m.backend = j.value("backend", "");
      m.algorithm = j.value("algorithm", "");
      m.datatype = j.value("datatype", "");
      m.op = j.value("op", "");
      m.bytes = j.at("bytes").get<std::uint64_t>();
      m.count = j.value("count", std::uint64_t{0});
      m.in_place = j.value("in_place", false);
      m.median_us = j.value("median_us", 0.0);
      m.min_us = j.value("min_us", 0.0);
      m.p99_us = j.value("p99_us", 0.0);
      m.mean_us = j.value("mean_us", 0.0);
      m.algbw_gbs = j.value("algbw_gbs", 0.0);
      m.busbw_gbs = j.value("busbw_gbs", 0.0);
      m.wrong = j.value("wrong", std::int64_t{-1});
      m.samples_us = j.value("samples_us", std::vector<double>{});
      r.measurements.push_back(std::move(m));
    }
    return r;
  } catch (const Json::exception& e) {
    refuse(name, std::string("malformed record: ") + e.what());
  }
}

}  // namespace cctune::results
