// libcctune-mpi.so: runs the profile's host algorithms (ring, bruck, ...) inside an unmodified MPI job.
// Preloaded into each rank, it defines MPI_Allreduce and MPI_Alltoall through the MPI profiling
// interface: a call whose communicator, size, type and operation the profile covers with one of our
// algorithms runs that algorithm; every other call goes to the library (PMPI_*), which the rules file
// tunes. Like the NCCL plugin this is a C ABI at the edge of the program: nothing may throw out of it.
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "collectives/error.hpp"
#include "collectives/mpi/algorithm.hpp"
#include "tuner/profile.hpp"

namespace {

using cctune::Collective;
using cctune::CollectiveArgs;
using cctune::DataType;
using cctune::ReduceOp;

struct Route {
  std::uint64_t min_bytes = 0;
  std::uint64_t max_bytes = 0;
  const cctune::mpi::MpiAlgorithm* algorithm = nullptr;
  bool announced = false;
};

// What the shim knows about one communicator, kept as an MPI attribute on it.
struct CommState {
  std::vector<Route> allreduce, alltoall;
  std::optional<cctune::Communicator> comm;  // our algorithms' own duplicate, so messages never mix with the job's
  cctune::mpi::Workspace workspace;
};

struct Shim {
  bool enabled = false;
  bool verbose = false;
  cctune::tuner::Profile profile;
  int keyval = MPI_KEYVAL_INVALID;
  bool finalizing = false;
};

Shim& shim() {
  static Shim instance;
  return instance;
}

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

// One line on stderr, from world rank 0 only, so that a warning is not repeated by every rank.
void say(const std::string& line) {
  if (world_rank() == 0) std::fprintf(stderr, "cctune-mpi: %s\n", line.c_str());
}

int delete_state(MPI_Comm, int, void* attribute, void*) {
  // During MPI_Finalize the library tears communicators down itself: freeing ours then is not allowed.
  if (!shim().finalizing) delete static_cast<CommState*>(attribute);
  return MPI_SUCCESS;
}

void load_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    Shim& s = shim();
    const char* off = std::getenv("CCTUNE_MPI_SHIM");
    if (off != nullptr && std::strcmp(off, "off") == 0) return;  // cctune itself measures the library
    const char* log = std::getenv("CCTUNE_MPI_LOG");
    s.verbose = log != nullptr && std::strcmp(log, "info") == 0;
    const char* path = std::getenv("CCTUNE_PROFILE");
    if (path == nullptr || *path == '\0') {
      say("CCTUNE_PROFILE is not set: every collective is left to the MPI library");
      return;
    }
    try {
      s.profile = cctune::tuner::read_profile(path);
      cctune::tuner::check_this_node(s.profile);
    } catch (const std::exception& e) {
      say(std::string(e.what()) + ": every collective is left to the MPI library");
      return;
    }
    if (MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_state, &s.keyval, nullptr) != MPI_SUCCESS) return;
    int size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != s.profile.shape.nranks) {
      say(std::string(path) + ": tuned for " + std::to_string(s.profile.shape.nranks) + " ranks, this job has " +
          std::to_string(size) + ": communicators of other sizes are left to the MPI library");
    }
    s.enabled = true;
    if (s.verbose) say("using " + std::string(path) + " (" + std::to_string(s.profile.rules.size()) + " rules)");
  });
}

const cctune::mpi::MpiAlgorithm* host_algorithm(const std::string& name, Collective collective) {
  // The library's own entries ("mpi", "ompi:N") reach the library through PMPI without our help.
  if (cctune::tuner::runs_in_mpi_library(name)) return nullptr;
  for (const auto& algorithm : cctune::mpi::registry()) {
    if (algorithm->info().collective == collective && algorithm->info().name == name) return algorithm.get();
  }
  return nullptr;
}

