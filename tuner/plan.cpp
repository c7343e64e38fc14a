#include "tuner/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "collectives/error.hpp"

namespace cctune::tuner {
namespace {

double bus_factor(Collective c, int n) {
  if (n <= 1) return 1.0;
  return c == Collective::allreduce ? 2.0 * (n - 1) / n : static_cast<double>(n - 1) / n;
}

// GB/s from bytes and microseconds.
double gbs(double bytes, double us) { return us > 0 ? bytes / us / 1e3 : 0.0; }

std::string shape_name(PlanShape s) { return fmt::format("{}x{}", s.nodes, s.ranks_per_node); }

struct Family {
  std::string name;
  double latency_us;
  double busbw_gbs;  // the bound its bytes move at
};

// GPU nodes from the speed of light alone: NCCL's algorithm families, each costed as its latency
// (hops x NCCL's per-hop latency) plus its bytes at the bound that applies to it.
std::vector<Family> device_families(Collective c, const topology::SpeedOfLight& sol, PlanShape shape) {
  const int n = shape.ranks(), nodes = shape.nodes, per_node = shape.ranks_per_node;
  const topology::CollectiveSol& b = sol.of(c);
  const double intra = b.intra_node_busbw_gbs, inter = b.inter_node_busbw_gbs;
  const double hop = sol.hop_intra_us, net = sol.hop_inter_us;  // topology's: NVLink or PCIe, and network
  std::vector<Family> out;
  auto bound = [](double a, double x) { return a > 0 && x > 0 ? std::min(a, x) : std::max(a, x); };
  if (c == Collective::allreduce) {
    // A flat ring moves its bytes at the node's NIC rate W (the hierarchical bound without its
    // N/(N-1) gain); every hop's latency adds up along the ring (NCCL's ring latency).
    const double w = nodes > 1 ? sol.node_link_gbs : 0;
    out.push_back({"ring", 2.0 * (n - nodes) * hop + 2.0 * (nodes - 1) * net, bound(intra, w)});
    if (nodes > 1) {
      // Double binary tree between nodes, a chain inside: up and down.
      out.push_back({"tree", 2.0 * (std::ceil(std::log2(nodes)) * net + (per_node - 1) * hop), bound(intra, w)});
    }
    if (b.in_switch_busbw_gbs > 0) {
      // NVLS: reduced in the NVSwitch inside a node, a tree between nodes.
      const double between = nodes > 1 ? 2.0 * std::ceil(std::log2(nodes)) * net : 0;
      out.push_back({nodes > 1 ? "nvls_tree" : "nvls", 2.0 * hop + between, bound(b.in_switch_busbw_gbs, inter)});
    }
  } else {
    // Every peer at once: one network (or NVLink) latency, the bytes at the alltoall bound.
    out.push_back({"p2p", nodes > 1 ? net : hop, b.busbw_gbs()});
  }
  std::erase_if(out, [](const Family& f) { return !(f.busbw_gbs > 0); });
  return out;
}

// What the records measured, per modeled algorithm, out of place.
std::map<std::pair<Collective, std::string>, std::vector<Observation>> observations_of(
    const PlanInput& input, std::vector<std::string>& notes, std::map<std::pair<Collective, std::string>, std::set<std::string>>& shapes) {
  std::map<std::pair<Collective, std::string>, std::vector<Observation>> out;
  std::set<std::string> unmodeled;
  for (const results::Record& record : input.runs) {
    if (record.nnodes < 1 || record.nranks < record.nnodes || record.nranks % record.nnodes != 0) {
      notes.push_back(fmt::format("run {} left out: {} ranks on {} nodes is not the same count on every node",
                                  record.id, record.nranks, record.nnodes));
      continue;
    }
    const PlanShape shape{record.nnodes, record.nranks / record.nnodes};
    for (const results::Measurement& m : record.measurements) {
      if (m.in_place || m.wrong > 0 || m.bytes == 0 || m.bytes < input.fit_min_bytes) continue;
      Collective c;
      try {
        c = parse_collective(m.collective);
      } catch (const Error&) {
        continue;
      }
      if (std::find(input.collectives.begin(), input.collectives.end(), c) == input.collectives.end()) continue;
      if (!is_modeled(c, m.algorithm)) {
        unmodeled.insert(fmt::format("{} {}", m.collective, m.algorithm));
        continue;
      }
      const double time = m.median_us > 0 ? m.median_us : m.mean_us;
      if (!(time > 0)) continue;
      out[{c, m.algorithm}].push_back({shape, static_cast<double>(m.bytes), time});
      shapes[{c, m.algorithm}].insert(shape_name(shape));
    }
  }
  if (!unmodeled.empty()) {
    std::string list;
    for (const auto& name : unmodeled) list += (list.empty() ? "" : ", ") + name;
    notes.push_back("not modeled (their schedule is the MPI library's choice, not known here): " + list);
  }
  return out;
}

void mark_best(std::vector<PlanRow>& rows) {
  std::map<std::pair<Collective, std::uint64_t>, std::size_t> best;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto key = std::pair{rows[i].collective, rows[i].bytes};
    if (!best.count(key) || rows[i].predicted_us < rows[best[key]].predicted_us) best[key] = i;
  }
  for (const auto& [key, i] : best) rows[i].best = true;
}

}  // namespace

