#include "bench/text_writer.hpp"

#include <fmt/format.h>

#include <fmt/chrono.h>

#include <array>
#include <cmath>
#include <ctime>
#include <cerrno>
#include <cstring>

namespace cctune::bench {

std::optional<std::string> write_failure(std::FILE* out, std::string_view what) {
  errno = 0;
  const bool flushed = std::fflush(out) == 0;
  if (flushed && !std::ferror(out)) return std::nullopt;
  const std::string reason = !flushed && errno != 0 ? std::strerror(errno) : "an earlier write failed";
  return fmt::format("cannot write to {}: {}; its output is incomplete", what, reason);
}

void TableTotals::add(const Row& row) {
  for (const PlacementResult* p : {&row.out_of_place, &row.in_place}) {
    wrong += p->wrong.value_or(0);
    busbw_sum += p->busbw_gbs;
    ++busbw_count;
  }
}

std::string float_field(double value, int width) {
  const auto fits = [&](const std::string& text) { return static_cast<int>(text.size()) <= width; };
  for (const char* spec : {"{:.2f}", "{:.1f}", "{:.0f}", "{:.1e}"}) {
    std::string text = fmt::format(fmt::runtime(spec), value);
    if (fits(text)) return fmt::format("{:>{}}", text, width);
  }
  return fmt::format("{:>{}}", fmt::format("{:.0e}", value), width);
}

double population_stdev(const Summary& s) {
  if (s.samples < 2) return 0.0;
  const auto n = static_cast<double>(s.samples);
  return s.stdev * std::sqrt((n - 1) / n);
}

Summary per_iteration_summary(const PlacementResult& p, int skip) {
  std::vector<double> kept = p.samples_us;
  const auto left_out = std::min<std::size_t>(static_cast<std::size_t>(std::max(skip, 0)), kept.size());
  kept.erase(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(left_out));
  return kept.empty() ? Summary{} : summarize(kept);
}

std::optional<DeviceDescription> parse_device_description(const std::string& text) {
  unsigned domain = 0, bus = 0, device = 0, function = 0;
  int ordinal = -1, used = 0;
  if (std::sscanf(text.c_str(), "%d [%x:%x:%x.%x] %n", &ordinal, &domain, &bus, &device, &function, &used) != 5 ||
      ordinal < 0 || used <= 0 || domain > 0xffff || bus > 0xff || device > 0xff) {
    return std::nullopt;
  }
  return DeviceDescription{ordinal, fmt::format("{:04x}:{:02x}:{:02x}", domain, bus, device),
                           text.substr(static_cast<std::size_t>(used))};
}

std::string_view nccl_tests_binary(Collective collective) {
  switch (collective) {
    case Collective::allreduce: return "all_reduce_perf";
    case Collective::alltoall: return "alltoall_perf";
  }
  return "unknown_perf";
}

void TextWriter::begin(const RunInfo& info, const BenchOptions& options) {
  info_ = info;
  options_ = options;
  fmt::print(out_, "# cctune {} ({}) bench: backend {}, {} ranks on {} node(s), {}{}\n", info.cctune_version,
             info.git_revision, options.backend, info.nranks, info.nnodes, info.mpi_library,
             options.rounds > 1 ? fmt::format(", rounds: {}", options.rounds) : std::string());
  std::fflush(out_);
}

// What all_reduce_perf prints before its table (nccl-tests' writeDeviceReport): its version line (the
// layout this follows, and the NCCL a nccl backend loaded, 0 otherwise), the binary, the settings,
// the devices; the starting line also names the backend and algorithm, so that tools that split
// nccl-tests output per run tell each algorithm's block apart.
void TextWriter::begin_table(Collective collective, const std::string& algorithm) {
  collective_ = collective;
  const std::string nccl = info_.nccl_version_code ? std::to_string(info_.nccl_version_code) : "0";
  fmt::print(out_, "# nccl-tests version {} nccl-headers={} nccl-library={}\n", kNcclTestsLayout, nccl, nccl);
  fmt::print(out_, "# Collective test starting: {} (cctune backend {} algorithm {})\n", nccl_tests_binary(collective),
             options_.backend, algorithm);
  const std::string step = options_.range.step ? fmt::format("{}(bytes)", options_.range.step)
                                               : fmt::format("{}(factor)", options_.range.factor);
  fmt::print(out_,
             "# nThread 1 nGpus 1 minBytes {} maxBytes {} step: {} warmup iters: {} iters: {} agg iters: {} "
             "validation: {} graph: {} unalign: {}\n",
             options_.range.min_bytes, options_.range.max_bytes, step, options_.warmup, options_.iterations,
             options_.launch.aggregated, options_.check_iterations > 0 ? 1 : 0, options_.launch.graph_launches,
             options_.unalign);
  // A device backend names its devices; its calls are queued on a stream, so -z changes how they are
  // waited for and timed. A host backend's call has completed when it returns: every -z mode times
  // the same there, and a "wait and barrier" line would say what it does not do.
  const bool queued_calls = !info_.devices.empty();
  if (const std::string_view blocking = describe(options_.launch.blocking); queued_calls && !blocking.empty()) {
    fmt::print(out_, "# Blocking Enabled: {} \n", blocking);
  }
  if (options_.per_iteration) {
    const bool events = queued_calls && options_.launch.blocking == Blocking::none && !options_.launch.host_time;
    fmt::print(out_, "# Per-Iteration Report: {}; i_* over the slowest rank's time per iteration{}\n",
               events ? "CUDA event timing" : "host timing",
               options_.per_iteration_skip ? fmt::format(", first {} left out", options_.per_iteration_skip) : "");
  }
  fmt::print(out_, "#\n# Using devices\n");
  for (int r = 0; r < info_.nranks; ++r) {
    const std::string& host = info_.hosts[static_cast<std::size_t>(r)];
    if (!info_.devices.empty()) {
      const std::string& device = info_.devices[static_cast<std::size_t>(r)];
      if (const auto d = parse_device_description(device)) {
        fmt::print(out_, "#  Rank {:2} Group  0 Pid {:6} on {:>10} device {:2} [{}] {}\n", r, info_.pids[r], host,
                   d->ordinal, d->bus, d->name);
      } else {
        fmt::print(out_, "#  Rank {:2} Group  0 Pid {:6} on {:>10} device {}\n", r, info_.pids[r], host, device);
      }
      continue;
    }
    fmt::print(out_, "#  Rank {:2} Group  0 Pid {:6} on {:>10} device {:2} [cpu] host memory\n", r, info_.pids[r],
               host, -1);
  }
  const bool stats = options_.stats;
  const bool per_iter = options_.per_iteration;
  fmt::print(out_, "#\n");
  // nccl-tests' group line, as it prints it.
  if (per_iter) {
    fmt::print(out_, "#{:65}out-of-place (+ per-iteration){:32}in-place (+ per-iteration){}\n", "", "",
               stats ? "    out-of-place, slowest rank" : "");
  } else {
    fmt::print(out_, "#{:62}out-of-place{:23}in-place{:10}{}\n", "", "", "", stats ? "    out-of-place, slowest rank" : "");
  }
  // nccl-tests' "# %10s  %12s  %8s  %6s  %6s" then per placement "  %7s  %6s  %6s  %6s" (and with -I
  // four "  %7s"), then " %*s": the timestamp label with -S, else nothing.
  const char* time = options_.launch.host_time ? "cputime" : "time";
  const auto labels = [&](bool units) {
    std::string line = fmt::format("# {:>10}  {:>12}  {:>8}  {:>6}  {:>6}", units ? "(B)" : "size",
                                   units ? "(elements)" : "count", units ? "" : "type", units ? "" : "redop",
                                   units ? "" : "root");
    for (int placement = 0; placement < 2; ++placement) {
      line += fmt::format("  {:>7}  {:>6}  {:>6}  {:>6}", units ? "(us)" : time, units ? "(GB/s)" : "algbw",
                          units ? "(GB/s)" : "busbw", units ? "" : "#wrong");
      if (per_iter) {
        for (const char* label : {"i_min", "i_max", "i_p99"}) line += fmt::format("  {:>7}", units ? "(us)" : label);
        line += fmt::format("  {:>7}", units ? "(%)" : "i_cv%");
      }
    }
    if (stats) {
      for (const char* label : {"min", "median", "p99"}) line += fmt::format("  {:>8}", units ? "(us)" : label);
    }
    line += fmt::format("  {:>6}", units ? "(%)" : "%SOL");
    return line + " " + (options_.timestamps ? fmt::format("{:>19}", units ? "%Y-%m-%d %H:%M:%S" : "timestamp") : "");
  };
  fmt::print(out_, "{}\n{}\n", labels(false), labels(true));
  std::fflush(out_);
}

void TextWriter::row(const Row& row) {
  const std::string_view redop = row.collective == Collective::allreduce ? to_string(row.op) : "none";
  // nccl-tests prints alltoall's count per peer: what each call is given.
  std::string line = fmt::format("{:>12}  {:>12}  {:>8}  {:>6}  {:>6}", row.shape.bytes, row.shape.count_per_call,
                                 to_string(row.type), redop, -1);
  for (const PlacementResult* p : {&row.out_of_place, &row.in_place}) {
    // nccl-tests does not check in-place alltoall; its N/A there keeps our rows like its rows (the
    // count still goes into "Out of bounds values").
    const bool unchecked = !p->wrong || (row.collective == Collective::alltoall && p == &row.in_place);
    const std::string wrong = unchecked ? std::string("   N/A") : fmt::format("{:6g}", static_cast<double>(*p->wrong));
    line += fmt::format("  {:>7}  {:>6}  {:>6}  {}", float_field(p->time_us, 7), float_field(p->algbw_gbs, 6),
                        float_field(p->busbw_gbs, 6), wrong);
    if (options_.per_iteration) {
      const Summary s = per_iteration_summary(*p, options_.per_iteration_skip);
      const double cv = s.mean > 0 ? 100.0 * population_stdev(s) / s.mean : 0.0;  // as nccl-tests: stdev over n
      line += fmt::format("  {:>7}  {:>7}  {:>7}  {:>7}", float_field(s.min, 7), float_field(s.max, 7),
                          float_field(s.p99, 7), float_field(cv, 7));
    }
  }
  if (options_.stats) {
    const Summary& s = row.out_of_place.slowest;
    line += fmt::format("  {:>8}  {:>8}  {:>8}", float_field(s.min, 8), float_field(s.median, 8),
                        float_field(s.p99, 8));
  }
  // Out of place, the busbw people quote, against the bound for this shape (N/A when unknown).
  const auto sol = info_.sol.percent(row.collective, row.out_of_place.busbw_gbs);
  line += fmt::format("  {:>6}", sol ? float_field(*sol, 6) : std::string("N/A"));
  if (options_.timestamps) line += fmt::format("  {:%Y-%m-%d %H:%M:%S}", fmt::localtime(std::time(nullptr)));
  fmt::print(out_, "{}\n", line);
  std::fflush(out_);
}

void TextWriter::end_table(const TableTotals& totals) {
  fmt::print(out_, "# {:<20} : {} {}\n", "Out of bounds values", totals.wrong, totals.wrong == 0 ? "OK" : "FAILED");
  fmt::print(out_, "# {:<20} : {:g} \n#\n", "Avg bus bandwidth", totals.average_busbw());
  fmt::print(out_, "# Collective test concluded: {}\n", nccl_tests_binary(collective_));
  // nccl-tests' -M 1 reports GPU memory there; a host backend's is the ranks' resident memory.
  if (totals.max_rss_mib >= 0) {
    fmt::print(out_, "# {:<20} : {:.1f} MiB (largest rank)\n", "Host memory usage", totals.max_rss_mib);
  }
  fmt::print(out_, "#\n\n");
  std::fflush(out_);
}

void TextWriter::end(const TableTotals& totals) {
  if (totals.wrong != 0) {
    fmt::print(out_, "# cctune: {} wrong element(s) in total: results are not trustworthy\n", totals.wrong);
  }
  std::fflush(out_);
}

}  // namespace cctune::bench
