#pragma once
// One run of cctune (bench, tune, verify) or an imported log, as the results store keeps it: who ran
// what, where, with which build, and every size's samples, so that later runs can be compared with it.
#include <cstddef>
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
  int root = -1;                    // the root rank of a rooted collective; -1: none
  // The largest relative error, as nccl-tests up to 2.11 printed it in place of a wrong count.
  std::optional<double> max_error;
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
  // Not stored: rows the reader left out (see unreadable()); the importers report the count.
  std::size_t skipped_rows = 0;
};

// The largest byte count, element count or id a record holds: SQLite keeps integers as int64.
inline constexpr std::uint64_t kMaxRecordInteger = 9223372036854775807ull;

// Why a measurement cannot be compared or plotted, or "" when it can: its median time must be a
// finite number above zero; its other times, samples and bandwidths finite and not negative (0: not
// known). Every reader (bench JSON, records, nccl-tests logs, the store) leaves such rows out and
// counts them in Record::skipped_rows, so that a NaN or a negative time never counts as "same" or as
// an improvement.
std::string unreadable(const Measurement& m);

// The note every reader prints for what it left out of a record: "NAME: N unreadable row(s) left out",
// NAME the file it came from or "record ID"; "" when nothing was left out.
std::string skipped_note(const Record& record);

// Every reader's refusal: UsageError "NAME: reason" (NAME made printable).
[[noreturn]] void refuse(const std::string& name, const std::string& reason);

// A JSON value as messages quote it: short, and with nothing a terminal would act on (invalid UTF-8
// replaced). A list or an object is named, not written out: dump() recurses once per level of nesting.
std::string shown(const nlohmann::json& value);

// An object's string member, or "" when it is missing, null or not a string (an unfinished run has
// "end_time": null; hand-made files may lack anything).
std::string json_string(const nlohmann::json& object, const char* key);

// The measurements of one row of a bench -J document (one per placement), as record_from_bench_json
// reads them; `fallback` names the collective when the row does not. Placements that are unreadable()
// are left out and counted in `skipped`. `where` names the row in messages ("results[3]").
std::vector<Measurement> measurements_from_bench_row(const nlohmann::json& row, const std::string& name,
                                                     const std::string& where, const std::string& fallback,
                                                     std::size_t& skipped);

// A `cctune bench -J` document (docs/bench.md), or nccl-tests' own -J document (the same layout
// without collective and algorithm per row: the collective then comes from the binary named in
// "args", or from `collective`), as a record, one measurement per row and placement. Throws
// UsageError "NAME: reason" for a document that is neither, or whose numbers are not what they must
// be ("NAME: results[2].size: -1 is not a whole number from 0 to ...").
Record record_from_bench_json(const nlohmann::json& document, const std::string& name,
                             const std::optional<std::string>& collective = std::nullopt);

// The record as JSON (what `cctune results export` writes), and back.
nlohmann::json record_to_json(const Record& record);
Record record_from_json(const nlohmann::json& document, const std::string& name);

}  // namespace cctune::results
