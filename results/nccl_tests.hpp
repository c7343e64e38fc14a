#pragma once
// nccl-tests' own outputs as records, so that a cluster's existing logs can be compared and plotted:
// the text table its *_perf binaries print, and its -J JSON.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "results/record.hpp"

namespace cctune::results {

struct ImportedLog {
  Record record;
  std::size_t skipped_lines = 0;  // lines shaped like table rows that could not be read
};

// Text printed by all_reduce_perf and friends: one record per table, in file order, each with the
// collective of its own run, from the binary named above it ("# Collective test starting: X",
// "Running: .../X_perf", a command line or shell trace), from its "concluded" line, or from the table
// before it; `collective` only for tables that nothing in the file names. Reads tables with or
// without the root column (older versions), with "error" or "#wrong", with mpirun's "[1,0]<stdout>:"
// prefixes, and with the '#' of header lines lost (logs pasted into web pages); a table is kept
// whether it passed or FAILED. A table's rank lines (hosts) come from above it. Several records get
// the source "NAME [K of N]". Throws UsageError "NAME: reason" when there is no table row at all
// (with the first NCCL WARN or error line found, for a run that failed before its table) or a
// table's collective cannot be told.
std::vector<ImportedLog> records_from_nccl_tests_log(const std::string& text, const std::string& name,
                                                     const std::optional<std::string>& collective);

// nccl-tests' own -J document (2.17.3 to 2.19, JSON versions 1 to 3): one record, its collective from
// the binary in "args" (or `collective`), hosts from its devices, per-iteration times where -I 1 wrote
// them, and only the NCCL_* entries of the environment it copies. Throws UsageError "NAME: reason".
bool is_nccl_tests_json(const nlohmann::json& document);
// cctune bench's -J (the same schema with a "cctune" key at the top and in each row) reads the same
// way, with our statistics, wrong counts, backend and algorithm per row, as a "bench" record.
Record record_from_nccl_tests_json(const nlohmann::json& document, const std::string& name,
                                   const std::optional<std::string>& collective);

// One row of such a document (both placements; unreadable ones counted in `skipped`).
std::vector<Measurement> measurements_from_nccl_tests_row(const nlohmann::json& row, const std::string& name,
                                                          const std::string& where, const std::string& collective,
                                                          std::size_t& skipped);

// The binary's name in a command line or log ("all_reduce_perf" -> "allreduce"), or "".
std::string collective_of_nccl_tests_binary(const std::string& text);

}  // namespace cctune::results
