#include "control/auth.h"

#include <gtest/gtest.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "tests/control/samples.h"

namespace shoal::control {
namespace {

using testing::pattern32;

Key key_of(uint8_t seed) {
  return pattern32(seed);
}

// --- keys ---

TEST(Keys, GeneratedTextIs64HexDigitsAndANewlineAndParses) {
  std::set<std::string> seen;
  for (int i = 0; i < 8; ++i) {
    const std::string t = generate_key_text();
    ASSERT_EQ(t.size(), 65u);
    EXPECT_EQ(t.back(), '\n');
    EXPECT_EQ(t.find_first_not_of("0123456789abcdef"), 64u);
    EXPECT_TRUE(parse_key_text(t).ok());
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 8u) << "keys must be random";
}

TEST(Keys, ParseAcceptsEitherCaseAndSurroundingWhitespace) {
  std::string hex;
  for (int i = 0; i < 32; ++i) hex += "A0";
  Result<Key> k = parse_key_text("  \n" + hex + "\r\n");
  ASSERT_TRUE(k.ok()) << k.error();
  for (uint8_t b : *k) EXPECT_EQ(b, 0xa0);
  std::string lower = hex;
  for (char& c : lower) c = static_cast<char>(std::tolower(c));
  EXPECT_EQ(*parse_key_text(lower), *k);
}

TEST(Keys, ParseErrorsSayWhatIsWrong) {
  Result<Key> short_key = parse_key_text("abcd");
  ASSERT_FALSE(short_key.ok());
  EXPECT_NE(short_key.error().find("4 characters"), std::string::npos) << short_key.error();
  std::string bad(64, 'a');
  bad[10] = 'g';
  Result<Key> non_hex = parse_key_text(bad);
  ASSERT_FALSE(non_hex.ok());
  EXPECT_NE(non_hex.error().find("position 11"), std::string::npos) << non_hex.error();
  EXPECT_FALSE(parse_key_text(std::string(64, 'a') + " b").ok());
}

class KeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/shoal_key_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const auto& f : files_) std::remove(f.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    files_.push_back(path);
    return path;
  }
  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(KeyFile, LoadsAPrivateKeyFileWithoutWarning) {
  const std::string text = generate_key_text();
  std::string warning;
  Result<Key> k = load_key_file(write("k", text, 0600), &warning);
  ASSERT_TRUE(k.ok()) << k.error();
  EXPECT_EQ(*k, *parse_key_text(text));
  EXPECT_TRUE(warning.empty()) << warning;
}

TEST_F(KeyFile, WarnsWhenOthersCanRead) {
  std::string warning;
  const std::string path = write("k", generate_key_text(), 0644);
  Result<Key> k = load_key_file(path, &warning);
  ASSERT_TRUE(k.ok()) << k.error();
  EXPECT_NE(warning.find(path), std::string::npos) << warning;
  EXPECT_NE(warning.find("chmod 600"), std::string::npos) << warning;
}

TEST_F(KeyFile, ErrorsNameTheFileAndTheProblem) {
  Result<Key> missing = load_key_file(dir_ + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find(dir_ + "/nope"), std::string::npos) << missing.error();
  EXPECT_NE(missing.error().find("No such file"), std::string::npos) << missing.error();

  Result<Key> short_key = load_key_file(write("short", "abcdef\n", 0600));
  ASSERT_FALSE(short_key.ok());
  EXPECT_NE(short_key.error().find("expected 64 hex digits"), std::string::npos);

  Result<Key> not_hex = load_key_file(write("nothex", std::string(64, 'z'), 0600));
  ASSERT_FALSE(not_hex.ok());
  EXPECT_NE(not_hex.error().find("non-hex"), std::string::npos) << not_hex.error();

  Result<Key> dir = load_key_file(dir_);
  EXPECT_FALSE(dir.ok());
}

// --- proofs ---

TEST(Proofs, MatchAnIndependentHmacOfTheDocumentedInput) {
  const Key key = key_of(1);
  const Nonce cn = pattern32(2), sn = pattern32(3);
  auto reference = [&](const std::string& label, const Nonce& a, const Nonce& b) {
    std::vector<uint8_t> msg(label.begin(), label.end());
    msg.insert(msg.end(), a.begin(), a.end());
    msg.insert(msg.end(), b.begin(), b.end());
    Proof p{};
    unsigned len = 0;
    HMAC(EVP_sha256(), key.data(), 32, msg.data(), msg.size(), p.data(), &len);
    return p;
  };
  EXPECT_EQ(server_proof(key, cn, sn), reference("shoal-v1 server", cn, sn));
  EXPECT_EQ(client_proof(key, sn, cn), reference("shoal-v1 client", sn, cn));
}

TEST(Proofs, DependOnKeyNoncesAndDirection) {
  const Nonce a = pattern32(2), b = pattern32(3);
  const Proof p = server_proof(key_of(1), a, b);
  EXPECT_FALSE(proofs_equal(p, server_proof(key_of(9), a, b)));
  EXPECT_FALSE(proofs_equal(p, server_proof(key_of(1), b, a)));
  // A server proof is never a valid client proof for the same nonces (no reflection).
  EXPECT_FALSE(proofs_equal(p, client_proof(key_of(1), a, b)));
  EXPECT_FALSE(proofs_equal(p, client_proof(key_of(1), b, a)));
  EXPECT_TRUE(proofs_equal(p, server_proof(key_of(1), a, b)));
}

TEST(Proofs, RandomNoncesDiffer) {
  EXPECT_NE(random_nonce(), random_nonce());
}

// --- handshake state machines, wired back to back ---

struct Outcome {
  ServerHandshake::State server;
  ClientHandshake::State client;
  std::string server_reason;
  std::string client_reason;
};

// Runs the handshake to the end through encode/decode, as over the wire.
Outcome run(std::optional<Key> server_key, std::optional<Key> client_key) {
  ServerHandshake server(server_key, 77, pattern32(20));
  ClientHandshake client(client_key, "node-1", pattern32(30));
  std::optional<Message> to_server = Message(client.start());
  while (to_server) {
    std::vector<uint8_t> wire;
    encode(*to_server, wire);
    Message reply = server.on_message(*decode_body(std::span(wire).subspan(4)));
    to_server = client.on_message(reply);
  }
  return {server.state(), client.state(), server.reject_reason(), client.failure_reason()};
}

TEST(Handshake, SameKeyJoinsBothSides) {
  ServerHandshake server(key_of(1), 77, pattern32(20));
  ClientHandshake client(key_of(1), "node-1", pattern32(30));
  Message hello = client.start();
  Message challenge = server.on_message(hello);
  ASSERT_TRUE(std::holds_alternative<Challenge>(challenge));
  EXPECT_EQ(server.receiver_name(), "node-1");
  std::optional<Message> auth = client.on_message(challenge);
  ASSERT_TRUE(auth && std::holds_alternative<Auth>(*auth));
  Message accept = server.on_message(*auth);
  ASSERT_TRUE(std::holds_alternative<Accept>(accept)) << type_name(accept);
  EXPECT_TRUE(server.accepted());
  EXPECT_FALSE(client.on_message(accept).has_value());
  EXPECT_TRUE(client.joined());
  EXPECT_EQ(client.receiver_id(), 77u);
}

TEST(Handshake, ARejectTextIsEscapedBeforeAnyoneLogsIt) {
  ClientHandshake client(key_of(1), "node-1", pattern32(30));
  (void)client.start();
  EXPECT_FALSE(client.on_message(Reject{"no\n12:00:00 [info] verified and written\x1b[2J"}));
  ASSERT_TRUE(client.failed());
  EXPECT_EQ(client.failure_reason(), "no\\x0a12:00:00 [info] verified and written\\x1b[2J");
}

// RFC 5869 appendix A.1 (SHA-256): the first 32 bytes of the output keying material.
TEST(ChannelKey, HkdfMatchesTheRfcTestVector) {
  std::vector<uint8_t> ikm(22, 0x0b);
  std::vector<uint8_t> salt;
  for (uint8_t i = 0; i <= 0x0c; ++i) salt.push_back(i);
  std::string info;
  for (int i = 0xf0; i <= 0xf9; ++i) info.push_back(static_cast<char>(i));
  Key okm = hkdf_sha256(ikm, salt, info);
  const uint8_t want[32] = {0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f,
                            0x64, 0xd0, 0x36, 0x2f, 0x2a, 0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a,
                            0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56, 0xec, 0xc4, 0xc5, 0xbf};
  EXPECT_TRUE(std::equal(okm.begin(), okm.end(), want));
}

TEST(ChannelKey, BothEndsDeriveTheSameKeyAndItIsFreshPerConnection) {
  auto join = [](uint8_t server_nonce, uint8_t client_nonce) {
    ServerHandshake server(key_of(1), 7, pattern32(server_nonce));
    ClientHandshake client(key_of(1), "n", pattern32(client_nonce));
    EXPECT_FALSE(server.channel_key()) << "no channel key before the handshake ends";
    Message challenge = server.on_message(client.start());
    Message accept = server.on_message(*client.on_message(challenge));
    client.on_message(accept);
    EXPECT_TRUE(client.joined());
    EXPECT_TRUE(server.channel_key() && client.channel_key());
    EXPECT_EQ(*server.channel_key(), *client.channel_key());
    return *server.channel_key();
  };
  Key a = join(20, 30), b = join(21, 30), c = join(20, 31);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, key_of(1)) << "the channel key is not the pre-shared key itself";
}

