// getCollInfo of libnccl-tuner-cctune.so against a 1,000-rule profile: NCCL calls it for every
// collective launch, so it must cost next to nothing (docs/perf.md). And init with many overlapping
// rules, profile and CSV: NCCL runs it once per communicator on every rank, so its time and the memory
// the table keeps must grow with the rule count, not its square (docs/reliability.md).
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tuner/nccl_plugin/tuner_abi.h"

namespace {

constexpr int kRules = 1000;

std::string profile_with_rules(int count) {
  static const char* const kAlgorithms[] = {"tree", "ring", "nvls", "pat"};
  static const char* const kProtocols[] = {"ll", "ll128", "simple"};
  std::string rules;
  for (int i = 0; i < count; ++i) {
    // Size ranges of growing width covering 0 .. about 4 GiB, alternating collectives and choices.
    const std::uint64_t min = static_cast<std::uint64_t>(i) * 4096 * (1 + i / 100);
    const std::uint64_t max = static_cast<std::uint64_t>(i + 1) * 4096 * (1 + (i + 1) / 100) - 1;
    rules += std::string(i ? ",\n" : "") + R"({"collective": ")" + (i % 2 ? "allreduce" : "allgather") +
             R"(", "backend": "nccl", "min_bytes": )" + std::to_string(min) + R"(, "max_bytes": )" +
             std::to_string(max) + R"(, "choice": {"algorithm": ")" + kAlgorithms[i % 4] + R"(", "protocol": ")" +
             kProtocols[i % 3] + R"(", "channels": )" + std::to_string(i % 3 == 0 ? 8 : 0) + "}}";
  }
  return R"({"format": "cctune-profile", "version": 1, "shape": {"nranks": 64, "nnodes": 8}, "rules": [)" + rules +
         "]}";
}

void BM_GetCollInfo(benchmark::State& state) {
  const auto path = std::filesystem::temp_directory_path() / "cctune_benchmark_profile.json";
  std::ofstream(path) << profile_with_rules(kRules);
  setenv("CCTUNE_PROFILE", path.c_str(), 1);
  void* handle = dlopen("libnccl-tuner-cctune.so", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    state.SkipWithError(dlerror());
    return;
  }
  const auto* plugin = static_cast<const cctuneTunerPlugin_v5*>(dlsym(handle, "ncclTunerPlugin_v5"));
  void* context = nullptr;
  plugin->init(&context, 1, 64, 8, nullptr, nullptr, nullptr);
  {  // measure nothing unless the profile really applies: rule 1 forces ring/ll128 for 4-8 KiB allreduce
    float probe[CCTUNE_NUM_ALGORITHMS][CCTUNE_NUM_PROTOCOLS];
    for (auto& row : probe) {
      for (float& cost : row) cost = 1.0f;
    }
    int unused = 0;
    plugin->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 4096, 1, reinterpret_cast<float**>(probe), 7, 3, 0, &unused);
    if (probe[1][1] != 1.0f || probe[0][0] <= 1.0f) {  // ring/ll128 kept, the others raised above it
      state.SkipWithError("the 1,000-rule profile was not applied");
      return;
    }
  }
  std::mt19937_64 rng(7);
  std::vector<std::size_t> sizes(4096);
  for (auto& size : sizes) size = std::uniform_int_distribution<std::size_t>(0, std::size_t{5} << 30)(rng);
  float table[CCTUNE_NUM_ALGORITHMS][CCTUNE_NUM_PROTOCOLS] = {};
  int channels = 0;
  std::size_t i = 0;
  for (auto _ : state) {
    plugin->getCollInfo(context, (i & 1) ? CCTUNE_FUNC_ALLREDUCE : CCTUNE_FUNC_ALLGATHER, sizes[i & 4095], 1,
                        reinterpret_cast<float**>(table), 7, 3, 0, &channels);
    benchmark::DoNotOptimize(table);
    ++i;
  }
  plugin->finalize(context);
  dlclose(handle);
  std::filesystem::remove(path);
  state.counters["rules"] = kRules;
}
BENCHMARK(BM_GetCollInfo);

