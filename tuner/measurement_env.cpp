#include "tuner/measurement_env.hpp"

#include <cstdlib>
#include <filesystem>

#include "collectives/files.hpp"
#include "tuner/profile.hpp"

namespace cctune::tuner {
namespace {

constexpr const char* kOurLibrary = "libnccl-tuner-cctune.so";
// The first words of every Open MPI rules file cctune writes (tuner/exporters.cpp export_ompi_rules).
constexpr const char* kOurRulesHeader = "# Open MPI coll/tuned dynamic rules written by cctune";

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

}  // namespace

bool names_our_tuner_plugin(std::string_view value) {
  if (value == "cctune") return true;
  const std::string name = std::filesystem::path(std::string(value)).filename().string();
  // The file itself, or a versioned name beside it (libnccl-tuner-cctune.so.1).
  return name == kOurLibrary || name.rfind(std::string(kOurLibrary) + ".", 0) == 0;
}

std::optional<int> exported_net_peer(const std::string& profile_path) {
  try {
    const Profile profile = read_profile(profile_path);
    // As export_env_file chooses it: the alltoall rule with the largest sizes.
    const Rule* largest = nullptr;
    for (const Rule& rule : profile.rules) {
      if (rule.backend == "nccl" && rule.collective == "alltoall" && (!largest || rule.max_bytes > largest->max_bytes)) {
        largest = &rule;
      }
    }
    if (largest && largest->choice.channels_per_net_peer > 0) return largest->choice.channels_per_net_peer;
  } catch (const std::exception&) {
    // Unreadable: nothing shows the value is ours, so it stays.
  }
  return std::nullopt;
}

bool is_our_rules_file(const std::string& path) {
  try {
    const std::string text = files::read_regular_file(path, "the Open MPI rules file", 1 << 20);
    return text.rfind(kOurRulesHeader, 0) == 0;
  } catch (const std::exception&) {
    return false;  // unreadable: nothing shows it is ours, so it stays (and Open MPI says what it makes of it)
  }
}

MeasurementEnvironment decide_measurement_environment(const GetEnv& get, const ExportedNetPeer& net_peer,
                                                      const IsOurRulesFile& our_rules) {
  MeasurementEnvironment decision;
  auto drop = [&](const char* name) {
    if (const char* value = get(name)) decision.dropped.push_back(std::string(name) + "=" + value);
  };
  auto keep = [&](const char* name) {
    if (const char* value = get(name)) decision.kept.emplace_back(name, value);
  };
  const char* plugin = get("NCCL_TUNER_PLUGIN");
  if (plugin && names_our_tuner_plugin(plugin)) {
    drop("NCCL_TUNER_PLUGIN");
    drop("NCCL_TUNER_CONFIG_FILE");
  } else if (plugin) {
    keep("NCCL_TUNER_PLUGIN");
    keep("NCCL_TUNER_CONFIG_FILE");
  }
  const char* profile = get("CCTUNE_PROFILE");
  if (const char* channels = get("NCCL_NCHANNELS_PER_NET_PEER")) {
    const std::optional<int> ours = profile ? net_peer(profile) : std::nullopt;
    if (ours && std::to_string(*ours) == channels) {
      drop("NCCL_NCHANNELS_PER_NET_PEER");
    } else {
      keep("NCCL_NCHANNELS_PER_NET_PEER");
    }
  }
  if (const char* rules = get("OMPI_MCA_coll_tuned_dynamic_rules_filename")) {
    if (our_rules(rules)) {
      drop("OMPI_MCA_coll_tuned_dynamic_rules_filename");
    } else {
      keep("OMPI_MCA_coll_tuned_dynamic_rules_filename");
    }
  }
  drop("CCTUNE_PROFILE");
  return decision;
}

namespace {
MeasurementEnvironment& applied() {
  static MeasurementEnvironment decision;
  return decision;
}
}  // namespace

void apply(const MeasurementEnvironment& decision) {
  for (const std::string& entry : decision.dropped) unsetenv(entry.substr(0, entry.find('=')).c_str());
  applied() = decision;
}

const MeasurementEnvironment& measurement_environment() { return applied(); }

nlohmann::json to_json(const MeasurementEnvironment& decision) {
  nlohmann::json kept = nlohmann::json::object();
  for (const auto& [name, value] : decision.kept) kept[name] = value;
  return {{"kept", kept}, {"dropped", decision.dropped}};
}

std::string MeasurementEnvironment::dropped_line() const {
  if (dropped.empty()) return {};
  return "cctune: note: measuring without cctune's own exports (a sourced cctune.env?), as a job without "
         "them runs: unset " + join(dropped);
}

std::string MeasurementEnvironment::kept_line() const {
  if (kept.empty()) return {};
  std::vector<std::string> items;
  for (const auto& [name, value] : kept) items.push_back(name + "=" + value);
  return "cctune: note: measuring under the site's " + join(items) +
         " (NCCL's default here; recorded with the run)";
}

}  // namespace cctune::tuner
