// Drives libnccl-tuner-cctune.so the way NCCL does: dlopen by NCCL's naming rules, newest symbol
// first, init per communicator, getCollInfo with cost tables, finalize. No NCCL or GPU needed.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdarg>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tuner/nccl_plugin/tuner_abi.h"
#include "tests/unit/no_hang.hpp"

namespace {

std::vector<std::pair<int, std::string>> g_log;

void record(cctuneNcclLogLevel level, unsigned long flags, const char*, int, const char* format, ...) {
  EXPECT_EQ(flags, static_cast<unsigned long>(CCTUNE_NCCL_TUNING));
  char text[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  g_log.emplace_back(level, text);
}

int warnings() {
  int n = 0;
  for (const auto& [level, text] : g_log) n += level == CCTUNE_NCCL_LOG_WARN;
  return n;
}

// NCCL's rule: NCCL_TUNER_PLUGIN's value as given, then as libnccl-tuner-VALUE.so.
void* open_like_nccl(const std::string& value) {
  if (void* handle = dlopen(value.c_str(), RTLD_LAZY | RTLD_LOCAL)) return handle;
  return dlopen(("libnccl-tuner-" + value + ".so").c_str(), RTLD_LAZY | RTLD_LOCAL);
}

constexpr int kTree = 0, kRing = 1, kNvls = 4, kLL = 0, kSimple = 2;

struct CostTable {
  float cost[CCTUNE_NUM_ALGORITHMS][CCTUNE_NUM_PROTOCOLS];
  CostTable() {
    for (int a = 0; a < CCTUNE_NUM_ALGORITHMS; ++a) {
      for (int p = 0; p < CCTUNE_NUM_PROTOCOLS; ++p) cost[a][p] = 10.0f + static_cast<float>(a * 3 + p);
    }
    cost[kNvls][kSimple] = CCTUNE_ALGO_PROTO_IGNORE;  // disabled by NCCL
  }
  float** arg() { return reinterpret_cast<float**>(cost); }
  int zeros() const {
    int n = 0;
    for (const auto& row : cost) {
      for (float c : row) n += c == 0.0f;
    }
    return n;
  }
};

class Plugin : public testing::Test {
 protected:
  void SetUp() override {
    handle = open_like_nccl("cctune");
    ASSERT_NE(handle, nullptr) << dlerror();
    ASSERT_EQ(dlsym(handle, "ncclTunerPlugin_v6"), nullptr);  // what NCCL 2.30 would look for first
    v5 = static_cast<const cctuneTunerPlugin_v5*>(dlsym(handle, "ncclTunerPlugin_v5"));
    v4 = static_cast<const cctuneTunerPlugin_v4*>(dlsym(handle, "ncclTunerPlugin_v4"));
    v3 = static_cast<const cctuneTunerPlugin_v3*>(dlsym(handle, "ncclTunerPlugin_v3"));
    ASSERT_TRUE(v5 && v4 && v3);
    g_log.clear();
    unsetenv("CCTUNE_PROFILE");
    unsetenv("NCCL_TUNER_CONFIG_FILE");
    unsetenv("CCTUNE_NODE_FINGERPRINT");
  }
  void TearDown() override {
    dlclose(handle);
    std::filesystem::remove_all(dir);
  }
  std::string write(const std::string& name, const std::string& text) {
    std::filesystem::create_directories(dir);
    const auto path = (dir / name).string();
    std::ofstream(path) << text;
    return path;
  }
  void* init5(std::size_t nranks, std::size_t nnodes) {
    void* context = nullptr;
    cctuneNvlDomainInfo_v5 nvl{1, 8, 8};
    cctuneTunerConstants_v5 constants{};
    constants.baseLatencies[1][2] = 4.4;
    EXPECT_EQ(v5->init(&context, 42, nranks, nnodes, record, &nvl, &constants), 0);
    EXPECT_EQ(constants.baseLatencies[1][2], 4.4);  // NCCL's model constants are left alone
    return context;
  }

  // One folder per process: ctest -j runs these tests in parallel processes, and TearDown removes it.
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("cctune_plugin_test_" + std::to_string(getpid()));
  void* handle = nullptr;
  const cctuneTunerPlugin_v5* v5 = nullptr;
  const cctuneTunerPlugin_v4* v4 = nullptr;
  const cctuneTunerPlugin_v3* v3 = nullptr;
};

const char* const kProfile = R"({
 "format": "cctune-profile", "version": 1,
 "shape": {"nranks": 16, "nnodes": 2, "ranks_per_node": 8, "fingerprint": "0123456789abcdef"},
 "rules": [
  {"collective": "allreduce", "backend": "nccl", "min_bytes": 0, "max_bytes": 65535,
   "choice": {"algorithm": "ring", "protocol": "ll", "channels": 0}, "median_us": 9.5},
  {"collective": "allreduce", "backend": "nccl", "min_bytes": 65536, "max_bytes": 18446744073709551615,
   "choice": {"algorithm": "tree", "protocol": "simple", "channels": 4}, "median_us": 80.0},
  {"collective": "allgather", "backend": "nccl", "min_bytes": 0, "max_bytes": 1048575,
   "choice": {"algorithm": "nvls", "protocol": "simple", "channels": 0}},
  {"collective": "allreduce", "backend": "mpi", "min_bytes": 0, "max_bytes": 100,
   "choice": {"algorithm": "ompi:3"}}
 ]})";

