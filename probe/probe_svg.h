// A self-contained SVG plot of a probe result (no plotting tool needed): two panels sharing the
// x axis (offered rate) -- delivered rate per receiver above, loss per receiver (log scale) below
// -- one line per receiver, the knee (highest rate within the threshold) and the recommended rate
// marked, the loss threshold drawn. Only search steps are plotted. Receiver names are escaped.
#pragma once

#include <string>

#include "probe/probe_report.h"

namespace shoal::probe {

// The SVG document (UTF-8 text). Deterministic: the same result gives the same bytes.
std::string render_probe_svg(const ProbeResult& result);

}  // namespace shoal::probe
