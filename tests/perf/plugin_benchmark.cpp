// getCollInfo of libnccl-tuner-cctune.so against a 1,000-rule profile: NCCL calls it for every
// collective launch, so it must cost next to nothing (docs/perf.md).
#include <benchmark/benchmark.h>
#include <dlfcn.h>

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
    if (probe[1][1] != 0.0f) {
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

}  // namespace

BENCHMARK_MAIN();
