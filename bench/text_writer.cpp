#include "bench/text_writer.hpp"

#include <fmt/format.h>

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

void TextWriter::begin(const RunInfo& info, const BenchOptions& options) {
  backend_ = options.backend;
  nranks_ = info.nranks;
  fmt::print(out_, "# cctune {} ({}) bench: backend {}, {} ranks on {} node(s), {}\n", info.cctune_version,
             info.git_revision, options.backend, info.nranks, info.nnodes, info.mpi_library);
  const std::string step = options.range.step ? fmt::format("{}(bytes)", options.range.step)
                                              : fmt::format("{}(factor)", options.range.factor);
  fmt::print(out_,
             "# nRanks {} minBytes {} maxBytes {} step: {} warmup iters: {} iters: {} validation: {} "
             "agg: {}{}\n#\n# Using devices\n",
             info.nranks, options.range.min_bytes, options.range.max_bytes, step, options.warmup,
             options.iterations, options.check_iterations, static_cast<int>(options.aggregation),
             options.rounds > 1 ? fmt::format(" rounds: {}", options.rounds) : std::string());
  for (int r = 0; r < info.nranks; ++r) {
    if (!info.devices.empty()) {
      fmt::print(out_, "#  Rank {:2} Group  0 Pid {:6} on {:>10} device {}\n", r, info.pids[r], info.hosts[r],
                 info.devices[static_cast<std::size_t>(r)]);
      continue;
    }
    fmt::print(out_, "#  Rank {:2} Group  0 Pid {:6} on {:>10} device {:2} [cpu] host memory\n", r, info.pids[r],
               info.hosts[r], -1);
  }
  std::fflush(out_);
}

void TextWriter::begin_table(Collective collective, const std::string& algorithm) {
  fmt::print(out_, "#\n# collective {} backend {} algorithm {}\n", to_string(collective), backend_, algorithm);
  fmt::print(out_, "# {:>10}  {:>12}  {:>8}  {:>6}  {:>6}  {:^32}  {:^32}  {:^28}\n", "", "", "", "", "",
             "out-of-place", "in-place", "out-of-place, slowest rank");
  fmt::print(out_, "# {:>10}  {:>12}  {:>8}  {:>6}  {:>6}  {:>7}  {:>6}  {:>6}  {:>6}  {:>7}  {:>6}  {:>6}  {:>6}  "
                   "{:>8}  {:>8}  {:>8}\n",
             "size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw",
             "#wrong", "min", "median", "p99");
  fmt::print(out_, "# {:>10}  {:>12}  {:>8}  {:>6}  {:>6}  {:>7}  {:>6}  {:>6}  {:>6}  {:>7}  {:>6}  {:>6}  {:>6}  "
                   "{:>8}  {:>8}  {:>8}\n",
             "(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)",
             "(us)", "(us)");
  std::fflush(out_);
}

void TextWriter::row(const Row& row) {
  const std::string_view redop = row.collective == Collective::allreduce ? to_string(row.op) : "none";
  std::string line = fmt::format("{:>12}  {:>12}  {:>8}  {:>6}  {:>6}", row.shape.bytes, row.shape.count,
                                 to_string(row.type), redop, -1);
  for (const PlacementResult* p : {&row.out_of_place, &row.in_place}) {
    const std::string wrong = p->wrong ? fmt::format("{}", *p->wrong) : "N/A";
    line += fmt::format("  {}  {:6.2f}  {:6.2f}  {:>6}", format_time_us(p->time_us), p->algbw_gbs, p->busbw_gbs,
                        wrong);
  }
  const Summary& s = row.out_of_place.slowest;
  line += fmt::format("  {:>8}  {:>8}  {:>8}", format_time_us(s.min), format_time_us(s.median),
                      format_time_us(s.p99));
  fmt::print(out_, "{}\n", line);
  std::fflush(out_);
}

void TextWriter::end_table(const TableTotals& totals) {
  fmt::print(out_, "# Out of bounds values : {} {}\n", totals.wrong, totals.wrong == 0 ? "OK" : "FAILED");
  fmt::print(out_, "# Avg bus bandwidth    : {:g} \n#\n", totals.average_busbw());
  std::fflush(out_);
}

void TextWriter::end(const TableTotals& totals) {
  if (totals.wrong != 0) {
    fmt::print(out_, "# cctune: {} wrong element(s) in total: results are not trustworthy\n", totals.wrong);
  }
  std::fflush(out_);
}

}  // namespace cctune::bench
