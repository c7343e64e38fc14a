#pragma once
// NCCL's own estimate of its collectives' times (ncclGroupSimulateEnd), per size and per algorithm NCCL
// may run, for one rank of the GPU check's multi-process run. NCCL estimates only on a communicator it
// has built, and builds none with two ranks on one GPU, so this needs one process per GPU. Rank 0
// writes what every rank agreed on as JSON, which scripts/nccl_estimates.py sets beside `cctune plan`
// for the same shape (docs/gpu.md):
//   {"nccl_version": "2.28.9", "gpus": 8, "device": "NVIDIA H100 80GB HBM3", "dtype": "bfloat16",
//    "topology": "<where NCCL dumped its topology: nccl-topology.xml beside this file>",
//    "rows": [{"collective": "allreduce", "algorithm": "nccl"|"ring"|"tree"|"nvls", "bytes": B,
//              "estimated_us": T|null, "note": "..."}]}
// estimated_us is null where NCCL gave no estimate (its "undefined" value, or an algorithm it could not
// set up here); note says which.
#include <string>

#include "collectives/peer_exchange.hpp"

namespace cctune::gpu_check {

// Every rank calls it, in the same order; throws cctune::Error on a CUDA or exchange failure.
// Returns false, having said why in one line, when this NCCL cannot estimate (before 2.22); true
// when rank 0 wrote the file, whatever NCCL could estimate (the rows' notes say what it could not).
bool nccl_estimates(PeerExchange& peers, const std::string& json_path);

}  // namespace cctune::gpu_check