TEST_F(Plugin, ProfileRulesForceAlgorithmAndProtocolOnlyWhereAllowed) {
  setenv("CCTUNE_PROFILE", write("profile.json", kProfile).c_str(), 1);
  void* context = init5(16, 2);
  ASSERT_NE(context, nullptr);
  EXPECT_EQ(warnings(), 0);

  CostTable small;
  int channels = 0;
  EXPECT_EQ(v5->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 4096, 1, small.arg(), 7, 3, 0, &channels), 0);
  EXPECT_EQ(small.cost[kRing][kLL], 0.0f);
  EXPECT_EQ(small.zeros(), 1);
  EXPECT_EQ(channels, 0);  // the rule sets none: NCCL's count stays

  CostTable large;
  EXPECT_EQ(v5->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 1 << 20, 1, large.arg(), 7, 3, 0, &channels), 0);
  EXPECT_EQ(large.cost[kTree][kSimple], 0.0f);
  EXPECT_EQ(large.zeros(), 1);
  EXPECT_EQ(channels, 4);

  // A disabled (-1) entry is never enabled: the rule then changes nothing.
  CostTable disabled;
  channels = 0;
  EXPECT_EQ(v5->getCollInfo(context, CCTUNE_FUNC_ALLGATHER, 4096, 1, disabled.arg(), 7, 3, 0, &channels), 0);
  EXPECT_EQ(disabled.cost[kNvls][kSimple], CCTUNE_ALGO_PROTO_IGNORE);
  EXPECT_EQ(disabled.zeros(), 0);

  // No rule for broadcast, and MPI rules are not NCCL's business.
  CostTable untouched;
  EXPECT_EQ(v5->getCollInfo(context, CCTUNE_FUNC_BROADCAST, 64, 1, untouched.arg(), 7, 3, 0, &channels), 0);
  EXPECT_EQ(untouched.zeros(), 0);
  EXPECT_EQ(v5->finalize(context), 0);
}

TEST_F(Plugin, StateIsPerCommunicatorAndAMismatchedShapeOnlyWarns) {
  setenv("CCTUNE_PROFILE", write("profile.json", kProfile).c_str(), 1);
  void* matching = init5(16, 2);
  void* other = init5(8, 1);  // a sub-communicator of another shape
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(warnings(), 1);
  EXPECT_NE(g_log.back().second.find("16 ranks on 2 nodes"), std::string::npos) << g_log.back().second;
  CostTable a, b;
  int channels = 0;
  v5->getCollInfo(other, CCTUNE_FUNC_ALLREDUCE, 4096, 1, a.arg(), 7, 3, 0, &channels);
  v5->getCollInfo(matching, CCTUNE_FUNC_ALLREDUCE, 4096, 1, b.arg(), 7, 3, 0, &channels);
  EXPECT_EQ(a.zeros(), 0);
  EXPECT_EQ(b.zeros(), 1);
  v5->finalize(other);
  v5->finalize(matching);
}

