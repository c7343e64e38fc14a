#include "collectives/cuda/setup.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>

#include "collectives/cuda/algorithm.hpp"
#include "collectives/error.hpp"
#include "collectives/gpu/runtime.hpp"

namespace cctune::cuda {
namespace {

template <std::size_t N>
void copy_text(char (&to)[N], std::string_view from) {
  const std::size_t n = std::min(from.size(), N - 1);
  std::memcpy(to, from.data(), n);
  to[n] = '\0';
}

// Received bytes: whatever another rank sent, the text fields end within their arrays.
void terminate_texts(DeviceFacts& facts) {
  facts.problem[sizeof facts.problem - 1] = '\0';
  facts.name[sizeof facts.name - 1] = '\0';
  facts.bus_id[sizeof facts.bus_id - 1] = '\0';
}

// "ranks 0 and 2", "ranks 0, 2 and 5".
std::string list_ranks(const std::vector<int>& ranks) {
  std::string text = "ranks ";
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    if (i > 0) text += i + 1 == ranks.size() ? " and " : ", ";
    text += std::to_string(ranks[i]);
  }
  return text;
}

// The UUID names a GPU across every process of the node; the PCI bus id where a driver gives none.
bool same_gpu(const DeviceFacts& a, const DeviceFacts& b) {
  const bool named = std::any_of(a.uuid.begin(), a.uuid.end(), [](unsigned char c) { return c != 0; });
  return named ? a.uuid == b.uuid : std::strcmp(a.bus_id, b.bus_id) == 0;
}

std::string capability(const DeviceFacts& gpu) { return std::to_string(gpu.major) + "." + std::to_string(gpu.minor); }

}  // namespace

std::string describe(const DeviceFacts& gpu) {
  return "GPU " + std::to_string(gpu.index) + " [" + gpu.bus_id + "] " + gpu.name;
}

std::optional<std::string> refusal(std::span<const DeviceFacts> ranks) {
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    if (ranks[r].problem[0] != '\0') {
      return "the cuda backend cannot start on rank " + std::to_string(r) + ": " + ranks[r].problem;
    }
  }
  std::optional<std::size_t> old;
  int more = 0;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    if (ranks[r].major >= kMinComputeMajor) continue;
    if (old) {
      ++more;
    } else {
      old = r;
    }
  }
  if (old) {
    const DeviceFacts& gpu = ranks[*old];
    return "rank " + std::to_string(*old) + "'s " + describe(gpu) + " has compute capability " + capability(gpu) +
           (more == 1 ? " (and 1 more rank's GPU is older than 8.0)" : "") +
           (more > 1 ? " (and " + std::to_string(more) + " more ranks' GPUs are older than 8.0)" : "") +
           ", and the cuda backend's kernels need " + std::to_string(kMinComputeMajor) +
           ".0 (sm_80) or newer; use --backend nccl";
  }
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    std::vector<int> sharing{static_cast<int>(r)};
    for (std::size_t s = 0; s < ranks.size(); ++s) {
      if (s != r && same_gpu(ranks[s], ranks[r])) sharing.push_back(static_cast<int>(s));
    }
    if (sharing.size() == 1) continue;
    if (sharing[1] < static_cast<int>(r)) continue;  // named already, from its lowest rank
    return list_ranks(sharing) + " share " + describe(ranks[r]) +
           ": the cuda backend needs a GPU of its own for every rank (start at most as many ranks per node as it "
           "has GPUs)";
  }
  return std::nullopt;
}

std::optional<std::string> refusal_without_peer_access(std::span<const DeviceFacts> ranks,
                                                       std::span<const std::uint8_t> reach) {
  const std::size_t n = ranks.size();
  CCTUNE_CHECK(reach.size() == n * n, "peer access: one entry per pair of ranks");
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const bool there = reach[i * n + j] != 0, back = reach[j * n + i] != 0;
      if (there && back) continue;
      const std::size_t from = there ? j : i, to = there ? i : j;
      return "rank " + std::to_string(from) + "'s " + describe(ranks[from]) + " cannot access rank " +
             std::to_string(to) + "'s " + describe(ranks[to]) +
             " peer to peer (cudaDeviceCanAccessPeer): the cuda backend's kernels read and write peer memory "
             "directly, over NVLink or PCIe P2P; use --backend nccl";
    }
  }
  return std::nullopt;
}