// Collective over `comm`: every rank of it makes its first allreduce or alltoall call on it together,
// and reaches the same routes from the same profile.
CommState* build_state(MPI_Comm comm) {
  const Shim& s = shim();
  auto state = std::make_unique<CommState>();
  int inter = 0;
  MPI_Comm_test_inter(comm, &inter);
  int size = 0;
  MPI_Comm_size(comm, &size);
  bool any_rule_for_size = false;
  for (const auto& rule : s.profile.rules) {
    any_rule_for_size |= (rule.nranks >= 0 ? rule.nranks : s.profile.shape.nranks) == size;
  }
  if (!inter && any_rule_for_size) {
    MPI_Comm local = MPI_COMM_NULL;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    int local_rank = 0;
    MPI_Comm_rank(local, &local_rank);
    MPI_Comm_free(&local);
    const int leader = local_rank == 0 ? 1 : 0;
    int nodes = 0;
    PMPI_Allreduce(&leader, &nodes, 1, MPI_INT, MPI_SUM, comm);
    for (const auto& rule : s.profile.rules) {
      if (rule.backend != "mpi") continue;
      if ((rule.nranks >= 0 ? rule.nranks : s.profile.shape.nranks) != size) continue;
      if ((rule.nnodes >= 0 ? rule.nnodes : s.profile.shape.nnodes) != nodes) continue;
      const Collective collective = rule.collective == "allreduce" ? Collective::allreduce : Collective::alltoall;
      if (rule.collective != "allreduce" && rule.collective != "alltoall") continue;
      if (const auto* algorithm = host_algorithm(rule.choice.algorithm, collective)) {
        (collective == Collective::allreduce ? state->allreduce : state->alltoall)
            .push_back({rule.min_bytes, rule.max_bytes, algorithm});
      }
    }
    if (!state->allreduce.empty() || !state->alltoall.empty()) state->comm = cctune::Communicator::duplicate(comm);
  }
  CommState* raw = state.release();
  MPI_Comm_set_attr(comm, s.keyval, raw);
  return raw;
}

CommState* state_of(MPI_Comm comm) {
  void* attribute = nullptr;
  int found = 0;
  MPI_Comm_get_attr(comm, shim().keyval, &attribute, &found);
  return found ? static_cast<CommState*>(attribute) : build_state(comm);
}

Route* find_route(std::vector<Route>& routes, std::uint64_t bytes) {
  for (Route& route : routes) {
    if (route.min_bytes <= bytes && bytes <= route.max_bytes) return &route;
  }
  return nullptr;
}

std::optional<DataType> element_type(MPI_Datatype type) {
  if (type == MPI_FLOAT) return DataType::float32;
  if (type == MPI_DOUBLE) return DataType::float64;
  if (type == MPI_INT || type == MPI_INT32_T) return DataType::int32;
  return std::nullopt;
}

std::optional<ReduceOp> reduce_op(MPI_Op op) {
  if (op == MPI_SUM) return ReduceOp::sum;
  if (op == MPI_MAX) return ReduceOp::max;
  if (op == MPI_MIN) return ReduceOp::min;
  return std::nullopt;
}

// Bytes of one element of a type without gaps, or 0 for a type with gaps (left to the library).
std::uint64_t contiguous_size(MPI_Datatype type) {
  int size = 0;
  MPI_Aint lower = 0, extent = 0;
  if (MPI_Type_size(type, &size) != MPI_SUCCESS || MPI_Type_get_true_extent(type, &lower, &extent) != MPI_SUCCESS) {
    return 0;
  }
  return lower == 0 && extent == size && size > 0 ? static_cast<std::uint64_t>(size) : 0;
}

void announce(Route& route, const char* collective, std::uint64_t bytes, const CommState& state) {
  if (route.announced || !shim().verbose) return;
  route.announced = true;
  if (state.comm->rank() == 0) {
    std::fprintf(stderr, "cctune-mpi: %s of %llu B on %d ranks runs %s\n", collective,
                 static_cast<unsigned long long>(bytes), state.comm->size(),
                 std::string(route.algorithm->info().name).c_str());
  }
}

// False when the route's algorithm cannot run on this communicator (its shared memory cannot be had).
// Every rank learns that together, before any data moved: all drop the routes that need shared
// memory, with one warning, and give this call and later ones to the library.
bool run_route(CommState& state, const Route& route, const CollectiveArgs& args) {
  try {
    route.algorithm->run(*state.comm, args, state.workspace);
    return true;
  } catch (const cctune::UnavailableError& e) {
    say(std::string(e.what()) + ": the shared-memory algorithms are left to the MPI library on this communicator");
    for (auto* routes : {&state.allreduce, &state.alltoall}) {
      std::erase_if(*routes, [](const Route& r) { return r.algorithm->info().one_node_only; });
    }
    return false;
  }
}

