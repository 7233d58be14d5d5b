// PeerServer and PeerFetch over loopback (peer repair): a straggler takes its assignment from a
// receiver's verified file -- source rows as the file's bytes, repair rows that decode with them --
// and the server's PassEnd ends the pass; another session, a wrong key, a peer that is not there
// and a malformed symbol each end the pass as failed, naming why.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "control/endpoint.h"
#include "control/event_loop.h"
#include "fec/codec.h"
#include "session/peer_fetch.h"
#include "session/peer_server.h"

namespace shoal::session {
namespace {

constexpr uint32_t kSym = 256;
constexpr unsigned kK = 4;
constexpr uint64_t kSession = 0x5e55;
// 3 whole blocks and a short one (2 symbols, the last of them short).
constexpr uint64_t kSize = 3 * kK * kSym + kSym + 100;

control::Key key(uint8_t fill) {
  control::Key k;
  k.fill(fill);
  return k;
}

class PeerRepair : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("shoal-peer-test-" + std::to_string(::getpid()) + ".bin"))
                .string();
    bytes_.resize(kSize);
    std::mt19937 rng(7);
    for (auto& b : bytes_) b = static_cast<uint8_t>(rng());
    std::ofstream(path_, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes_.data()), std::streamsize(kSize));
    loop_ = std::move(*control::EventLoop::create());
    layout_ = *fec::BlockLayout::make(kSize, kSym, kK);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  std::unique_ptr<PeerServer> serve(std::optional<control::Key> k = key(1)) {
    PeerServer::Options o;
    o.listen = *control::parse_endpoint("127.0.0.1:0");
    o.key = k;
    o.session_id = kSession;
    o.layout = layout_;
    o.path = path_;
    auto s = PeerServer::start(*loop_, std::move(o));
    EXPECT_TRUE(s.ok()) << s.error();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Runs one assignment to its end; symbols[(block, esi)] = payload.
  struct Outcome {
    bool ended = false;
    uint32_t pass = 0;
    std::string failure;
    std::map<std::pair<uint32_t, unsigned>, std::vector<uint8_t>> symbols;
  };
  Outcome fetch(control::PeerAssign assign, std::optional<control::Key> k = key(1),
                bool refuse_symbols = false) {
    Outcome out;
    PeerFetch::Callbacks cb;
    cb.on_symbol = [&](const control::Repair& r) -> Status {
      if (refuse_symbols) return make_error("a peer sent a malformed symbol (block 0)");
      out.symbols[{r.block, r.esi}].assign(r.payload.begin(), r.payload.end());
      return {};
    };
    cb.on_end = [&](uint32_t pass, const std::string& failure) {
      out.ended = true;
      out.pass = pass;
      out.failure = failure;
    };
    uint64_t now = 1'000'000'000;
    PeerFetch f(*loop_, std::move(assign), k, "straggler", now, std::move(cb));
    for (int i = 0; i < 2000 && !f.ended(); ++i) {
      loop_->poll_once(5);
      f.tick(now += 1'000'000);
    }
    EXPECT_TRUE(f.ended());
    return out;
  }

  std::vector<uint8_t> source(uint32_t block, unsigned esi) const {
    std::vector<uint8_t> s(kSym, 0);
    const uint64_t off = layout_.block_offset(block) + uint64_t{esi} * kSym;
    std::memcpy(s.data(), bytes_.data() + off, std::min<uint64_t>(kSym, kSize - off));
    return s;
  }

  std::string path_;
  std::vector<uint8_t> bytes_;
  std::unique_ptr<control::EventLoop> loop_;
  fec::BlockLayout layout_;
};

std::string address_of(const PeerServer& s) {
  return "127.0.0.1:" + std::to_string(s.port());
}

