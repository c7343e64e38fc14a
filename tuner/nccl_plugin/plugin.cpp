// libnccl-tuner-cctune.so: NCCL's tuner plugin reading a cctune profile (CCTUNE_PROFILE) or NVIDIA's
// example CSV (NCCL_TUNER_CONFIG_FILE). A plain C ABI: every entry point is noexcept, catches
// everything, always returns success, and on any problem leaves NCCL's own choice untouched.
// How NCCL reads what the plugin leaves (the table's scan, its channel sizing) is in nccl_model.hpp.
#include <climits>
#include <cstdlib>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include "collectives/files.hpp"
#include "tuner/nccl_plugin/nccl_model.hpp"
#include "tuner/nccl_plugin/rule_table.hpp"
#include "tuner/nccl_plugin/tuner_abi.h"

namespace {

using cctune::tuner::NcclRule;
using cctune::tuner::RuleTable;
namespace model = cctune::tuner::nccl_model;

constexpr cctuneNcclResult kSuccess = 0;

// Per-communicator state: NCCL runs init once per communicator, so nothing lives in globals.
struct Context {
  RuleTable rules;
  cctuneNcclLogger log = nullptr;
  // What NCCL's channel sizing reads for this communicator, to replay a profile's caps.
  model::ThreadModel threads;
  std::size_t nnodes = 0;
};

template <typename... Args>
void log(cctuneNcclLogger logger, cctuneNcclLogLevel level, const char* format, Args... args) noexcept {
  if (logger) logger(level, CCTUNE_NCCL_TUNING, __FILE__, __LINE__, format, args...);
}

cctuneNcclResult init_context(void** context, std::size_t nranks, std::size_t nnodes, cctuneNcclLogger logger) noexcept {
  if (!context) return kSuccess;
  *context = nullptr;
  try {
    auto state = std::make_unique<Context>();
    state->log = logger;
    state->nnodes = nnodes;
    state->threads = model::thread_model(nranks, std::getenv("NCCL_NTHREADS"), std::getenv("NCCL_LL128_NTHREADS"),
                                         std::getenv("NCCL_THREAD_THRESHOLDS"));
    const char* profile = std::getenv("CCTUNE_PROFILE");
    const char* csv = std::getenv("NCCL_TUNER_CONFIG_FILE");
    std::string source, predicted;
    if (profile && *profile) {
      source = profile;
      const cctune::tuner::Profile read = cctune::tuner::read_profile(profile);
      cctune::tuner::check_this_node(read);
      state->rules = RuleTable::from_profile(read, nranks, nnodes);
      if (nranks <= INT_MAX && nnodes <= INT_MAX &&
          cctune::tuner::predicted_rules_for(read, static_cast<int>(nranks), static_cast<int>(nnodes)) > 0) {
        predicted = ", predicted by cctune plan: this shape was not measured";
      }
    } else if (csv && *csv) {
      source = csv;
      state->rules = RuleTable::from_csv(
          cctune::files::read_regular_file(csv, "NCCL_TUNER_CONFIG_FILE", cctune::tuner::kMaxProfileBytes), csv, nranks,
          nnodes);
    } else {
      log(logger, CCTUNE_NCCL_LOG_INFO, "cctune tuner: neither CCTUNE_PROFILE nor NCCL_TUNER_CONFIG_FILE is set; NCCL decides");
    }
    if (!source.empty()) {
      log(logger, CCTUNE_NCCL_LOG_INFO, "cctune tuner: %zu rules from %s for %zu ranks on %zu nodes%s",
          state->rules.size(), source.c_str(), nranks, nnodes, predicted.c_str());
    }
    *context = state.release();
  } catch (const std::exception& e) {
    log(logger, CCTUNE_NCCL_LOG_WARN, "cctune tuner: %s; leaving NCCL's choices untouched", e.what());
    *context = new (std::nothrow) Context{RuleTable{}, logger, {}, nnodes};
  } catch (...) {
    log(logger, CCTUNE_NCCL_LOG_WARN, "cctune tuner: unexpected error; leaving NCCL's choices untouched");
    *context = nullptr;
  }
  return kSuccess;
}

cctuneNcclResult get_coll_info(void* context, int coll_type, std::size_t bytes, int num_pipe_ops, float** cost_table,
                               int num_algo, int num_proto, int reg_buff, int* channels) noexcept {
  const auto* state = static_cast<const Context*>(context);
  // NCCL passes its own NCCL_NUM_ALGORITHMS x NCCL_NUM_PROTOCOLS (7 x 3 up to 2.30); the bounds only
  // keep a nonsensical call from walking far through memory.
  if (!state || !cost_table || num_algo < 1 || num_proto < 1 || num_algo > 64 || num_proto > 64) return kSuccess;
  const NcclRule* rule = state->rules.find(coll_type, bytes, num_pipe_ops, reg_buff);
  if (!rule) return kSuccess;
  // The table is really float[numAlgo][numProto] (NCCL casts its 2-D array to float**).
  float* table = reinterpret_cast<float*>(cost_table);
  if ((rule->algorithm >= 0 || rule->protocol >= 0) &&
      !model::prefer_allowed(table, num_algo, num_proto, rule->algorithm, rule->protocol)) {
    return kSuccess;  // nothing the rule allows is enabled: NCCL decides, channels too (measured for that)
  }
  if (rule->channels <= 0 || !channels) return kSuccess;
  if (!rule->channels_are_cap) {
    *channels = rule->channels;
    return kSuccess;
  }
  const int count =
      model::capped_channels(rule->channels, bytes, model::pick(table, num_algo, num_proto), state->threads, state->nnodes);
  if (count > 0) *channels = count;
  return kSuccess;
}

cctuneNcclResult finalize_context(void* context) noexcept {
  delete static_cast<Context*>(context);
  return kSuccess;
}

cctuneNcclResult init_v5(void** context, uint64_t, size_t nranks, size_t nnodes, cctuneNcclLogger logger,
                         cctuneNvlDomainInfo_v5*, cctuneTunerConstants_v5*) noexcept {
  // NCCL's model constants are left as they are: we choose by measurement, not by recalibration.
  return init_context(context, nranks, nnodes, logger);
}

cctuneNcclResult init_v4(size_t nranks, size_t nnodes, cctuneNcclLogger logger, void** context) noexcept {
  return init_context(context, nranks, nnodes, logger);
}

cctuneNcclResult get_coll_info_v3(void* context, int coll_type, size_t bytes, int num_pipe_ops, float** cost_table,
                                  int num_algo, int num_proto, int* channels) noexcept {
  return get_coll_info(context, coll_type, bytes, num_pipe_ops, cost_table, num_algo, num_proto, -1, channels);
}

}  // namespace