PlanResult plan(const PlanInput& input) {
  if (input.shape.nodes < 1 || input.shape.ranks_per_node < 1) CCTUNE_USAGE_ERROR("plan: a shape needs a node and a rank");
  PlanResult result;
  result.shape = input.shape;
  result.from_speed_of_light_only = input.runs.empty();
  const bool gpus = input.topology && !input.topology->gpus.empty();
  const auto medium = gpus && input.runs.empty() ? topology::Medium::device : topology::Medium::host;
  const topology::NodeModel model = input.topology.value_or(topology::NodeModel{});
  result.sol = topology::speed_of_light(model, {input.shape.nodes, input.shape.ranks_per_node}, medium, input.sol_inputs);
  const int n = input.shape.ranks();

  auto add_row = [&](Collective c, const std::string& algorithm, std::uint64_t bytes, double us) {
    const double busbw = gbs(static_cast<double>(bytes), us) * bus_factor(c, n);
    result.rows.push_back({c, algorithm, bytes, us, busbw, percent_of_bound(busbw, result.sol.busbw_gbs(c)), false});
  };

  if (!input.runs.empty()) {
    std::map<std::pair<Collective, std::string>, std::set<std::string>> shapes;
    const auto observed = observations_of(input, result.notes, shapes);
    if (observed.empty()) CCTUNE_USAGE_ERROR("plan: the runs measured none of the algorithms the cost model knows (ring, recursive_doubling, rabenseifner, pairwise, bruck, linear)");
    // Without a run on one node, the intra-node costs are memory's: no latency, a byte of a node's
    // traffic at the copy rate (measured on this machine).
    const double memory = input.sol_inputs.memory_gbs.value_or(0);
    // Bytes leave a node no faster than its NIC's rate, where the speed of light knows it.
    const double link = result.sol.node_link_gbs;
    const double floor = link > 0 ? 1.0 / (link * 1e3) : 0;
    if (floor > 0) {
      result.notes.push_back(fmt::format("the network's cost per byte is fitted at no less than the NIC's {:.4g} GB/s "
                                         "({:.3g} us/B)", link, floor));
    }
    for (const auto& [key, observations] : observed) {
      const auto& [c, algorithm] = key;
      const bool one_node = std::any_of(observations.begin(), observations.end(), [](const Observation& o) { return o.shape.nodes == 1; });
      std::optional<PathCost> fixed;
      if (!one_node && memory > 0) fixed = PathCost{0, 1.0 / (memory * 1e3), 0};
      FitSummary summary{c, algorithm, fit(c, algorithm, observations, fixed, floor), {shapes[key].begin(), shapes[key].end()},
                         fixed.has_value()};
      const ScheduleCost schedule = schedule_cost(c, algorithm, input.shape);
      for (std::uint64_t bytes : input.sizes) add_row(c, algorithm, bytes, summary.fit.params.predict_us(schedule, static_cast<double>(bytes)));
      result.fits.push_back(std::move(summary));
    }
  } else if (!input.topology) {
    CCTUNE_USAGE_ERROR("plan: give measured runs (--from) or the nodes' topology (--topology)");
  } else if (medium == topology::Medium::device) {
    result.notes.push_back("predicted from the speed of light alone (no measurement): bandwidths from the topology, "
                           "latencies NCCL's per hop; what the hardware allows, not what NCCL will reach");
    if (input.shape.nodes > 1 && !(result.sol.allreduce.inter_node_busbw_gbs > 0)) {
      result.notes.push_back("the NICs' rate is unknown: these times leave the network's bandwidth out (give --link-gbps)");
    }
    for (Collective c : input.collectives) {
      const auto families = device_families(c, result.sol, input.shape);
      if (families.empty()) result.notes.push_back(fmt::format("{}: no bandwidth known for this shape", to_string(c)));
      for (const Family& f : families) {
        for (std::uint64_t bytes : input.sizes) {
          const double us = f.latency_us + static_cast<double>(bytes) * bus_factor(c, n) / (f.busbw_gbs * 1e3);
          add_row(c, f.name, bytes, us);
        }
      }
    }
  } else {
    result.notes.push_back("predicted from the speed of light alone (no measurement): host runs have no latency in "
                           "the topology, so these are bandwidth times only");
    // The schedules at the bound's rates: the NIC's for bytes between nodes, memory's inside.
    const double w = result.sol.node_link_gbs;
    const double m = input.sol_inputs.memory_gbs.value_or(0);
    CostParams params{{0, m > 0 ? 1.0 / (m * 1e3) : 0}, {0, w > 0 ? 1.0 / (w * 1e3) : 0}};
    for (const ModeledAlgorithm& a : modeled_algorithms()) {
      if (std::find(input.collectives.begin(), input.collectives.end(), a.collective) == input.collectives.end()) continue;
      const ScheduleCost schedule = schedule_cost(a.collective, a.name, input.shape);
      for (std::uint64_t bytes : input.sizes) add_row(a.collective, std::string(a.name), bytes, params.predict_us(schedule, static_cast<double>(bytes)));
    }
  }
  std::stable_sort(result.rows.begin(), result.rows.end(), [](const PlanRow& a, const PlanRow& b) {
    return std::pair{a.collective, a.bytes} < std::pair{b.collective, b.bytes};
  });
  mark_best(result.rows);
  return result;
}

