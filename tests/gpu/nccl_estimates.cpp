#include "tests/gpu/nccl_estimates.hpp"

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "collectives/error.hpp"
#include "collectives/gpu/runtime.hpp"
#include "collectives/nccl/backend.hpp"
#include "collectives/nccl/configurations.hpp"
#include "collectives/nccl/runtime.hpp"
#include "collectives/types.hpp"

namespace cctune::gpu_check {
namespace {

using SimulateEndFn = ncclResult_t (*)(ncclSimInfo_t*);

// What each estimate is asked for: NCCL's own choice, then each algorithm forced as our `nccl`
// backend forces it (NCCL_ALGO while the communicator is made, nccl::create_communicator), named as
// `cctune plan` names its families, so that scripts/nccl_estimates.py can set them side by side.
struct Setting {
  Collective collective;
  const char* name;
  const char* nccl_algo;  // nullptr: NCCL's own choice
};
constexpr Setting kSettings[] = {
    {Collective::allreduce, "nccl", nullptr},
    {Collective::allreduce, "ring", "Ring"},
    {Collective::allreduce, "tree", "Tree"},
    {Collective::allreduce, "nvls", "NVLS"},
    {Collective::alltoall, "nccl", nullptr},
};

constexpr double kInitTimeout = 60;  // s, for a communicator NCCL still makes in the background

// 1 KiB to 1 GiB, factor 4: plan's `-b 1K -e 1G -f 4`.
std::vector<std::uint64_t> sizes() {
  std::vector<std::uint64_t> out;
  for (std::uint64_t b = 1024; b <= (std::uint64_t{1} << 30); b *= 4) out.push_back(b);
  return out;
}

std::string escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out;
}

struct Row {
  std::string collective, algorithm;
  std::uint64_t bytes = 0;
  double estimated_us = -1;  // < 0: none
  std::string note;
};

}  // namespace

