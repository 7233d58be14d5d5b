#include "probe/probe_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <utility>
#include <vector>

namespace shoal::probe {
namespace {

constexpr double kW = 980, kH = 660;
constexpr double kLeft = 80, kRight = 220, kTop = 56;
constexpr double kTopH = 300, kGap = 56, kBottomH = 190;
constexpr double kLogMin = -3, kLogMax = 2;  // loss axis: 0.001% .. 100%
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b",
                                   "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#ff7f0e"};
constexpr size_t kMaxLegend = 12;

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&#39;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 text.
        o += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
    }
  }
  return o;
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

std::string label(double v) {
  char b[32];
  if (v == std::floor(v)) {
    std::snprintf(b, sizeof b, "%.0f", v);
  } else {
    std::snprintf(b, sizeof b, "%g", v);
  }
  return b;
}

// 1, 2 or 5 times a power of ten, so that range / step is about `ticks`.
double nice_step(double range, int ticks) {
  const double raw = range / ticks;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * p >= raw) return m * p;
  }
  return 10 * p;
}

struct Frame {
  double xmax_mbit;
  double x(double mbit) const { return kLeft + (kW - kLeft - kRight) * mbit / xmax_mbit; }
  double y_top(double mbit) const { return kTop + kTopH * (1 - mbit / xmax_mbit); }
  double y_loss(double ratio) const {
    const double l = std::clamp(std::log10(std::max(ratio * 100, 1e-9)), kLogMin, kLogMax);
    const double y0 = kTop + kTopH + kGap;
    return y0 + kBottomH * (kLogMax - l) / (kLogMax - kLogMin);
  }
};

void text(std::ostringstream& o, double x, double y, const std::string& s, const char* extra = "") {
  o << "<text x=\"" << num(x) << "\" y=\"" << num(y) << "\" " << extra << ">" << esc(s)
    << "</text>\n";
}

void line(std::ostringstream& o, double x1, double y1, double x2, double y2, const char* style) {
  o << "<line x1=\"" << num(x1) << "\" y1=\"" << num(y1) << "\" x2=\"" << num(x2) << "\" y2=\""
    << num(y2) << "\" " << style << "/>\n";
}

void axes(std::ostringstream& o, const Frame& f) {
  const double x0 = kLeft, x1 = kW - kRight;
  const double step = nice_step(f.xmax_mbit, 6);
  const double yb_top = kTop + kTopH, yt_loss = kTop + kTopH + kGap, yb_loss = yt_loss + kBottomH;
  o << "<g font-size=\"11\" fill=\"#333\">\n";
  for (double v = 0; v <= f.xmax_mbit + 1e-9; v += step) {
    const double x = f.x(v);
    line(o, x, kTop, x, yb_top, "stroke=\"#eee\"");
    line(o, x, yt_loss, x, yb_loss, "stroke=\"#eee\"");
    text(o, x, yb_loss + 16, label(v), "text-anchor=\"middle\"");
    line(o, x0, f.y_top(v), x1, f.y_top(v), "stroke=\"#eee\"");
    text(o, x0 - 6, f.y_top(v) + 4, label(v), "text-anchor=\"end\"");
  }
  for (int e = int(kLogMin); e <= int(kLogMax); ++e) {
    const double y = f.y_loss(std::pow(10.0, e) / 100);
    line(o, x0, y, x1, y, "stroke=\"#eee\"");
    text(o, x0 - 6, y + 4, (e == int(kLogMin) ? "<=" : "") + label(std::pow(10.0, e)) + "%",
         "text-anchor=\"end\"");
  }
  o << "<rect x=\"" << num(x0) << "\" y=\"" << num(kTop) << "\" width=\"" << num(x1 - x0)
    << "\" height=\"" << num(kTopH) << "\" fill=\"none\" stroke=\"#888\"/>\n";
  o << "<rect x=\"" << num(x0) << "\" y=\"" << num(yt_loss) << "\" width=\"" << num(x1 - x0)
    << "\" height=\"" << num(kBottomH) << "\" fill=\"none\" stroke=\"#888\"/>\n";
  text(o, (x0 + x1) / 2, yb_loss + 36, "offered rate, Mbit/s (IP + Ethernet header, as --rate)",
       "text-anchor=\"middle\" font-size=\"12\"");
  text(o, 18, kTop + kTopH / 2, "delivered, Mbit/s",
       ("text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 18 " +
        num(kTop + kTopH / 2) + ")\"")
           .c_str());
  text(o, 18, yt_loss + kBottomH / 2, "loss",
       ("text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 18 " +
        num(yt_loss + kBottomH / 2) + ")\"")
           .c_str());
  o << "</g>\n";
}

}  // namespace

