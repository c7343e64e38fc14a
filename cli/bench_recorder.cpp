#include "cli/bench_recorder.hpp"

#include <cstdio>

#include "bench/json_writer.hpp"
#include "collectives/error.hpp"
#include "results/record.hpp"

namespace cctune::cli {

template <typename Action>
void RunRecorder::guarded(const Action& action) {
  std::lock_guard lock(mutex_);
  if (failed_) return;
  try {
    action();
  } catch (const Error& e) {
    failed_ = true;
    std::fprintf(stderr, "cctune: %s: %s; the run goes on without recording the rest of it\n",
                 required_ ? "error" : "warning", e.what());
    std::fflush(stderr);
  }
}

void RunRecorder::begin(const bench::RunInfo& info, const bench::BenchOptions& options) {
  guarded([&] {
    // The record is what `results import` would make of the -J file as it stands now: no rows yet.
    nlohmann::ordered_json head = bench::JsonWriter::head_to_json(info, options);
    head["results"] = nlohmann::ordered_json::array();
    const auto document = nlohmann::json::parse(head.dump());
    id_ = store_.begin_run(results::record_from_bench_json(document, "this run"));
  });
}

void RunRecorder::row(const bench::Row& row) {
  guarded([&] {
    const auto json = nlohmann::json::parse(bench::JsonWriter::row_to_json(row).dump());
    std::size_t skipped = 0;
    store_.add_measurements(id_, results::measurements_from_bench_row(json, "this run", "row", "", skipped));
  });
}

void RunRecorder::end(const bench::TableTotals&) {
  guarded([&] { store_.finish_run(id_, bench::utc_now()); });
}

void RunRecorder::record_error(const std::string& message) {
  guarded([&] {
    if (id_ != 0) store_.add_error(id_, message);
  });
}

}  // namespace cctune::cli