TEST(ChannelKey, InsecureHandshakeHasNone) {
  ServerHandshake server(std::nullopt, 7, pattern32(1));
  ClientHandshake client(std::nullopt, "n", pattern32(2));
  Message challenge = server.on_message(client.start());
  Message accept = server.on_message(*client.on_message(challenge));
  client.on_message(accept);
  ASSERT_TRUE(client.joined() && server.accepted());
  EXPECT_FALSE(server.channel_key());
  EXPECT_FALSE(client.channel_key());
}

TEST(Handshake, WrongKeyIsCaughtByTheReceiverBeforeItProvesAnything) {
  Outcome o = run(key_of(1), key_of(2));
  EXPECT_EQ(o.client, ClientHandshake::State::kFailed);
  EXPECT_EQ(o.client_reason, kReasonSenderUnproven);
  // The receiver never sent an Auth: the sender is still waiting for it.
  EXPECT_EQ(o.server, ServerHandshake::State::kAwaitAuth);
}

TEST(Handshake, SenderRejectsABadClientProof) {
  ServerHandshake server(key_of(1), 1, pattern32(20));
  (void)server.on_message(Hello{pattern32(30), 0, "x"});
  Message r = server.on_message(Auth{client_proof(key_of(2), pattern32(20), pattern32(30))});
  ASSERT_TRUE(std::holds_alternative<Reject>(r));
  EXPECT_EQ(std::get<Reject>(r).reason, kReasonWrongKey);
  EXPECT_EQ(server.state(), ServerHandshake::State::kRejected);
}

