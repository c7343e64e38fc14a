// Drives libnccl-tuner-cctune.so the way NCCL does: dlopen by NCCL's naming rules, newest symbol
// first, init per communicator, getCollInfo with cost tables, finalize. No NCCL or GPU needed.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "tuner/nccl_plugin/nccl_model.hpp"
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

constexpr int kTree = 0, kRing = 1, kCollnetDirect = 2, kNvls = 4, kPat = 6, kLL = 0, kLL128 = 1, kSimple = 2;
constexpr float kOff = CCTUNE_ALGO_PROTO_IGNORE;

using Table = float[CCTUNE_NUM_ALGORITHMS][CCTUNE_NUM_PROTOCOLS];

// The test's own copy of NCCL's scan (NCCL 2.28.9 src/enqueue.cc topoGetAlgoInfo), written apart from
// the plugin's: skip -1, only costs >= 0 below the 3600000000 it starts from, strict `<` (ties: first).
struct Entry {
  int algorithm = -1, protocol = -1;
  bool operator==(const Entry&) const = default;
};
std::ostream& operator<<(std::ostream& out, const Entry& e) {
  return out << "(algorithm " << e.algorithm << ", protocol " << e.protocol << ")";
}
Entry nccl_scan(const Table& table) {
  float min_time = 3600000000.0f;
  Entry chosen;
  for (int a = 0; a < CCTUNE_NUM_ALGORITHMS; ++a) {
    for (int p = 0; p < CCTUNE_NUM_PROTOCOLS; ++p) {
      if (table[a][p] == kOff) continue;
      if (table[a][p] >= 0.0f && table[a][p] < min_time) {
        chosen = {a, p};
        min_time = table[a][p];
      }
    }
  }
  return chosen;
}

// A synthetic table: every entry enabled but NVLS+Simple; NCCL's own pick is PAT+Simple (the cheapest,
// and one no rule below names), so a forced entry shows in the pick.
struct CostTable {
  Table cost;
  CostTable() {
    for (int a = 0; a < CCTUNE_NUM_ALGORITHMS; ++a) {
      for (int p = 0; p < CCTUNE_NUM_PROTOCOLS; ++p) cost[a][p] = 100.0f - static_cast<float>(a * 3 + p);
    }
    cost[kNvls][kSimple] = kOff;  // disabled by NCCL
  }
  explicit CostTable(const Table& from) { std::memcpy(cost, from, sizeof cost); }
  float** arg() { return reinterpret_cast<float**>(cost); }
  Entry pick() const { return nccl_scan(cost); }
  bool untouched() const { return std::memcmp(cost, CostTable().cost, sizeof cost) == 0; }
};
const Entry kNcclsOwn{kPat, kSimple};

// Tables shaped as NCCL 2.28.9 fills them for an 8-GPU NVLink node (allreduce; times in microseconds):
// no CollNet, NVLS only with Simple, no NVLS Tree on one node, no PAT for allreduce. At 4 KiB LL wins;
// at 1 GiB NVLS, then Ring+LL128 and Tree+Simple. The values are illustrative, the -1 pattern NCCL's.
const Table kSmall = {{8.2f, 9.1f, 25.3f}, {6.9f, 8.0f, 21.5f}, {kOff, kOff, kOff}, {kOff, kOff, kOff},
                      {kOff, kOff, 12.0f}, {kOff, kOff, kOff},  {kOff, kOff, kOff}};
const Table kLarge = {{41000.0f, 15200.0f, 13500.0f}, {52000.0f, 14800.0f, 14200.0f}, {kOff, kOff, kOff},
                      {kOff, kOff, kOff},             {kOff, kOff, 9800.0f},          {kOff, kOff, kOff},
                      {kOff, kOff, kOff}};
constexpr std::size_t kSmallBytes = 4096, kLargeBytes = std::size_t{1} << 30;

// NCCL's best among what a rule allows: its scan over the table with everything else disabled.
Entry best_allowed(const Table& table, int algorithm, int protocol) {
  Table masked;
  for (int a = 0; a < CCTUNE_NUM_ALGORITHMS; ++a) {
    for (int p = 0; p < CCTUNE_NUM_PROTOCOLS; ++p) {
      const bool allowed = (algorithm < 0 || a == algorithm) && (protocol < 0 || p == protocol);
      masked[a][p] = allowed ? table[a][p] : kOff;
    }
  }
  return nccl_scan(masked);
}

