// libcctune-mpi.so: runs the profile's host algorithms (ring, bruck, ...) inside an unmodified MPI job.
// Preloaded into each rank, it defines MPI_Allreduce and MPI_Alltoall through the MPI profiling
// interface: a call whose communicator, size, type and operation the profile covers with one of our
// algorithms runs that algorithm; every other call goes to the library (PMPI_*), which the rules file
// tunes. Like the NCCL plugin this is a C ABI at the edge of the program: nothing may throw out of it.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <memory>
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
  // Where a rank's own layout needs it (gaps in its types, misaligned buffers), its data passes through
  // these dense copies: a rank-local fact changes how a rank feeds our algorithm, never which one runs.
  std::vector<std::byte> stage_send, stage_recv;
};

struct Shim {
  bool active = false;   // preloaded and not switched off: takes part in every communicator's agreement
  bool enabled = false;  // this rank's profile was read and fits its node: it proposes routes
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
    // From here on every rank takes part in each communicator's agreement on its routes, also a rank
    // whose profile cannot be read: it proposes none, and the others then leave that communicator to
    // the library too, instead of waiting for it inside one of our algorithms.
    if (MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_state, &s.keyval, nullptr) != MPI_SUCCESS) return;
    s.active = true;
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
    int size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != s.profile.shape.nranks) {
      // Nodes are counted per communicator, later; here only whether any rule could be for this size.
      const bool predicted = std::any_of(s.profile.rules.begin(), s.profile.rules.end(), [&](const auto& rule) {
        return rule.nranks == size && !rule.predicted.empty();
      });
      say(std::string(path) + ": tuned for " + std::to_string(s.profile.shape.nranks) + " ranks, this job has " +
          std::to_string(size) +
          (predicted ? ": its rules predicted for " + std::to_string(size) + " ranks apply (cctune plan), unmeasured"
                     : ": communicators of other sizes are left to the MPI library, unless a rule names their size"));
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

std::uint64_t mix(std::uint64_t hash, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) hash = (hash ^ ((value >> (8 * i)) & 0xff)) * 1099511628211ull;
  return hash;
}

// Everything about the routes that the ranks must have in common.
std::uint64_t digest(const CommState& state) {
  std::uint64_t hash = 1469598103934665603ull;
  for (const auto* routes : {&state.allreduce, &state.alltoall}) {
    hash = mix(hash, routes->size());
    for (const Route& route : *routes) {
      hash = mix(mix(hash, route.min_bytes), route.max_bytes);
      for (const char c : route.algorithm->info().name) hash = mix(hash, static_cast<unsigned char>(c));
    }
  }
  return hash;
}

// True when MPI_Pack lays data out as the bytes themselves, one element after the other, which is what
// lets a rank with gaps in its type feed our algorithms while the others pass their buffers directly.
bool packing_is_native() {
  static const bool native = [] {
    MPI_Datatype gapped = MPI_DATATYPE_NULL;
    if (MPI_Type_create_resized(MPI_INT, 0, 2 * sizeof(int), &gapped) != MPI_SUCCESS) return false;
    MPI_Type_commit(&gapped);
    const int data[4] = {0x01020304, -1, 0x05060708, -1};
    int packed[2] = {0, 0};
    int position = 0;
    const bool ok = MPI_Pack(data, 2, gapped, packed, sizeof(packed), &position, MPI_COMM_SELF) == MPI_SUCCESS &&
                    position == static_cast<int>(sizeof(packed)) && packed[0] == data[0] && packed[1] == data[2];
    MPI_Type_free(&gapped);
    return ok;
  }();
  return native;
}

