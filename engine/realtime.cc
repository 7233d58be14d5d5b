#include "engine/realtime.h"

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace shoal::engine {

Status request_realtime_priority() {
  sched_param sp{};
  sp.sched_priority = 10;
  if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
    return make_error(std::string("real-time priority not permitted: ") + std::strerror(errno));
  return {};
}

}  // namespace shoal::engine