TEST_F(PeerRepair, SourceRowsAreTheFilesBytesAndRepairRowsDecodeWithThem) {
  auto server = serve();
  ASSERT_TRUE(server);
  // Block 1 whole, the short last block (k = 2) whole, two repair rows of block 0.
  const uint32_t last = layout_.block_count() - 1;
  ASSERT_EQ(layout_.block_k(last), 2u);
  Outcome o = fetch({kSession, 7, address_of(*server), {{1, 0, 4}, {last, 0, 2}, {0, 4, 2}}});
  EXPECT_EQ(o.failure, "");
  EXPECT_EQ(o.pass, 7u);
  ASSERT_EQ(o.symbols.size(), 8u);
  for (unsigned esi = 0; esi < 4; ++esi)
    EXPECT_EQ(o.symbols[std::make_pair(1u, esi)], source(1, esi)) << esi;
  EXPECT_EQ(o.symbols[std::make_pair(last, 1u)], source(last, 1))
      << "the short symbol, zero-padded";
  // Block 0 from source rows 0 and 1 and the two repair rows.
  auto codec = fec::Codec::for_k(kK);
  ASSERT_TRUE(codec.ok());
  std::vector<std::vector<uint8_t>> have = {source(0, 0), source(0, 1), o.symbols[{0, 4}],
                                            o.symbols[{0, 5}]};
  const uint8_t* in[4];
  uint8_t esis[4] = {0, 1, 4, 5};
  for (int i = 0; i < 4; ++i) in[i] = have[size_t(i)].data();
  std::vector<uint8_t> out(size_t{kK} * kSym);
  uint8_t* outs[4];
  for (unsigned i = 0; i < kK; ++i) outs[i] = out.data() + i * kSym;
  ASSERT_TRUE((*codec)->decode(esis, in, 4, kSym, outs).ok());
  for (unsigned esi = 2; esi < kK; ++esi) {  // the two it lacked
    EXPECT_EQ(std::vector<uint8_t>(outs[esi], outs[esi] + kSym), source(0, esi)) << esi;
  }
  for (int i = 0; i < 50 && server->assignments_served() == 0; ++i) loop_->poll_once(5);
  EXPECT_EQ(server->assignments_served(), 1u);
  EXPECT_EQ(server->symbols_served(), 8u);
}

TEST_F(PeerRepair, AnotherSessionsAssignmentIsRefused) {
  auto server = serve();
  ASSERT_TRUE(server);
  Outcome o = fetch({kSession + 1, 1, address_of(*server), {{0, 0, 4}}});
  EXPECT_NE(o.failure.find("serves another session"), std::string::npos) << o.failure;
  EXPECT_TRUE(o.symbols.empty());
}

TEST_F(PeerRepair, RowsBeyondTheObjectAreRefused) {
  auto server = serve();
  ASSERT_TRUE(server);
  Outcome o = fetch({kSession, 1, address_of(*server), {{layout_.block_count(), 0, 4}}});
  EXPECT_NE(o.failure.find("beyond the object"), std::string::npos) << o.failure;
}

TEST_F(PeerRepair, AWrongKeyFailsTheHandshake) {
  auto server = serve(key(1));
  ASSERT_TRUE(server);
  Outcome o = fetch({kSession, 1, address_of(*server), {{0, 0, 4}}}, key(2));
  EXPECT_NE(o.failure.find("refused"), std::string::npos) << o.failure;
  EXPECT_TRUE(o.symbols.empty());
}

TEST_F(PeerRepair, APeerThatIsNotThereFails) {
  auto server = serve();
  ASSERT_TRUE(server);
  const std::string gone = address_of(*server);
  server.reset();  // its port closed
  Outcome o = fetch({kSession, 1, gone, {{0, 0, 4}}});
  EXPECT_FALSE(o.failure.empty());
}

TEST_F(PeerRepair, ASymbolTheStragglerRefusesFailsThePass) {
  auto server = serve();
  ASSERT_TRUE(server);
  Outcome o = fetch({kSession, 1, address_of(*server), {{0, 0, 4}}}, key(1), true);
  EXPECT_EQ(o.failure, "a peer sent a malformed symbol (block 0)");
}

TEST_F(PeerRepair, AConnectionThatDoesNotProveTheKeyInTimeIsClosed) {
  auto server = serve();
  ASSERT_TRUE(server);
  auto fd = control::connect_to(address_of(*server), 1000);
  ASSERT_TRUE(fd.ok()) << fd.error();
  for (int i = 0; i < 50 && server->clients() == 0; ++i) loop_->poll_once(5);
  ASSERT_EQ(server->clients(), 1u);
  server->tick(1'000);
  server->tick(1'000 + kPeerHandshakeNs);
  EXPECT_EQ(server->clients(), 1u) << "not late yet";
  server->tick(2'000 + kPeerHandshakeNs);
  EXPECT_EQ(server->clients(), 0u);
}

TEST_F(PeerRepair, AFileShorterThanTheObjectIsNotServed) {
  PeerServer::Options o;
  o.listen = *control::parse_endpoint("127.0.0.1:0");
  o.session_id = kSession;
  o.layout = *fec::BlockLayout::make(kSize * 2, kSym, kK);
  o.path = path_;
  auto s = PeerServer::start(*loop_, std::move(o));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("cannot serve peers"), std::string::npos) << s.error();
}

}  // namespace
}  // namespace shoal::session
