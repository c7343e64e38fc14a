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

// `source`-able: OMPI_MCA_* pointing Open MPI at the rules file; NCCL_TUNER_PLUGIN/CCTUNE_PROFILE for
// NCCL jobs; and, when the profile needs it, Open MPI's launcher told to preload libcctune-mpi.so
// (shim_path; empty when it was not found, which the file then says). Paths are written as given (pass
// absolute ones). Throws UsageError for a path Open MPI's env list cannot carry (one with ';').
std::string export_env_file(const Profile& profile, const std::string& profile_path, const std::string& rules_path,
                            const std::string& shim_path = {});

}  // namespace cctune::tuner
