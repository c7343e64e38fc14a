#pragma once
// The environment bench, tune and verify measure under. A job script that sourced a profile's env file
// exports our NCCL tuner plugin (NCCL_TUNER_PLUGIN=cctune) and what it reads: measuring there would
// time our own earlier choices as "NCCL's default". What a job gets with no configuration is NCCL
// without our plugin, but with whatever the site itself configured: a site's own tuner plugin is
// NCCL's default there, measured under and recorded, never dropped.
#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cctune::tuner {

// NCCL_TUNER_PLUGIN's value names libnccl-tuner-cctune.so: "cctune", that file name, or a path to it
// (NCCL 2.28.9 src/plugin/plugin_open.cc: the value as given, then libnccl-tuner-VALUE.so).
bool names_our_tuner_plugin(std::string_view value);

struct MeasurementEnvironment {
  std::vector<std::string> dropped;  // "NAME=value", unset before anything is measured
  std::vector<std::pair<std::string, std::string>> kept;  // the site's tuner settings measured under
  // The one stderr line for each (empty: nothing to say).
  std::string dropped_line() const;
  std::string kept_line() const;
};

using GetEnv = std::function<const char*(const char* name)>;
// What NCCL_NCHANNELS_PER_NET_PEER the env file of the profile at `path` exports (nullopt: none, or
// the profile cannot be read).
using ExportedNetPeer = std::function<std::optional<int>(const std::string& path)>;
std::optional<int> exported_net_peer(const std::string& profile_path);

// Decides, from the environment `get` shows:
//   our plugin named in NCCL_TUNER_PLUGIN: dropped, with NCCL_TUNER_CONFIG_FILE (there for it);
//   CCTUNE_PROFILE: dropped (only our plugin and libcctune-mpi.so read it);
//   NCCL_NCHANNELS_PER_NET_PEER: dropped when it is the value CCTUNE_PROFILE's env file exports
//     (NCCL lets it override every communicator's config), kept otherwise;
//   any other NCCL_TUNER_PLUGIN (the site's, "none" included), and NCCL_TUNER_CONFIG_FILE beside it:
//     kept.
//   OMPI_MCA_coll_tuned_dynamic_rules_filename: dropped when the file is one cctune wrote (its first
//     line says so: Open MPI's file rules outrank the algorithm cctune forces through MPI_T, so every
//     ompi:N candidate and the baseline would time the file's choice), kept otherwise.
using IsOurRulesFile = std::function<bool(const std::string& path)>;
bool is_our_rules_file(const std::string& path);
MeasurementEnvironment decide_measurement_environment(const GetEnv& get, const ExportedNetPeer& net_peer,
                                                      const IsOurRulesFile& our_rules = is_our_rules_file);
// Unsets what `decision` drops, and keeps it for measurement_environment().
void apply(const MeasurementEnvironment& decision);
// {"kept": {NAME: value}, "dropped": ["NAME=value"]}: what a run record keeps of it.
nlohmann::json to_json(const MeasurementEnvironment& decision);
// What the last apply() decided, for the run records (empty before).
const MeasurementEnvironment& measurement_environment();

}  // namespace cctune::tuner
