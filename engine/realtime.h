// Real-time scheduling for the pacing thread. A pacer that wakes late loses rate (its bucket banks
// one burst only); SCHED_FIFO keeps wake-ups on time on a busy host. The thread sleeps between
// batches, so it cannot hog a core (and the kernel's RT throttling bounds it regardless).
#pragma once

#include "common/result.h"

namespace shoal::engine {

// Asks for SCHED_FIFO priority 10 for the calling thread. Error: why it was not granted
// ("real-time priority not permitted: <errno text>"); the thread then keeps its normal priority.
Status request_realtime_priority();

}  // namespace shoal::engine
