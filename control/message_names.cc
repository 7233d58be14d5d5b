// type_name (messages.h): the name of each message type, for logs and errors.
#include "control/messages.h"

namespace shoal::control {

const char* type_name(MessageType type) {
  switch (type) {
    case MessageType::kHello:
      return "Hello";
    case MessageType::kChallenge:
      return "Challenge";
    case MessageType::kAuth:
      return "Auth";
    case MessageType::kAccept:
      return "Accept";
    case MessageType::kReject:
      return "Reject";
    case MessageType::kSession:
      return "Session";
    case MessageType::kManifest:
      return "Manifest";
    case MessageType::kReady:
      return "Ready";
    case MessageType::kPassEnd:
      return "PassEnd";
    case MessageType::kNak:
      return "Nak";
    case MessageType::kRepair:
      return "Repair";
    case MessageType::kDone:
      return "Done";
    case MessageType::kBye:
      return "Bye";
    case MessageType::kKeyGrant:
      return "KeyGrant";
    case MessageType::kProbe:
      return "Probe";
    case MessageType::kFeedback:
      return "Feedback";
    case MessageType::kProgress:
      return "Progress";
    case MessageType::kManifestEnd:
      return "ManifestEnd";
    case MessageType::kHorizon:
      return "Horizon";
    case MessageType::kFetch:
      return "Fetch";
    case MessageType::kRelaying:
      return "Relaying";
    case MessageType::kDownstream:
      return "Downstream";
    case MessageType::kPeerOffer:
      return "PeerOffer";
    case MessageType::kPeerAssign:
      return "PeerAssign";
    case MessageType::kPeerFailed:
      return "PeerFailed";
  }
  return "unknown";
}

const char* type_name(const Message& message) {
  return std::visit([](const auto& m) { return type_name(m.kType); }, message);
}

}  // namespace shoal::control
