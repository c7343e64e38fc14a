#include "results/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <map>
#include <set>

#include "results/chart.hpp"

namespace cctune::results {
namespace {

using Json = nlohmann::json;

constexpr const char* kStyle = R"css(
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1180px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; }
.muted { color: #777; font-size: 13px; }
code { font-size: 12px; }
)css";

// Counts the drawn curves once the browser has laid the page out; tests read the attributes back.
constexpr const char* kScript = R"js(
addEventListener('load', () => {
  const all = document.querySelectorAll('polyline.series');
  let drawn = 0;
  for (const p of all) { const b = p.getBBox(); if (b.width > 0) drawn++; }
  document.body.setAttribute('data-series-total', all.length);
  document.body.setAttribute('data-series-drawn', drawn);
});
)js";

std::string run_label(const Record& run, bool several) {
  const std::string id = run.id ? fmt::format("run {}", run.id) : run.source;
  return several ? id + ": " : "";
}

std::string runs_table(const std::vector<Record>& runs) {
  std::string html = "<table><tr><th>run</th><th>kind</th><th>started</th><th>ranks</th><th>nodes</th>"
                     "<th>cctune</th><th>complete</th><th>command</th></tr>";
  for (const Record& r : runs) {
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td class=num>{}</td><td class=num>{}</td><td>{} {}</td>"
                        "<td>{}</td><td><code>{}</code></td></tr>",
                        r.id ? std::to_string(r.id) : escape_html(r.source), escape_html(r.kind),
                        escape_html(r.started), r.nranks, r.nnodes, escape_html(r.cctune_version),
                        escape_html(r.git_revision), r.complete ? "yes" : "no", escape_html(r.command));
  }
  return html + "</table>";
}

// Ranks per host, from what the runs recorded (bench: env.hosts per rank; verify: hosts).
std::string nodes_table(const std::vector<Record>& runs, const std::optional<Json>& topology) {
  std::map<std::string, std::set<std::string>> fingerprint_of;
  if (topology && topology->contains("node_list")) {
    for (const Json& node : (*topology)["node_list"]) fingerprint_of[json_string(node, "host")].insert(json_string(node, "fingerprint"));
  }
  std::string html;
  for (const Record& r : runs) {
    const Json* hosts = nullptr;
    if (r.environment.contains("env") && r.environment["env"].contains("hosts")) hosts = &r.environment["env"]["hosts"];
    if (!hosts && r.environment.contains("hosts")) hosts = &r.environment["hosts"];
    if (!hosts || !hosts->is_array() || r.nnodes <= 1) continue;
    std::map<std::string, int> ranks;
    for (const Json& h : *hosts) {
      if (h.is_string()) ++ranks[h.get<std::string>()];
    }
    html += fmt::format("<h3>Nodes of {}</h3><table><tr><th>host</th><th>ranks</th><th>node type (fingerprint)</th></tr>",
                        r.id ? fmt::format("run {}", r.id) : escape_html(r.source));
    for (const auto& [host, count] : ranks) {
      std::string types;
      for (const std::string& f : fingerprint_of[host]) types += (types.empty() ? "" : ", ") + f;
      html += fmt::format("<tr><td>{}</td><td class=num>{}</td><td><code>{}</code></td></tr>", escape_html(host), count,
                          escape_html(types.empty() ? "-" : types));
    }
    html += "</table>";
  }
  return html;
}

std::string model_row(const Json& model, const std::string& hosts) {
  const Json gpus = model.value("gpus", Json::array());
  const Json nics = model.value("nics", Json::array());
  std::map<std::string, int> gpu_names;
  for (const Json& g : gpus) ++gpu_names[json_string(g, "name")];
  std::string gpu_text;
  for (const auto& [name, count] : gpu_names) gpu_text += fmt::format("{}{} × {}", gpu_text.empty() ? "" : ", ", count, name);
  int rdma = 0;
  std::set<double> speeds;
  for (const Json& n : nics) {
    rdma += n.value("rdma", false) ? 1 : 0;
    if (n.value("speed_gbps", 0.0) > 0) speeds.insert(n.value("speed_gbps", 0.0));
  }
  std::string speed_text;
  for (double s : speeds) speed_text += fmt::format("{}{:g} Gb/s", speed_text.empty() ? "" : ", ", s);
  return fmt::format("<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=num>{} ({} RDMA{})</td>"
                     "<td class=num>{}</td><td class=num>{}</td></tr>",
                     escape_html(json_string(model, "fingerprint")), escape_html(hosts),
                     gpu_text.empty() ? "none" : escape_html(gpu_text), nics.size(), rdma,
                     speed_text.empty() ? "" : ", " + speed_text, model.value("numa_nodes", Json::array()).size(),
                     model.value("nvswitches", Json::array()).size());
}