TEST(Handshake, ReceiverRejectsAForgedServerProof) {
  ClientHandshake client(key_of(1), "n", pattern32(30));
  (void)client.start();
  Challenge c{pattern32(20), 0, pattern32(99)};
  EXPECT_FALSE(client.on_message(c).has_value());
  EXPECT_TRUE(client.failed());
  EXPECT_EQ(client.failure_reason(), kReasonSenderUnproven);
}

TEST(Handshake, ReflectedServerProofIsNotAcceptedAsClientProof) {
  // An attacker without the key echoes the server's own proof back as its Auth.
  ServerHandshake server(key_of(1), 1, pattern32(20));
  Message c = server.on_message(Hello{pattern32(30), 0, "x"});
  Message r = server.on_message(Auth{std::get<Challenge>(c).server_proof});
  ASSERT_TRUE(std::holds_alternative<Reject>(r));
  EXPECT_EQ(std::get<Reject>(r).reason, kReasonWrongKey);
}

TEST(Handshake, ReplayedAuthFromAnotherSessionIsRejected) {
  // Record a good exchange, then replay its Auth against a sender with a fresh nonce.
  ServerHandshake first(key_of(1), 1, pattern32(20));
  ClientHandshake client(key_of(1), "x", pattern32(30));
  Message hello = client.start();
  std::optional<Message> auth = client.on_message(first.on_message(hello));
  ASSERT_TRUE(auth);
  ServerHandshake second(key_of(1), 2, pattern32(21));
  (void)second.on_message(hello);
  Message r = second.on_message(*auth);
  ASSERT_TRUE(std::holds_alternative<Reject>(r));
  EXPECT_EQ(std::get<Reject>(r).reason, kReasonWrongKey);
}

