#pragma once
// nccl-tests' own outputs as records, so that a cluster's existing logs can be compared and plotted:
// the text table its *_perf binaries print, and its -J JSON.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "results/record.hpp"

namespace cctune::results {

struct ImportedLog {
  Record record;
  std::size_t skipped_lines = 0;  // lines shaped like table rows that could not be read
};

// Text printed by all_reduce_perf and friends, with or without the root column (older versions),
// with "error" or "#wrong", with mpirun's "[1,0]<stdout>:" prefixes, and with the '#' of header lines
// lost (logs pasted into web pages). The collective comes from the binary's name in the log
// (all_reduce_perf ...), or from `collective` when given. Throws UsageError "NAME: reason" when there
// is no table row at all or the collective cannot be told.
ImportedLog record_from_nccl_tests_log(const std::string& text, const std::string& name,
                                       const std::optional<std::string>& collective);

// The binary's name in a command line or log ("all_reduce_perf" -> "allreduce"), or "".
std::string collective_of_nccl_tests_binary(const std::string& text);

}  // namespace cctune::results
