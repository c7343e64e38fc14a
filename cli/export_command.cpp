#include "cli/export_command.hpp"

#include <filesystem>

#include "cli/edge.hpp"
#include "collectives/error.hpp"
#include "tuner/exporters.hpp"
#include "tuner/profile.hpp"

namespace cctune::cli {

struct ExportCommand {
  std::string profile;
  std::string out_dir;
};

ExportCommand* add_export_command(CLI::App& app) {
  static ExportCommand command;
  auto* sub = app.add_subcommand("export", "Write the files a job imports from a profile: Open MPI rules, env file");
  sub->add_option("profile", command.profile, "The profile (JSON) that cctune tune wrote")->required();
  sub->add_option("-o,--out-dir", command.out_dir, "Where to write them (default: beside the profile)");
  return &command;
}

int run_export_command(ExportCommand* command) {
  try {
    namespace fs = std::filesystem;
    const tuner::Profile profile = tuner::read_profile(command->profile);
    const fs::path profile_path = fs::absolute(command->profile);
    const fs::path dir = command->out_dir.empty() ? profile_path.parent_path() : fs::absolute(command->out_dir);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) CCTUNE_USAGE_ERROR("cannot create '" + dir.string() + "': " + ec.message());
    const fs::path rules = dir / "ompi-rules.conf";
    const fs::path env = dir / "cctune.env";
    write_file_atomically(rules, tuner::export_ompi_rules(profile));
    write_file_atomically(env, tuner::export_env_file(profile, {profile_path.string(), rules.string(), mpi_shim_path(), self_path()}));
    if (speaks_for_job()) std::printf("wrote %s\nwrote %s\n", rules.c_str(), env.c_str());
    return kOk;
  } catch (const UsageError& e) {
    return report_usage_error(e.what());
  } catch (const std::filesystem::filesystem_error& e) {
    return report_usage_error(e.what());
  }
}

}  // namespace cctune::cli