bool nccl_estimates(PeerExchange& peers, const std::string& json_path) {
  const int rank = peers.rank(), size = peers.size();
  const gpu::CurrentDevice device(peers.local_rank());
  const auto simulate = reinterpret_cast<SimulateEndFn>(nccl::default_resolver("ncclGroupSimulateEnd"));
  const auto entry_points = nccl::resolve_optional(nccl::default_resolver);
  if (peers.any(simulate == nullptr)) {
    if (rank == 0) std::printf("  NCCL %s has no ncclGroupSimulateEnd (NCCL 2.22 and later): no estimates\n", nccl::loaded_version().c_str());
    return false;
  }
  // NCCL writes the topology it detected there when the first communicator is made (rank 0's), so
  // that plan reads the machine NCCL estimated for. This process ends after the estimates: nothing
  // to put back.
  const std::string directory = json_path.find('/') == std::string::npos ? "." : json_path.substr(0, json_path.rfind('/'));
  setenv("NCCL_TOPO_DUMP_FILE", (directory + "/nccl-topology.xml").c_str(), 0);
  const std::string topology_path = std::getenv("NCCL_TOPO_DUMP_FILE");

  const auto all_sizes = sizes();
  const gpu::DeviceMemory buffer(all_sizes.back()), receive(all_sizes.back());
  const gpu::Stream stream;

  std::vector<Row> rows;
  int estimated = 0;
  // One line per setting: how many sizes NCCL estimated, and the first reason where one is missing.
  auto report = [&](const std::string& label) {
    if (rank != 0) return;
    const auto mine = std::vector<Row>(rows.end() - static_cast<std::ptrdiff_t>(all_sizes.size()), rows.end());
    const auto got = std::count_if(mine.begin(), mine.end(), [](const Row& r) { return r.estimated_us >= 0; });
    const auto note = std::find_if(mine.begin(), mine.end(), [](const Row& r) { return !r.note.empty(); });
    std::printf("  estimates, %s: %zd of %zu sizes%s%s\n", label.c_str(), static_cast<std::ptrdiff_t>(got), mine.size(),
                note != mine.end() ? "; " : "", note != mine.end() ? note->note.c_str() : "");
  };
  for (const Setting& setting : kSettings) {
    const std::string collective(to_string(setting.collective));
    const std::string label = collective + " " + setting.name;
    nccl::Configuration configuration;
    configuration.info = {setting.name, setting.collective, "NCCL's estimate"};
    configuration.algo = setting.nccl_algo;
    std::optional<nccl::NcclCommunicator> comm;
    std::string why;
    try {
      comm.emplace(peers, configuration, LaunchSettings{}, kInitTimeout);
    } catch (const Error& e) {
      why = std::string("communicator not made: ") + e.what();
    }
    if (peers.any(!why.empty())) {
      for (std::uint64_t bytes : all_sizes) rows.push_back({collective, setting.name, bytes, -1, why.empty() ? "a peer could not make the communicator" : why});
      report(label);
      continue;
    }
    bool stopped = false;
    for (std::uint64_t bytes : all_sizes) {
      Row row{collective, setting.name, bytes, -1, {}};
      if (stopped) {
        row.note = "not asked after an error at a smaller size";
        rows.push_back(row);
        continue;
      }
      ncclSimInfo_t info = NCCL_SIM_INFO_INITIALIZER;
      ncclResult_t rc = ncclGroupStart();
      const std::size_t elements = bytes / 2;  // bfloat16
      if (rc == ncclSuccess && setting.collective == Collective::allreduce) {
        rc = ncclAllReduce(buffer.get(), buffer.get(), elements, ncclBfloat16, ncclSum, comm->get(), stream.get());
      } else if (rc == ncclSuccess) {
        const std::size_t per_peer = elements / static_cast<std::size_t>(size);
        if (entry_points.alltoall) {
          rc = entry_points.alltoall(buffer.get(), receive.get(), per_peer, ncclBfloat16, comm->get(), stream.get());
        } else {
          for (int peer = 0; peer < size && rc == ncclSuccess; ++peer) {
            const std::size_t at = static_cast<std::size_t>(peer) * per_peer * 2;
            rc = ncclSend(static_cast<char*>(buffer.get()) + at, per_peer, ncclBfloat16, peer, comm->get(), stream.get());
            if (rc == ncclSuccess) rc = ncclRecv(static_cast<char*>(receive.get()) + at, per_peer, ncclBfloat16, peer, comm->get(), stream.get());
          }
        }
      }
      // The group is always ended, also after a failed call inside it, so that no group stays open.
      const ncclResult_t end_rc = simulate(&info);
      if (rc == ncclSuccess) rc = end_rc;
      if (rc != ncclSuccess) {
        row.note = std::string("NCCL: ") + ncclGetErrorString(rc);
        comm->abort();
      }
      // The collective takes as long as its slowest rank: the largest estimate any rank has.
      float mine = rc == ncclSuccess ? info.estimatedTime : -1.0f;
      if (!std::isfinite(mine) || mine <= 0) mine = -1.0f;
      std::vector<float> all(static_cast<std::size_t>(size));
      peers.allgather(&mine, all.data(), sizeof mine);
      if (peers.any(rc != ncclSuccess)) {
        stopped = true;
        if (row.note.empty()) row.note = "a peer's NCCL call failed";
      } else if (std::any_of(all.begin(), all.end(), [](float t) { return t < 0; })) {
        row.note = "NCCL gave no estimate";
      } else {
        row.estimated_us = *std::max_element(all.begin(), all.end());
        ++estimated;
      }
      rows.push_back(row);
    }
    report(label);
  }
  CCTUNE_CUDA(cudaStreamSynchronize(stream.get()));

  if (rank == 0) {
    cudaDeviceProp properties{};
    CCTUNE_CUDA(cudaGetDeviceProperties(&properties, device.index));
    std::FILE* file = std::fopen(json_path.c_str(), "w");
    if (!file) CCTUNE_THROW("cannot write " + json_path);
    std::fprintf(file, "{\"nccl_version\": \"%s\", \"gpus\": %d, \"device\": \"%s\", \"dtype\": \"bfloat16\", \"topology\": \"%s\", \"rows\": [",
                 nccl::loaded_version().c_str(), size, escaped(properties.name).c_str(), escaped(topology_path).c_str());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::fprintf(file, "%s\n  {\"collective\": \"%s\", \"algorithm\": \"%s\", \"bytes\": %llu, \"estimated_us\": ", i ? "," : "",
                   r.collective.c_str(), r.algorithm.c_str(), static_cast<unsigned long long>(r.bytes));
      if (r.estimated_us >= 0) {
        std::fprintf(file, "%.3f", r.estimated_us);
      } else {
        std::fprintf(file, "null");
      }
      std::fprintf(file, ", \"note\": \"%s\"}", escaped(r.note).c_str());
    }
    std::fprintf(file, "\n]}\n");
    if (std::fclose(file) != 0) CCTUNE_THROW("cannot write " + json_path);
    std::printf("  estimates: %d of %zu written to %s (NCCL's topology: %s)\n", estimated, rows.size(), json_path.c_str(),
                topology_path.c_str());
  }
  return true;
}

}  // namespace cctune::gpu_check
