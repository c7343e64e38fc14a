// The environment bench, tune and verify measure under: our own tuner exports dropped, the site's kept.
#include "tuner/measurement_env.hpp"

#include <gtest/gtest.h>

#include <map>

namespace cctune::tuner {
namespace {

MeasurementEnvironment decide(const std::map<std::string, std::string>& env, std::optional<int> exported = std::nullopt) {
  return decide_measurement_environment(
      [&](const char* name) -> const char* {
        const auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
      },
      [&](const std::string&) { return exported; });
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