std::vector<Rule> predicted_rules(const PlanResult& result, std::string_view backend) {
  if (backend == "nccl" && !result.from_speed_of_light_only) {
    CCTUNE_USAGE_ERROR("an nccl profile takes predictions from a topology alone (--topology without --from): "
                       "the measured runs' algorithms are cctune's host ones");
  }
  if (backend == "mpi" && result.from_speed_of_light_only) {
    CCTUNE_USAGE_ERROR("an mpi profile takes predictions from measured runs (--from): from a topology alone "
                       "plan predicts NCCL's algorithms");
  }
  if (backend != "mpi" && backend != "nccl") {
    CCTUNE_USAGE_ERROR("a " + std::string(backend) + " profile cannot carry predicted rules (mpi and nccl can)");
  }
  std::map<Collective, std::vector<const PlanRow*>> best;
  for (const PlanRow& row : result.rows) {
    if (!row.best) continue;
    if (backend == "nccl" && nccl_collective_index(to_string(row.collective)) < 0) continue;
    // A host topology's plan names cctune's host algorithms, which no NCCL profile can carry.
    if (backend == "nccl" && nccl_algorithm_index(row.algorithm) < 0) {
      CCTUNE_USAGE_ERROR("the plan's " + row.algorithm + " is not an NCCL algorithm: an nccl profile takes predictions "
                         "from the GPU nodes' topology");
    }
    best[row.collective].push_back(&row);
  }
  std::vector<Rule> rules;
  for (auto& [collective, rows] : best) {
    std::sort(rows.begin(), rows.end(), [](const PlanRow* a, const PlanRow* b) { return a->bytes < b->bytes; });
    const std::size_t first = rules.size();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const PlanRow& row = *rows[i];
      // As tune's rules do: the first covers everything below, the last everything above.
      const std::uint64_t max_bytes = i + 1 < rows.size() ? rows[i + 1]->bytes - 1 : UINT64_MAX;
      Choice choice;
      choice.algorithm = row.algorithm;
      if (rules.size() > first && rules.back().choice == choice) {
        rules.back().max_bytes = max_bytes;
        rules.back().predicted.push_back({row.bytes, row.predicted_us});
        continue;
      }
      Rule rule;
      rule.collective = std::string(to_string(collective));
      rule.backend = std::string(backend);
      rule.min_bytes = rules.size() == first ? 0 : row.bytes;
      rule.max_bytes = max_bytes;
      rule.nranks = result.shape.ranks();
      rule.nnodes = result.shape.nodes;
      rule.choice = choice;
      rule.median_us = row.predicted_us;
      rule.predicted.push_back({row.bytes, row.predicted_us});
      rules.push_back(std::move(rule));
    }
  }
  if (rules.empty()) CCTUNE_USAGE_ERROR("the plan has no prediction a " + std::string(backend) + " profile can carry");
  return rules;
}