// Our algorithm failed part-way: the ranks may be out of step, so let the job's own error handler
// decide (by default MPI aborts the job), as the library would for its own failure.
int fail(MPI_Comm comm, const char* collective, const std::exception& e) {
  std::fprintf(stderr, "cctune-mpi: %s failed: %s\n", collective, e.what());
  MPI_Comm_call_errhandler(comm, MPI_ERR_INTERN);
  return MPI_ERR_INTERN;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int MPI_Allreduce(const void* send, void* recv, int count, MPI_Datatype type,
                                                         MPI_Op op, MPI_Comm comm) {
  load_once();
  const auto element = element_type(type);
  const auto operation = reduce_op(op);
  if (!shim().enabled || !element || !operation || count <= 0 || comm == MPI_COMM_NULL) {
    return PMPI_Allreduce(send, recv, count, type, op, comm);
  }
  try {
    CommState* state = state_of(comm);
    const std::uint64_t bytes = static_cast<std::uint64_t>(count) * cctune::size_of(*element);
    Route* route = find_route(state->allreduce, bytes);
    if (route == nullptr) return PMPI_Allreduce(send, recv, count, type, op, comm);
    announce(*route, "allreduce", bytes, *state);
    const CollectiveArgs args{send == MPI_IN_PLACE ? recv : send, recv, static_cast<std::size_t>(count), *element,
                              *operation};
    if (!run_route(*state, *route, args)) return PMPI_Allreduce(send, recv, count, type, op, comm);
    return MPI_SUCCESS;
  } catch (const std::exception& e) {
    return fail(comm, "allreduce", e);
  }
}

__attribute__((visibility("default"))) int MPI_Alltoall(const void* send, int send_count, MPI_Datatype send_type,
                                                        void* recv, int recv_count, MPI_Datatype recv_type,
                                                        MPI_Comm comm) {
  load_once();
  auto library = [&] { return PMPI_Alltoall(send, send_count, send_type, recv, recv_count, recv_type, comm); };
  if (!shim().enabled || recv_count <= 0 || comm == MPI_COMM_NULL) return library();
  // Alltoall only moves bytes: any gap-free type will do, as whole 4-byte words.
  const std::uint64_t element = contiguous_size(recv_type);
  const std::uint64_t per_peer = element * static_cast<std::uint64_t>(recv_count);
  if (per_peer == 0 || per_peer % 4 != 0) return library();
  if (send != MPI_IN_PLACE && contiguous_size(send_type) * static_cast<std::uint64_t>(send_count) != per_peer) {
    return library();
  }
  try {
    CommState* state = state_of(comm);
    const std::uint64_t bytes = per_peer * static_cast<std::uint64_t>(state->comm ? state->comm->size() : 0);
    Route* route = find_route(state->alltoall, bytes);
    if (route == nullptr) return library();
    announce(*route, "alltoall", bytes, *state);
    const CollectiveArgs args{send == MPI_IN_PLACE ? recv : send, recv, static_cast<std::size_t>(per_peer / 4),
                              DataType::int32, ReduceOp::sum};
    if (!run_route(*state, *route, args)) return library();
    return MPI_SUCCESS;
  } catch (const std::exception& e) {
    return fail(comm, "alltoall", e);
  }
}

__attribute__((visibility("default"))) int MPI_Finalize() {
  Shim& s = shim();
  if (s.keyval != MPI_KEYVAL_INVALID) {
    // Free our duplicates of the predefined communicators while MPI still allows it.
    for (MPI_Comm comm : {MPI_COMM_WORLD, MPI_COMM_SELF}) {
      void* attribute = nullptr;
      int found = 0;
      MPI_Comm_get_attr(comm, s.keyval, &attribute, &found);
      if (found) MPI_Comm_delete_attr(comm, s.keyval);
    }
    s.finalizing = true;
  }
  return PMPI_Finalize();
}

}  // extern "C"
