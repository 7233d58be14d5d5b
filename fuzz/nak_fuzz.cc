// libFuzzer target for NAKs as the sender uses them: the input (after a 1-byte block-count seed)
// is a Nak body; whatever decodes is handed to the repair planner as one, two and three
// receivers' needs over a layout of up to 4096 blocks. The planner must stay total (NAK runs
// beyond the object are ignored) and keep its promises: ranges inside the object and within
// ESI 0..254, multicast ranges in block order, symbol totals that add up.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "control/messages.h"
#include "session/repair_planner.h"

using namespace shoal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint32_t blocks = 1 + (uint32_t{data[0]} * 16);
  std::vector<uint8_t> body = {control::kProtocolVersion,
                               static_cast<uint8_t>(control::MessageType::kNak)};
  body.insert(body.end(), data + 1, data + size);
  auto m = control::decode_body(body);
  if (!m.ok()) return 0;
  const auto* nak = std::get_if<control::Nak>(&*m);
  if (!nak) std::abort();
  std::vector<session::NeedRun> runs;
  for (const auto& r : nak->runs) runs.push_back({r.first_block, r.count, r.missing});
  for (size_t receivers = 1; receivers <= 3; ++receivers) {
    std::vector<uint8_t> ks(blocks, static_cast<uint8_t>(1 + data[0] % 200));
    session::RowState rows(ks, 0);
    std::vector<session::ReceiverNeeds> needs;
    for (size_t i = 0; i < receivers; ++i) needs.push_back({static_cast<uint32_t>(i), runs});
    session::PlannerConfig cfg;
    auto plan = session::plan_repair(needs, rows, cfg);
    uint64_t mc = 0, uc = 0;
    uint32_t last = 0;
    for (const auto& r : plan.multicast) {
      if (r.block >= blocks || r.count == 0 || r.first_esi + r.count > 255) std::abort();
      if (r.block < last) std::abort();
      last = r.block;
      mc += r.count;
    }
    for (const auto& u : plan.unicast) {
      if (u.receiver >= receivers || u.range.block >= blocks || u.range.count == 0 ||
          u.range.first_esi + u.range.count > 255) {
        std::abort();
      }
      uc += u.range.count;
    }
    if (mc != plan.multicast_symbols || uc != plan.unicast_symbols) std::abort();
  }
  return 0;
}