class Plugin : public testing::Test {
 protected:
  void SetUp() override {
    handle = open_like_nccl("cctune");
    ASSERT_NE(handle, nullptr) << dlerror();
    v6 = static_cast<const cctuneTunerPlugin_v6*>(dlsym(handle, "ncclTunerPlugin_v6"));  // NCCL 2.30's first look
    v5 = static_cast<const cctuneTunerPlugin_v5*>(dlsym(handle, "ncclTunerPlugin_v5"));
    v4 = static_cast<const cctuneTunerPlugin_v4*>(dlsym(handle, "ncclTunerPlugin_v4"));
    v3 = static_cast<const cctuneTunerPlugin_v3*>(dlsym(handle, "ncclTunerPlugin_v3"));
    ASSERT_TRUE(v6 && v5 && v4 && v3);
    g_log.clear();
    for (const char* variable : {"CCTUNE_PROFILE", "NCCL_TUNER_CONFIG_FILE", "CCTUNE_NODE_FINGERPRINT", "NCCL_NTHREADS",
                                 "NCCL_LL128_NTHREADS", "NCCL_THREAD_THRESHOLDS"}) {
      unsetenv(variable);
    }
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
  const cctuneTunerPlugin_v6* v6 = nullptr;
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
  EXPECT_EQ(small.pick(), (Entry{kRing, kLL}));
  EXPECT_EQ(small.cost[kRing][kLL], CostTable().cost[kRing][kLL]);  // NCCL's estimate of it stays
  EXPECT_EQ(channels, 0);  // the rule sets none: NCCL's count stays

  CostTable large;
  EXPECT_EQ(v5->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 1 << 20, 1, large.arg(), 7, 3, 0, &channels), 0);
  EXPECT_EQ(large.pick(), (Entry{kTree, kSimple}));
  EXPECT_EQ(channels, 4);  // a cap of 4, and 1 MiB is 32 Tree+Simple shares of 512 threads x 64 bytes

  // A disabled (-1) entry is never enabled: the rule then changes nothing.
  CostTable disabled;
  channels = 0;
  EXPECT_EQ(v5->getCollInfo(context, CCTUNE_FUNC_ALLGATHER, 4096, 1, disabled.arg(), 7, 3, 0, &channels), 0);
  EXPECT_TRUE(disabled.untouched());

  // No rule for broadcast, and MPI rules are not NCCL's business.
  CostTable untouched;
  EXPECT_EQ(v5->getCollInfo(context, CCTUNE_FUNC_BROADCAST, 64, 1, untouched.arg(), 7, 3, 0, &channels), 0);
  EXPECT_TRUE(untouched.untouched());
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
  EXPECT_TRUE(a.untouched());
  EXPECT_EQ(b.pick(), (Entry{kRing, kLL}));
  v5->finalize(other);
  v5->finalize(matching);
}

