#pragma once
// One run of cctune (bench, tune, verify) or an imported log, as the results store keeps it: who ran
// what, where, with which build, and every size's samples, so that later runs can be compared with it.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace cctune::results {

struct Measurement {
  std::string collective, backend, algorithm, datatype, op;
  std::uint64_t bytes = 0;  // per call, as the nccl-tests "size" column
  std::uint64_t count = 0;
  bool in_place = false;
  double median_us = 0, min_us = 0, p99_us = 0, mean_us = 0;
  double algbw_gbs = 0, busbw_gbs = 0;
  std::int64_t wrong = -1;          // -1: not checked
  std::vector<double> samples_us;   // per-iteration times; empty when the source only had a summary
};

struct Record {
  std::int64_t id = 0;  // assigned by the store
  std::string kind;     // bench, tune, verify, nccl-tests
  std::string started, ended;  // ISO 8601 UTC
  std::string command;
  std::string cctune_version, git_revision;
  int nranks = 0, nnodes = 0;
  std::string fingerprint;
  nlohmann::json environment = nlohmann::json::object();  // hosts, library versions, config
  std::string source;   // the file it was imported from; empty when recorded by the run itself
  bool complete = false;
  std::vector<Measurement> measurements;
};

// An object's string member, or "" when it is missing, null or not a string (an unfinished run has
// "end_time": null; hand-made files may lack anything).
std::string json_string(const nlohmann::json& object, const char* key);

// A `cctune bench -J` document (docs/bench.md), or nccl-tests' own -J document (the same layout
// without collective and algorithm per row: the collective then comes from the binary named in
// "args", or from `collective`), as a record, one measurement per row and placement. Throws
// UsageError "NAME: reason" for a document that is neither.
Record record_from_bench_json(const nlohmann::json& document, const std::string& name,
                             const std::optional<std::string>& collective = std::nullopt);

// The record as JSON (what `cctune results export` writes), and back.
nlohmann::json record_to_json(const Record& record);
Record record_from_json(const nlohmann::json& document, const std::string& name);

}  // namespace cctune::results
