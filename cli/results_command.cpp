// `cctune results list|show|export|import`: the history in the results database (docs/results.md).
#include "cli/results_command.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <optional>

#include "bench/options.hpp"
#include "bench/text_writer.hpp"
#include "cli/edge.hpp"
#include "collectives/error.hpp"
#include "results/files.hpp"
#include "results/store.hpp"
#include "results/text.hpp"

namespace cctune::cli {

struct ResultsCommand {
  std::string db;
  CLI::App* list = nullptr;
  CLI::App* show = nullptr;
  CLI::App* export_record = nullptr;
  CLI::App* import = nullptr;
  std::string limit = "20";  // as text: CLI11 reads 010 as 8 and 0x10 as 16
  std::string id;
  std::string out;
  std::vector<std::string> files;
  std::string collective;
};

ResultsCommand* add_results_command(CLI::App& app) {
  static ResultsCommand command;
  auto* sub = app.add_subcommand("results", "The results history: list, show, export and import records");
  sub->require_subcommand(1);
  sub->add_option("--db", command.db, "The results database (default: $CCTUNE_DB, else ~/.local/share/cctune/results.db)");
  command.list = sub->add_subcommand("list", "The newest records, one line each");
  command.list->add_option("-n,--limit", command.limit, "How many (1 to 1000000)")->capture_default_str();
  command.show = sub->add_subcommand("show", "One record: what ran, where, and every size");
  command.show->add_option("id", command.id, "Record id (from list)")->required();
  command.export_record = sub->add_subcommand("export", "One record as JSON, with every sample");
  command.export_record->add_option("id", command.id, "Record id (from list)")->required();
  command.export_record->add_option("-o,--output", command.out, "Write to this file (default: stdout)");
  command.import = sub->add_subcommand(
      "import", "Store files as records: cctune or nccl-tests -J JSON, nccl-tests text logs, exported records");
  command.import->add_option("files", command.files, "Files to import")->required();
  // `cctune results show 3 --db FILE` as well as `cctune results --db FILE show 3`.
  for (CLI::App* action : {command.list, command.show, command.export_record, command.import}) action->fallthrough();
  command.import->add_option("--collective", command.collective,
                             "For nccl-tests output that does not name its binary: allreduce, alltoall, ...");
  return &command;
}

namespace {

using results::printable;

void print_list(const results::Store& store, int limit) {
  fmt::print("# {:>5}  {:<20}  {:<7}  {:>5}  {:>5}  {:<8}  {}\n", "id", "started", "kind", "ranks", "nodes",
             "complete", "command");
  for (const results::Record& r : store.list(limit)) {
    // A run recorded as it goes stays "no" until it ends: still running, or stopped (watchdog, kill).
    fmt::print("  {:>5}  {:<20}  {:<7}  {:>5}  {:>5}  {:<8}  {}\n", r.id, printable(r.started), printable(r.kind),
               r.nranks, r.nnodes, r.complete ? "yes" : "no", printable(r.command));
  }
}

void print_record(const results::Record& r) {
  fmt::print("# record {}: {} started {} ended {}\n# command: {}\n# cctune {} ({}), {} ranks on {} node(s){}{}\n", r.id,
             printable(r.kind), printable(r.started), r.ended.empty() ? "-" : printable(r.ended), printable(r.command),
             printable(r.cctune_version), printable(r.git_revision), r.nranks, r.nnodes,
             r.source.empty() ? "" : ", imported from " + printable(r.source),
             r.complete ? "" : ", INCOMPLETE (the run did not end: it is still running, or was stopped; the rows "
                               "below are those it finished)");
  if (const std::string note = results::skipped_note(r); !note.empty()) fmt::print("# {}\n", note);
  fmt::print("# {:<10} {:<7} {:<20} {:>12} {:>8} {:>12} {:>10} {:>10} {:>8} {:>7}\n", "collective", "backend",
             "algorithm", "size (B)", "place", "median (us)", "p99 (us)", "busbw", "#wrong", "samples");
  for (const results::Measurement& m : r.measurements) {
    fmt::print("  {:<10} {:<7} {:<20} {:>12} {:>8} {:>12.2f} {:>10.2f} {:>10.3f} {:>8} {:>7}\n",
               printable(m.collective), printable(m.backend), printable(m.algorithm), m.bytes,
               m.in_place ? "in" : "out", m.median_us, m.p99_us, m.busbw_gbs, m.wrong, m.samples_us.size());
  }
}

}  // namespace

int run_results_command(ResultsCommand* command) {
  try {
    const int limit =
        command->list->parsed() ? static_cast<int>(bench::parse_integer("-n", command->limit, 1, 1000000)) : 0;
    // Parse every file before opening the database: a bad file stores nothing.
    std::vector<results::LoadedFile> imports;
    if (command->import->parsed()) {
      const std::optional<std::string> collective =
          command->collective.empty() ? std::nullopt : std::optional<std::string>(command->collective);
      for (const std::string& path : command->files) {
        for (results::LoadedFile& file : results::load_record_files(path, collective)) imports.push_back(std::move(file));
      }
    }
    // Only import writes: reading never creates, converts or adds tables to the file.
    const std::filesystem::path path = results::database_path(command->db);
    const bool writes = command->import->parsed();
    const std::int64_t id = writes || command->list->parsed() ? 0 : results::parse_record_id(command->id);
    results::Store store(path, writes ? results::Access::write : results::Access::read);
    if (command->list->parsed()) {
      if (!std::filesystem::exists(path)) fmt::print("# {}: no results database yet\n", printable(path.string()));
      print_list(store, limit);
    } else if (command->show->parsed() || command->export_record->parsed()) {
      const auto record = store.get(id);
      if (!record) {
        CCTUNE_USAGE_ERROR(fmt::format("no record {} in the results database {}", id, printable(path.string())));
      }
      if (command->show->parsed()) {
        print_record(*record);
      } else {
        // A byte that is not UTF-8 (from an imported log) becomes U+FFFD instead of an exception.
        const std::string text =
            results::record_to_json(*record).dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
        if (command->out.empty()) {
          std::fwrite(text.data(), 1, text.size(), stdout);
        } else {
          write_file_atomically(command->out, text);
        }
      }
    } else {
      for (const results::LoadedFile& parsed : imports) {
        fmt::print("stored {} as record {}", printable(parsed.record.source), store.append(parsed.record));
        if (parsed.skipped_lines) fmt::print(" ({} unreadable table line(s) skipped)", parsed.skipped_lines);
        fmt::print("\n");
      }
    }
    // A list or record on a full disk (or /dev/full) must not look like one that arrived.
    if (const auto failure = bench::write_failure(stdout, "standard output")) {
      std::fprintf(stderr, "cctune: error: %s\n", failure->c_str());
      return kFailed;
    }
    return kOk;
  } catch (const UsageError& e) {
    return report_usage_error(e.what());
  }
}

}  // namespace cctune::cli