std::string topology_section(const Json& topology) {
  std::string html = "<h2>Topology</h2><table><tr><th>node type</th><th>hosts</th><th>GPUs</th><th>NICs</th>"
                     "<th>NUMA nodes</th><th>NVSwitches</th></tr>";
  if (topology.contains("node_types")) {
    for (const Json& type : topology["node_types"]) {
      std::string hosts;
      for (const Json& h : type.value("hosts", Json::array())) hosts += (hosts.empty() ? "" : ", ") + h.get<std::string>();
      html += model_row(type.value("model", Json::object()), hosts);
    }
  } else {
    html += model_row(topology, json_string(topology, "source"));
  }
  return html + "</table>";
}

// "ring"; the library's own choice as "mpi (library's choice)"; nccl-tests' as "nccl".
std::string curve_name(const Measurement& m) {
  if (m.algorithm == "default" || m.algorithm == "tuned") return m.algorithm;
  if (m.algorithm == m.backend && m.backend == "mpi") return "mpi (library's choice)";
  return m.algorithm;
}

struct Curve {
  std::vector<const Measurement*> points;
};

// One collective's curves: (run index, algorithm) -> measurements out of place in ascending size.
std::map<std::pair<std::size_t, std::string>, Curve> curves_of(const std::vector<Record>& runs,
                                                               const std::string& collective, bool verify_runs) {
  std::map<std::pair<std::size_t, std::string>, Curve> curves;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    if ((runs[r].kind == "verify") != verify_runs) continue;
    for (const Measurement& m : runs[r].measurements) {
      if (m.collective == collective && !m.in_place) curves[{r, curve_name(m)}].points.push_back(&m);
    }
  }
  for (auto& [key, curve] : curves) {
    std::sort(curve.points.begin(), curve.points.end(),
              [](const Measurement* a, const Measurement* b) { return a->bytes < b->bytes; });
  }
  return curves;
}

// The busbw bound bench recorded for this run's shape, when it knew one.
std::optional<double> speed_of_light_of(const Record& run, const std::string& collective) {
  const auto& env = run.environment;
  if (!env.is_object() || !env.contains("speed_of_light") || !env["speed_of_light"].is_object()) return std::nullopt;
  const auto& sol = env["speed_of_light"];
  const std::string key = collective + "_busbw_gbs";
  if (!sol.contains(key) || !sol[key].is_number()) return std::nullopt;
  const double value = sol[key].get<double>();
  if (!std::isfinite(value) || value <= 0 || value > 1e7) return std::nullopt;
  return value;
}