// A communicator of a shape the profile was never measured at gets the rules `cctune plan --add-to`
// predicted for that shape, and only those: NCCL loads the plugin as it would in such a job.
TEST_F(Plugin, PredictedRulesServeTheShapeTheyWerePredictedFor) {
  std::string profile = kProfile;
  const std::string predicted = R"(,
  {"collective": "allreduce", "backend": "nccl", "min_bytes": 0, "max_bytes": 18446744073709551615,
   "nranks": 32, "nnodes": 4, "choice": {"algorithm": "ring", "protocol": "simple", "channels": 0},
   "median_us": 120.0, "predicted": [{"bytes": 1048576, "us": 120.0}]}
 ]})";
  profile.replace(profile.rfind("\n ]}"), std::string::npos, predicted);
  setenv("CCTUNE_PROFILE", write("predicted.json", profile).c_str(), 1);
  void* measured = init5(16, 2);
  void* four_nodes = init5(32, 4);
  ASSERT_NE(four_nodes, nullptr);
  EXPECT_EQ(warnings(), 0);
  EXPECT_NE(g_log.back().second.find("1 rules from"), std::string::npos) << g_log.back().second;
  EXPECT_NE(g_log.back().second.find("predicted by cctune plan"), std::string::npos) << g_log.back().second;
  void* unplanned = init5(64, 8);  // neither measured nor predicted: one warning, NCCL decides
  EXPECT_EQ(warnings(), 1);
  int channels = 0;
  CostTable at_four, at_two, at_eight;
  EXPECT_EQ(v5->getCollInfo(four_nodes, CCTUNE_FUNC_ALLREDUCE, 4096, 1, at_four.arg(), 7, 3, 0, &channels), 0);
  EXPECT_EQ(at_four.pick(), (Entry{kRing, kSimple}));
  EXPECT_EQ(v5->getCollInfo(measured, CCTUNE_FUNC_ALLREDUCE, 4096, 1, at_two.arg(), 7, 3, 0, &channels), 0);
  EXPECT_EQ(at_two.pick(), (Entry{kRing, kLL}));  // the measured rule, untouched by the prediction
  EXPECT_EQ(v5->getCollInfo(unplanned, CCTUNE_FUNC_ALLREDUCE, 4096, 1, at_eight.arg(), 7, 3, 0, &channels), 0);
  EXPECT_TRUE(at_eight.untouched());
  v5->finalize(unplanned);
  v5->finalize(four_nodes);
  v5->finalize(measured);
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
    EXPECT_EQ(table.pick(), (same ? Entry{kRing, kLL} : kNcclsOwn)) << node;
    EXPECT_EQ(table.untouched(), !same) << node;
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
    EXPECT_TRUE(table.untouched()) << path;
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
  EXPECT_EQ(tiny.pick(), (Entry{kTree, kLL}));
  EXPECT_EQ(channels, 0);  // -1 in the file: never a silent 1
  v4->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 4096, 1, medium.arg(), 7, 3, 0, &channels);
  EXPECT_EQ(medium.pick(), (Entry{kRing, kSimple}));
  EXPECT_EQ(channels, 2);  // the CSV's count is exact, as in NVIDIA's example: verbatim even at 4 KiB
  channels = 0;
  v4->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 1 << 20, 1, large.arg(), 7, 3, 0, &channels);
  EXPECT_TRUE(large.untouched());  // no rule: untouched, channels untouched
  EXPECT_EQ(channels, 0);
  // regBuff column: the allgather rule applies to registered buffers only; "any" protocol leaves
  // NCCL's own best of ring's protocols (Simple here), not the first.
  CostTable registered, unregistered;
  v4->getCollInfo(context, CCTUNE_FUNC_ALLGATHER, 1 << 30, 1, registered.arg(), 7, 3, 1, &channels);
  v4->getCollInfo(context, CCTUNE_FUNC_ALLGATHER, 1 << 30, 1, unregistered.arg(), 7, 3, 0, &channels);
  EXPECT_EQ(registered.pick(), (Entry{kRing, kSimple}));
  EXPECT_TRUE(unregistered.untouched());
  // v3 has no regBuff argument: treated as unregistered.
  CostTable via_v3;
  v3->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 512, 1, via_v3.arg(), 7, 3, &channels);
  EXPECT_EQ(via_v3.pick(), (Entry{kTree, kLL}));
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
  EXPECT_TRUE(table.untouched());
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
      EXPECT_TRUE(table.untouched());
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
      EXPECT_TRUE(table.untouched()) << variable;
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
  EXPECT_TRUE(table.untouched());
  EXPECT_EQ(channels, 0);
  EXPECT_EQ(v5->finalize(context), 0);
}

TEST_F(Plugin, WithoutConfigurationNcclDecides) {
  void* context = init5(4, 1);
  EXPECT_EQ(warnings(), 0);
  CostTable table;
  int channels = 0;
  EXPECT_EQ(v5->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 10, 1, table.arg(), 7, 3, 0, &channels), 0);
  EXPECT_TRUE(table.untouched());
  EXPECT_EQ(v5->getCollInfo(nullptr, CCTUNE_FUNC_ALLREDUCE, 10, 1, table.arg(), 7, 3, 0, &channels), 0);
  v5->finalize(context);
  EXPECT_EQ(v5->finalize(nullptr), 0);
}

// A profile of one NCCL rule per collective, for 8 ranks on `nnodes` nodes.
std::string profile_of(const std::vector<std::string>& choices, int nnodes = 1) {
  static const char* const kCollectives[] = {"allreduce", "allgather", "reducescatter", "broadcast", "reduce"};
  std::string rules;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    rules += std::string(i ? ",\n" : "") + R"({"collective": ")" + kCollectives[i] +
             R"(", "backend": "nccl", "min_bytes": 0, "max_bytes": 18446744073709551615, "choice": )" + choices[i] +
             "}";
  }
  return R"({"format": "cctune-profile", "version": 1, "shape": {"nranks": 8, "nnodes": )" + std::to_string(nnodes) +
         R"(}, "rules": [)" + rules + "]}";
}

