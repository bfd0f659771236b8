// composition.svg of `clues partition` (apps/partition.h): one stacked bar per silo, a
// segment per domain, the low-quality part of each segment hatched; written as plain SVG
// text (no plotting dependency), deterministic to the byte.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

#include "apps/partition.h"

namespace clues {

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string color(size_t d) {
  static const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                   "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  if (d < 10) return kPalette[d];
  return "hsl(" + std::to_string((d * 137) % 360) + ",55%,55%)";  // golden-angle hues beyond ten
}

std::string rect(double x, double y, double w, double h, const std::string& fill, const std::string& title) {
  return "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) + "\" fill=\"" + fill +
         "\"><title>" + title + "</title></rect>\n";
}

std::string text(double x, double y, const std::string& s, const std::string& extra = "") {
  return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\"" + extra + ">" + s + "</text>\n";
}

// A round step for about five ticks up to `top`.
int64_t tick_step(int64_t top) {
  const double raw = std::max(1.0, static_cast<double>(top) / 5.0);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) return static_cast<int64_t>(m * mag);
  return static_cast<int64_t>(10 * mag);
}

std::string scheme_text(const PartitionOptions& o) {
  if (o.scheme == "dirichlet") {
    std::ostringstream os;
    os << "dirichlet, alpha " << o.alpha;
    return os.str();
  }
  if (o.scheme == "k-domains") return "k-domains, k " + std::to_string(o.k);
  if (o.scheme == "size-skew") return "size-skew, " + o.skew;
  return o.scheme;
}

}  // namespace

std::string composition_svg(const PartitionOptions& o, const Partition& p) {
  const size_t n = p.silos.size(), n_domains = p.pool.domains.size();
  const double pitch = std::clamp(1200.0 / static_cast<double>(n), 8.0, 64.0), bar = pitch * 0.7;
  const double left = 70, top = 50, plot_h = 300, legend_w = 190;
  const double width = std::max(640.0, left + pitch * static_cast<double>(n) + 20 + legend_w), height = top + plot_h + 60;
  int64_t biggest = 1;
  for (const auto& s : p.silos) biggest = std::max<int64_t>(biggest, static_cast<int64_t>(s.samples.size()));
  const int64_t step = tick_step(biggest);
  const int64_t y_top = (biggest + step - 1) / step * step;
  const double scale = plot_h / static_cast<double>(y_top);
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" + num(height) +
                    "\" font-family=\"sans-serif\" font-size=\"11\">\n"
                    "<defs><pattern id=\"bad\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
                    "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"white\" fill-opacity=\"0.45\"/>"
                    "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"black\" stroke-width=\"2\"/></pattern></defs>\n"
                    "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += text(left, 22, "clues partition: " + scheme_text(o) + ", " + std::to_string(n) + " silos, seed " + std::to_string(o.seed),
              " font-size=\"14\"");
  svg += text(left, 38, "samples per silo by domain; hatched: low quality (label 1); test sets not shown", " fill=\"#555\"");
  for (int64_t t = 0; t <= y_top; t += step) {  // y axis: grid lines and ticks
    const double y = top + plot_h - static_cast<double>(t) * scale;
    svg += "<line x1=\"" + num(left) + "\" y1=\"" + num(y) + "\" x2=\"" + num(left + pitch * static_cast<double>(n)) + "\" y2=\"" +
           num(y) + "\" stroke=\"#ddd\"/>\n";
    svg += text(left - 6, y + 4, std::to_string(t), " text-anchor=\"end\"");
  }
  const size_t label_every = static_cast<size_t>(std::ceil(36.0 / pitch));
  for (size_t s = 0; s < n; ++s) {
    const StudySilo& silo = p.silos[s];
    std::vector<int64_t> clean(n_domains, 0), bad(n_domains, 0);
    int64_t n_bad = 0;
    for (size_t i = 0; i < silo.samples.size(); ++i) {
      (silo.labels[i] ? bad : clean)[static_cast<size_t>(p.pool.samples[silo.samples[i]].domain)] += 1;
      n_bad += silo.labels[i];
    }
    const double x = left + pitch * static_cast<double>(s) + (pitch - bar) / 2;
    double y = top + plot_h;
    for (size_t d = 0; d < n_domains; ++d) {
      const std::string what = silo.name + " " + p.pool.domains[d] + ": ";
      for (int quality = 0; quality < 2; ++quality) {
        const int64_t count = quality ? bad[d] : clean[d];
        if (!count) continue;
        const double h = static_cast<double>(count) * scale;
        y -= h;
        const std::string title = what + std::to_string(count) + (quality ? " low quality" : " clean");
        svg += rect(x, y, bar, h, color(d), title);
        if (quality) svg += rect(x, y, bar, h, "url(#bad)", title);
      }
    }
    if (s % label_every == 0) {
      const double cx = x + bar / 2;
      const int pct = silo.samples.empty() ? 0 : static_cast<int>(std::lround(100.0 * static_cast<double>(n_bad) / static_cast<double>(silo.samples.size())));
      svg += text(cx, top + plot_h + 16, silo.name, " text-anchor=\"middle\"");
      svg += text(cx, top + plot_h + 30, std::to_string(pct) + "% bad", " text-anchor=\"middle\" fill=\"#555\"");
    }
  }
  const double lx = left + pitch * static_cast<double>(n) + 30;  // legend
  const size_t shown = std::min<size_t>(n_domains, 16);
  for (size_t d = 0; d < shown; ++d) {
    const double ly = top + 16.0 * static_cast<double>(d);
    svg += rect(lx, ly, 12, 12, color(d), p.pool.domains[d]);
    svg += text(lx + 18, ly + 10, p.pool.domains[d]);
  }
  double ly = top + 16.0 * static_cast<double>(shown);
  if (shown < n_domains) {
    svg += text(lx, ly + 10, "+ " + std::to_string(n_domains - shown) + " more domains");
    ly += 16;
  }
  svg += rect(lx, ly + 4, 12, 12, "#999", "low quality") + rect(lx, ly + 4, 12, 12, "url(#bad)", "low quality");
  svg += text(lx + 18, ly + 14, "low quality");
  return svg + "</svg>\n";
}

}  // namespace clues
