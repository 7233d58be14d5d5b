// A relay: joins a session upstream (the sender, or another relay) as a receiver, checks every
// block against its hash as any receiver does, and sends the same object into its own segment as
// a downstream session: its own group, TTL, rate and control port, the upstream's block layout
// (so a receiver can resume between the two), pipelined. Each verified block goes to the
// downstream sender at once, through a pipe into its bounded spool (object/pipe_sink.h on one
// side, object/pipe_source.h on the other): block b goes downstream while b+1 comes from
// upstream, and the relay holds at most --spool-max of the object (plus what waits upstream for
// an earlier block) on disk.
//
// The upstream sender learns the segment's outcome: the relay says Relaying once its copy is
// verified, and when its own session ended it reports each receiver there (Downstream) and says
// Done, ok only when all of them verified. So the upstream's summary, --hosts and exit status
// cover the receivers behind relays. The relay's own exit status covers both sides: 0 only when
// the upstream copy verified and every downstream receiver did.
#pragma once

#include <optional>

#include "session/receiver.h"
#include "session/sender.h"

namespace shoal::relay {

struct RelayOptions {
  // The upstream side; its out, out_fd and on_session are the relay's own.
  session::RecvOptions upstream;
  // The downstream side; the object (path, size, name, format) comes from upstream, and so do
  // K and the symbol size unless they were given.
  session::SendOptions downstream;
  bool fec_given = false;  // downstream.k was set by --fec
};

struct RelayResult {
  session::RecvResult upstream;
  std::optional<session::SendResult> downstream;  // none when upstream failed before its session
};

// 0: the upstream copy and every downstream receiver verified; 2: bad input on either side;
// 128 + the signal when SIGINT/SIGTERM stopped the downstream session; 1 otherwise.
int exit_status(const RelayResult& r);

// What the upstream sender learns of the segment once its session ended (pure; unit-tested).
session::RelayOutcome relay_outcome(const session::SendResult& downstream);

// What a downstream session sends, from the upstream's session header: the object and, unless
// given, its block layout (pure; unit-tested).
session::SendOptions downstream_options(const RelayOptions& o, const control::Session& upstream,
                                        int pipe_fd);

RelayResult run_relay(RelayOptions options);

}  // namespace shoal::relay
