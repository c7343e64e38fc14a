#include "cli/bench_recorder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "bench/json_writer.hpp"
#include "collectives/error.hpp"
#include "results/nccl_tests.hpp"
#include "results/record.hpp"

namespace cctune::cli {

namespace {

// A row's lock wait: short enough that the other ranks, already in the next collective, never wait
// for rank 0 anywhere near -T.
constexpr std::chrono::milliseconds kRowWait{1000};

}  // namespace

void RunRecorder::give_up(const Error& e) {
  failed_ = true;
  std::fprintf(stderr, "cctune: %s: %s; the run goes on without recording the rest of it\n",
               required_ ? "error" : "warning", e.what());
  std::fflush(stderr);
}

bool RunRecorder::store_kept(When when) {
  if (failed_) return false;
  // At the end nobody waits for rank 0 any more; mid-run and at an abort, everybody does.
  store_.set_lock_wait(when == When::end ? std::chrono::milliseconds(results::kLockWait) : row_wait_);
  try {
    if (head_) {
      id_ = store_.begin_run(*head_);
      head_.reset();
    }
    if (!kept_.empty()) {
      // One transaction for every row kept: a reader never sees part of them.
      store_.add_measurements(id_, kept_);
      kept_.clear();
      kept_rows_ = 0;
    }
    return true;
  } catch (const results::DatabaseLocked& e) {
    if (when == When::end) {
      failed_ = true;
      const std::string lost =
          id_ == 0 ? std::string("the run is not in the database")
                   : fmt::format("{} row(s) of this run are not in the database (it is run {}, incomplete)",
                                 kept_rows_, id_);
      std::fprintf(stderr, "cctune: %s: %s; %s: the output and the -J file have every row\n",
                   required_ ? "error" : "warning", e.what(), lost.c_str());
      std::fflush(stderr);
    } else if (when == When::abort) {
      std::fprintf(stderr, "cctune: warning: %s; the database keeps the run as it was before (the -J file has "
                   "every finished row)\n", e.what());
      std::fflush(stderr);
    } else if (!said_locked_) {
      said_locked_ = true;
      std::fprintf(stderr,
                   "cctune: warning: %s; the sweep goes on and stores its rows when the database is free (at "
                   "the latest when the sweep ends, waiting up to %lld s then)\n",
                   e.what(), static_cast<long long>(results::kLockWait.count()));
      std::fflush(stderr);
    }
  } catch (const Error& e) {
    give_up(e);
  }
  return false;
}

void RunRecorder::begin(const bench::RunInfo& info, const bench::BenchOptions& options) {
  std::lock_guard lock(mutex_);
  if (options.timeout_seconds > 0) {
    const auto quarter = std::chrono::milliseconds(static_cast<long long>(options.timeout_seconds * 250.0));
    row_wait_ = std::clamp(quarter, std::chrono::milliseconds(1), kRowWait);
  } else {
    row_wait_ = kRowWait;
  }
  try {
    // The record is what `results import` would make of the -J file as it stands now: no rows yet.
    nlohmann::ordered_json head = bench::JsonWriter::head_to_json(info, options);
    head["results"] = nlohmann::ordered_json::array();
    head["cctune"] = bench::JsonWriter::cctune_to_json(info, options, nlohmann::ordered_json::array(), false);
    options_ = options;
    const auto document = nlohmann::json::parse(head.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    head_ = results::record_from_nccl_tests_json(document, "this run", std::nullopt);
  } catch (const Error& e) {
    give_up(e);
    return;
  }
  store_kept(When::mid_run);
}

void RunRecorder::row(const bench::Row& row) {
  std::lock_guard lock(mutex_);
  if (failed_) return;
  const auto json = nlohmann::json::parse(
      bench::JsonWriter::row_to_json(row, options_).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  std::size_t skipped = 0;
  try {
    const auto measurements = results::measurements_from_nccl_tests_row(json, "this run", "row", "", skipped);
    kept_.insert(kept_.end(), measurements.begin(), measurements.end());
    ++kept_rows_;
  } catch (const Error& e) {
    give_up(e);
    return;
  }
  store_kept(When::mid_run);
}

void RunRecorder::end(const bench::TableTotals&) {
  std::lock_guard lock(mutex_);
  if (!store_kept(When::end)) return;
  try {
    store_.finish_run(id_, bench::utc_now());
  } catch (const Error& e) {
    give_up(e);
  }
}

void RunRecorder::record_error(const std::string& message) {
  // The sweep's thread may be inside a row's store: the abort must not wait for it.
  std::unique_lock lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock() || failed_) return;
  // Whatever was kept, then the message, each within a row's wait: the job is aborted right after.
  if (!store_kept(When::abort) || id_ == 0) return;
  try {
    store_.add_error(id_, message);
  } catch (const Error& e) {
    std::fprintf(stderr, "cctune: warning: %s; the database does not keep the watchdog's message\n", e.what());
    std::fflush(stderr);
  }
}

}  // namespace cctune::cli
