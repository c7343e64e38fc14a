#pragma once
// nccl-tests' launch options (-z -m -C -y -G -R -x): how the timed calls are issued, waited for and
// timed. The defaults are what a plain job does. Bench checks them against what the backend honours
// (its LaunchSupport, collectives/backends.cpp) before any rank communicates; a device backend is
// created with them (BackendSettings).
#include <string_view>

namespace cctune {

// -z, numbered as nccl-tests numbers it. none: the timed calls are queued back to back and waited
// for once (each timed between two events on the stream). The others wait for each timed iteration
// before the next is issued, and time it on the host: wait_and_meet then meets every rank, inside
// the time; wait does not meet; wait_then_meet_untimed meets after the time was taken.
enum class Blocking { none = 0, wait_and_meet = 1, wait = 2, wait_then_meet_untimed = 3 };
// -R: local is ncclCommRegister of the send and receive buffers, symmetric ncclCommWindowRegister
// (NCCL_WIN_COLL_SYMMETRIC, a collective call), each once per communicator before its first call.
enum class Registration { none = 0, local = 1, symmetric = 2 };

std::string_view describe(Blocking blocking);  // nccl-tests' "# Blocking Enabled: ..." text; empty for none

struct LaunchSettings {
  Blocking blocking = Blocking::none;
  int aggregated = 1;         // -m: calls per timed iteration (NCCL: in one group), the time divided among them
  bool host_time = false;     // -C 1: the host's time to issue the calls (nccl-tests' cputime), not the device's
  bool null_stream = false;   // -y 1: CUDA's legacy default stream instead of the backend's own
  int graph_launches = 0;     // -G N: the timed calls captured once into a CUDA graph, launched N times
  Registration registration = Registration::none;
  int cta_policy = -1;        // -x: ncclConfig_t::CTAPolicy (NCCL_CTA_POLICY_*); -1: NCCL's default
};

// Why a backend cannot honour each option (shown after the option), or empty where it does. -z, -m
// and -C every backend honours: a host backend's calls complete before they return, so each -z mode
// times the same thing there.
struct LaunchSupport {
  std::string_view null_stream, graphs, registration, cta_policy;
  std::string_view unaligned;  // -u: buffers that start past an aligned address
};

// Throws UsageError, one line naming the option, for what `support` refuses and for combinations
// nothing can run (a graph's calls cannot be waited for one by one; CUDA cannot capture the legacy
// stream). The NCCL runtime's own limits are checked where it is loaded (collectives/nccl).
void check_launch(const LaunchSettings& launch, const LaunchSupport& support);

}  // namespace cctune