TEST_F(Plugin, AProfileTunedOnOtherHardwareOnlyWarns) {
  setenv("CCTUNE_PROFILE", write("profile.json", kProfile).c_str(), 1);
  for (const char* node : {"0123456789abcdef", "fedcba9876543210"}) {
    g_log.clear();
    setenv("CCTUNE_NODE_FINGERPRINT", node, 1);  // as the env file measures it in the job
    const bool same = std::string(node) == "0123456789abcdef";
    void* context = init5(16, 2);
    EXPECT_EQ(warnings(), same ? 0 : 1) << node;
    if (!same) {
      EXPECT_NE(g_log.back().second.find("fedcba9876543210"), std::string::npos) << g_log.back().second;
    }
    CostTable table;
    int channels = 0;
    EXPECT_EQ(v5->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 4096, 1, table.arg(), 7, 3, 0, &channels), 0);
    EXPECT_EQ(table.zeros(), same ? 1 : 0) << node;
    v5->finalize(context);
  }
}

TEST_F(Plugin, BadProfilesWarnOnceAndLeaveNcclAlone) {
  const std::string whole(kProfile);
  const std::vector<std::string> bad = {
      write("truncated.json", whole.substr(0, whole.size() / 2)),
      write("garbage.json", "\x01\x02 not json"),
      write("wrong.json", R"({"format": "something-else", "version": 1})"),
      write("newer.json", R"({"format": "cctune-profile", "version": 99, "shape": {"nranks": 16, "nnodes": 2}, "rules": []})"),
      write("badalgo.json", R"({"format": "cctune-profile", "version": 1, "shape": {"nranks": 16, "nnodes": 2},
        "rules": [{"collective": "allreduce", "backend": "nccl", "min_bytes": 0, "max_bytes": 9,
                   "choice": {"algorithm": "warp9"}}]})"),
      (dir / "missing.json").string(),
  };
  for (const auto& path : bad) {
    g_log.clear();
    setenv("CCTUNE_PROFILE", path.c_str(), 1);
    void* context = init5(16, 2);
    EXPECT_EQ(warnings(), 1) << path;
    CostTable table;
    int channels = 0;
    EXPECT_EQ(v5->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 4096, 1, table.arg(), 7, 3, 0, &channels), 0);
    EXPECT_EQ(table.zeros(), 0) << path;
    EXPECT_EQ(channels, 0);
    v5->finalize(context);
  }
}

TEST_F(Plugin, ReadsNvidiasCsvWhenNoProfileIsNamed) {
  setenv("NCCL_TUNER_CONFIG_FILE", write("nccl_tuner.conf", R"(# collective,min,max,algo,proto,channels,nNodes,nRanks
allreduce,0,1023,tree,ll,-1,-1,-1
allreduce,0,65535,ring,simple,2,1,8     # first match wins below 1 KiB: tree
allreduce,0,65535,nvls,simple,-1,4,32   # another shape: ignored
AllGather, 0, -1, ring, any, -1, -1, -1, -1, 1
)").c_str(), 1);
  void* context = nullptr;
  ASSERT_EQ(v4->init(8, 1, record, &context), 0);
  EXPECT_EQ(warnings(), 0);
  CostTable tiny, medium, large;
  int channels = 0;
  v4->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 512, 1, tiny.arg(), 7, 3, 0, &channels);
  EXPECT_EQ(tiny.cost[kTree][kLL], 0.0f);
  EXPECT_EQ(channels, 0);  // -1 in the file: never a silent 1
  v4->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 4096, 1, medium.arg(), 7, 3, 0, &channels);
  EXPECT_EQ(medium.cost[kRing][kSimple], 0.0f);
  EXPECT_EQ(channels, 2);
  channels = 0;
  v4->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 1 << 20, 1, large.arg(), 7, 3, 0, &channels);
  EXPECT_EQ(large.zeros(), 0);  // no rule: untouched, channels untouched
  EXPECT_EQ(channels, 0);
  // regBuff column: the allgather rule applies to registered buffers only; "any" protocol forces
  // every enabled protocol of ring.
  CostTable registered, unregistered;
  v4->getCollInfo(context, CCTUNE_FUNC_ALLGATHER, 1 << 30, 1, registered.arg(), 7, 3, 1, &channels);
  v4->getCollInfo(context, CCTUNE_FUNC_ALLGATHER, 1 << 30, 1, unregistered.arg(), 7, 3, 0, &channels);
  EXPECT_EQ(registered.zeros(), 3);
  EXPECT_EQ(unregistered.zeros(), 0);
  // v3 has no regBuff argument: treated as unregistered.
  CostTable via_v3;
  v3->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 512, 1, via_v3.arg(), 7, 3, &channels);
  EXPECT_EQ(via_v3.cost[kTree][kLL], 0.0f);
  v4->destroy(context);
}