const int kCollectiveOf[] = {CCTUNE_FUNC_ALLREDUCE, CCTUNE_FUNC_ALLGATHER, CCTUNE_FUNC_REDUCESCATTER,
                             CCTUNE_FUNC_BROADCAST, CCTUNE_FUNC_REDUCE};

// Item 1: "ring, any protocol" and the like zeroed every allowed entry and NCCL took the first zero
// (Ring+LL at 1 GiB). Now NCCL's scan lands on its own best among the allowed entries, at small and
// large sizes, and a rule naming both still forces its entry.
TEST_F(Plugin, AnAlgorithmOrAProtocolAloneKeepsNcclsOwnBestAmongWhatItAllows_Item1) {
  struct Case {
    const char* choice;
    int algorithm, protocol;
  };
  const std::vector<Case> cases = {
      {R"({"algorithm": "ring", "protocol": "any"})", kRing, -1},
      {R"({"algorithm": "any", "protocol": "ll128"})", -1, kLL128},
      {R"({"algorithm": "tree", "protocol": "any"})", kTree, -1},
      {R"({"algorithm": "any", "protocol": "simple"})", -1, kSimple},
      {R"({"algorithm": "ring", "protocol": "ll"})", kRing, kLL},  // fully specified: forced
  };
  std::vector<std::string> choices;
  for (const Case& c : cases) choices.emplace_back(c.choice);
  setenv("CCTUNE_PROFILE", write("partial.json", profile_of(choices)).c_str(), 1);
  void* context = init5(8, 1);
  ASSERT_EQ(warnings(), 0);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    for (const auto& [original, bytes] : {std::make_pair(&kSmall, kSmallBytes), std::make_pair(&kLarge, kLargeBytes)}) {
      CostTable table(*original);
      int channels = 0;
      ASSERT_EQ(v5->getCollInfo(context, kCollectiveOf[i], bytes, 1, table.arg(), 7, 3, 0, &channels), 0);
      const Entry expected = best_allowed(*original, cases[i].algorithm, cases[i].protocol);
      ASSERT_TRUE(expected.algorithm >= 0);
      EXPECT_EQ(table.pick(), expected) << cases[i].choice << " at " << bytes << " bytes";
      for (int a = 0; a < CCTUNE_NUM_ALGORITHMS; ++a) {
        for (int p = 0; p < CCTUNE_NUM_PROTOCOLS; ++p) {
          const bool allowed = (cases[i].algorithm < 0 || a == cases[i].algorithm) &&
                               (cases[i].protocol < 0 || p == cases[i].protocol);
          // Nothing NCCL disabled is enabled, and what the rule allows keeps NCCL's costs.
          if ((*original)[a][p] == kOff || allowed) {
            EXPECT_EQ(table.cost[a][p], (*original)[a][p]) << a << "," << p;
          }
        }
      }
      EXPECT_EQ(channels, 0);
    }
  }
  // What the old zeroing picked, for the record: the first allowed entry, not the best one.
  EXPECT_EQ(best_allowed(kLarge, kRing, -1), (Entry{kRing, kSimple}));
  EXPECT_EQ(best_allowed(kSmall, -1, kLL128), (Entry{kRing, kLL128}));
  EXPECT_EQ(best_allowed(kSmall, -1, kSimple), (Entry{kNvls, kSimple}));
  v5->finalize(context);
}