std::string render_probe_svg(const ProbeResult& p) {
  std::vector<const StepResult*> steps;
  double xmax = 0;
  for (const StepResult& s : p.steps) {
    if (s.kind != StepKind::kSearch || s.redone) continue;
    steps.push_back(&s);
    xmax = std::max(xmax, double(s.offered_bps) / 1e6);
  }
  std::sort(steps.begin(), steps.end(), [](const StepResult* a, const StepResult* b) {
    return a->offered_bps < b->offered_bps;
  });
  if (xmax <= 0) xmax = 1;
  const double step = nice_step(xmax * 1.05, 6);
  Frame f{std::ceil(xmax * 1.05 / step) * step};

  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kW << "\" height=\"" << kH
    << "\" viewBox=\"0 0 " << kW << " " << kH
    << "\" font-family=\"Helvetica, Arial, sans-serif\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  text(o, kLeft, 24,
       "shoal probe " + p.group + ": delivered rate and loss per receiver vs offered rate",
       "font-size=\"15\" font-weight=\"bold\"");
  text(o, kLeft, 42, p.verdict, "font-size=\"11\" fill=\"#444\"");
  axes(o, f);
  const double x1 = kW - kRight;
  line(o, f.x(0), f.y_top(0), f.x(f.xmax_mbit), f.y_top(f.xmax_mbit),
       "stroke=\"#aaa\" stroke-dasharray=\"4 4\"");
  text(o, f.x(f.xmax_mbit * 0.9) - 4, f.y_top(f.xmax_mbit * 0.9) - 6, "delivered = offered",
       "font-size=\"10\" fill=\"#888\" text-anchor=\"end\"");
  const double thr_y = f.y_loss(p.loss_threshold);
  line(o, kLeft, thr_y, x1, thr_y, "stroke=\"#ff7f0e\" stroke-dasharray=\"6 3\"");
  text(o, x1 - 4, thr_y - 4, "threshold " + label(p.loss_threshold * 100) + "%",
       "font-size=\"10\" fill=\"#ff7f0e\" text-anchor=\"end\"");

  // The knee's label goes right of its line, the recommended rate's left of its own.
  auto vline = [&](uint64_t bps, const char* color, const char* dash, const std::string& what,
                   bool left) {
    if (bps == 0) return;
    const double x = f.x(double(bps) / 1e6);
    const std::string style = std::string("stroke=\"") + color + "\" stroke-width=\"1.5\" " +
                              "stroke-dasharray=\"" + dash + "\"";
    line(o, x, kTop, x, kTop + kTopH + kGap + kBottomH, style.c_str());
    const std::string fill = std::string("font-size=\"11\" fill=\"") + color + "\"" +
                             (left ? " text-anchor=\"end\"" : "");
    text(o, left ? x - 4 : x + 4, kTop + 14, what, fill.c_str());
  };
  char buf[96];
  std::snprintf(buf, sizeof buf, "knee %.1f Mbit/s", double(p.max_ok_bps) / 1e6);
  vline(p.max_ok_bps, "#d62728", "2 0", buf, false);
  std::snprintf(buf, sizeof buf, "recommended %.0f Mbit/s", double(p.recommended_bps) / 1e6);
  vline(p.recommended_bps, "#2ca02c", "3 3", buf, true);

  size_t legend = 0, drawn = 0;
  const size_t joined = size_t(std::count_if(p.receivers.begin(), p.receivers.end(),
                                             [](const ReceiverInfo& r) { return r.joined; }));
  for (size_t r = 0; r < p.receivers.size(); ++r) {
    if (!p.receivers[r].joined) continue;
    // Receivers often see the same thing: earlier ones are drawn wider, so each stays visible.
    const double weight = joined > 1 ? double(joined - 1 - drawn++) / double(joined - 1) : 0;
    const std::string width = num(1.2 + 2.4 * weight), radius = num(2.2 + 1.8 * weight);
    const char* color = kColors[r % (sizeof kColors / sizeof kColors[0])];
    std::string top_pts, loss_pts, marks;
    for (const StepResult* s : steps) {
      if (!s->receivers[r].answered) continue;
      const double x = f.x(double(s->offered_bps) / 1e6);
      const double yt = f.y_top(delivered_bps(*s, r) / 1e6);
      const double yl = f.y_loss(step_loss(*s, r));
      top_pts += num(x) + "," + num(yt) + " ";
      loss_pts += num(x) + "," + num(yl) + " ";
      marks += "<circle cx=\"" + num(x) + "\" cy=\"" + num(yt) + "\" r=\"" + radius + "\"/>";
      marks += "<circle cx=\"" + num(x) + "\" cy=\"" + num(yl) + "\" r=\"" + radius + "\"/>";
    }
    o << "<g stroke=\"" << color << "\" fill=\"" << color << "\">\n";
    o << "<polyline fill=\"none\" stroke-width=\"" << width << "\" points=\"" << top_pts
      << "\"/>\n";
    o << "<polyline fill=\"none\" stroke-width=\"" << width << "\" points=\"" << loss_pts
      << "\"/>\n";
    o << marks << "\n</g>\n";
    if (legend < kMaxLegend) {
      const double ly = kTop + 10 + 18 * double(legend);
      line(o, x1 + 16, ly, x1 + 36, ly,
           (std::string("stroke=\"") + color + "\" stroke-width=\"2\"").c_str());
      text(o, x1 + 42, ly + 4,
           p.receivers[r].name + (p.receivers[r].heard ? "" : " (heard nothing)"),
           "font-size=\"11\"");
    } else if (legend == kMaxLegend) {
      text(o, x1 + 16, kTop + 14 + 18 * double(legend), "... and more", "font-size=\"11\"");
    }
    ++legend;
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace shoal::probe
