#include "tuner/exporters.hpp"

#include <algorithm>
#include <map>
#include <sstream>
#include <vector>

#include "collectives/error.hpp"

namespace cctune::tuner {
namespace {

// Open MPI's collective ids in the rules file.
int ompi_collective_id(const std::string& collective) {
  if (collective == "allreduce") return 2;
  if (collective == "alltoall") return 3;
  return -1;
}

struct Line {
  std::uint64_t from;
  int algorithm;
  int fanout;
  std::uint64_t segsize;
};

// Shell single quotes: the only character that needs care is the quote itself.
std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string export_ompi_rules(const Profile& profile) {
  // collective id -> communicator size -> rules in ascending size
  std::map<int, std::map<int, std::vector<const Rule*>>> table;
  for (const Rule& rule : profile.rules) {
    const int id = ompi_collective_id(rule.collective);
    if (rule.backend != "mpi" || id < 0 || !ompi_algorithm_number(rule.collective, rule.choice.algorithm)) continue;
    table[id][rule.nranks >= 0 ? rule.nranks : profile.shape.nranks].push_back(&rule);
  }
  std::ostringstream out;
  out << "# Open MPI coll/tuned dynamic rules written by cctune " << profile.cctune_version << " from a profile tuned for "
      << profile.shape.nranks << " ranks on " << profile.shape.nnodes << " node(s).\n"
      << "# Use: mpirun --mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_dynamic_rules_filename THIS_FILE\n"
      << "# Sizes: allreduce count*typesize; alltoall the whole send buffer (count*typesize*ranks).\n"
      << "# Algorithm 0 hands the size back to Open MPI's own decision.\n"
      << table.size() << "  # collectives\n";
  for (const auto& [id, sizes] : table) {
    out << id << " " << sizes.size() << "  # " << (id == 2 ? "allreduce" : "alltoall") << ", communicator sizes\n";
    for (const auto& [ranks, rules] : sizes) {
      std::vector<const Rule*> sorted = rules;
      std::sort(sorted.begin(), sorted.end(), [](const Rule* a, const Rule* b) { return a->min_bytes < b->min_bytes; });
      std::vector<Line> lines;
      std::uint64_t covered = 0;  // every size below this has a line
      for (const Rule* rule : sorted) {
        if (!lines.empty() && rule->max_bytes < covered) continue;  // wholly inside an earlier rule
        if (rule->min_bytes > covered) lines.push_back({covered, 0, 0, 0});  // a gap: Open MPI decides
        // An overlap stays with the earlier rule (first match wins), so keys always ascend: one
        // descending key and Open MPI silently discards the whole file.
        const std::uint64_t from = lines.empty() ? rule->min_bytes : std::max(rule->min_bytes, covered);
        if (lines.empty() && from > 0) lines.push_back({0, 0, 0, 0});
        lines.push_back({from, *ompi_algorithm_number(rule->collective, rule->choice.algorithm), rule->choice.fanout,
                         rule->choice.segsize});
        covered = rule->max_bytes == UINT64_MAX ? UINT64_MAX : rule->max_bytes + 1;
      }
      if (covered != UINT64_MAX) lines.push_back({covered, 0, 0, 0});
      // Open MPI requires the first size of a block to be 0 and the sizes to ascend strictly.
      std::vector<Line> merged;
      for (const Line& line : lines) {
        if (!merged.empty() && merged.back().from == line.from) {
          merged.back() = line;
        } else {
          merged.push_back(line);
        }
      }
      out << "  " << ranks << " " << merged.size() << "  # ranks, message sizes\n";
      for (const Line& line : merged) {
        out << "    " << line.from << " " << line.algorithm << " " << line.fanout << " " << line.segsize << "\n";
      }
    }
  }
  return out.str();
}

bool needs_mpi_shim(const Profile& profile) {
  return std::any_of(profile.rules.begin(), profile.rules.end(), [](const Rule& r) {
    return r.backend == "mpi" && !runs_in_mpi_library(r.choice.algorithm);
  });
}

std::string export_env_file(const Profile& profile, const EnvFilePaths& paths) {
  const bool nccl = std::any_of(profile.rules.begin(), profile.rules.end(), [](const Rule& r) { return r.backend == "nccl"; });
  const bool shim = needs_mpi_shim(profile);
  std::ostringstream out;
  out << "# Written by cctune " << profile.cctune_version << " for " << profile.shape.nranks << " ranks on "
      << profile.shape.nnodes << " node(s). In the job script: source THIS_FILE\n"
      << "export OMPI_MCA_coll_tuned_use_dynamic_rules=1\n"
      << "export OMPI_MCA_coll_tuned_dynamic_rules_filename=" << quoted(paths.rules) << "\n";
  // What the ranks need, forwarded through Open MPI's env list: mpirun passes its own environment to
  // the ranks on its node only. (srun passes all of it.)
  std::vector<std::string> forwarded;
  if (nccl) {
    out << "export NCCL_TUNER_PLUGIN=cctune\n";
    forwarded.push_back("NCCL_TUNER_PLUGIN=$NCCL_TUNER_PLUGIN");
  }
  // NCCL never shows alltoall to a tuner plugin, and reads its p2p knobs once per process: one value
  // for the whole job, so the one chosen for the largest messages, where they matter.
  const Rule* largest_alltoall = nullptr;
  for (const Rule& rule : profile.rules) {
    if (rule.backend == "nccl" && rule.collective == "alltoall" &&
        (!largest_alltoall || rule.max_bytes > largest_alltoall->max_bytes)) {
      largest_alltoall = &rule;
    }
  }
  if (largest_alltoall && largest_alltoall->choice.channels_per_net_peer > 0) {
    out << "# alltoall from " << largest_alltoall->min_bytes << " B up: network channels per remote peer (job-wide)\n"
        << "export NCCL_NCHANNELS_PER_NET_PEER=" << largest_alltoall->choice.channels_per_net_peer << "\n";
    forwarded.push_back("NCCL_NCHANNELS_PER_NET_PEER=$NCCL_NCHANNELS_PER_NET_PEER");
  }
  if (std::any_of(profile.rules.begin(), profile.rules.end(), [](const Rule& r) { return r.backend == "cuda"; })) {
    out << "# The profile's cuda rules are cctune's own kernels: no job imports them yet; they say where they\n"
        << "# would beat NCCL's choice (docs/profile.md).\n";
  }
  if (nccl || shim) {
    out << "export CCTUNE_PROFILE=" << quoted(paths.profile) << "\n";
    forwarded.insert(forwarded.begin(), "CCTUNE_PROFILE=$CCTUNE_PROFILE");
  }
  if ((nccl || shim) && !profile.shape.fingerprint.empty() && !paths.cctune.empty()) {
    // Measured where the job script runs, when it runs: a profile tuned on other hardware is then
    // ignored with one warning instead of forcing choices measured elsewhere.
    out << "# Tuned on nodes with fingerprint " << profile.shape.fingerprint << ": on others, the NCCL plugin and\n"
        << "# libcctune-mpi.so warn once and leave the library's choices alone.\n"
        << "export " << kNodeFingerprintVariable << "=\"$(" << quoted(paths.cctune)
        << " topo --fingerprint 2>/dev/null)\"\n";
    forwarded.push_back(std::string(kNodeFingerprintVariable) + "=$" + kNodeFingerprintVariable);
  }
  if (shim && paths.mpi_shim.empty()) {
    out << "# The profile chooses cctune's own algorithms for some sizes, but libcctune-mpi.so was not found\n"
        << "# beside cctune: without it those sizes stay with Open MPI's own decision.\n";
  } else if (shim) {
    // Through the env list, LD_PRELOAD reaches the ranks and not mpirun itself: in the job script's own
    // environment it would load MPI into every command the script runs.
    out << "# The profile chooses cctune's own algorithms for some sizes: libcctune-mpi.so, preloaded into each\n"
        << "# rank, runs them in place of MPI_Allreduce / MPI_Alltoall. Under Slurm's srun instead of mpirun:\n"
        << "#   srun --export=ALL,LD_PRELOAD=\"$CCTUNE_MPI_PRELOAD\" ...\n"
        << "export CCTUNE_MPI_PRELOAD=" << quoted(paths.mpi_shim) << "\n";
    forwarded.insert(forwarded.begin(), "LD_PRELOAD=$CCTUNE_MPI_PRELOAD");
  }
  if (!forwarded.empty()) {
    for (const std::string* path : {&paths.profile, &paths.mpi_shim}) {
      if (path->find(';') != std::string::npos) {
        CCTUNE_USAGE_ERROR("'" + *path + "' contains ';', which Open MPI's env list (mca_base_env_list) cannot carry");
      }
    }
    out << "export OMPI_MCA_mca_base_env_list=\"${OMPI_MCA_mca_base_env_list:+$OMPI_MCA_mca_base_env_list;}";
    for (std::size_t i = 0; i < forwarded.size(); ++i) out << (i ? ";" : "") << forwarded[i];
    out << "\"\n";
  }
  return out.str();
}

}  // namespace cctune::tuner
