// `cctune report RUN... -o FILE`: one self-contained HTML file with SVG plots (docs/results.md).
#include "cli/report_command.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <ctime>
#include <optional>

#include "cli/edge.hpp"
#include "collectives/error.hpp"
#include "results/files.hpp"
#include "results/report.hpp"
#include "results/store.hpp"
#include "results/text.hpp"

namespace cctune::cli {

struct ReportCommand {
  std::vector<std::string> runs;
  std::string out = "cctune-report.html";
  std::string db, topology, title = "cctune report", collective;
};

ReportCommand* add_report_command(CLI::App& app) {
  static ReportCommand command;
  auto* sub = app.add_subcommand("report", "Write one self-contained HTML file with plots of runs");
  sub->add_option("runs", command.runs,
                  "Run ids in the results database, or files (cctune or nccl-tests JSON or text, exported records)")
      ->required();
  sub->add_option("-o,--output", command.out, "The HTML file to write")->capture_default_str();
  sub->add_option("--db", command.db, "The results database for run ids (default: as cctune results)");
  sub->add_option("--topology", command.topology, "`cctune topo --json` output to show beside the runs");
  sub->add_option("--title", command.title, "The page's title")->capture_default_str();
  sub->add_option("--collective", command.collective,
                  "For nccl-tests output that does not name its binary: allreduce, alltoall, ...");
  return &command;
}

int run_report_command(ReportCommand* command) {
  try {
    const std::optional<std::string> collective =
        command->collective.empty() ? std::nullopt : std::optional<std::string>(command->collective);
    std::vector<results::Record> runs;
    for (const std::string& spec : command->runs) runs.push_back(load_run(spec, command->db, collective));
    results::ReportOptions options;
    options.title = command->title;
    options.cctune_version = CCTUNE_VERSION;
    options.generated = fmt::format("{:%Y-%m-%d %H:%M:%S} UTC", fmt::gmtime(std::time(nullptr)));
    if (!command->topology.empty()) {
      auto topology = results::parse_json_text(results::read_text_file(command->topology, "the topology"),
                                               command->topology);
      if (topology.is_discarded() || !topology.is_object() ||
          (!topology.contains("node_types") && !topology.contains("gpus"))) {
        CCTUNE_USAGE_ERROR(results::printable(command->topology) + ": not the JSON that cctune topo --json writes");
      }
      options.topology = std::move(topology);
    }
    std::string html;
    try {
      html = results::render_report(runs, options);
    } catch (const nlohmann::json::exception&) {
      // The records were checked as they were read; what is left is the topology file's layout.
      CCTUNE_USAGE_ERROR(results::printable(command->topology) +
                         ": not the JSON that cctune topo --json writes (a value of the wrong kind)");
    }
    write_file_atomically(command->out, html);
    fmt::print("wrote {} ({:.0f} KiB, {} run(s))\n", results::printable(command->out),
               static_cast<double>(html.size()) / 1024.0, runs.size());
    for (const results::Record& run : runs) {
      if (const std::string note = results::skipped_note(run); !note.empty()) fmt::print("# {}\n", note);
    }
    return kOk;
  } catch (const UsageError& e) {
    return report_usage_error(e.what());
  }
}

}  // namespace cctune::cli