// `extern` first: a namespace-scope const would otherwise have internal linkage and not be exported.
extern "C" {
extern __attribute__((visibility("default"))) const cctuneTunerPlugin_v6 ncclTunerPlugin_v6;
extern __attribute__((visibility("default"))) const cctuneTunerPlugin_v5 ncclTunerPlugin_v5;
extern __attribute__((visibility("default"))) const cctuneTunerPlugin_v4 ncclTunerPlugin_v4;
extern __attribute__((visibility("default"))) const cctuneTunerPlugin_v3 ncclTunerPlugin_v3;
}

// No rule carries a chunk size (a profile's segsize is Open MPI's), so getChunkSize is NULL, which
// NCCL 2.30.7 reads as "NCCL's computed chunk size" (src/include/plugin/tuner/tuner_v6.h; enqueue.cc
// calls it only when non-NULL). NCCL picks v6 first, then v5 (src/plugin/tuner.cc).
const cctuneTunerPlugin_v6 ncclTunerPlugin_v6 = {"cctune", init_v5, get_coll_info, finalize_context, nullptr};
const cctuneTunerPlugin_v5 ncclTunerPlugin_v5 = {"cctune", init_v5, get_coll_info, finalize_context};
const cctuneTunerPlugin_v4 ncclTunerPlugin_v4 = {"cctune", init_v4, get_coll_info, finalize_context};
const cctuneTunerPlugin_v3 ncclTunerPlugin_v3 = {"cctune", init_v4, get_coll_info_v3, finalize_context};