// Ties go to the first in NCCL's order, among the allowed entries only: an earlier entry outside the
// rule at the same cost is raised; entries NCCL cannot pick (-1, negative, NaN, at or past the scan's
// start) are never touched, and a rule whose entries are all unpickable leaves the table alone.
TEST_F(Plugin, TiesAndUnpickableEntriesFollowNcclsScan_Item1) {
  setenv("CCTUNE_PROFILE",
         write("ties.json", profile_of({R"({"algorithm": "any", "protocol": "simple", "channels": 8})",
                                        R"({"algorithm": "ring", "protocol": "any", "channels": 8})"}))
             .c_str(),
         1);
  void* context = init5(8, 1);
  ASSERT_EQ(warnings(), 0);
  const float kNaN = std::numeric_limits<float>::quiet_NaN();
  const Table ties = {{5.0f, 9.0f, 5.0f}, {7.0f, 9.0f, 5.0f}, {-3.0f, kNaN, kOff}, {kOff, kOff, kOff},
                      {kOff, kOff, 6.0f}, {kOff, kOff, kOff}, {kOff, kOff, kOff}};
  CostTable table(ties);
  int channels = 0;
  v5->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, kLargeBytes, 1, table.arg(), 7, 3, 0, &channels);
  EXPECT_EQ(table.pick(), (Entry{kTree, kSimple}));
  EXPECT_GT(table.cost[kTree][kLL], 6.0f);  // tied with the best allowed, and earlier: raised
  EXPECT_EQ(table.cost[kCollnetDirect][kLL], -3.0f);
  EXPECT_TRUE(std::isnan(table.cost[kCollnetDirect][kLL128]));
  EXPECT_EQ(channels, 8);

  // Ring's entries all at or past 3600000000, where NCCL 2.28.9's scan never lands: NCCL decides.
  Table far;
  std::memcpy(far, kLarge, sizeof far);
  for (float& cost : far[kRing]) cost = 3600000000.0f;
  CostTable untouched(far);
  channels = 0;
  v5->getCollInfo(context, CCTUNE_FUNC_ALLGATHER, kLargeBytes, 1, untouched.arg(), 7, 3, 0, &channels);
  EXPECT_EQ(std::memcmp(untouched.cost, far, sizeof far), 0);
  EXPECT_EQ(channels, 0);  // nor its channels, measured for a choice NCCL does not run
  v5->finalize(context);
}

// The test's own copy of what NCCL does with channels: topoGetAlgoInfo's Ring/Tree loop, then
// getAlgoInfo's "a tuner's count replaces NCCL's", then the scheduler's clamp to the communicator's
// count (NCCL 2.28.9 src/enqueue.cc), with tuning.cc's default threads and thresholds.
int nccl_lowering(std::size_t bytes, int nc, int nt, int threshold) {
  while (bytes < static_cast<std::size_t>(nc * nt * threshold)) {
    if (nc >= 2) nc--;
    else break;
  }
  return nc;
}
struct Defaults {
  int threads, threshold;
};
Defaults nccl_defaults(int algorithm, int protocol, int nranks) {
  const int threads[2][3] = {{512, 640, 512}, {512, 640, 512}};  // Tree, Ring x LL, LL128, Simple (NVLink)
  const int thresholds[2][3] = {{8, 8, 64}, {8 * nranks, 8, 64}};
  return {threads[algorithm][protocol], thresholds[algorithm][protocol]};
}
int nccl_runs(int from_tuner, int own, int comm_channels) {
  return from_tuner == 0 ? own : std::min(from_tuner, comm_channels);
}

// Item 2: a profile's channels were measured as a maxCTAs cap, which NCCL still lowers for small
// sizes; exported as a count they gave small calls more channels than what won. What NCCL runs with
// the plugin on the tenant's uncapped communicator must be what it ran on tune's capped one.
TEST_F(Plugin, AProfilesChannelCapIsReplayedAsACap_Item2) {
  for (const char* algorithm : {"tree", "ring"}) {
    for (const char* protocol : {"ll", "ll128", "simple"}) {
      for (const int cap : {8, 16}) {
        const int a = std::string(algorithm) == "ring" ? kRing : kTree;
        const int p = std::string(protocol) == "ll" ? kLL : std::string(protocol) == "ll128" ? kLL128 : kSimple;
        const std::string name = std::string(algorithm) + "_" + protocol + "_" + std::to_string(cap) + "ch";
        setenv("CCTUNE_PROFILE",
               write(name + ".json", profile_of({std::string(R"({"algorithm": ")") + algorithm +
                                                 R"(", "protocol": ")" + protocol +
                                                 R"(", "channels": )" + std::to_string(cap) + "}"}))
                   .c_str(),
               1);
        void* context = init5(8, 1);
        ASSERT_EQ(warnings(), 0);
        const Defaults d = nccl_defaults(a, p, 8);
        const std::size_t edge = static_cast<std::size_t>(cap) * d.threads * d.threshold;  // where the cap binds
        std::vector<std::size_t> sizes = {1, 4096, edge - 1, edge, edge + 1, kLargeBytes};
        for (int shift = 10; shift <= 30; shift += 2) sizes.push_back(std::size_t{1} << shift);
        for (const std::size_t bytes : sizes) {
          CostTable table(bytes < (std::size_t{1} << 20) ? kSmall : kLarge);
          int channels = 0;
          v5->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, bytes, 1, table.arg(), 7, 3, 0, &channels);
          ASSERT_EQ(table.pick(), (Entry{a, p})) << name;
          for (const int comm : {4, 8, 16, 32, 64}) {  // the tenant's communicator's own count
            const int measured = nccl_lowering(bytes, std::min(cap, comm), d.threads, d.threshold);
            const int replayed = nccl_runs(channels, nccl_lowering(bytes, comm, d.threads, d.threshold), comm);
            EXPECT_EQ(replayed, measured) << name << " at " << bytes << " bytes, communicator of " << comm;
          }
          // At or past the edge the cap; below it NCCL's own lowering, which is what the cap gives.
          EXPECT_EQ(channels, bytes >= edge ? cap : 0) << name << " at " << bytes;
        }
        v5->finalize(context);
      }
    }
  }
}

