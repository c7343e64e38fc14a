#pragma once
// The nccl backend's "algorithms": NCCL itself, run with its own choice or with one algorithm and
// protocol forced through NCCL_ALGO / NCCL_PROTO at communicator creation, each with or without a cap on
// its channels, plus alltoall as grouped point-to-point calls and with more network channels per peer.
// Configurations, not code: the table is the cross product of the short lists in configurations.cpp.
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
  int channels_per_net_peer = 0;  // ncclConfig_t::nChannelsPerNetPeer, a p2p knob (0: NCCL decides)
};

// Every configuration, NCCL's own choice first for each collective.
std::span<const Configuration> configurations();
std::span<const AlgorithmInfo> configuration_infos();
// Throws UsageError naming the known ones.
const Configuration& find_configuration(Collective collective, std::string_view name);

}  // namespace cctune::nccl
