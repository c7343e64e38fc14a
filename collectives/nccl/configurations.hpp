#pragma once
// The nccl backend's "algorithms": NCCL itself, run with its own choice or with one algorithm and
// protocol forced through NCCL_ALGO / NCCL_PROTO at communicator creation, or with a channel cap, plus
// alltoall as grouped point-to-point calls. A table, since each entry is a configuration, not code.
#include <span>

#include "collectives/backend.hpp"

namespace cctune::nccl {

enum class Path {
  library,      // ncclAllReduce, ncclAlltoAll (NCCL >= 2.28; grouped send/recv before)
  grouped_p2p,  // alltoall as one ncclGroupStart/End of ncclSend + ncclRecv per peer
};

struct Configuration {
  AlgorithmInfo info;
  const char* algo = nullptr;   // NCCL_ALGO while the communicator is created (nullptr: NCCL decides)
  const char* proto = nullptr;  // NCCL_PROTO likewise
  int max_channels = 0;         // ncclConfig_t::maxCTAs (0: NCCL decides)
  Path path = Path::library;
};

std::span<const Configuration> configurations();
std::span<const AlgorithmInfo> configuration_infos();
// Throws UsageError naming the known ones.
const Configuration& find_configuration(Collective collective, std::string_view name);

}  // namespace cctune::nccl