// The sizes at which a cap binds move with NCCL_LL128_NTHREADS and NCCL_THREAD_THRESHOLDS as NCCL's do
// (Ring+LL: 8 bytes x 8 ranks per thread by default; the variable replaces that, unscaled).
TEST_F(Plugin, ACapFollowsNcclsThreadEnvironment_Item2) {
  setenv("CCTUNE_PROFILE",
         write("env.json", profile_of({R"({"algorithm": "ring", "protocol": "ll128", "channels": 8})",
                                       R"({"algorithm": "ring", "protocol": "ll", "channels": 8})"}))
             .c_str(),
         1);
  const auto exported = [&](int collective, std::size_t bytes) {
    void* context = init5(8, 1);
    CostTable table(kSmall);
    int channels = 0;
    v5->getCollInfo(context, collective, bytes, 1, table.arg(), 7, 3, 0, &channels);
    v5->finalize(context);
    return channels;
  };
  EXPECT_EQ(exported(CCTUNE_FUNC_ALLREDUCE, 8 * 640 * 8 - 1), 0);
  EXPECT_EQ(exported(CCTUNE_FUNC_ALLREDUCE, 8 * 640 * 8), 8);
  EXPECT_EQ(exported(CCTUNE_FUNC_ALLGATHER, 8 * 512 * 64 - 1), 0);
  EXPECT_EQ(exported(CCTUNE_FUNC_ALLGATHER, 8 * 512 * 64), 8);
  setenv("NCCL_LL128_NTHREADS", "320", 1);
  setenv("NCCL_THREAD_THRESHOLDS", "-1 -1 -1 16", 1);
  EXPECT_EQ(exported(CCTUNE_FUNC_ALLREDUCE, 8 * 320 * 8), 8);
  EXPECT_EQ(exported(CCTUNE_FUNC_ALLREDUCE, 8 * 320 * 8 - 1), 0);
  EXPECT_EQ(exported(CCTUNE_FUNC_ALLGATHER, 8 * 512 * 16), 8);
  EXPECT_EQ(exported(CCTUNE_FUNC_ALLGATHER, 8 * 512 * 16 - 1), 0);
}

// A cap with NCCL's own choice (nccl_16ch) follows what NCCL picks: Ring/Tree as above; NVLS on one
// node and NVLS Tree run nvlsChannels, which the cap caps and NCCL clamps a tuner's count to: the cap
// at every size; CollNet and NVLS across nodes use a tuner's count unclamped: left to NCCL.
TEST_F(Plugin, ACapWithNcclsOwnChoiceFollowsItsPick_Item2) {
  const std::string any16 = R"({"algorithm": "any", "protocol": "any", "channels": 16})";
  const Table nvls_tree = {{kOff, kOff, 900.0f}, {kOff, kOff, 950.0f}, {kOff, kOff, kOff}, {kOff, kOff, kOff},
                           {kOff, kOff, kOff},   {kOff, kOff, 30.0f},  {kOff, kOff, kOff}};
  const Table collnet = {{kOff, kOff, 900.0f}, {kOff, kOff, 950.0f}, {kOff, kOff, 20.0f}, {kOff, kOff, 25.0f},
                         {kOff, kOff, kOff},   {kOff, kOff, kOff},   {kOff, kOff, kOff}};
  for (const int nnodes : {1, 2}) {
    setenv("CCTUNE_PROFILE", write("any16.json", profile_of({any16}, nnodes)).c_str(), 1);
    void* context = init5(8, static_cast<std::size_t>(nnodes));
    ASSERT_EQ(warnings(), 0);
    const auto exported = [&](const Table& original, std::size_t bytes) {
      CostTable table(original);
      int channels = 0;
      v5->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, bytes, 1, table.arg(), 7, 3, 0, &channels);
      EXPECT_EQ(std::memcmp(table.cost, original, sizeof table.cost), 0);  // "any, any": the table is NCCL's
      return channels;
    };
    EXPECT_EQ(exported(kSmall, kSmallBytes), 0) << nnodes;  // Ring+LL at 4 KiB: lowered to 1 by NCCL
    EXPECT_EQ(exported(kLarge, kLargeBytes), nnodes == 1 ? 16 : 0) << nnodes;  // NVLS
    EXPECT_EQ(exported(kLarge, 4096), nnodes == 1 ? 16 : 0) << nnodes;  // NVLS is not lowered by size
    EXPECT_EQ(exported(nvls_tree, 4096), 16) << nnodes;
    EXPECT_EQ(exported(collnet, kLargeBytes), 0) << nnodes;
    EXPECT_EQ(exported(collnet, 4096), 0) << nnodes;
    v5->finalize(context);
    g_log.clear();
  }
}

