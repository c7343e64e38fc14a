#include "cli/export_command.hpp"

#include <filesystem>
#include <optional>

#include "cli/edge.hpp"
#include "collectives/error.hpp"
#include "collectives/files.hpp"
#include "tuner/exporters.hpp"
#include "tuner/profile.hpp"
#include "tuner/search_space.hpp"

namespace cctune::cli {

struct ExportCommand {
  std::string profile;
  std::optional<std::string> out_dir;  // unset: beside the profile; "" is refused, not the current folder
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
    tuner::check_algorithms(profile, command->profile);
    const fs::path profile_path = fs::absolute(command->profile);
    // -o "" is refused by name before it is made absolute.
    if (command->out_dir) files::check_output_folder(*command->out_dir, "the output folder (-o)");
    const fs::path dir = command->out_dir ? fs::absolute(*command->out_dir) : profile_path.parent_path();
    if (!command->out_dir) files::check_output_folder(dir.string(), "the output folder");
    const fs::path rules = dir / "ompi-rules.conf";
    const fs::path env = dir / "cctune.env";
    std::error_code ec;
    if (fs::is_directory(dir, ec)) {
      files::check_output_file(rules.string(), "the output file");
      files::check_output_file(env.string(), "the output file");
    }
    // Both files are made before either is written: a profile that cannot be exported writes nothing.
    const std::string rules_text = tuner::export_ompi_rules(profile);
    const std::string env_text =
        tuner::export_env_file(profile, {profile_path.string(), rules.string(), mpi_shim_path(), self_path()});
    fs::create_directories(dir, ec);
    if (ec) CCTUNE_THROW("cannot make the output folder '" + dir.string() + "': " + ec.message());
    write_file_atomically(rules, rules_text);
    write_file_atomically(env, env_text);
    if (speaks_for_job()) std::printf("wrote %s\nwrote %s\n", rules.c_str(), env.c_str());
    return kOk;
  } catch (const UsageError& e) {
    return report_usage_error(e.what());
  } catch (const std::filesystem::filesystem_error& e) {
    return report_usage_error(e.what());
  }
}

}  // namespace cctune::cli