// Collective over `comm`, reached by every rank of it at its first allreduce or alltoall there (the
// checks before it depend only on what MPI requires to be alike on all ranks). Each rank derives its
// routes from its own profile; the ranks then agree: where they differ (a profile missing or tuned
// for other hardware on some node), every rank leaves the communicator to the library.
CommState* build_state(MPI_Comm comm) {
  const Shim& s = shim();
  auto state = std::make_unique<CommState>();
  int inter = 0;
  MPI_Comm_test_inter(comm, &inter);
  if (!inter) {
    int size = 0;
    MPI_Comm_size(comm, &size);
    MPI_Comm local = MPI_COMM_NULL;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    int local_rank = 0;
    MPI_Comm_rank(local, &local_rank);
    MPI_Comm_free(&local);
    const int leader = local_rank == 0 ? 1 : 0;
    int nodes = 0;
    PMPI_Allreduce(&leader, &nodes, 1, MPI_INT, MPI_SUM, comm);
    for (const auto& rule : s.enabled ? s.profile.rules : std::vector<cctune::tuner::Rule>{}) {
      if (rule.backend != "mpi") continue;
      if (!cctune::tuner::applies_to(s.profile, rule, size, nodes)) continue;
      if (rule.collective != "allreduce" && rule.collective != "alltoall") continue;
      const Collective collective = rule.collective == "allreduce" ? Collective::allreduce : Collective::alltoall;
      // Alltoall routes rely on packing for ranks whose types have gaps.
      if (collective == Collective::alltoall && !packing_is_native()) continue;
      if (const auto* algorithm = host_algorithm(rule.choice.algorithm, collective)) {
        (collective == Collective::allreduce ? state->allreduce : state->alltoall)
            .push_back({rule.min_bytes, rule.max_bytes, algorithm});
      }
    }
    // (hash, ~hash) maximised over the ranks comes back as the rank's own pair only if every rank has
    // the same hash; otherwise no rank's pair survives, so every rank sees the disagreement alike.
    const std::uint64_t hash = digest(*state);
    const std::uint64_t mine[2] = {hash, ~hash};
    std::uint64_t agreed[2] = {0, 0};
    PMPI_Allreduce(mine, agreed, 2, MPI_UINT64_T, MPI_MAX, comm);
    if (agreed[0] != hash || agreed[1] != ~hash) {
      int rank = 0;
      MPI_Comm_rank(comm, &rank);
      if (rank == 0) {
        std::fprintf(stderr, "cctune-mpi: the ranks of a %d-rank communicator do not reach the same routes (a "
                             "profile missing, unreadable or tuned for other nodes on some of them): it is left to "
                             "the MPI library\n", size);
      }
      state->allreduce.clear();
      state->alltoall.clear();
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

// True for a type whose `count` elements are exactly count * size bytes from the buffer's start, in the
// order MPI would pack them: its size equals its extent and its true extent, both lower bounds are 0,
// and it is a named type or a duplicate, contiguous run or same-extent resizing of such a type. Sizes
// alone are not enough: a struct of {int at 4, int at 0}, or an indexed type that reads one int twice,
// has them right but packs its bytes in another order than memory holds them. Anything else is packed,
// which is always right.
bool dense(MPI_Datatype type, int depth = 0) {
  int size = 0;
  MPI_Aint lower = 0, extent = 0, true_lower = 0, true_extent = 0;
  if (MPI_Type_size(type, &size) != MPI_SUCCESS || MPI_Type_get_extent(type, &lower, &extent) != MPI_SUCCESS ||
      MPI_Type_get_true_extent(type, &true_lower, &true_extent) != MPI_SUCCESS) {
    return false;
  }
  if (size <= 0 || lower != 0 || true_lower != 0 || extent != size || true_extent != size) return false;
  int integers = 0, addresses = 0, types = 0, combiner = 0;
  if (MPI_Type_get_envelope(type, &integers, &addresses, &types, &combiner) != MPI_SUCCESS) return false;
  if (combiner == MPI_COMBINER_NAMED) return true;
  if (depth > 8 || types != 1 || integers > 1 || addresses > 2 ||
      (combiner != MPI_COMBINER_DUP && combiner != MPI_COMBINER_CONTIGUOUS && combiner != MPI_COMBINER_RESIZED)) {
    return false;
  }
  int integer_values[1] = {0};
  MPI_Aint address_values[2] = {0, 0};
  MPI_Datatype inner = MPI_DATATYPE_NULL;
  if (MPI_Type_get_contents(type, integers, addresses, types, integer_values, address_values, &inner) != MPI_SUCCESS) {
    return false;
  }
  const bool result = dense(inner, depth + 1);
  // get_contents hands out a new handle for a derived inner type, to be freed; a named one is not.
  int inner_integers = 0, inner_addresses = 0, inner_types = 0, inner_combiner = 0;
  MPI_Type_get_envelope(inner, &inner_integers, &inner_addresses, &inner_types, &inner_combiner);
  if (inner_combiner != MPI_COMBINER_NAMED) MPI_Type_free(&inner);
  return result;
}

// Bytes of one element's data (its type signature), the same on every rank whatever its layout; 0 for
// a type MPI does not know.
std::uint64_t signature_bytes(MPI_Datatype type) {
  int size = 0;
  return MPI_Type_size(type, &size) == MPI_SUCCESS && size > 0 ? static_cast<std::uint64_t>(size) : 0;
}

// MPI_Pack's count and sizes are ints: larger buffers go in pieces that each fit.
template <typename Step>
void in_pieces(MPI_Datatype type, std::uint64_t elements, Step step) {
  int size = 0;
  MPI_Aint lower = 0, extent = 0;
  MPI_Type_size(type, &size);
  MPI_Type_get_extent(type, &lower, &extent);
  const std::uint64_t per_piece = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(INT_MAX) / size);
  for (std::uint64_t first = 0; first < elements; first += per_piece) {
    const std::uint64_t n = std::min(per_piece, elements - first);
    step(static_cast<std::ptrdiff_t>(first) * extent, first * static_cast<std::uint64_t>(size), static_cast<int>(n),
         static_cast<int>(n * static_cast<std::uint64_t>(size)));
  }
}

// The data of `elements` elements of `type` at `buffer`, one after the other in `dense_copy`.
void pack(const void* buffer, std::uint64_t elements, MPI_Datatype type, std::byte* dense_copy) {
  in_pieces(type, elements, [&](std::ptrdiff_t from, std::uint64_t to, int n, int bytes) {
    int position = 0;
    if (MPI_Pack(static_cast<const char*>(buffer) + from, n, type, dense_copy + to, bytes, &position,
                 MPI_COMM_SELF) != MPI_SUCCESS || position != bytes) {
      CCTUNE_THROW("MPI_Pack of the caller's datatype failed");
    }
  });
}

void unpack(const std::byte* dense_copy, std::uint64_t elements, MPI_Datatype type, void* buffer) {
  in_pieces(type, elements, [&](std::ptrdiff_t to, std::uint64_t from, int n, int bytes) {
    int position = 0;
    if (MPI_Unpack(dense_copy + from, bytes, &position, static_cast<char*>(buffer) + to, n, type, MPI_COMM_SELF) !=
            MPI_SUCCESS || position != bytes) {
      CCTUNE_THROW("MPI_Unpack into the caller's datatype failed");
    }
  });
}

std::byte* staged(std::vector<std::byte>& stage, std::uint64_t bytes) {
  if (stage.size() < bytes) stage.resize(bytes);
  return stage.data();
}

// A copy kept between calls saves an allocation per call; one of a single huge call would stay with the
// communicator for its life, so copies beyond this are given back after the call.
constexpr std::size_t kKeptStageBytes = 16u << 20;

void release_large(CommState& state) {
  for (auto* stage : {&state.stage_send, &state.stage_recv}) {
    if (stage->capacity() > kKeptStageBytes) std::vector<std::byte>().swap(*stage);
  }
}

bool aligned(const void* pointer, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(pointer) % alignment == 0;
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
  // MPI requires count, type and op to be the same on every rank: so is this decision. Only named
  // types qualify; Open MPI itself refuses a predefined operation on any derived type (a duplicate of
  // MPI_INT included), so a rank that passes one fails in the library here as it would without us.
  const auto element = element_type(type);
  const auto operation = reduce_op(op);
  if (!shim().active || !element || !operation || count <= 0 || comm == MPI_COMM_NULL) {
    return PMPI_Allreduce(send, recv, count, type, op, comm);
  }
  try {
    CommState* state = state_of(comm);
    const std::uint64_t bytes = static_cast<std::uint64_t>(count) * cctune::size_of(*element);
    Route* route = find_route(state->allreduce, bytes);
    if (route == nullptr) return PMPI_Allreduce(send, recv, count, type, op, comm);
    announce(*route, "allreduce", bytes, *state);
    const bool in_place = send == MPI_IN_PLACE;
    const void* input = in_place ? recv : send;
    // Our reductions work on naturally aligned elements; a caller's misaligned buffer (legal in MPI)
    // is reduced in an aligned copy.
    const std::size_t alignment = cctune::size_of(*element);
    const bool stage = !aligned(input, alignment) || !aligned(recv, alignment);
    void* output = stage ? staged(state->stage_recv, bytes) : recv;
    if (stage) {
      if (in_place) {
        std::memcpy(output, recv, bytes);
        input = output;
      } else {
        input = std::memcpy(staged(state->stage_send, bytes), send, bytes);
      }
    }
    const CollectiveArgs args{input, output, static_cast<std::size_t>(count), *element, *operation};
    if (!run_route(*state, *route, args)) return PMPI_Allreduce(send, recv, count, type, op, comm);
    if (stage) std::memcpy(recv, output, bytes);
    release_large(*state);
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
  if (!shim().active || recv_count <= 0 || comm == MPI_COMM_NULL) return library();
  // The route depends on the bytes each rank receives from each peer: the type signature, which MPI
  // requires to match across ranks however each rank lays its buffers out. Alltoall only moves bytes,
  // so any signature will do, as whole 4-byte words.
  const std::uint64_t per_peer = signature_bytes(recv_type) * static_cast<std::uint64_t>(recv_count);
  if (per_peer == 0 || per_peer % 4 != 0) return library();
  const bool in_place = send == MPI_IN_PLACE;
  try {
    if (!in_place && (send_count < 0 || signature_bytes(send_type) * static_cast<std::uint64_t>(send_count) != per_peer)) {
      CCTUNE_THROW("the send and receive type signatures differ (an erroneous call)");
    }
    CommState* state = state_of(comm);
    const int nranks = state->comm ? state->comm->size() : 0;
    const std::uint64_t bytes = per_peer * static_cast<std::uint64_t>(nranks);
    Route* route = find_route(state->alltoall, bytes);
    if (route == nullptr) return library();
    announce(*route, "alltoall", bytes, *state);
    // A rank whose types have gaps packs its data densely and unpacks what it received: its layout is
    // its own business, the route is everyone's.
    const bool dense_recv = dense(recv_type);
    const bool dense_send = in_place || dense(send_type);
    const std::uint64_t recv_elements = static_cast<std::uint64_t>(recv_count) * static_cast<std::uint64_t>(nranks);
    void* output = recv;
    if (!dense_recv) {
      output = staged(state->stage_recv, bytes);
      if (in_place) pack(recv, recv_elements, recv_type, static_cast<std::byte*>(output));
    }
    const void* input = in_place ? output : send;
    if (!dense_send) {
      std::byte* copy = staged(state->stage_send, bytes);
      pack(send, static_cast<std::uint64_t>(send_count) * static_cast<std::uint64_t>(nranks), send_type, copy);
      input = copy;
    }
    const CollectiveArgs args{input, output, static_cast<std::size_t>(per_peer / 4), DataType::int32, ReduceOp::sum};
    if (!run_route(*state, *route, args)) return library();
    if (!dense_recv) unpack(static_cast<const std::byte*>(output), recv_elements, recv_type, recv);
    release_large(*state);
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