// Item 3: NCCL 2.30 looks for ncclTunerPlugin_v6 first. Its layout is v5's three entry points, then
// getChunkSize; no rule sets a chunk size, so it is NULL (NCCL keeps its own).
TEST_F(Plugin, V6IsExportedWithNcclsLayoutAndWorksThroughItsStruct_Item3) {
  static_assert(offsetof(cctuneTunerPlugin_v6, name) == 0);
  static_assert(offsetof(cctuneTunerPlugin_v6, init) == sizeof(void*));
  static_assert(offsetof(cctuneTunerPlugin_v6, getCollInfo) == 2 * sizeof(void*));
  static_assert(offsetof(cctuneTunerPlugin_v6, finalize) == 3 * sizeof(void*));
  static_assert(offsetof(cctuneTunerPlugin_v6, getChunkSize) == 4 * sizeof(void*));
  static_assert(sizeof(cctuneTunerPlugin_v6) == 5 * sizeof(void*));
  EXPECT_STREQ(v6->name, "cctune");
  EXPECT_EQ(v6->getChunkSize, nullptr);
  ASSERT_TRUE(v6->init && v6->getCollInfo && v6->finalize);

  setenv("CCTUNE_PROFILE", write("v6.json", profile_of({R"({"algorithm": "ring", "protocol": "any", "channels": 8})"}))
                               .c_str(),
         1);
  void* context = nullptr;
  cctuneNvlDomainInfo_v6 nvl{1, 8, 8};
  cctuneTunerConstants_v6 constants{};
  ASSERT_EQ(v6->init(&context, 7, 8, 1, record, &nvl, &constants), 0);
  ASSERT_NE(context, nullptr);
  EXPECT_EQ(warnings(), 0);
  CostTable table(kLarge);
  int channels = 0;
  EXPECT_EQ(v6->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, kLargeBytes, 1, table.arg(), 7, 3, 0, &channels), 0);
  EXPECT_EQ(table.pick(), (Entry{kRing, kSimple}));
  EXPECT_EQ(channels, 8);
  EXPECT_EQ(v6->finalize(context), 0);
}

// The pure rules of nccl_model.hpp, with numbers worked out by hand from NCCL's source.
TEST(NcclModel, LoweredChannelsIsNcclsRingTreeLoop) {
  namespace m = cctune::tuner::nccl_model;
  EXPECT_EQ(m::lowered_channels(0, 16, 512, 64), 1);
  EXPECT_EQ(m::lowered_channels(32767, 16, 512, 64), 1);
  EXPECT_EQ(m::lowered_channels(32768 * 2, 16, 512, 64), 2);
  EXPECT_EQ(m::lowered_channels(32768 * 3 - 1, 16, 512, 64), 2);
  EXPECT_EQ(m::lowered_channels(32768 * 16, 16, 512, 64), 16);
  EXPECT_EQ(m::lowered_channels(std::uint64_t{1} << 40, 16, 512, 64), 16);
  EXPECT_EQ(m::lowered_channels(10, 16, 0, 64), 16);  // PAT: no threads set, no lowering
  EXPECT_EQ(m::lowered_channels(10, 16, 512, 0), 16);  // one rank: no thresholds
  for (std::uint64_t bytes = 0; bytes < 300000; bytes += 997) {
    EXPECT_EQ(m::lowered_channels(bytes, 8, 640, 8), nccl_lowering(bytes, 8, 640, 8)) << bytes;
  }
}

