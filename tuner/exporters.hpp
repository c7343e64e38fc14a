#pragma once
// What a tenant's job imports from a profile, with no code change: an Open MPI coll/tuned dynamic
// rules file, and an environment file to `source` in the job script.
#include <string>

#include "tuner/profile.hpp"

namespace cctune::tuner {

// The profile's "ompi:N" rules as Open MPI 4.1's rules file (../shared/notes/interop-formats.md §2).
// Ranges between rules, and sizes no rule covers, fall back to algorithm 0: Open MPI's own decision.
std::string export_ompi_rules(const Profile& profile);

// True when a rule of the mpi backend names one of cctune's own host algorithms (not "ompi:N"): only
// libcctune-mpi.so can run those inside a job.
bool needs_mpi_shim(const Profile& profile);

// Where the files a job script uses are. Paths are written as given (pass absolute ones).
struct EnvFilePaths {
  std::string profile, rules;
  std::string mpi_shim;  // libcctune-mpi.so; empty when it was not found, which the file then says
  std::string cctune;    // this cctune, which measures the job's node fingerprint; empty: no such check
};

// `source`-able: OMPI_MCA_* pointing Open MPI at the rules file; NCCL_TUNER_PLUGIN/CCTUNE_PROFILE for
// NCCL jobs, and NCCL's alltoall knobs; when the profile needs it, Open MPI's launcher told to preload
// libcctune-mpi.so; and the node's fingerprint, measured when the file is sourced, for the plugin and
// the library to compare with the profile's. Throws UsageError for a path Open MPI's env list cannot
// carry (one with ';').
std::string export_env_file(const Profile& profile, const EnvFilePaths& paths);

}  // namespace cctune::tuner
