// The host's memory copy bandwidth: what bounds a host (MPI) collective inside a node. Measured with
// one thread per core copying its own buffer (large enough to leave every cache), best of a few
// rounds, and kept in a small JSON file so that every later run on this node reads it.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <thread>
#include <vector>

#include "collectives/error.hpp"
#include "collectives/files.hpp"
#include "topology/sources.hpp"
#include "topology/speed_of_light.hpp"

namespace cctune::topology {
namespace {

std::string cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/') return std::string(xdg) + "/cctune";
  if (const char* home = std::getenv("HOME"); home && *home == '/') return std::string(home) + "/.cache/cctune";
  return "";
}

unsigned copy_threads() { return std::clamp(std::thread::hardware_concurrency(), 1u, 64u); }

double measure_copy_gbs() {
  const unsigned threads = copy_threads();
  constexpr std::size_t kBytes = std::size_t{64} << 20;  // per thread, far past any last-level cache share
  std::vector<std::vector<char>> src(threads, std::vector<char>(kBytes, 1)), dst(threads, std::vector<char>(kBytes, 0));
  double best = 0;
  for (int round = 0; round < 4; ++round) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int rep = 0; rep < 2; ++rep) std::memcpy(dst[t].data(), src[t].data(), kBytes);
      });
    }
    for (auto& worker : workers) worker.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (seconds > 0) best = std::max(best, 2.0 * threads * static_cast<double>(kBytes) / seconds / 1e9);
  }
  return best;
}

}  // namespace

std::optional<double> measured_memory_bandwidth(const std::string& node_fingerprint) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const std::string dir = cache_dir();
  const std::string path = dir.empty() ? "" : fmt::format("{}/memory-bandwidth-{}-{}.json", dir, host, node_fingerprint);
  if (!path.empty()) {
    try {
      const auto j = nlohmann::json::parse(files::read_regular_file(path, "memory bandwidth cache", 4096));
      const double gbs = j.at("copy_gbs").get<double>();
      if (std::isfinite(gbs) && gbs > 0.01 && gbs < 1e5) return gbs;
    } catch (const std::exception&) {
      // Missing or damaged: measure again and replace it.
    }
  }
  double gbs = 0;
  try {
    gbs = measure_copy_gbs();
  } catch (const std::exception&) {
    return std::nullopt;  // no memory for the buffers: no bound rather than no run
  }
  if (!(gbs > 0)) return std::nullopt;
  if (!path.empty()) {
    try {
      ::mkdir((dir.substr(0, dir.rfind('/'))).c_str(), 0755);
      ::mkdir(dir.c_str(), 0755);
      nlohmann::json j{{"host", host}, {"fingerprint", node_fingerprint}, {"copy_gbs", gbs},
                       {"threads", copy_threads()}};
      files::write_file_atomically(path, j.dump(1) + "\n");
    } catch (const std::exception&) {
      // A read-only home: measured again next time.
    }
  }
  return gbs;
}

namespace {

// A barrier whose waiters sleep: Open MPI's blocking barrier polls, which would take the cores the
// measurement needs on a node whose ranks outnumber them.
void sleeping_barrier(const Communicator& world) {
  MPI_Request request = MPI_REQUEST_NULL;
  if (MPI_Ibarrier(world.get(), &request) != MPI_SUCCESS) CCTUNE_THROW("MPI_Ibarrier failed");
  for (int done = 0;;) {
    if (MPI_Test(&request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) CCTUNE_THROW("MPI_Test failed");
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

std::optional<double> job_memory_bandwidth(const Communicator& world, const std::string& rank0_fingerprint) {
  std::optional<double> gbs;
  if (world.rank() == 0) gbs = measured_memory_bandwidth(rank0_fingerprint);
  sleeping_barrier(world);
  return gbs;
}

SpeedOfLight job_speed_of_light(const Communicator& world, Medium medium, const SolInputs& inputs) {
  // A node whose probe fails costs the run its speed of light, not the run: gather_cluster throws on
  // rank 0 only, after its last collective, so the ranks stay in step.
  ClusterView view;
  std::string failed;
  try {
    view = gather_cluster(world, processor_name(), probe_local);
  } catch (const Error& e) {
    failed = e.what();
  }
  SolInputs with_memory = inputs;
  if (medium == Medium::host) {
    if (world.rank() == 0 && failed.empty()) with_memory.memory_gbs = measured_memory_bandwidth(view.types.front().fingerprint);
    sleeping_barrier(world);
  }
  if (world.rank() != 0) return {};
  if (!failed.empty()) {
    SpeedOfLight unknown;
    unknown.medium = medium;
    unknown.basis.push_back("unknown: " + failed);
    return unknown;
  }
  return speed_of_light(view, medium, with_memory);
}

}  // namespace cctune::topology
