#include "bench/text_writer.hpp"

#include <fmt/format.h>

#include <array>
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

std::string format_time_us(double us) {
  if (us >= 10000.0) return fmt::format("{:7.0f}", us);
  if (us >= 100.0) return fmt::format("{:7.1f}", us);
  return fmt::format("{:7.2f}", us);
}

std::string float_field(double value, int width) {
  const auto fits = [&](const std::string& text) { return static_cast<int>(text.size()) <= width; };
  for (const char* spec : {"{:.2f}", "{:.1f}", "{:.0f}", "{:.1e}"}) {
    std::string text = fmt::format(fmt::runtime(spec), value);
    if (fits(text)) return fmt::format("{:>{}}", text, width);
  }
  return fmt::format("{:>{}}", fmt::format("{:.0e}", value), width);
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
             "# nThread 1 nGpus 1 minBytes {} maxBytes {} step: {} warmup iters: {} iters: {} agg iters: 1 "
             "validation: {} graph: 0 unalign: 0\n#\n# Using devices\n",
             options_.range.min_bytes, options_.range.max_bytes, step, options_.warmup, options_.iterations,
             options_.check_iterations > 0 ? 1 : 0);
  for (int r = 0; r < info_.nranks; ++r) {
    const std::string& host = info_.hosts[static_cast<std::size_t>(r)];
    if (!info_.devices.empty()) {
      fmt::print(out_, "#  Rank {:2} Group  0 Pid {:6} on {:>10} device {}\n", r, info_.pids[r], host,
                 info_.devices[static_cast<std::size_t>(r)]);
      continue;
    }
    fmt::print(out_, "#  Rank {:2} Group  0 Pid {:6} on {:>10} device {:2} [cpu] host memory\n", r, info_.pids[r],
               host, -1);
  }
  const bool stats = options_.stats;
  fmt::print(out_, "#\n");
  // nccl-tests' group line, as it prints it.
  fmt::print(out_, "#{:62}out-of-place{:23}in-place{:10}{}\n", "", "", "",
             stats ? "    out-of-place, slowest rank" : "");
  // nccl-tests' "# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s %*s", the last empty.
  constexpr int kWidths[] = {10, 12, 8, 6, 6, 7, 6, 6, 6, 7, 6, 6, 6};
  const auto labels = [&](std::array<const char*, 13> base, std::array<const char*, 3> extra) {
    std::string line = "#";
    for (std::size_t i = 0; i < base.size(); ++i) line += fmt::format("{}{:>{}}", i == 0 ? " " : "  ", base[i], kWidths[i]);
    if (stats) {
      for (const char* label : extra) line += fmt::format("  {:>8}", label);
    }
    return line + " ";
  };
  fmt::print(out_, "{}\n", labels({"size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time",
                                   "algbw", "busbw", "#wrong"},
                                  {"min", "median", "p99"}));
  fmt::print(out_, "{}\n", labels({"(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)",
                                   "(GB/s)", ""},
                                  {"(us)", "(us)", "(us)"}));
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
  }
  if (options_.stats) {
    const Summary& s = row.out_of_place.slowest;
    line += fmt::format("  {:>8}  {:>8}  {:>8}", float_field(s.min, 8), float_field(s.median, 8),
                        float_field(s.p99, 8));
  }
  fmt::print(out_, "{}\n", line);
  std::fflush(out_);
}

void TextWriter::end_table(const TableTotals& totals) {
  fmt::print(out_, "# {:<20} : {} {}\n", "Out of bounds values", totals.wrong, totals.wrong == 0 ? "OK" : "FAILED");
  fmt::print(out_, "# {:<20} : {:g} \n#\n", "Avg bus bandwidth", totals.average_busbw());
  fmt::print(out_, "# Collective test concluded: {}\n#\n\n", nccl_tests_binary(collective_));
  std::fflush(out_);
}

void TextWriter::end(const TableTotals& totals) {
  if (totals.wrong != 0) {
    fmt::print(out_, "# cctune: {} wrong element(s) in total: results are not trustworthy\n", totals.wrong);
  }
  std::fflush(out_);
}

}  // namespace cctune::bench
