#include "cli/plan_command.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "bench/options.hpp"
#include "bench/size_plan.hpp"
#include "bench/text_writer.hpp"
#include "cli/edge.hpp"
#include "cli/sol_options.hpp"
#include "collectives/error.hpp"
#include "collectives/files.hpp"
#include "topology/serialize.hpp"
#include "topology/sources.hpp"
#include "topology/speed_of_light.hpp"
#include "tuner/plan.hpp"

namespace cctune::cli {

struct PlanCommand {
  std::vector<std::string> from;
  std::string topology, json, db, add_to;
  std::string nodes, ranks_per_node;
  std::vector<std::string> collectives{"all"};
  std::string min_bytes = "1M", max_bytes = "1G", factor = "2", fit_min_bytes = "0";
  SolOptions sol;
};

PlanCommand* add_plan_command(CLI::App& app) {
  static PlanCommand command;
  auto* sub = app.add_subcommand("plan", "Predict each algorithm's time at a node count never measured, from "
                                         "measured runs or from the topology's speed of light");
  sub->add_option("--from", command.from, "A measured run: its id in the results database or a results file "
                                          "(repeat for runs at other node counts)");
  sub->add_option("--topology", command.topology, "The nodes' hwloc or NCCL topology XML (without --from: predict "
                                                  "from its speed of light alone)");
  sub->add_option("--nodes", command.nodes, "Nodes of the shape to predict")->required();
  sub->add_option("--ranks-per-node", command.ranks_per_node, "Ranks on each node")->required();
  sub->add_option("--collective", command.collectives, "allreduce, alltoall, or all")->delimiter(',')->capture_default_str();
  sub->add_option("-b,--minbytes", command.min_bytes, "Smallest size (K, M, G suffixes)")->capture_default_str();
  sub->add_option("-e,--maxbytes", command.max_bytes, "Largest size")->capture_default_str();
  sub->add_option("-f,--stepfactor", command.factor, "Size factor between steps")->capture_default_str();
  sub->add_option("--fit-min-bytes", command.fit_min_bytes,
                  "Fit only measured sizes from this one up (where small messages do not follow one latency and "
                  "one bandwidth: a shaped link's burst, an eager protocol)")
      ->capture_default_str();
  sub->add_option("-J,--json", command.json, "Write the predictions as JSON: {\"rows\": [...]}");
  sub->add_option("--db", command.db, "Results database the run ids are in");
  sub->add_option("--add-to", command.add_to,
                  "Add the best predicted algorithm per size to this profile as rules marked predicted, for this "
                  "shape (replacing earlier predictions for it); the plugin and libcctune-mpi.so apply them, "
                  "`cctune verify` at the shape re-measures them");
  command.sol.add_to(sub);
  return &command;
}

int run_plan_command(PlanCommand* command) {
  tuner::PlanResult result;
  std::optional<tuner::Profile> profile;  // --add-to, with the predictions in
  try {
    tuner::PlanInput input;
    input.shape.nodes = static_cast<int>(bench::parse_integer("--nodes", command->nodes, 1, 1 << 20));
    input.shape.ranks_per_node = static_cast<int>(bench::parse_integer("--ranks-per-node", command->ranks_per_node, 1, 4096));
    if (input.shape.ranks() > (1 << 20)) CCTUNE_USAGE_ERROR("--nodes x --ranks-per-node: at most 1048576 ranks");
    input.sol_inputs = command->sol.inputs();
    input.fit_min_bytes = bench::parse_size(command->fit_min_bytes);
    // Sizes as bench spells them, but never sent: no MPI count limit applies.
    const std::uint64_t low = bench::parse_size(command->min_bytes), high = bench::parse_size(command->max_bytes);
    const auto factor = static_cast<std::uint64_t>(bench::parse_integer("-f", command->factor, 2, bench::kMaxStepFactor));
    if (low == 0 || low > high) CCTUNE_USAGE_ERROR(fmt::format("-b {} -e {}: give 0 < -b <= -e", command->min_bytes, command->max_bytes));
    for (std::uint64_t size = low; size <= high; size = size > high / factor ? high + 1 : size * factor) input.sizes.push_back(size);
    for (const std::string& name : command->collectives) {
      const std::vector<Collective> named =
          name == "all" ? std::vector<Collective>(all_collectives().begin(), all_collectives().end())
                        : std::vector<Collective>{parse_collective(name)};
      for (Collective c : named) {
        if (std::find(input.collectives.begin(), input.collectives.end(), c) == input.collectives.end()) input.collectives.push_back(c);
      }
    }
    if (!command->json.empty()) {
      bench::refuse_same_output("--topology", command->topology, "-J", command->json);
      files::check_output_file(command->json, "-J");
    }
    // Before anything is planned: the profile is rewritten in place at the end.
    if (!command->add_to.empty()) files::check_output_file(command->add_to, "--add-to");
    if (!command->topology.empty()) input.topology = topology::load_topology_xml(command->topology);
    for (const std::string& spec : command->from) input.runs.push_back(load_run(spec, command->db, std::nullopt));
    // Host runs inside a node are bound by memory: this machine's, unless a topology names other nodes.
    if (!input.topology) input.sol_inputs.memory_gbs = topology::measured_memory_bandwidth(topology::fingerprint(topology::probe_local()));
    result = tuner::plan(input);
    if (!command->add_to.empty()) {
      profile = tuner::read_profile(command->add_to);
      for (const results::Record& run : input.runs) {
        if (!run.fingerprint.empty() && !profile->shape.fingerprint.empty() && run.fingerprint != profile->shape.fingerprint) {
          CCTUNE_USAGE_ERROR(fmt::format("--add-to {}: tuned on nodes with fingerprint {}, a --from run was measured "
                                         "on {}", command->add_to, profile->shape.fingerprint, run.fingerprint));
        }
      }
      tuner::add_predicted_rules(*profile, result, tuner::predicted_rules(result, profile->backend));
      bench::refuse_same_output("--add-to", command->add_to, "-J", command->json);
    }
  } catch (const UsageError& e) {
    return report_usage_error(e.what());
  }
  tuner::print_plan(stdout, result);
  if (!command->json.empty()) write_file_atomically(command->json, tuner::to_json(result).dump(1) + "\n");
  if (profile) {
    write_file_atomically(command->add_to, tuner::profile_to_json(*profile));
    fmt::print("# {}: {} predicted rule(s) for {} ranks on {} node(s)\n", command->add_to,
               tuner::predicted_rules_for(*profile, result.shape.ranks(), result.shape.nodes), result.shape.ranks(),
               result.shape.nodes);
  }
  if (const auto failure = bench::write_failure(stdout, "standard output")) {
    std::fprintf(stderr, "cctune: error: %s\n", failure->c_str());
    return kFailed;
  }
  return kOk;
}

}  // namespace cctune::cli