TEST(Handshake, OutOfOrderMessagesAreProtocolErrors) {
  {
    ServerHandshake s(key_of(1), 1, pattern32(20));
    Message r = s.on_message(Auth{});
    ASSERT_TRUE(std::holds_alternative<Reject>(r));
    EXPECT_EQ(std::get<Reject>(r).reason.rfind("protocol error: expected Hello, got Auth", 0), 0u)
        << std::get<Reject>(r).reason;
  }
  {
    ServerHandshake s(key_of(1), 1, pattern32(20));
    (void)s.on_message(Hello{pattern32(30), 0, "x"});
    Message r = s.on_message(Hello{pattern32(30), 0, "x"});  // replayed Hello
    ASSERT_TRUE(std::holds_alternative<Reject>(r));
    EXPECT_NE(std::get<Reject>(r).reason.find("protocol error"), std::string::npos);
  }
  {
    // Anything after Accept is not the handshake's business and is refused.
    ServerHandshake s(key_of(1), 1, pattern32(20));
    ClientHandshake c(key_of(1), "x", pattern32(30));
    Message hello = c.start();
    std::optional<Message> auth = c.on_message(s.on_message(hello));
    ASSERT_TRUE(std::holds_alternative<Accept>(s.on_message(*auth)));
    Message again = s.on_message(*auth);
    ASSERT_TRUE(std::holds_alternative<Reject>(again));
    EXPECT_NE(std::get<Reject>(again).reason.find("after the handshake"), std::string::npos);
  }
  {
    ClientHandshake c(key_of(1), "x", pattern32(30));
    (void)c.start();
    EXPECT_FALSE(c.on_message(Accept{1}).has_value());  // Accept before Challenge
    EXPECT_TRUE(c.failed());
    EXPECT_NE(c.failure_reason().find("protocol error: expected Challenge, got Accept"),
              std::string::npos);
  }
  {
    ClientHandshake c(key_of(1), "x", pattern32(30));
    EXPECT_FALSE(c.on_message(Challenge{}).has_value());  // before start()
    EXPECT_TRUE(c.failed());
  }
}

TEST(Handshake, RejectCarriesTheSendersReason) {
  ClientHandshake c(key_of(1), "x", pattern32(30));
  (void)c.start();
  EXPECT_FALSE(c.on_message(Reject{"sender is full"}).has_value());
  EXPECT_TRUE(c.failed());
  EXPECT_EQ(c.failure_reason(), "sender is full");
}

TEST(Handshake, InsecureOnBothSidesJoins) {
  Outcome o = run(std::nullopt, std::nullopt);
  EXPECT_EQ(o.server, ServerHandshake::State::kAccepted);
  EXPECT_EQ(o.client, ClientHandshake::State::kJoined);
}

TEST(Handshake, KeyedReceiverRefusesAnInsecureSender) {
  Outcome o = run(std::nullopt, key_of(1));
  EXPECT_EQ(o.client, ClientHandshake::State::kFailed);
  EXPECT_EQ(o.client_reason, kReasonSenderInsecure);
  EXPECT_NE(o.server, ServerHandshake::State::kAccepted);
}

TEST(Handshake, KeyedSenderRejectsAnInsecureReceiver) {
  Outcome o = run(key_of(1), std::nullopt);
  EXPECT_EQ(o.server, ServerHandshake::State::kRejected);
  EXPECT_EQ(o.server_reason, kReasonSenderNeedsKey);
  EXPECT_EQ(o.client, ClientHandshake::State::kFailed);
  EXPECT_EQ(o.client_reason, kReasonSenderNeedsKey);
}

TEST(Handshake, InsecureSenderRejectsAKeyedReceiverThatAnswersAnyway) {
  ServerHandshake s(std::nullopt, 1, pattern32(20));
  Message c = s.on_message(Hello{pattern32(30), 0, "keyed"});
  ASSERT_TRUE(std::holds_alternative<Challenge>(c));
  EXPECT_EQ(std::get<Challenge>(c).flags & kFlagInsecure, kFlagInsecure);
  EXPECT_EQ(std::get<Challenge>(c).server_proof, Proof{});
  Message r = s.on_message(Auth{});
  ASSERT_TRUE(std::holds_alternative<Reject>(r));
  EXPECT_EQ(std::get<Reject>(r).reason, kReasonReceiverInsecure);
}

}  // namespace
}  // namespace shoal::control
