// Reading profiles and NVIDIA's CSV: every number is checked as the number it is, every name against
// the one list that defines it, every message is one line naming the file, the key, the value and
// what is allowed; the plugin's rule table keeps only what a lookup can return.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "collectives/error.hpp"
#include "tuner/exporters.hpp"
#include "tuner/nccl_plugin/rule_table.hpp"
#include "tuner/profile.hpp"
#include "tuner/search_space.hpp"
#include "tests/unit/no_hang.hpp"

namespace cctune::tuner {
namespace {

using Json = nlohmann::ordered_json;

Json base_profile() {
  return Json::parse(R"({"format": "cctune-profile", "version": 1, "backend": "nccl",
    "shape": {"nranks": 16, "nnodes": 2, "ranks_per_node": 8},
    "rules": [{"collective": "allreduce", "backend": "nccl", "min_bytes": 0, "max_bytes": 65535,
               "choice": {"algorithm": "ring", "protocol": "ll", "channels": 4}, "median_us": 9.5}]})");
}

// The one line parse_profile refuses `profile` with ("" when it reads it).
std::string refusal(const Json& profile) {
  try {
    parse_profile(profile.dump(), "p.json");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

std::string refusal(const std::string& text) {
  try {
    parse_profile(text, "p.json");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

void expect_one_line_naming(const std::string& message, std::initializer_list<const char*> parts) {
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.rfind("p.json: ", 0), 0u) << message;
  EXPECT_EQ(message.find("json.exception"), std::string::npos) << message;
  for (const char* part : parts) EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' in: " << message;
}

TEST(ProfileNumbers, OutOfRangeValuesAreRefusedNamingKeyValueAndRange_Item21) {
  EXPECT_EQ(refusal(base_profile()), "");
  {  // 2^40 channels: nlohmann's get<int>() made this 0
    Json p = base_profile();
    p["rules"][0]["choice"]["channels"] = std::uint64_t{1} << 40;
    expect_one_line_naming(refusal(p), {"rule 0", "\"channels\"", "1099511627776", "0 to 64"});
  }
  {  // -3 for an unsigned size: was exported as 2^64-3
    Json p = base_profile();
    p["rules"][0]["backend"] = "mpi";
    p["rules"][0]["choice"] = {{"algorithm", "ompi:5"}, {"segsize", -3}};
    expect_one_line_naming(refusal(p), {"rule 0", "\"segsize\"", "-3", "0 to 2147483647"});
  }
  {
    Json p = base_profile();
    p["version"] = 1e300;
    expect_one_line_naming(refusal(p), {"\"version\"", "1e+300", "not a whole number"});
  }
  {
    Json p = base_profile();
    p["shape"]["nranks"] = 2.7;
    expect_one_line_naming(refusal(p), {"shape", "\"nranks\"", "2.7", "not a whole number", "1 to 2147483647"});
  }
  {
    Json p = base_profile();
    p["rules"] = nullptr;
    expect_one_line_naming(refusal(p), {"\"rules\"", "null", "expected a list"});
  }
  {
    Json p = base_profile();
    p["shape"]["nnodes"] = 17;  // more nodes than ranks
    expect_one_line_naming(refusal(p), {"\"nnodes\"", "17", "1 to 16"});
  }
  {
    Json p = base_profile();
    p["rules"][0]["max_bytes"] = -1;
    expect_one_line_naming(refusal(p), {"\"max_bytes\"", "-1", "0 to 18446744073709551615"});
  }
  {
    Json p = base_profile();
    p["rules"][0]["reg_buff"] = 2;
    expect_one_line_naming(refusal(p), {"\"reg_buff\"", "2", "-1 to 1"});
  }
  {
    Json p = base_profile();
    p["rules"][0]["median_us"] = "fast";
    expect_one_line_naming(refusal(p), {"\"median_us\"", "\"fast\"", "finite number"});
  }
  {  // the largest values that are allowed still read
    Json p = base_profile();
    p["rules"][0]["max_bytes"] = UINT64_MAX;
    p["rules"][0]["choice"]["channels"] = 64;
    EXPECT_EQ(refusal(p), "");
  }
}

TEST(ProfileNumbers, OverflowAndTypeErrorsAreOneLineNotStoiOrTheJsonLibrarys_Item22) {
  {  // std::stoi threw out_of_range here: "cctune: error: stoi", exit 1
    Json p = base_profile();
    p["rules"][0]["backend"] = "mpi";
    p["rules"][0]["choice"] = {{"algorithm", "ompi:99999999999999999999"}};
    expect_one_line_naming(refusal(p), {"rule 0", "'ompi:99999999999999999999'", "ompi:0 to ompi:6"});
  }
  {
    Json p = base_profile();
    p["rules"][0]["collective"] = 5;
    expect_one_line_naming(refusal(p), {"rule 0", "\"collective\"", "expected a string"});
  }
  {
    Json p = base_profile();
    p["rules"][0].erase("choice");
    expect_one_line_naming(refusal(p), {"rule 0", "\"choice\" is missing"});
  }
  expect_one_line_naming(refusal(std::string(R"({"format": "cctune-profile", "version": 1, "shape": {)")),
                         {"not valid JSON at byte"});
  expect_one_line_naming(refusal(std::string("[1, 2]")), {"not a cctune profile"});
}

// A predicted rule names the shape it is for, which is never the measured one, and its points lie in
// its range; the plugin's table takes it only for a communicator of that shape.
TEST(ProfilePredicted, PredictedRulesAreForTheirOwnShapeOnly) {
  Json profile = base_profile();
  Json rule = profile["rules"][0];
  rule["nranks"] = 64;
  rule["nnodes"] = 8;
  rule["choice"]["algorithm"] = "tree";
  rule["predicted"] = Json::parse(R"([{"bytes": 4096, "us": 31.5}])");
  profile["rules"].push_back(rule);
  EXPECT_EQ(refusal(profile), "");
  const Profile read = parse_profile(profile.dump(), "p.json");
  ASSERT_EQ(read.rules[1].predicted.size(), 1u);
  EXPECT_EQ(read.rules[1].predicted[0].us, 31.5);
  EXPECT_EQ(predicted_rules_for(read, 64, 8), 1u);

  EXPECT_EQ(RuleTable::from_profile(read, 64, 8).size(), 1u);   // the predicted rule alone
  EXPECT_EQ(RuleTable::from_profile(read, 16, 2).size(), 1u);   // the measured rule alone
  EXPECT_THROW(RuleTable::from_profile(read, 32, 4), UsageError);  // neither measured nor predicted

  auto with = [&](auto change) {
    Json copy = profile;
    change(copy["rules"][1]);
    return refusal(copy);
  };
  expect_one_line_naming(with([](Json& r) { r.erase("nnodes"); }), {"rule 1", "predicted rule", "nnodes"});
  expect_one_line_naming(with([](Json& r) { r["nranks"] = 16; r["nnodes"] = 2; }), {"rule 1", "measured", "16 ranks on 2"});
  expect_one_line_naming(with([](Json& r) { r["predicted"] = Json::array(); }), {"rule 1", "empty"});
  expect_one_line_naming(with([](Json& r) { r["predicted"][0]["bytes"] = 70000; }), {"rule 1", "predicted point 0", "70000", "range"});
  expect_one_line_naming(with([](Json& r) { r["predicted"][0].erase("us"); }), {"predicted point 0", "\"us\" is missing"});
  expect_one_line_naming(with([](Json& r) { r["predicted"][0]["us"] = -1; }), {"predicted point 0", "\"us\""});
  expect_one_line_naming(with([](Json& r) { r["predicted"] = 3; }), {"rule 1", "predicted", "expected a list"});
}

TEST(ProfileNames, UnknownAlgorithmsAreRefusedAgainstTheOneListOfEach_Item21) {
  {
    Json p = base_profile();
    p["rules"][0]["choice"]["algorithm"] = "warp9";
    expect_one_line_naming(refusal(p), {"unknown NCCL algorithm 'warp9'"});
  }
  {  // "-1" is the CSV's "any", not a profile's
    Json p = base_profile();
    p["rules"][0]["choice"]["protocol"] = "-1";
    expect_one_line_naming(refusal(p), {"unknown NCCL protocol '-1'"});
  }
  // Every NCCL name the profile accepts is an index of NCCL's cost table, and the other way round.
  for (std::size_t i = 0; i < kNcclAlgorithms.size(); ++i) {
    EXPECT_EQ(nccl_algorithm_index(kNcclAlgorithms[i]), static_cast<int>(i));
  }
  EXPECT_EQ(nccl_algorithm_index("any"), -1);
  EXPECT_EQ(nccl_protocol_index("ll128"), 1);
  EXPECT_EQ(nccl_collective_index("allreduce"), 4);
  EXPECT_EQ(nccl_collective_index("alltoall"), -1);
  // A host algorithm cctune does not have was exported as an env file preloading libcctune-mpi.so.
  Profile profile;
  profile.shape.nranks = 4;
  profile.shape.nnodes = 1;
  Rule rule;
  rule.collective = "allreduce";
  rule.backend = "mpi";
  rule.max_bytes = 100;
  rule.choice.algorithm = "ring";
  profile.rules = {rule};
  EXPECT_NO_THROW(check_algorithms(profile, "p.json"));
  profile.rules[0].choice.algorithm = "ring_of_my_own";
  try {
    check_algorithms(profile, "p.json");
    ADD_FAILURE() << "ring_of_my_own accepted";
  } catch (const UsageError& e) {
    expect_one_line_naming(e.what(), {"rule 0", "unknown mpi allreduce algorithm 'ring_of_my_own'", "ring"});
  }
  profile.rules[0].collective = "alltoall";
  profile.rules[0].choice.algorithm = "ring";  // an allreduce algorithm, not an alltoall one
  EXPECT_THROW(check_algorithms(profile, "p.json"), UsageError);
}

std::string csv_refusal(const std::string& text) {
  try {
    RuleTable::from_csv(text, "t.conf", 8, 1);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(CsvNumbers, EveryColumnIsRangeCheckedAsTheNumberItIs_Item21) {
  EXPECT_EQ(csv_refusal("allreduce,0,1023,ring,ll,4,-1,-1\n"), "");
  // 4294967300 channels became 4 (truncated to int).
  const std::string channels = csv_refusal("allreduce,0,1023,ring,ll,4294967300,-1,-1\n");
  EXPECT_NE(channels.find("t.conf line 1: channels 4294967300 is out of range: -1 to 64"), std::string::npos) << channels;
  const std::string ranks = csv_refusal("allreduce,0,1023,ring,ll,4,-1,99999999999999999999999\n");
  EXPECT_NE(ranks.find("nRanks 99999999999999999999999 is out of range"), std::string::npos) << ranks;
  EXPECT_NE(csv_refusal("allreduce,0,1023,ring,ll,-2,-1,-1\n").find("channels -2 is out of range"), std::string::npos);
  EXPECT_NE(csv_refusal("allreduce,0,1023,ring,ll,4,-1,-1,-1,2\n").find("regBuff 2 is out of range: -1 to 1"),
            std::string::npos);
  EXPECT_NE(csv_refusal("allreduce,0,1e3,ring,ll,4,-1,-1\n").find("max_bytes '1e3' is not a whole number"),
            std::string::npos);
  EXPECT_NE(csv_refusal("allreduce,-5,1023,ring,ll,4,-1,-1\n").find("min_bytes '-5' is not a whole number"),
            std::string::npos);
  EXPECT_NE(csv_refusal("allreduce,0,18446744073709551616,ring,ll,4,-1,-1\n").find("max_bytes 18446744073709551616 is out of range"),
            std::string::npos);
  EXPECT_NE(csv_refusal("allreduce,99,9,ring,ll,4,-1,-1\n").find("min_bytes is larger"), std::string::npos);
  // The largest size is a size, not "any" by accident.
  const RuleTable table = RuleTable::from_csv("allreduce,0,18446744073709551615,ring,ll,4,-1,-1\n", "t.conf", 8, 1);
  ASSERT_NE(table.find(4, UINT64_MAX, 1, 0), nullptr);
  EXPECT_EQ(table.find(4, UINT64_MAX, 1, 0)->channels, 4);
}

// The first matching rule in file order, as a scan of every rule finds it: what the table must return.
const NcclRule* scan(const std::vector<NcclRule>& rules, std::uint64_t bytes, int num_pipe_ops, int reg_buff) {
  for (const NcclRule& rule : rules) {
    if (rule.min_bytes <= bytes && bytes <= rule.max_bytes && (rule.num_pipe_ops < 0 || rule.num_pipe_ops == num_pipe_ops) &&
        (rule.reg_buff < 0 || rule.reg_buff == reg_buff)) {
      return &rule;
    }
  }
  return nullptr;
}

TEST(RuleTable, OverlappingRulesKeepFirstMatchWinsForEverySizeAndFilter_Item8) {
  // Random overlapping ranges with every kind of filter, against a plain scan of the file.
  std::mt19937_64 rng(11);
  std::vector<NcclRule> rules;
  std::string csv;
  for (int i = 0; i < 400; ++i) {
    NcclRule rule;
    rule.min_bytes = std::uniform_int_distribution<std::uint64_t>(0, 5000)(rng);
    rule.max_bytes = i % 37 == 0 ? UINT64_MAX : rule.min_bytes + std::uniform_int_distribution<std::uint64_t>(0, 3000)(rng);
    rule.algorithm = i % 7;
    rule.protocol = i % 3;
    rule.channels = i % 64 + 1;  // tells the rules apart
    rule.num_pipe_ops = i % 5 == 0 ? 2 : i % 7 == 0 ? 1 : -1;
    rule.reg_buff = i % 3 == 0 ? 1 : i % 11 == 0 ? 0 : -1;
    rules.push_back(rule);
    csv += "allreduce," + std::to_string(rule.min_bytes) + "," +
           (rule.max_bytes == UINT64_MAX ? std::string("-1") : std::to_string(rule.max_bytes)) + "," +
           std::string(kNcclAlgorithms[static_cast<std::size_t>(rule.algorithm)]) + "," +
           std::string(kNcclProtocols[static_cast<std::size_t>(rule.protocol)]) + "," + std::to_string(rule.channels) +
           ",-1,-1," + std::to_string(rule.num_pipe_ops) + "," + std::to_string(rule.reg_buff) + "\n";
  }
  const RuleTable table = RuleTable::from_csv(csv, "t.conf", 8, 1);
  ASSERT_EQ(table.size(), rules.size());
  for (std::uint64_t bytes = 0; bytes <= 9000; bytes += 7) {
    for (int pipe : {-1, 1, 2, 3}) {
      for (int registered : {-1, 0, 1}) {
        const NcclRule* expected = scan(rules, bytes, pipe, registered);
        const NcclRule* found = table.find(4, bytes, pipe, registered);
        ASSERT_EQ(found == nullptr, expected == nullptr) << bytes << " " << pipe << " " << registered;
        if (!expected) continue;
        EXPECT_EQ(found->channels, expected->channels) << bytes << " " << pipe << " " << registered;
        EXPECT_EQ(found->min_bytes, expected->min_bytes);
        EXPECT_EQ(found->max_bytes, expected->max_bytes);
      }
    }
  }
  EXPECT_NE(table.find(4, UINT64_MAX, 1, 0), nullptr);
  EXPECT_EQ(table.find(2, 100, 1, 0), nullptr);  // allgather has no rule
}

TEST(RuleTable, HundredThousandNestedRulesStaySmall_Item8) {
  // Each rule inside the one before it: every size is covered by up to 100,000 rules. The table kept
  // every covering rule per segment (5e9 entries here); it must keep one per segment.
  constexpr int kRules = 100000;
  std::string csv;
  csv.reserve(kRules * 48);
  for (int i = 0; i < kRules; ++i) {
    csv += "allreduce," + std::to_string(i) + "," + std::to_string(2 * kRules - i) + ",ring,ll," +
           std::to_string(i % 64 + 1) + ",-1,-1\n";
  }
  const RuleTable table = RuleTable::from_csv(csv, "t.conf", 8, 1);
  EXPECT_EQ(table.size(), static_cast<std::size_t>(kRules));
  // At most two cuts per rule; every segment and every kept rule in a few dozen bytes.
  EXPECT_LE(table.segment_count(), 2u * kRules + 1);
  EXPECT_LE(table.memory_bytes(), 64 * table.segment_count() + 4096);
  // The first rule covers everything it spans: the rules inside it never win.
  EXPECT_EQ(table.segment_count(), 2u);  // [0, 2n] -> rule 0, then nothing
  ASSERT_NE(table.find(4, kRules, 1, 0), nullptr);
  EXPECT_EQ(table.find(4, kRules, 1, 0)->channels, 1);
  EXPECT_EQ(table.find(4, 2 * kRules + 1, 1, 0), nullptr);
}

TEST(RuleTable, ManyRulesEachWinningSomewhereStayLinear_Item8) {
  // Staircase: rule i covers [i, i + n); each wins exactly at size i. Segments grow with n, not n^2.
  constexpr int kRules = 100000;
  std::string csv;
  for (int i = 0; i < kRules; ++i) {
    csv += "allreduce," + std::to_string(i) + "," + std::to_string(i + kRules) + ",tree,simple,-1,-1,-1\n";
  }
  const RuleTable table = RuleTable::from_csv(csv, "t.conf", 8, 1);
  EXPECT_LE(table.segment_count(), 2u * kRules + 1);
  EXPECT_LE(table.memory_bytes(), 64 * table.segment_count() + 4096);
  EXPECT_LT(table.memory_bytes(), std::size_t{16} << 20);
  ASSERT_NE(table.find(4, 2 * kRules - 1, 1, 0), nullptr);
  EXPECT_EQ(table.find(4, 2 * kRules - 1, 1, 0)->min_bytes, static_cast<std::uint64_t>(kRules - 1));
  EXPECT_EQ(table.find(4, 5, 1, 0)->min_bytes, 0u);  // rule 0 covers [0, n]: earliest wins
}

class ProfileFiles : public testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("cctune_profile_test_" + std::to_string(getpid()));
};

TEST_F(ProfileFiles, AFifoOrDevZeroIsRefusedWithoutBlocking_Item7) {
  std::filesystem::create_directories(dir);
  const std::string fifo = (dir / "profile.fifo").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {fifo, std::string("/dev/zero"), dir.string()}) {
    const std::string message = no_hang::within(
        20,
        [path] {
          try {
            read_profile(path);
          } catch (const UsageError& e) {
            return std::string(e.what());
          }
          return std::string();
        },
        "reading " + path);
    EXPECT_EQ(message.rfind(path + ": the profile: ", 0), 0u) << message;
  }
  // Larger than any profile: refused unread.
  const std::string large = (dir / "large.json").string();
  std::filesystem::resize_file((std::ofstream(large), large), kMaxProfileBytes + 1);
  EXPECT_THROW(read_profile(large), UsageError);
}

// 500,000 levels in about 1 MB: nlohmann parses that without recursing, but quoting the value in the
// refusal (dump()) recursed once per level and overflowed the stack, inside a tenant's NCCL or MPI job.
TEST_F(ProfileFiles, DeeplyNestedProfileIsOneUsageErrorNotACrash_DeepNesting) {
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "deep.json").string();
  constexpr std::size_t kDepth = 500000;
  std::ofstream(path) << R"({"format": "cctune-profile", "version": 1, "shape": {"nranks": 2, "nnodes": 1},
                          "rules": )" << std::string(kDepth, '[')
                      << std::string(kDepth, ']') << "}";
  std::string message;
  try {
    read_profile(path);
  } catch (const UsageError& e) {
    message = e.what();
  }
  EXPECT_EQ(message, path + ": JSON nested more than 256 levels deep");
}

TEST(ProfileNumbers, ContainersAreNamedNotWrittenOut_DeepNesting) {
  // Shallow enough to parse: the refusal names what is there instead of writing it out.
  Json p = base_profile();
  p["rules"] = Json::array({Json::array({Json::array({1, 2})})});
  expect_one_line_naming(refusal(p), {"rule 0: is a list, expected an object"});
  p = base_profile();
  p["rules"][0]["choice"]["algorithm"] = Json::object({{"x", Json::array({1})}});
  expect_one_line_naming(refusal(p), {"\"algorithm\" is an object, expected a string"});
  // Brackets in strings are not nesting.
  p = base_profile();
  p["created"] = std::string(1000, '[');
  EXPECT_EQ(refusal(p), "");
}

}  // namespace
}  // namespace cctune::tuner
