#pragma once
// Line charts as inline SVG for the HTML report: message size on a log2 axis, with per-point titles
// that browsers show on hover. (PLplot, the plotting library Debian packages, draws through drivers
// loaded at run time and cannot attach a title to a point; this is a few hundred lines instead.)
#include <string>
#include <utility>
#include <vector>

namespace cctune::results {

struct Point {
  double x = 0;  // bytes
  double y = 0;
  std::string title;  // shown on hover
};

struct Series {
  std::string label;
  std::vector<Point> points;
  bool dashed = false;
  int color = -1;  // index into the palette; -1: the series' position
};

// A shaded band between two curves (for instance min to p99), drawn under the series.
struct Band {
  std::vector<std::pair<double, double>> lower, upper;  // (x, y), ascending x
  int color = 0;
};

struct ChartOptions {
  std::string title, y_label;
  bool log_y = false;
  int width = 760, height = 360;
};

// Points with x <= 0 (or y <= 0 on a log axis) are left out. Each drawn series becomes an SVG
// <polyline class="series"> with data-label set, which the report's tests count.
std::string svg_line_chart(const std::vector<Series>& series, const std::vector<Band>& bands,
                           const ChartOptions& options);

// "8 B", "4 KiB", "1.5 MiB".
std::string format_bytes(double bytes);
std::string escape_html(const std::string& text);

}  // namespace cctune::results
