// The environment bench, tune and verify measure under: our own tuner exports dropped, the site's kept.
#include "tuner/measurement_env.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "tuner/exporters.hpp"
#include "tuner/profile.hpp"

namespace cctune::tuner {
namespace {

MeasurementEnvironment decide(const std::map<std::string, std::string>& env, std::optional<int> exported = std::nullopt,
                              const std::string& our_rules = "") {
  return decide_measurement_environment(
      [&](const char* name) -> const char* {
        const auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
      },
      [&](const std::string&) { return exported; }, [&](const std::string& path) { return path == our_rules; });
}

TEST(MeasurementEnvironment, OurOpenMpiRulesFileGoesASitesStays) {
  const std::string ours = "/p/ompi-rules.conf";
  const auto mine = decide({{"OMPI_MCA_coll_tuned_dynamic_rules_filename", ours}}, std::nullopt, ours);
  EXPECT_EQ(mine.dropped, (std::vector<std::string>{"OMPI_MCA_coll_tuned_dynamic_rules_filename=" + ours}));
  EXPECT_TRUE(mine.kept.empty());
  const auto site = decide({{"OMPI_MCA_coll_tuned_dynamic_rules_filename", "/etc/ompi/rules.conf"}}, std::nullopt, ours);
  EXPECT_TRUE(site.dropped.empty());
  ASSERT_EQ(site.kept.size(), 1u);
  EXPECT_EQ(site.kept[0].second, "/etc/ompi/rules.conf");
}

TEST(MeasurementEnvironment, OurRulesFileIsKnownByTheHeaderCctuneWrites) {
  const auto dir = std::filesystem::temp_directory_path() / ("cctune-rules-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto write = [&](const char* name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  Profile profile;
  profile.cctune_version = "test";
  profile.shape.nranks = 4;
  profile.shape.nnodes = 1;
  EXPECT_TRUE(is_our_rules_file(write("ours.conf", export_ompi_rules(profile))));
  EXPECT_FALSE(is_our_rules_file(write("site.conf", "1  # collectives\n2\n1\n4\n1\n0 4 0 0\n")));
  EXPECT_FALSE(is_our_rules_file((dir / "missing.conf").string()));
  std::filesystem::remove_all(dir);
}

TEST(MeasurementEnvironment, OurPluginAndWhatItReadsNeverSteerAMeasurement) {
  for (const char* ours : {"cctune", "libnccl-tuner-cctune.so", "/opt/cctune/lib/libnccl-tuner-cctune.so"}) {
    const auto decision = decide({{"NCCL_TUNER_PLUGIN", ours}, {"CCTUNE_PROFILE", "/p/profile.json"},
                                  {"NCCL_TUNER_CONFIG_FILE", "/p/rules.csv"}, {"NCCL_NCHANNELS_PER_NET_PEER", "4"}},
                                 4);
    EXPECT_EQ(decision.dropped, (std::vector<std::string>{"NCCL_TUNER_PLUGIN=" + std::string(ours),
                                                          "NCCL_TUNER_CONFIG_FILE=/p/rules.csv",
                                                          "NCCL_NCHANNELS_PER_NET_PEER=4",
                                                          "CCTUNE_PROFILE=/p/profile.json"}))
        << ours;
    EXPECT_TRUE(decision.kept.empty());
    const std::string line = decision.dropped_line();
    EXPECT_EQ(line.rfind("cctune: note: measuring without cctune's own exports", 0), 0u) << line;
    EXPECT_NE(line.find("NCCL_TUNER_PLUGIN=" + std::string(ours)), std::string::npos);
    EXPECT_EQ(line.find('\n'), std::string::npos);
  }
}

TEST(MeasurementEnvironment, TheSitesOwnPluginIsNcclsDefaultThereAndIsKept) {
  for (const char* site : {"site", "/usr/lib/libnccl-tuner-site.so", "none", "cctune-old"}) {
    const auto decision = decide({{"NCCL_TUNER_PLUGIN", site}, {"NCCL_TUNER_CONFIG_FILE", "/etc/nccl/tuner.csv"}});
    EXPECT_TRUE(decision.dropped.empty()) << site;
    ASSERT_EQ(decision.kept.size(), 2u) << site;
    EXPECT_EQ(decision.kept[0], (std::pair<std::string, std::string>{"NCCL_TUNER_PLUGIN", site}));
    EXPECT_NE(decision.kept_line().find(std::string("NCCL_TUNER_PLUGIN=") + site), std::string::npos);
    EXPECT_EQ(to_json(decision)["kept"]["NCCL_TUNER_PLUGIN"], site);
  }
}

TEST(MeasurementEnvironment, NetPeerChannelsGoOnlyWhenTheProfilesEnvFileExportedThatValue) {
  // The site's own setting, or another value than the profile's: NCCL's default here, kept.
  EXPECT_EQ(decide({{"NCCL_NCHANNELS_PER_NET_PEER", "4"}}, 4).kept.size(), 1u);
  EXPECT_EQ(decide({{"NCCL_NCHANNELS_PER_NET_PEER", "2"}, {"CCTUNE_PROFILE", "/p"}}, 4).kept.size(), 1u);
  const auto ours = decide({{"NCCL_NCHANNELS_PER_NET_PEER", "4"}, {"CCTUNE_PROFILE", "/p"}}, 4);
  EXPECT_TRUE(ours.kept.empty());
  EXPECT_EQ(ours.dropped, (std::vector<std::string>{"NCCL_NCHANNELS_PER_NET_PEER=4", "CCTUNE_PROFILE=/p"}));
  // Nothing set: nothing to say.
  EXPECT_TRUE(decide({}).dropped_line().empty());
  EXPECT_TRUE(decide({}).kept_line().empty());
}

TEST(MeasurementEnvironment, NamesOfOurPlugin) {
  EXPECT_TRUE(names_our_tuner_plugin("libnccl-tuner-cctune.so.1"));
  EXPECT_FALSE(names_our_tuner_plugin("cctune2"));
  EXPECT_FALSE(names_our_tuner_plugin("/opt/cctune/libnccl-tuner-site.so"));
}

}  // namespace
}  // namespace cctune::tuner