void add_predicted_rules(Profile& profile, const PlanResult& result, std::vector<Rule> rules) {
  const int nranks = result.shape.ranks(), nnodes = result.shape.nodes;
  if (profile.shape.nranks == nranks && profile.shape.nnodes == nnodes) {
    CCTUNE_USAGE_ERROR(fmt::format("the profile was measured at {} ranks on {} nodes: predictions there would only "
                                   "contradict its measured rules", nranks, nnodes));
  }
  std::set<std::string> replaced;
  for (const Rule& rule : rules) replaced.insert(rule.collective);
  std::erase_if(profile.rules, [&](const Rule& rule) {
    return !rule.predicted.empty() && rule.nranks == nranks && rule.nnodes == nnodes && replaced.count(rule.collective);
  });
  for (Rule& rule : rules) profile.rules.push_back(std::move(rule));
}

nlohmann::ordered_json to_json(const PlanResult& result) {
  nlohmann::ordered_json j;
  j["nodes"] = result.shape.nodes;
  j["ranks_per_node"] = result.shape.ranks_per_node;
  j["from_speed_of_light_only"] = result.from_speed_of_light_only;
  j["speed_of_light"] = topology::to_json(result.sol);
  nlohmann::ordered_json fits = nlohmann::ordered_json::array();
  for (const FitSummary& f : result.fits) {
    fits.push_back({{"collective", to_string(f.collective)}, {"algorithm", f.algorithm}, {"fitted_on", f.shapes},
                    {"observations", f.fit.observations},
                    {"intra", {{"alpha_us", f.fit.params.intra.alpha_us}, {"beta_us_per_byte", f.fit.params.intra.beta_us_per_b}}},
                    {"inter", {{"alpha_us", f.fit.params.inter.alpha_us}, {"beta_us_per_byte", f.fit.params.inter.beta_us_per_b},
                               {"kappa_us_per_byte", f.fit.params.inter.kappa_us_per_b}}},
                    {"intra_from_speed_of_light", f.intra_from_sol},
                    {"median_error_pct", f.fit.median_error_pct}, {"worst_error_pct", f.fit.worst_error_pct}});
  }
  j["fits"] = fits;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const PlanRow& r : result.rows) {
    rows.push_back({{"collective", to_string(r.collective)}, {"algorithm", r.algorithm}, {"bytes", r.bytes},
                    {"predicted_us", r.predicted_us}, {"busbw_gbs", r.busbw_gbs},
                    {"sol_pct", r.sol_pct ? nlohmann::ordered_json(*r.sol_pct) : nlohmann::ordered_json(nullptr)},
                    {"best", r.best}});
  }
  j["rows"] = rows;
  j["notes"] = result.notes;
  return j;
}

void print_plan(std::FILE* out, const PlanResult& result) {
  std::fprintf(out, "cctune plan: %d nodes x %d ranks per node (%d ranks)%s\n", result.shape.nodes,
               result.shape.ranks_per_node, result.shape.ranks(),
               result.from_speed_of_light_only ? ", from the speed of light alone" : ", from measured runs");
  topology::print_speed_of_light(out, result.sol);
  for (const FitSummary& f : result.fits) {
    std::string on;
    for (const auto& s : f.shapes) on += (on.empty() ? "" : ", ") + s;
    std::fprintf(out, "  fit %-9s %-19s on %s (%zu points): intra %.3g us + %.3g us/B%s, inter %.3g us + %.3g us/B + %.3g us/B shared; error median %.1f%%, worst %.1f%%\n",
                 std::string(to_string(f.collective)).c_str(), f.algorithm.c_str(), on.c_str(), f.fit.observations,
                 f.fit.params.intra.alpha_us, f.fit.params.intra.beta_us_per_b, f.intra_from_sol ? " (memory's)" : "",
                 f.fit.params.inter.alpha_us, f.fit.params.inter.beta_us_per_b, f.fit.params.inter.kappa_us_per_b,
                 f.fit.median_error_pct, f.fit.worst_error_pct);
  }
  for (const auto& note : result.notes) std::fprintf(out, "  note: %s\n", note.c_str());
  std::fprintf(out, "#%12s  %-10s %-19s %14s %12s %7s  %s\n", "size (B)", "collective", "algorithm", "predicted (us)",
               "busbw (GB/s)", "%SOL", "best");
  for (const PlanRow& r : result.rows) {
    std::fprintf(out, " %12llu  %-10s %-19s %14.1f %12.3f %7s  %s\n", static_cast<unsigned long long>(r.bytes),
                 std::string(to_string(r.collective)).c_str(), r.algorithm.c_str(), r.predicted_us, r.busbw_gbs,
                 r.sol_pct ? fmt::format("{:.1f}", *r.sol_pct).c_str() : "N/A", r.best ? "*" : "");
  }
}

}  // namespace cctune::tuner
