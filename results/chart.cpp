#include "results/chart.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace cctune::results {
namespace {

// Tableau 10: distinct for most colour-blind readers too.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

// Data to pixels, linear or logarithmic (where the base does not matter: only ratios of logs are used).
struct Scale {
  double from, to;      // data
  double start, end;    // pixels
  bool log;
  double operator()(double v) const {
    const double a = log ? std::log(from) : from, b = log ? std::log(to) : to;
    const double t = ((log ? std::log(v) : v) - a) / (b - a == 0 ? 1 : b - a);
    return start + t * (end - start);
  }
};

double nice_step(double range, int ticks) {
  const double raw = range / ticks;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * magnitude) return m * magnitude;
  }
  return 10 * magnitude;
}

std::string format_number(double v) {
  if (v == 0) return "0";
  if (std::abs(v) >= 1000 || std::abs(v) < 0.01) return fmt::format("{:g}", v);
  return fmt::format("{:.3g}", v);
}

}  // namespace

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return fmt::format("{:g} {}", std::round(bytes * 100) / 100, units[unit]);
}

std::string escape_html(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string svg_line_chart(const std::vector<Series>& series, const std::vector<Band>& bands,
                           const ChartOptions& options) {
  // The legend sits right of the plot, as wide as its longest label needs (about 7 px a character).
  std::size_t longest = 0;
  for (const Series& s : series) longest = std::max(longest, s.label.size());
  const double left = 72, top = 34, bottom = 46;
  const double right = std::min(0.45 * options.width, std::max(120.0, 50.0 + 7.0 * static_cast<double>(longest)));
  const double plot_right = options.width - right, plot_bottom = options.height - bottom;
  double x_min = std::numeric_limits<double>::max(), x_max = 0, y_min = std::numeric_limits<double>::max(), y_max = 0;
  auto usable = [&](double x, double y) { return x > 0 && std::isfinite(y) && (!options.log_y || y > 0); };
  auto widen = [&](double x, double y) {
    if (!usable(x, y)) return;
    x_min = std::min(x_min, x);
    x_max = std::max(x_max, x);
    y_min = std::min(y_min, y);
    y_max = std::max(y_max, y);
  };
  for (const Series& s : series) {
    for (const Point& p : s.points) widen(p.x, p.y);
  }
  for (const Band& b : bands) {
    for (const auto& [x, y] : b.lower) widen(x, y);
    for (const auto& [x, y] : b.upper) widen(x, y);
  }
  std::string svg = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" )"
      R"(font-family="system-ui, sans-serif" font-size="12"><title>{t}</title>)"
      R"(<text x="{l}" y="20" font-size="14" font-weight="600">{t}</text>)",
      fmt::arg("w", options.width), fmt::arg("h", options.height), fmt::arg("t", escape_html(options.title)),
      fmt::arg("l", left));
  if (x_max <= 0) return svg + R"(<text x="80" y="80">no data</text></svg>)";
  if (x_max == x_min) x_max = x_min * 2;
  double y_from = 0, y_to = y_max * 1.05;
  if (options.log_y) {
    y_from = std::pow(10, std::floor(std::log10(y_min)));
    y_to = std::pow(10, std::ceil(std::log10(y_max)));
    if (y_to == y_from) y_to = y_from * 10;
  } else if (y_to == 0) {
    y_to = 1;
  }
  const Scale sx{x_min, x_max, left, plot_right, true};
  const Scale sy{y_from, y_to, plot_bottom, top, options.log_y};

  // Grid and axes. x: powers of two, about 8 labels; y: 1-2-5 steps or decades.
  svg += fmt::format(R"(<g stroke="#ddd" stroke-width="1">)");
  const int lo = static_cast<int>(std::floor(std::log2(x_min))), hi = static_cast<int>(std::ceil(std::log2(x_max)));
  const int every = std::max(1, (hi - lo + 7) / 8);
  std::string labels;
  for (int e = lo; e <= hi; ++e) {
    const double x = std::ldexp(1.0, e);
    if (x < x_min || x > x_max || (e - lo) % every != 0) continue;
    const double px = sx(x);
    svg += fmt::format(R"(<line x1="{0:.1f}" y1="{1}" x2="{0:.1f}" y2="{2}"/>)", px, top, plot_bottom);
    labels += fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)", px, plot_bottom + 16,
                          format_bytes(x));
  }
  std::vector<double> y_ticks;
  if (options.log_y) {
    for (double v = y_from; v <= y_to * 1.0001; v *= 10) y_ticks.push_back(v);
  } else {
    const double step = nice_step(y_to - y_from, 5);
    for (double v = 0; v <= y_to * 1.0001; v += step) y_ticks.push_back(v);
  }
  for (double v : y_ticks) {
    const double py = sy(v);
    svg += fmt::format(R"(<line x1="{0}" y1="{1:.1f}" x2="{2}" y2="{1:.1f}"/>)", left, py, plot_right);
    labels += fmt::format(R"(<text x="{}" y="{:.1f}" text-anchor="end">{}</text>)", left - 6, py + 4, format_number(v));
  }
  svg += "</g>" + labels;
  svg += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#888"/>)", left, top,
                     plot_right - left, plot_bottom - top);
  svg += fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle">message size</text>)", (left + plot_right) / 2,
                     options.height - 8);
  svg += fmt::format(R"svg(<text transform="translate(16 {:.1f}) rotate(-90)" text-anchor="middle">{}</text>)svg",
                     (top + plot_bottom) / 2, escape_html(options.y_label));

  for (const Band& band : bands) {
    std::string points;
    for (const auto& [x, y] : band.lower) {
      if (usable(x, y)) points += fmt::format("{:.1f},{:.1f} ", sx(x), sy(y));
    }
    for (auto it = band.upper.rbegin(); it != band.upper.rend(); ++it) {
      if (usable(it->first, it->second)) points += fmt::format("{:.1f},{:.1f} ", sx(it->first), sy(it->second));
    }
    svg += fmt::format(R"(<polygon class="band" points="{}" fill="{}" fill-opacity="0.15" stroke="none"/>)", points,
                       kPalette[band.color % kPaletteSize]);
  }
  for (std::size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    const char* color = kPalette[(s.color >= 0 ? s.color : static_cast<int>(i)) % kPaletteSize];
    std::string points, dots;
    for (const Point& p : s.points) {
      if (!usable(p.x, p.y)) continue;
      points += fmt::format("{:.1f},{:.1f} ", sx(p.x), sy(p.y));
      dots += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="2.5" fill="{}"><title>{}</title></circle>)", sx(p.x),
                          sy(p.y), color, escape_html(p.title));
    }
    if (points.empty()) continue;
    svg += fmt::format(R"(<polyline class="series" data-label="{}" points="{}" fill="none" stroke="{}" )"
                       R"(stroke-width="1.8"{}/>)",
                       escape_html(s.label), points, color, s.dashed ? R"( stroke-dasharray="5 3")" : "");
    svg += dots;
    const double ly = top + 8 + 18 * static_cast<double>(i);
    svg += fmt::format(R"(<line x1="{0}" y1="{1:.1f}" x2="{2}" y2="{1:.1f}" stroke="{3}" stroke-width="2.5"{4}/>)",
                       plot_right + 12, ly, plot_right + 32, color, s.dashed ? R"( stroke-dasharray="5 3")" : "");
    svg += fmt::format(R"(<text x="{}" y="{:.1f}">{}</text>)", plot_right + 38, ly + 4, escape_html(s.label));
  }
  return svg + "</svg>";
}

}  // namespace cctune::results
