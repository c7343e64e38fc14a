#include "cli/topo_command.hpp"

#include <cstdio>

#include "bench/options.hpp"
#include "bench/text_writer.hpp"
#include "cli/edge.hpp"
#include "cli/sol_options.hpp"
#include "collectives/bootstrap.hpp"
#include "collectives/error.hpp"
#include "collectives/files.hpp"
#include "topology/cluster.hpp"
#include "topology/nccl_xml_export.hpp"
#include "topology/report.hpp"
#include "topology/serialize.hpp"
#include "topology/sources.hpp"
#include "topology/speed_of_light.hpp"

namespace cctune::cli {

struct TopoCommand {
  CLI::App* app = nullptr;
  std::string xml, nccl_xml, json, export_nccl_xml;
  std::string simulate_host, simulate_node;
  bool fingerprint_only = false;
  SolOptions sol;
};

TopoCommand* add_topo_command(CLI::App& app) {
  static TopoCommand command;
  auto* sub = app.add_subcommand("topo", "Describe each node (GPUs, NICs, NUMA, path classes) and the cluster");
  command.app = sub;
  auto* xml = sub->add_option("--xml", command.xml, "Read an hwloc XML export instead of probing");
  auto* nccl = sub->add_option("--nccl-xml", command.nccl_xml, "Read an NCCL topology file instead of probing");
  xml->excludes(nccl);
  sub->add_option("--json", command.json, "Write the model (and, when probing, the cluster view) as JSON");
  sub->add_option("--export-nccl-xml", command.export_nccl_xml, "Write an NCCL topology file (NCCL_TOPO_FILE)");
  auto* json = sub->get_option("--json");
  auto* export_xml = sub->get_option("--export-nccl-xml");
  sub->add_flag("--fingerprint", command.fingerprint_only,
                "Print only this node's fingerprint (or the file's), without MPI: what a job's env file compares "
                "with the profile's")
      ->excludes(json)
      ->excludes(export_xml);
  command.sol.add_to(sub);
  sub->add_option("--simulate-host", command.simulate_host, "Testing only: report this host name instead of ours")
      ->group("Testing");
  sub->add_option("--simulate-node", command.simulate_node,
                  "Testing only: under MPI, take this hwloc or NCCL XML file as this node's probe")
      ->group("Testing");
  return &command;
}

namespace {

// kFailed with one line when the report on stdout did not all arrive (a full disk, /dev/full).
int stdout_written() {
  if (const auto failure = bench::write_failure(stdout, "standard output")) {
    std::fprintf(stderr, "cctune: error: %s\n", failure->c_str());
    return kFailed;
  }
  return kOk;
}

// GPU runs where the node has GPUs, host runs otherwise. A file describes another machine: its
// memory bandwidth is not ours to measure.
topology::SpeedOfLight file_speed_of_light(const topology::NodeModel& model, const topology::SolInputs& inputs) {
  const auto medium = model.gpus.empty() ? topology::Medium::host : topology::Medium::device;
  return topology::speed_of_light(model, topology::node_shape(model, medium), medium, inputs);
}

int from_file(const TopoCommand& command) {
  const topology::SolInputs inputs = command.sol.inputs();
  const topology::NodeModel model = command.xml.empty() ? topology::load_nccl_xml(command.nccl_xml)
                                                        : topology::load_hwloc_xml(command.xml);
  if (!speaks_for_job()) return kOk;
  const topology::SpeedOfLight sol = file_speed_of_light(model, inputs);
  std::printf("cctune topo: %s\n", model.source.c_str());
  topology::print_node(stdout, model);
  std::printf("\n");
  topology::print_speed_of_light(stdout, sol);
  topology::print_legend(stdout);
  if (!command.json.empty()) {
    auto j = topology::to_json(model);
    j["speed_of_light"] = topology::to_json(sol);
    write_file_atomically(command.json, j.dump(1) + "\n");
  }
  if (!command.export_nccl_xml.empty()) write_file_atomically(command.export_nccl_xml, topology::export_nccl_xml(model));
  return stdout_written();
}

int probe_cluster(const TopoCommand& command, int& argc, char**& argv) {
  const topology::SolInputs inputs = command.sol.inputs();
  MpiRuntime mpi(argc, argv, false);
  Communicator world = Communicator::duplicate(MPI_COMM_WORLD);
  const std::string host = command.simulate_host.empty() ? processor_name() : command.simulate_host;
  auto probe = [&]() -> topology::NodeModel {
    if (command.simulate_node.empty()) return topology::probe_local();
    return topology::load_topology_xml(command.simulate_node);
  };
  const topology::ClusterView view = topology::gather_cluster(world, host, probe);
  if (world.rank() != 0) return kOk;
  const auto medium = view.types.front().model.gpus.empty() ? topology::Medium::host : topology::Medium::device;
  topology::SolInputs sol_inputs = inputs;
  if (medium == topology::Medium::host) {
    sol_inputs.memory_gbs = topology::measured_memory_bandwidth(view.types.front().fingerprint);
  }
  const topology::SpeedOfLight sol = topology::speed_of_light(view, medium, sol_inputs);
  topology::print_cluster(stdout, view);
  topology::print_speed_of_light(stdout, sol);
  topology::print_legend(stdout);
  if (!command.json.empty()) {
    auto j = topology::to_json(view);
    j["speed_of_light"] = topology::to_json(sol);
    write_file_atomically(command.json, j.dump(1) + "\n");
  }
  if (!command.export_nccl_xml.empty()) {
    write_file_atomically(command.export_nccl_xml, topology::export_nccl_xml(view.types.front().model));
  }
  return stdout_written();
}

// Before anything is loaded or probed: outputs that cannot be written, or two names for one file
// (an output over another, or over the file read), refuse the run with nothing written.
void check_outputs(const TopoCommand& command) {
  for (const auto& [option, input] : {std::pair{"--xml", &command.xml}, std::pair{"--nccl-xml", &command.nccl_xml},
                                      std::pair{"--simulate-node", &command.simulate_node}}) {
    bench::refuse_same_output(option, *input, "--json", command.json);
    bench::refuse_same_output(option, *input, "--export-nccl-xml", command.export_nccl_xml);
  }
  bench::refuse_same_output("--json", command.json, "--export-nccl-xml", command.export_nccl_xml);
  // Only rank 0 writes, so only it checks: another node's file system must not decide (see tune's).
  if (!speaks_for_job()) return;
  if (!command.json.empty()) files::check_output_file(command.json, "--json");
  if (!command.export_nccl_xml.empty()) files::check_output_file(command.export_nccl_xml, "--export-nccl-xml");
}

}  // namespace

int run_topo_command(TopoCommand* command, int& argc, char**& argv) {
  try {
    check_outputs(*command);
    if (command->fingerprint_only) {
      const topology::NodeModel model = !command->xml.empty()        ? topology::load_hwloc_xml(command->xml)
                                        : !command->nccl_xml.empty() ? topology::load_nccl_xml(command->nccl_xml)
                                                                     : topology::probe_local();
      std::printf("%s\n", topology::fingerprint(model).c_str());
      return stdout_written();
    }
    if (!command->xml.empty() || !command->nccl_xml.empty()) return from_file(*command);
    return probe_cluster(*command, argc, argv);
  } catch (const UsageError& e) {
    return report_usage_error(e.what());
  }
}

}  // namespace cctune::cli