std::string collective_section(const std::vector<Record>& runs, const std::string& collective) {
  std::string html = fmt::format("<h2>{}</h2>", escape_html(collective));
  const bool several = runs.size() > 1;
  const auto measured = curves_of(runs, collective, false);
  if (!measured.empty()) {
    std::vector<Series> bandwidth;
    for (const auto& [key, curve] : measured) {
      Series s;
      s.label = run_label(runs[key.first], several) + key.second;
      for (const Measurement* m : curve.points) {
        s.points.push_back({static_cast<double>(m->bytes), m->busbw_gbs,
                            fmt::format("{} at {}: {:.3f} GB/s bus, median {:.2f} us", s.label,
                                        format_bytes(static_cast<double>(m->bytes)), m->busbw_gbs, m->median_us)});
      }
      bandwidth.push_back(std::move(s));
    }
    // Each run's speed of light (docs/topology.md), flat across the sizes it measured: the line a
    // healthy curve approaches from below.
    for (std::size_t r = 0; r < runs.size(); ++r) {
      const auto sol = speed_of_light_of(runs[r], collective);
      if (!sol) continue;
      double low = 0, high = 0;
      for (const auto& [key, curve] : measured) {
        if (key.first != r || curve.points.empty()) continue;
        const double first = static_cast<double>(curve.points.front()->bytes), last = static_cast<double>(curve.points.back()->bytes);
        low = low == 0 ? first : std::min(low, first);
        high = std::max(high, last);
      }
      if (high <= 0) continue;
      Series line;
      line.label = run_label(runs[r], several) + "speed of light";
      line.dashed = true;
      for (double x : {low, high}) {
        line.points.push_back({x, *sol, fmt::format("{}: {:.3f} GB/s bus, the bound for this run's shape", line.label, *sol)});
      }
      bandwidth.push_back(std::move(line));
    }
    html += svg_line_chart(bandwidth, {}, {collective + ": bus bandwidth (out of place)", "busbw (GB/s)", false, 1100, 420});

    html += "<h3>Latency: median, with the band from the fastest call to the 99th percentile</h3><div class=grid>";
    int color = 0;
    for (const auto& [key, curve] : measured) {
      Series median, p99;
      Band band;
      band.color = color;
      median.color = p99.color = color++;
      median.label = "median";
      p99.label = "p99";
      p99.dashed = true;
      for (const Measurement* m : curve.points) {
        const double x = static_cast<double>(m->bytes);
        const std::string where = format_bytes(x);
        median.points.push_back({x, m->median_us, fmt::format("median at {}: {:.2f} us", where, m->median_us)});
        if (m->p99_us > 0) p99.points.push_back({x, m->p99_us, fmt::format("p99 at {}: {:.2f} us", where, m->p99_us)});
        if (m->min_us > 0 && m->p99_us > 0) {
          band.lower.emplace_back(x, m->min_us);
          band.upper.emplace_back(x, m->p99_us);
        }
      }
      std::vector<Series> lines{median};
      if (!p99.points.empty()) lines.push_back(p99);
      html += svg_line_chart(lines, {band},
                             {run_label(runs[key.first], several) + key.second, "time per call (us)", true, 540, 260});
    }
    html += "</div>";
  }
  const auto verified = curves_of(runs, collective, true);
  if (!verified.empty()) {
    std::vector<Series> lines;
    for (const auto& [key, curve] : verified) {
      Series s;
      s.label = run_label(runs[key.first], verified.size() > 2) +
                (key.second == "default" ? "Open MPI's default" : "tuned (the profile's choices)");
      s.dashed = key.second == "default";
      for (const Measurement* m : curve.points) {
        s.points.push_back({static_cast<double>(m->bytes), m->median_us,
                            fmt::format("{} at {}: {:.2f} us", s.label, format_bytes(static_cast<double>(m->bytes)),
                                        m->median_us)});
      }
      lines.push_back(std::move(s));
    }
    html += svg_line_chart(lines, {}, {collective + ": tuned against Open MPI's default (cctune verify)",
                                       "median time per call (us)", true, 1100, 400});
    // The same as a ratio, where a log axis of times hides it: above 1, tuned is faster.
    std::vector<Series> ratios;
    for (std::size_t r = 0; r < runs.size(); ++r) {
      const auto base = verified.find({r, "default"});
      const auto tuned = verified.find({r, "tuned"});
      if (base == verified.end() || tuned == verified.end()) continue;
      Series s;
      s.label = run_label(runs[r], verified.size() > 2) + "default / tuned";
      for (std::size_t i = 0; i < std::min(base->second.points.size(), tuned->second.points.size()); ++i) {
        const Measurement& b = *base->second.points[i];
        const Measurement& t = *tuned->second.points[i];
        if (t.median_us <= 0) continue;
        const double speedup = b.median_us / t.median_us;
        s.points.push_back({static_cast<double>(b.bytes), speedup,
                            fmt::format("{}: {:.2f}x ({:.2f} us against {:.2f} us)",
                                        format_bytes(static_cast<double>(b.bytes)), speedup, b.median_us, t.median_us)});
      }
      ratios.push_back(std::move(s));
    }
    if (!ratios.empty()) {
      html += svg_line_chart(ratios, {}, {collective + ": speedup of tuned over default", "speedup (x)", false, 1100, 300});
    }
  }
  return html;
}

}  // namespace

std::string render_report(const std::vector<Record>& runs, const ReportOptions& options) {
  std::string html = fmt::format(
      "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{0}</title><style>{1}</style>"
      "<script>{2}</script></head><body><h1>{0}</h1><p class=muted>Written by cctune {3} at {4}. Hover over a "
      "point for its value.</p><h2>Runs</h2>{5}",
      escape_html(options.title), kStyle, kScript, escape_html(options.cctune_version), escape_html(options.generated),
      runs_table(runs));
  if (options.topology) html += topology_section(*options.topology);
  html += nodes_table(runs, options.topology);
  std::vector<std::string> collectives;
  for (const Record& r : runs) {
    for (const Measurement& m : r.measurements) {
      if (std::find(collectives.begin(), collectives.end(), m.collective) == collectives.end()) {
        collectives.push_back(m.collective);
      }
    }
  }
  for (const std::string& collective : collectives) html += collective_section(runs, collective);
  return html + "</body></html>\n";
}

}  // namespace cctune::results