TEST(NcclModel, ThreadModelIsNcclsDefaultsAndEnvironment) {
  namespace m = cctune::tuner::nccl_model;
  const m::ThreadModel d = m::thread_model(8, nullptr, nullptr, nullptr);
  EXPECT_EQ(d.threads[m::kRing][m::kSimple], 512);
  EXPECT_EQ(d.threads[m::kTree][m::kLL], 512);
  EXPECT_EQ(d.threads[m::kRing][m::kLL128], 640);
  EXPECT_EQ(d.threads[m::kNvls][m::kSimple], 640);
  EXPECT_EQ(d.threads[m::kPat][m::kSimple], 0);
  EXPECT_EQ(d.thresholds[m::kRing][m::kLL], 64);  // 8 x 8 ranks
  EXPECT_EQ(d.thresholds[m::kTree][m::kLL], 8);
  EXPECT_EQ(d.thresholds[m::kRing][m::kLL128], 8);
  EXPECT_EQ(d.thresholds[m::kRing][m::kSimple], 64);
  EXPECT_EQ(d.thresholds[m::kCollnetChain][m::kSimple], 512);
  EXPECT_EQ(m::thread_model(1, nullptr, nullptr, nullptr).thresholds[m::kRing][m::kSimple], 0);
  // getNthreads: a multiple of 32 within [min, max] stands; otherwise max, or min below it; base 0.
  EXPECT_EQ(m::thread_model(8, "96", nullptr, nullptr).threads[m::kRing][m::kSimple], 96);
  EXPECT_EQ(m::thread_model(8, "100", nullptr, nullptr).threads[m::kRing][m::kSimple], 512);
  EXPECT_EQ(m::thread_model(8, "1024", nullptr, nullptr).threads[m::kRing][m::kLL], 512);
  EXPECT_EQ(m::thread_model(8, "32", nullptr, nullptr).threads[m::kTree][m::kSimple], 64);
  EXPECT_EQ(m::thread_model(8, "0x100", nullptr, nullptr).threads[m::kRing][m::kSimple], 256);
  EXPECT_EQ(m::thread_model(8, "junk", nullptr, nullptr).threads[m::kRing][m::kSimple], 512);
  EXPECT_EQ(m::thread_model(8, "256", nullptr, nullptr).threads[m::kRing][m::kLL128], 640);  // its own variable
  EXPECT_EQ(m::thread_model(8, nullptr, "64", nullptr).threads[m::kRing][m::kLL128], 160);
  const m::ThreadModel t = m::thread_model(8, nullptr, nullptr, "1 -1 3 4");
  EXPECT_EQ(t.thresholds[m::kTree][m::kLL], 1);
  EXPECT_EQ(t.thresholds[m::kTree][m::kLL128], 8);
  EXPECT_EQ(t.thresholds[m::kTree][m::kSimple], 3);
  EXPECT_EQ(t.thresholds[m::kRing][m::kLL], 4);  // replaced, not scaled by the ranks
  EXPECT_EQ(t.thresholds[m::kRing][m::kLL128], 8);
}

TEST(NcclModel, CappedChannelsByWhatNcclRuns) {
  namespace m = cctune::tuner::nccl_model;
  const m::ThreadModel d = m::thread_model(8, nullptr, nullptr, nullptr);
  EXPECT_EQ(m::capped_channels(8, 8 * 32768, {m::kRing, m::kSimple}, d, 1), 8);
  EXPECT_EQ(m::capped_channels(8, 8 * 32768 - 1, {m::kRing, m::kSimple}, d, 1), 0);
  EXPECT_EQ(m::capped_channels(8, 1, {m::kPat, m::kSimple}, d, 1), 8);  // PAT is never lowered
  EXPECT_EQ(m::capped_channels(8, 1, {m::kNvlsTree, m::kSimple}, d, 2), 8);
  EXPECT_EQ(m::capped_channels(8, 1, {m::kNvls, m::kSimple}, d, 1), 8);
  EXPECT_EQ(m::capped_channels(8, 1 << 30, {m::kNvls, m::kSimple}, d, 2), 0);
  EXPECT_EQ(m::capped_channels(8, 1 << 30, {m::kCollnetDirect, m::kSimple}, d, 1), 0);
  EXPECT_EQ(m::capped_channels(8, 1 << 30, {m::kCollnetChain, m::kSimple}, d, 1), 0);
  EXPECT_EQ(m::capped_channels(8, 1 << 30, {}, d, 1), 0);  // nothing NCCL can run
  EXPECT_EQ(m::capped_channels(0, 1 << 30, {m::kRing, m::kSimple}, d, 1), 0);
}

}  // namespace