TEST_F(Plugin, MalformedCsvWarnsAndNothingIsForced) {
  setenv("NCCL_TUNER_CONFIG_FILE", write("bad.conf", "allreduce,0,100,ring\n").c_str(), 1);
  void* context = nullptr;
  v4->init(8, 1, record, &context);
  EXPECT_EQ(warnings(), 1);
  EXPECT_NE(g_log.back().second.find("line 1"), std::string::npos);
  CostTable table;
  int channels = 0;
  v4->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 10, 1, table.arg(), 7, 3, 0, &channels);
  EXPECT_EQ(table.zeros(), 0);
  v4->destroy(context);
}

// What init does with a file that is not one: a FIFO with no writer blocked NCCL's init forever on
// every rank (and /dev/zero filled the memory). In a thread, so that a blocking init fails the test.
TEST_F(Plugin, AFifoAsProfileOrCsvIsOneWarningAndInitReturnsAtOnce_Item7) {
  std::filesystem::create_directories(dir);
  const std::string fifo = (dir / "named.fifo").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const char* variable : {"CCTUNE_PROFILE", "NCCL_TUNER_CONFIG_FILE"}) {
    for (const std::string& path : {fifo, std::string("/dev/zero")}) {
      g_log.clear();
      unsetenv("CCTUNE_PROFILE");
      unsetenv("NCCL_TUNER_CONFIG_FILE");
      setenv(variable, path.c_str(), 1);
      const auto [result, context] = no_hang::within(
          20,
          [this] {
            void* made = nullptr;
            const int status = v4->init(16, 2, record, &made);
            return std::make_pair(status, made);
          },
          std::string("init with ") + variable + "=" + path);
      EXPECT_EQ(result, 0);
      EXPECT_EQ(warnings(), 1) << variable << "=" << path;
      EXPECT_NE(g_log.back().second.find("not a regular file"), std::string::npos) << g_log.back().second;
      CostTable table;
      int channels = 0;
      EXPECT_EQ(v4->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 4096, 1, table.arg(), 7, 3, 0, &channels), 0);
      EXPECT_EQ(table.zeros(), 0);
      EXPECT_EQ(channels, 0);
      v4->destroy(context);
    }
  }
}

// Numbers out of their range were wrapped (4294967300 channels became 4, 2^40 became 0) and forced
// on NCCL. Now: one warning naming the key and its value, and NCCL decides.
TEST_F(Plugin, OutOfRangeNumbersAreOneWarningAndNcclDecides_Item21) {
  const std::string csv = write("wrapped.conf", "allreduce,0,65535,ring,ll,4294967300,-1,-1\n");
  std::string profile(kProfile);
  const std::string cap = "\"channels\": 4}";
  profile.replace(profile.find(cap), cap.size(), "\"channels\": 1099511627776}");
  const std::string json = write("wrapped.json", profile);
  for (const auto& [variable, path, expected] :
       {std::make_tuple("NCCL_TUNER_CONFIG_FILE", csv, "channels 4294967300 is out of range"),
        std::make_tuple("CCTUNE_PROFILE", json, "\"channels\" is 1099511627776")}) {
    g_log.clear();
    unsetenv("CCTUNE_PROFILE");
    unsetenv("NCCL_TUNER_CONFIG_FILE");
    setenv(variable, path.c_str(), 1);
    void* context = init5(16, 2);
    EXPECT_EQ(warnings(), 1) << variable;
    EXPECT_NE(g_log.back().second.find(expected), std::string::npos) << g_log.back().second;
    for (const std::size_t bytes : {std::size_t{4096}, std::size_t{1} << 20}) {
      CostTable table;
      int channels = 0;
      EXPECT_EQ(v5->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, bytes, 1, table.arg(), 7, 3, 0, &channels), 0);
      EXPECT_EQ(table.zeros(), 0) << variable;
      EXPECT_EQ(channels, 0) << variable;
    }
    v5->finalize(context);
  }
}