std::vector<int> agreed_device_blocks(std::span<const DeviceFacts> ranks) {
  if (ranks.empty()) return {};
  const int kernels = ranks.front().kernels;
  std::vector<int> agreed(ranks.front().device_blocks, ranks.front().device_blocks + kernels);
  for (const DeviceFacts& rank : ranks) {
    // The same binary on every rank lists the same kernels.
    CCTUNE_CHECK(rank.kernels == kernels, "the ranks list different kernels: not the same cctune everywhere");
    for (int k = 0; k < kernels; ++k) {
      int& fewest = agreed[static_cast<std::size_t>(k)];
      fewest = std::min(fewest, rank.device_blocks[k]);
    }
  }
  return agreed;
}

Agreement agree_with_peers(PeerExchange& peers, const DeviceFacts& mine, const ReachRow& reach_row) {
  const auto n = static_cast<std::size_t>(peers.size());
  Agreement agreed;
  agreed.ranks.resize(n);
  peers.allgather(&mine, agreed.ranks.data(), sizeof mine);
  for (DeviceFacts& facts : agreed.ranks) terminate_texts(facts);
  if (auto line = refusal(agreed.ranks)) throw UsageError(*line, __FILE__, __LINE__);

  std::vector<std::uint8_t> row = reach_row(agreed.ranks, peers.rank());
  row.resize(n, 0);  // a short answer grants nothing
  std::vector<std::uint8_t> reach(n * n);
  peers.allgather(row.data(), reach.data(), n);
  if (auto line = refusal_without_peer_access(agreed.ranks, reach)) throw UsageError(*line, __FILE__, __LINE__);

  agreed.device_blocks = agreed_device_blocks(agreed.ranks);
  return agreed;
}

DeviceFacts probe_this_device(int local_rank, std::span<const void* const> kernels) {
  DeviceFacts facts;
  try {
    facts.index = gpu::CurrentDevice(local_rank).index;
    cudaDeviceProp properties{};
    CCTUNE_CUDA(cudaGetDeviceProperties(&properties, facts.index));
    copy_text(facts.name, properties.name);
    std::memcpy(facts.uuid.data(), properties.uuid.bytes, facts.uuid.size());
    CCTUNE_CUDA(cudaDeviceGetPCIBusId(facts.bus_id, sizeof facts.bus_id, facts.index));
    facts.major = properties.major;
    facts.minor = properties.minor;
    CCTUNE_CHECK(kernels.size() <= static_cast<std::size_t>(kMaxAgreedKernels),
                 "the cuda registry has more kernels than the set-up exchange has room for");
    facts.kernels = static_cast<int>(kernels.size());
    // On an older GPU no kernel has an image to ask about: refusal() names the GPU instead.
    if (facts.major >= kMinComputeMajor) {
      for (std::size_t k = 0; k < kernels.size(); ++k) facts.device_blocks[k] = local_device_blocks(kernels[k]);
    }
  } catch (const Error& e) {
    std::string problem = e.what();
    if (facts.name[0] != '\0') problem = describe(facts) + ": " + problem;
    copy_text(facts.problem, problem);
    cudaGetLastError();  // not left for the next call to report
  }
  return facts;
}

std::vector<std::uint8_t> reach_from_this_device(std::span<const DeviceFacts> ranks, int self) {
  const DeviceFacts& mine = ranks[static_cast<std::size_t>(self)];
  std::vector<std::uint8_t> row(ranks.size(), 1);
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    if (static_cast<int>(r) == self) continue;
    int device = -1;
    if (cudaDeviceGetByPCIBusId(&device, ranks[r].bus_id) != cudaSuccess) {
      cudaGetLastError();
      continue;  // not visible here: reachable, as NCCL counts it
    }
    int can = 0;
    if (device == mine.index || cudaDeviceCanAccessPeer(&can, mine.index, device) != cudaSuccess) {
      cudaGetLastError();
      can = 0;
    }
    row[r] = can != 0 ? 1 : 0;
  }
  return row;
}

}  // namespace cctune::cuda
