// The exporters' output, checked line by line where Open MPI's parser is unforgiving: the first size
// of a block is 0, sizes ascend strictly, gaps go back to Open MPI's own decision (algorithm 0).
#include "tuner/exporters.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>

#include "collectives/error.hpp"

namespace cctune::tuner {
namespace {

Rule mpi_rule(const std::string& collective, std::uint64_t min, std::uint64_t max, const std::string& algorithm,
              std::uint64_t segsize = 0) {
  Rule rule;
  rule.collective = collective;
  rule.backend = "mpi";
  rule.min_bytes = min;
  rule.max_bytes = max;
  rule.choice.algorithm = algorithm;
  rule.choice.segsize = segsize;
  return rule;
}

EnvFilePaths paths(std::string profile, std::string rules, std::string mpi_shim = {}, std::string cctune = {}) {
  return EnvFilePaths{std::move(profile), std::move(rules), std::move(mpi_shim), std::move(cctune)};
}

// The numbers of a rules file, comments dropped, as Open MPI reads them.
std::vector<std::vector<std::uint64_t>> numbers(const std::string& text) {
  std::vector<std::vector<std::uint64_t>> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::vector<std::uint64_t> values;
    for (std::uint64_t v; words >> v;) values.push_back(v);
    if (!values.empty()) lines.push_back(values);
  }
  return lines;
}

TEST(OmpiRules, GapsOverlapsAndOpenEndsBecomeAscendingKeysFromZero) {
  Profile profile;
  profile.shape.nranks = 4;
  profile.shape.nnodes = 1;
  profile.rules = {mpi_rule("allreduce", 1024, 65535, "ompi:3"),
                   mpi_rule("allreduce", 32768, 1048575, "ompi:6"),  // overlaps the first: first wins
                   mpi_rule("allreduce", 4194304, UINT64_MAX, "ompi:5", 65536),
                   mpi_rule("alltoall", 0, 4095, "ompi:3"),
                   mpi_rule("allreduce", 0, 100, "ring")};  // ours: not exportable to Open MPI
  const auto lines = numbers(export_ompi_rules(profile));
  const std::vector<std::vector<std::uint64_t>> expected = {
      {2},                                                      // two collectives
      {2, 1}, {4, 5},                                           // allreduce: 4 ranks, 5 sizes
      {0, 0, 0, 0}, {1024, 3, 0, 0}, {65536, 6, 0, 0}, {1048576, 0, 0, 0}, {4194304, 5, 0, 65536},
      {3, 1}, {4, 2},                                           // alltoall: 4 ranks, 2 sizes
      {0, 3, 0, 0}, {4096, 0, 0, 0}};
  EXPECT_EQ(lines, expected);
}

TEST(OmpiRules, PerRuleRankCountsMakeSeparateBlocks) {
  Profile profile;
  profile.shape.nranks = 8;
  Rule small = mpi_rule("allreduce", 0, UINT64_MAX, "ompi:1");
  small.nranks = 2;
  profile.rules = {small, mpi_rule("allreduce", 0, UINT64_MAX, "ompi:4")};
  const auto lines = numbers(export_ompi_rules(profile));
  const std::vector<std::vector<std::uint64_t>> expected = {{1}, {2, 2}, {2, 1}, {0, 1, 0, 0}, {8, 1}, {0, 4, 0, 0}};
  EXPECT_EQ(lines, expected);
}

TEST(EnvFile, PointsOpenMpiAtTheRulesAndNcclAtThePluginOnlyWhenThereAreNcclRules) {
  Profile profile;
  profile.rules = {mpi_rule("allreduce", 0, 10, "ompi:1")};
  std::string env = export_env_file(profile, paths("/p/profile.json", "/p/it's rules.conf"));
  EXPECT_NE(env.find("export OMPI_MCA_coll_tuned_use_dynamic_rules=1\n"), std::string::npos);
  EXPECT_NE(env.find("export OMPI_MCA_coll_tuned_dynamic_rules_filename='/p/it'\\''s rules.conf'\n"), std::string::npos);
  EXPECT_EQ(env.find("NCCL_TUNER_PLUGIN"), std::string::npos);
  Rule nccl = mpi_rule("allreduce", 0, 10, "ring");
  nccl.backend = "nccl";
  profile.rules.push_back(nccl);
  env = export_env_file(profile, paths("/p/profile.json", "/p/rules.conf"));
  EXPECT_NE(env.find("export NCCL_TUNER_PLUGIN=cctune\nexport CCTUNE_PROFILE='/p/profile.json'\n"), std::string::npos);
}

TEST(EnvFile, PreloadsTheMpiShimThroughOpenMpisLauncherOnlyForOurOwnAlgorithms) {
  Profile profile;
  profile.rules = {mpi_rule("allreduce", 0, 10, "ompi:1")};
  EXPECT_FALSE(needs_mpi_shim(profile));
  EXPECT_EQ(export_env_file(profile, paths("/p/profile.json", "/p/rules.conf", "/lib/libcctune-mpi.so")).find("LD_PRELOAD"),
            std::string::npos);
  profile.rules.push_back(mpi_rule("allreduce", 11, 100, "ring"));
  EXPECT_TRUE(needs_mpi_shim(profile));
  const std::string env = export_env_file(profile, paths("/p/profile.json", "/p/rules.conf", "/lib/libcctune-mpi.so"));
  EXPECT_NE(env.find("export CCTUNE_PROFILE='/p/profile.json'\n"), std::string::npos);
  EXPECT_NE(env.find("export CCTUNE_MPI_PRELOAD='/lib/libcctune-mpi.so'\n"), std::string::npos);
  // Appends to a list the user may already have, and never preloads mpirun itself.
  EXPECT_NE(env.find("export OMPI_MCA_mca_base_env_list=\"${OMPI_MCA_mca_base_env_list:+$OMPI_MCA_mca_base_env_list;}"
                     "LD_PRELOAD=$CCTUNE_MPI_PRELOAD;CCTUNE_PROFILE=$CCTUNE_PROFILE\"\n"),
            std::string::npos);
  EXPECT_EQ(env.find("export LD_PRELOAD"), std::string::npos);
  const std::string missing = export_env_file(profile, paths("/p/profile.json", "/p/rules.conf", ""));
  EXPECT_EQ(missing.find("LD_PRELOAD"), std::string::npos);
  EXPECT_NE(missing.find("libcctune-mpi.so was not found"), std::string::npos);
  EXPECT_THROW(export_env_file(profile, paths("/p/a;b/profile.json", "/p/rules.conf", "/lib/libcctune-mpi.so")), UsageError);
}

TEST(Profile, RoundTripsAndRefusesWhatItCannotRead) {
  Profile profile;
  profile.shape.nranks = 4;
  profile.shape.nnodes = 1;
  profile.rules = {mpi_rule("allreduce", 0, 1023, "ompi:5", 4096)};
  const Profile back = parse_profile(profile_to_json(profile), "p.json");
  ASSERT_EQ(back.rules.size(), 1u);
  EXPECT_EQ(back.rules[0].choice.segsize, 4096u);
  EXPECT_EQ(back.rules[0].max_bytes, 1023u);
  const std::string text = profile_to_json(profile);
  EXPECT_THROW(parse_profile(text.substr(0, text.size() / 2), "p.json"), UsageError);
  std::string wrong = text;
  wrong.replace(wrong.find("ompi:5"), 6, "ompi:9");
  EXPECT_THROW(parse_profile(wrong, "p.json"), UsageError);
  EXPECT_THROW(parse_profile(R"({"format": "cctune-profile", "version": 2})", "p.json"), UsageError);
}

TEST(Profile, KeepsTheTunedBackendAndReadsOlderProfilesAsMpi) {
  Profile profile;
  profile.shape.nranks = 8;
  profile.shape.nnodes = 1;
  profile.backend = "nccl";
  Rule alltoall = mpi_rule("alltoall", 0, UINT64_MAX, "any");
  alltoall.backend = "nccl";
  alltoall.choice.channels_per_net_peer = 4;
  profile.rules = {alltoall};
  const std::string text = profile_to_json(profile);
  const Profile back = parse_profile(text, "p.json");
  EXPECT_EQ(back.backend, "nccl");
  EXPECT_EQ(back.rules.at(0).choice, alltoall.choice);
  nlohmann::json older = nlohmann::json::parse(text);
  older.erase("backend");
  older["rules"] = nlohmann::json::array();
  EXPECT_EQ(parse_profile(older.dump(), "p.json").backend, "mpi");
  nlohmann::json unknown = nlohmann::json::parse(text);
  unknown["backend"] = "gloo";
  EXPECT_THROW(parse_profile(unknown.dump(), "p.json"), UsageError);
  std::string negative = text;
  const std::string four = "\"channels_per_net_peer\": 4";
  negative.replace(negative.find(four), four.size(), "\"channels_per_net_peer\": -4");
  EXPECT_THROW(parse_profile(negative, "p.json"), UsageError);
}

TEST(EnvFile, MeasuresTheNodesFingerprintWhenSourcedForThePluginAndTheShimToCompare) {
  Profile profile;
  profile.shape.fingerprint = "ff79a83bdfe69ba0";
  profile.rules = {mpi_rule("allreduce", 0, 10, "ompi:1")};
  // Open MPI's own algorithms only: nothing of ours reads the profile in the job, nothing to compare.
  EXPECT_EQ(export_env_file(profile, paths("/p/profile.json", "/p/rules.conf", "", "/opt/cctune/bin/cctune"))
                .find("CCTUNE_NODE_FINGERPRINT"),
            std::string::npos);
  Rule nccl = mpi_rule("allreduce", 0, 10, "ring");
  nccl.backend = "nccl";
  profile.rules.push_back(nccl);
  const std::string env = export_env_file(profile, paths("/p/profile.json", "/p/rules.conf", "", "/opt/cctune/bin/cctune"));
  EXPECT_NE(env.find("export CCTUNE_NODE_FINGERPRINT=\"$('/opt/cctune/bin/cctune' topo --fingerprint 2>/dev/null)\"\n"),
            std::string::npos)
      << env;
  EXPECT_EQ(export_env_file(profile, paths("/p/profile.json", "/p/rules.conf")).find("CCTUNE_NODE_FINGERPRINT"),
            std::string::npos);
}

TEST(Profile, ANodeFingerprintOtherThanTheTunedOneIsRefusedAnUnknownOneIsNot) {
  Profile profile;
  profile.shape.fingerprint = "ff79a83bdfe69ba0";
  EXPECT_NO_THROW(check_node_fingerprint(profile, "ff79a83bdfe69ba0"));
  EXPECT_NO_THROW(check_node_fingerprint(profile, ""));
  EXPECT_THROW(check_node_fingerprint(profile, "0123456789abcdef"), UsageError);
  profile.shape.fingerprint.clear();
  EXPECT_NO_THROW(check_node_fingerprint(profile, "0123456789abcdef"));
}

TEST(EnvFile, SetsAlltoallsNetworkChannelsPerPeerFromTheRuleForTheLargestSizes) {
  Profile profile;
  Rule small = mpi_rule("alltoall", 0, 1023, "any");
  small.backend = "nccl";
  small.choice.channels_per_net_peer = 2;
  Rule large = small;
  large.min_bytes = 1024;
  large.max_bytes = UINT64_MAX;
  large.choice.channels_per_net_peer = 4;
  profile.rules = {large, small};
  EXPECT_NE(export_env_file(profile, paths("/p/profile.json", "/p/rules.conf")).find("export NCCL_NCHANNELS_PER_NET_PEER=4\n"),
            std::string::npos);
  // NCCL's own count at the largest sizes: nothing to set, whatever the smaller ones chose.
  profile.rules[0].choice.channels_per_net_peer = 0;
  EXPECT_EQ(export_env_file(profile, paths("/p/profile.json", "/p/rules.conf")).find("NCCL_NCHANNELS_PER_NET_PEER"),
            std::string::npos);
}

}  // namespace
}  // namespace cctune::tuner