// Rule i covers [(count - 1 - i) * 4 KiB, that + count * 2 KiB]: most sizes are covered by half the
// rules, and each rule is the first match at its own start (every rule covering that size comes later
// in the file), so nothing can be dropped.
std::string overlapping_rules(int count, bool csv) {
  static const char* const kAlgorithms[] = {"tree", "ring", "nvls", "pat"};
  static const char* const kProtocols[] = {"ll", "ll128", "simple"};
  std::string text;
  text.reserve(static_cast<std::size_t>(count) * (csv ? 48 : 200));
  for (int i = 0; i < count; ++i) {
    const std::uint64_t min = static_cast<std::uint64_t>(count - 1 - i) * 4096;
    const std::uint64_t max = min + static_cast<std::uint64_t>(count) * 2048;
    if (csv) {
      text += std::string("allreduce,") + std::to_string(min) + "," + std::to_string(max) + "," + kAlgorithms[i % 4] +
              "," + kProtocols[i % 3] + "," + std::to_string(i % 8 + 1) + ",-1,-1\n";
    } else {
      text += std::string(i ? "," : "") + R"({"collective": "allreduce", "backend": "nccl", "min_bytes": )" +
              std::to_string(min) + R"(, "max_bytes": )" + std::to_string(max) + R"(, "choice": {"algorithm": ")" +
              kAlgorithms[i % 4] + R"(", "protocol": ")" + kProtocols[i % 3] + R"(", "channels": )" +
              std::to_string(i % 8 + 1) + "}}";
    }
  }
  if (csv) return text;
  return R"({"format": "cctune-profile", "version": 1, "shape": {"nranks": 64, "nnodes": 8}, "rules": [)" + text + "]}";
}

std::size_t heap_in_use() { return mallinfo2().uordblks; }

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Time per init (read, parse, index) and, counted once, what one communicator's table keeps: heap
// bytes in use while its context lives, and how much the process's resident memory grew.
void BM_InitOverlappingRules(benchmark::State& state) {
  const int count = static_cast<int>(state.range(0));
  const bool csv = state.range(1) != 0;
  const auto path = std::filesystem::temp_directory_path() /
                    ("cctune_benchmark_" + std::to_string(getpid()) + (csv ? "_rules.conf" : "_rules.json"));
  std::ofstream(path) << overlapping_rules(count, csv);
  unsetenv("CCTUNE_PROFILE");
  unsetenv("NCCL_TUNER_CONFIG_FILE");
  setenv(csv ? "NCCL_TUNER_CONFIG_FILE" : "CCTUNE_PROFILE", path.c_str(), 1);
  void* handle = dlopen("libnccl-tuner-cctune.so", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    state.SkipWithError(dlerror());
    return;
  }
  const auto* plugin = static_cast<const cctuneTunerPlugin_v5*>(dlsym(handle, "ncclTunerPlugin_v5"));
  const std::size_t rss_before = resident_bytes();
  const std::size_t heap_before = heap_in_use();
  void* context = nullptr;
  plugin->init(&context, 1, 64, 8, nullptr, nullptr, nullptr);
  const std::size_t heap_after = heap_in_use();
  const std::size_t rss_after = resident_bytes();
  {  // the last rule is the first match at 0 and the first at the largest start: both must be there
    float probe[CCTUNE_NUM_ALGORITHMS][CCTUNE_NUM_PROTOCOLS];
    for (auto& row : probe) {
      for (float& cost : row) cost = 1.0f;
    }
    int last = 0, first = 0;
    plugin->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, 0, 1, reinterpret_cast<float**>(probe), 7, 3, 0, &last);
    plugin->getCollInfo(context, CCTUNE_FUNC_ALLREDUCE, static_cast<std::size_t>(count - 1) * 4096, 1,
                        reinterpret_cast<float**>(probe), 7, 3, 0, &first);
    if (last != (count - 1) % 8 + 1 || first != 1) {
      state.SkipWithError("the rules were not applied");
      plugin->finalize(context);
      dlclose(handle);
      std::filesystem::remove(path);
      return;
    }
  }
  plugin->finalize(context);
  for (auto _ : state) {
    void* timed = nullptr;
    plugin->init(&timed, 1, 64, 8, nullptr, nullptr, nullptr);
    benchmark::DoNotOptimize(timed);
    plugin->finalize(timed);
  }
  dlclose(handle);
  std::filesystem::remove(path);
  state.counters["rules"] = count;
  state.counters["file_bytes"] = static_cast<double>(overlapping_rules(count, csv).size());
  state.counters["table_heap_bytes"] = static_cast<double>(heap_after > heap_before ? heap_after - heap_before : 0);
  state.counters["rss_growth_bytes"] = static_cast<double>(rss_after > rss_before ? rss_after - rss_before : 0);
}
BENCHMARK(BM_InitOverlappingRules)
    ->ArgsProduct({{1000, 10000, 100000}, {0, 1}})
    ->ArgNames({"rules", "csv"})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