// Overlapping rules through the plugin: first match wins, as before the table kept only winners.
TEST_F(Plugin, OverlappingRulesFirstMatchWins_Item8) {
  setenv("NCCL_TUNER_CONFIG_FILE", write("overlap.conf", R"(allreduce,0,-1,tree,ll,2,-1,-1,4,-1
allreduce,100,200,ring,simple,3,-1,-1
allreduce,0,1000,nvls,ll,5,-1,-1
allreduce,150,-1,pat,ll,6,-1,-1,-1,1
)").c_str(), 1);
  void* context = nullptr;
  ASSERT_EQ(v4->init(8, 1, record, &context), 0);
  EXPECT_EQ(warnings(), 0);
  const auto chosen = [&](std::size_t bytes, int pipe_ops, int registered) {
    CostTable table;
    int channels = 0;
    v4->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, bytes, pipe_ops, table.arg(), 7, 3, registered, &channels);
    return channels;
  };
  EXPECT_EQ(chosen(150, 4, 1), 2);   // rule 0 (numPipeOps 4) is first and matches
  EXPECT_EQ(chosen(150, 1, 1), 3);   // rule 1
  EXPECT_EQ(chosen(50, 1, 1), 5);    // rule 2
  EXPECT_EQ(chosen(500, 1, 1), 5);   // rule 2 before rule 3
  EXPECT_EQ(chosen(5000, 1, 1), 6);  // rule 3: registered buffers
  EXPECT_EQ(chosen(5000, 1, 0), 0);  // nothing
  v4->destroy(context);
}

// 500,000 levels of "[" in about 1 MB crashed the tenant's job (SIGSEGV in the JSON library writing
// the value out for the message). Now: one warning, init succeeds, NCCL decides. In-process, as NCCL
// runs it: before the fix this test binary crashed.
TEST_F(Plugin, ADeeplyNestedProfileIsOneWarningNotACrash_DeepNesting) {
  constexpr std::size_t kDepth = 500000;
  setenv("CCTUNE_PROFILE",
         write("deep.json", R"({"format": "cctune-profile", "version": 1, "shape": {"nranks": 16, "nnodes": 2},
                               "rules": )" + std::string(kDepth, '[') + std::string(kDepth, ']') + "}")
             .c_str(),
         1);
  void* context = init5(16, 2);
  ASSERT_NE(context, nullptr);
  EXPECT_EQ(warnings(), 1);
  EXPECT_NE(g_log.back().second.find("deep.json: JSON nested more than 256 levels deep"), std::string::npos)
      << g_log.back().second;
  CostTable table;
  int channels = 0;
  EXPECT_EQ(v5->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 4096, 1, table.arg(), 7, 3, 0, &channels), 0);
  EXPECT_EQ(table.zeros(), 0);
  EXPECT_EQ(channels, 0);
  EXPECT_EQ(v5->finalize(context), 0);
}

TEST_F(Plugin, WithoutConfigurationNcclDecides) {
  void* context = init5(4, 1);
  EXPECT_EQ(warnings(), 0);
  CostTable table;
  int channels = 0;
  EXPECT_EQ(v5->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 10, 1, table.arg(), 7, 3, 0, &channels), 0);
  EXPECT_EQ(table.zeros(), 0);
  EXPECT_EQ(v5->getCollInfo(nullptr, CCTUNE_FUNC_ALLREDUCE, 10, 1, table.arg(), 7, 3, 0, &channels), 0);
  v5->finalize(context);
  EXPECT_EQ(v5->finalize(nullptr), 0);
}

}  // namespace
