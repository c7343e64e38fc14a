#include "tuner/search_space.hpp"

#include <algorithm>
#include <cctype>

#include "collectives/backends.hpp"
#include "collectives/error.hpp"
#if CCTUNE_HAVE_NCCL
#include "collectives/nccl/configurations.hpp"
#endif

namespace cctune::tuner {
namespace {

std::vector<Candidate> mpi_space(Collective collective, bool library_only, int nnodes) {
  std::vector<Candidate> library, ours;
  for (const AlgorithmInfo& info : find_backend("mpi").algorithms()) {
    if (info.collective != collective) continue;
    const std::string name(info.name);
    if (name == "mpi") {
      library.insert(library.begin(), {"mpi", name, Choice{"ompi:0"}});
    } else if (runs_in_mpi_library(name)) {
      library.push_back({"mpi", name, Choice{name}});
    } else if (!library_only && (nnodes == 1 || !info.one_node_only)) {
      ours.push_back({"mpi", name, Choice{name}});
    }
  }
  library.insert(library.end(), ours.begin(), ours.end());
  return library;
}

#if CCTUNE_HAVE_NCCL
std::string lowercase(const char* text) {
  std::string out = text ? text : "any";
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

Choice nccl_choice(const nccl::Configuration& configuration) {
  Choice choice;
  choice.algorithm = configuration.path == nccl::Path::grouped_p2p ? "p2p_grouped" : lowercase(configuration.algo);
  choice.protocol = lowercase(configuration.proto);
  choice.channels = configuration.max_channels;
  choice.channels_per_net_peer = configuration.channels_per_net_peer;
  return choice;
}

bool importable(const nccl::Configuration& configuration) {
  if (configuration.info.collective == Collective::allreduce) return true;
  return configuration.path == nccl::Path::library && configuration.max_channels == 0;
}
#endif

std::vector<Candidate> nccl_space(Collective collective) {
  std::vector<Candidate> space;
  find_backend("nccl");  // says this binary has no NCCL
#if CCTUNE_HAVE_NCCL
  for (const nccl::Configuration& configuration : nccl::configurations()) {
    if (configuration.info.collective != collective || !importable(configuration)) continue;
    space.push_back({"nccl", std::string(configuration.info.name), nccl_choice(configuration)});
  }
#else
  (void)collective;
#endif
  return space;
}

std::vector<Candidate> cuda_space(Collective collective) {
  std::vector<Candidate> space;
  const auto& cuda = find_backend("cuda");
#if CCTUNE_HAVE_NCCL
  space.push_back(nccl_space(collective).front());
#endif
  for (const AlgorithmInfo& info : cuda.algorithms()) {
    if (info.collective == collective) space.push_back({"cuda", std::string(info.name), Choice{std::string(info.name)}});
  }
  return space;
}

}  // namespace

std::vector<Candidate> search_space(std::string_view backend, Collective collective, bool library_only, int nnodes) {
  if (backend == "mpi") return mpi_space(collective, library_only, nnodes);
  if (backend == "nccl") return nccl_space(collective);
  if (backend == "cuda") return cuda_space(collective);
  find_backend(backend);  // throws, naming the known ones
  CCTUNE_USAGE_ERROR("backend '" + std::string(backend) + "' has no search space");
}

std::string label(const Candidate& candidate) { return candidate.backend == "mpi" ? candidate.choice.algorithm : candidate.algorithm; }

const Candidate* find_candidate(const std::vector<Candidate>& space, const Rule& rule) {
  for (const Candidate& candidate : space) {
    if (candidate.backend == rule.backend && candidate.choice == rule.choice) return &candidate;
  }
  return nullptr;
}

void check_algorithms(const Profile& profile, const std::string& name) {
  for (std::size_t i = 0; i < profile.rules.size(); ++i) {
    const Rule& rule = profile.rules[i];
    if (rule.backend != "mpi" && rule.backend != "cuda") continue;
    if (rule.backend == "mpi" && rule.choice.algorithm.rfind("ompi:", 0) == 0) continue;  // checked when read
    const auto backends = backend_registry();
    const auto entry = std::find_if(backends.begin(), backends.end(),
                                    [&](const BackendEntry& e) { return e.name == rule.backend; });
    if (entry == backends.end()) continue;  // cuda in a build without it: no job of this build runs the rule
    std::string known;
    bool found = false;
    for (const AlgorithmInfo& info : entry->algorithms()) {
      if (to_string(info.collective) != rule.collective) continue;
      found |= info.name == rule.choice.algorithm;
      known += (known.empty() ? "" : ", ") + std::string(info.name);
    }
    if (found) continue;
    CCTUNE_USAGE_ERROR(name + ": rule " + std::to_string(i) + ": unknown " + rule.backend + " " + rule.collective +
                       " algorithm '" + rule.choice.algorithm + "' (known: " + (known.empty() ? "none" : known) + ")");
  }
}

struct CandidateRunner::Slot {
  std::string name;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<bench::Measurer> measurer;
};

struct CandidateRunner::Live {
  std::string backend, algorithm;
  Collective collective;
  std::unique_ptr<BoundCollective> bound;
  std::uint64_t last_use = 0;
  bool is(const Candidate& candidate, Collective c) const {
    return backend == candidate.backend && algorithm == candidate.algorithm && collective == c;
  }
};

CandidateRunner::CandidateRunner(const Communicator& world, const bench::BenchOptions& options, CreateBackend create)
    : world_(world),
      options_(options),
      max_bytes_(options.sizes.empty() ? 0 : *std::max_element(options.sizes.begin(), options.sizes.end())),
      create_(std::move(create)) {
  if (!create_) {
    const BackendSettings settings{options.timeout_seconds};
    create_ = [settings](std::string_view name) { return find_backend(name).create(MPI_COMM_WORLD, settings); };
  }
}

CandidateRunner::~CandidateRunner() {
  // Bound collectives before their backends (an NCCL communicator before the stream it runs on).
  live_.clear();
}

CandidateRunner::Slot& CandidateRunner::slot(std::string_view name) {
  for (auto& existing : slots_) {
    if (existing->name == name) return *existing;
  }
  auto created = std::make_unique<Slot>();
  created->name = std::string(name);
  created->backend = create_(name);
  created->measurer = std::make_unique<bench::Measurer>(*created->backend, world_, options_, nullptr);
  created->measurer->allocate(max_bytes_);
  slots_.push_back(std::move(created));
  return *slots_.back();
}

Backend& CandidateRunner::backend(std::string_view name) { return *slot(name).backend; }

BoundCollective& CandidateRunner::acquire(const Candidate& candidate, Collective collective) {
  ++clock_;
  for (Live& entry : live_) {
    if (!entry.is(candidate, collective)) continue;
    entry.last_use = clock_;
    return *entry.bound;
  }
  Backend& owner = *slot(candidate.backend).backend;
  const std::size_t limit = owner.max_live_bound();
  // Every rank holds the same entries with the same clock, so every rank destroys the same one.
  auto of_owner = [&](const Live& entry) { return entry.backend == candidate.backend; };
  while (limit > 0 && static_cast<std::size_t>(std::count_if(live_.begin(), live_.end(), of_owner)) >= limit) {
    auto oldest = live_.end();
    for (auto it = live_.begin(); it != live_.end(); ++it) {
      if (of_owner(*it) && (oldest == live_.end() || it->last_use < oldest->last_use)) oldest = it;
    }
    live_.erase(oldest);
  }
  Live entry{candidate.backend, candidate.algorithm, collective, owner.bind(collective, candidate.algorithm), clock_};
  ++binds_;
  live_.push_back(std::move(entry));
  peak_live_ = std::max(peak_live_, live_.size());
  return *live_.back().bound;
}

void CandidateRunner::release(const Candidate& candidate, Collective collective) {
  std::erase_if(live_, [&](const Live& entry) { return entry.is(candidate, collective); });
}

void CandidateRunner::release_all() { live_.clear(); }

std::size_t CandidateRunner::live() const { return live_.size(); }

bench::PlacementResult CandidateRunner::measure(const Candidate& candidate, const bench::MessageShape& shape,
                                                const bench::Repetitions& repetitions, Collective collective) {
  BoundCollective& bound = acquire(candidate, collective);
  return slot(candidate.backend).measurer->measure(bound, shape, false, repetitions);
}

std::optional<std::string> CandidateRunner::unavailable(const Candidate& candidate, Collective collective) {
  return backend(candidate.backend).unavailable(collective, candidate.algorithm);
}

std::uint64_t CandidateRunner::peak_device_bytes() const {
  std::uint64_t peak = 0;
  for (const auto& s : slots_) peak = std::max(peak, s->backend->peak_device_bytes());
  return peak;
}

std::vector<std::string> drop_unavailable(std::vector<Candidate>& space, CandidateRunner& runner, Collective collective) {
  std::vector<std::string> notes;
  for (std::size_t c = space.size(); c-- > 1;) {
    if (const auto why = runner.unavailable(space[c], collective)) {
      notes.insert(notes.begin(), label(space[c]) + ": " + *why);
      space.erase(space.begin() + static_cast<std::ptrdiff_t>(c));
    }
  }
  return notes;
}

}  // namespace cctune::tuner
