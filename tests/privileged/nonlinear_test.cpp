// Packets whose headers are not in the skb's linear area, through real kernel paths, recorded
// by the real Datapath + Router + Dispatcher + pcap Sink and compared byte for byte with tcpdump
// on the same interface:
//  - trafgen at full speed (its memory-mapped PACKET_TX_RING): the kernel copies only the
//    Ethernet header into the linear area and attaches the rest as page fragments; sent from
//    the namespace side of a veth, recorded at the host side's ingress.
//  - a tap device with IFF_NAPI_FRAGS: each written frame is built from page fragments and goes
//    through napi_gro_frags, which pulls only the Ethernet header.
// The frames cover IPv4 and IPv6, TCP/UDP/SCTP/ICMP/ICMPv6, 802.1Q and QinQ tags, IPv6
// extension headers, IPv4 fragments and a frame cut inside its TCP header (which must be
// counted as unclassified). The expected set is what tcpdump captured that the recording's
// filters accept by matches(): the same user-space model the kernel rule table must agree with.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "datapath/datapath.h"
#include "dispatch/dispatcher.h"
#include "dispatch/filter.h"
#include "dispatch/packet_info.h"
#include "dispatch/recording.h"
#include "file_recording.h"
#include "netns.h"
#include "packet_builder.h"
#include "pcap_file.h"
#include "privileged.h"
#include "sink/sink.h"
#include "source_thread.h"
#include "tcpdump.h"
#include "temp_dir.h"

namespace recorder {
namespace {

using datapath::Datapath;
using datapath::Transport;
using testing::SourceThread;

// The frame shapes, between addresses `a` (sender) and `b` (receiver) of each family.
std::vector<std::vector<uint8_t>> frames(const std::string& a4, const std::string& b4,
                                         const std::string& a6, const std::string& b6) {
  std::vector<test::PacketSpec> specs;
  auto add = [&](test::PacketSpec s) { specs.push_back(std::move(s)); };
  add({.source = a4,
       .destination = b4,
       .protocol = IPPROTO_UDP,
       .destination_port = 9000,
       .payload_length = 300});
  add({.source = a4,
       .destination = b4,
       .protocol = IPPROTO_TCP,
       .destination_port = 9001,
       .payload_length = 1200});
  add({.source = a4,
       .destination = b4,
       .protocol = 132 /* SCTP */,
       .destination_port = 9002,
       .payload_length = 64});
  add({.source = a4, .destination = b4, .protocol = IPPROTO_ICMP, .payload_length = 56});
  add({.source = a6,
       .destination = b6,
       .protocol = IPPROTO_UDP,
       .destination_port = 9000,
       .payload_length = 500});
  add({.source = a6,
       .destination = b6,
       .protocol = IPPROTO_TCP,
       .destination_port = 9001,
       .payload_length = 80});
  add({.source = a6, .destination = b6, .protocol = IPPROTO_ICMPV6, .payload_length = 40});
  add({.source = a6,
       .destination = b6,
       .protocol = IPPROTO_UDP,
       .destination_port = 9000,
       .ipv6_extensions = {0, 60, 43},
       .payload_length = 100});
  add({.vlans = {{0x8100, 42}},
       .source = a4,
       .destination = b4,
       .protocol = IPPROTO_UDP,
       .destination_port = 9000,
       .payload_length = 200});
  add({.vlans = {{0x88a8, 7}, {0x8100, 42}},
       .source = a6,
       .destination = b6,
       .protocol = IPPROTO_UDP,
       .destination_port = 9000,
       .payload_length = 200});
  add({.source = a4,
       .destination = b4,
       .protocol = IPPROTO_UDP,
       .destination_port = 9000,
       .more_fragments = true,
       .payload_length = 400});
  add({.source = a4,
       .destination = b4,
       .protocol = IPPROTO_UDP,
       .destination_port = 9000,
       .fragment_offset = 51,
       .payload_length = 400});
  std::vector<std::vector<uint8_t>> out;
  for (const auto& s : specs) out.push_back(test::build_packet(s));
  // Cut on the wire inside its TCP header: IPv4 header whole, 2 bytes of TCP.
  auto cut = test::build_packet(
      {.source = a4, .destination = b4, .protocol = IPPROTO_TCP, .destination_port = 9001});
  cut.resize(14 + 20 + 2);
  out.push_back(cut);
  return out;
}

std::vector<Filter> filters(const std::string& a4, const std::string& b4, const std::string& a6,
                            const std::string& b6) {
  std::vector<Filter> out;
  for (const std::string& text : std::vector<std::string>{
           a4 + " 0 " + b4 + " 9000 UDP", "any 0 " + b4 + " 9001 TCP", "any 0 any 9002 SCTP",
           "any 0 " + b4 + " 0 ICMP", a6 + " 0 " + b6 + " 9000 UDP", "any 0 " + b6 + " 9001 TCP",
           "any 0 " + b6 + " 0 ICMPv6", a4 + " 0 " + b4 + " 0 TCP"}) {
    auto f = parse_filter(text);
    EXPECT_TRUE(f.ok()) << text;
    if (f.ok()) out.push_back(*f);
  }
  return out;
}

// Records on `dev` while `send` runs, with tcpdump capturing everything on `dev` beside it, and
// checks that the recording holds exactly tcpdump's packets that the filters accept, and that
// at least `shapes_expected` distinct frames matched and `unclassified_expected` packets were
// counted as unclassified at the interface's ingress.
void record_and_compare(Transport transport, const std::string& dev,
                        const std::vector<Filter>& include, const std::function<void()>& send,
                        size_t shapes_expected, uint64_t unclassified_expected) {
  test::TempDir dir("prt_dp");
  testing::Tcpdump tcpdump(dev, dir.path().string() + "/tcpdump.pcap", "",
                           dir.path().string() + "/tcpdump.log");
  ASSERT_TRUE(tcpdump.ready()) << "tcpdump did not start";

  datapath::Options options;
  options.interfaces = {dev};
  options.transport = transport;
  options.buffer_bytes_per_cpu = 8u << 20;
  auto dp = Datapath::open(options);
  ASSERT_TRUE(dp.ok()) << dp.error().message();
  auto pool = sink::WriterPool::create({});
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  RecordingSpec spec;
  spec.include = include;
  auto recording = testing::file_recording(**pool, 1, spec, dir.path() / "recording.pcap");
  ASSERT_NE(recording, nullptr);
  Dispatcher dispatcher;
  Router router(dispatcher, dp->get());
  ASSERT_TRUE(router.add(recording).ok());
  {
    SourceThread source(**dp, dispatcher);
    send();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto stopped = source.stop();
    EXPECT_TRUE(stopped.ok()) << stopped.error().message();
  }
  tcpdump.stop();
  const datapath::DatapathHealth health = (*dp)->health();
  router.remove(1);
  auto result = recording->finish();
  ASSERT_TRUE(result.ok()) << result.error().message();
  const RecordingStats stats = recording->stats();

  uint64_t unclassified = 0;
  for (const auto& u : health.unclassified) {
    if (u.interface == dev && u.direction == Direction::kIngress) unclassified += u.packets;
  }
  EXPECT_GE(unclassified, unclassified_expected) << "truncated frames must be counted";
  EXPECT_EQ(health.malformed_samples, 0u);

  auto ours = test::read_pcap(result->path.string());
  auto theirs = test::read_pcap(dir.path().string() + "/tcpdump.pcap");
  ASSERT_EQ(tcpdump.summary(" packets dropped by kernel"), 0) << "the reference lost packets";
  // What tcpdump saw that the recording's filters accept.
  test::FrameMultiset expected;
  test::FrameSet shapes;
  for (const auto& r : theirs.records) {
    const PacketInfo info = decode_packet(r.data, LinkType::kEthernet);
    bool wanted = false;
    for (const Filter& f : include) wanted = wanted || matches(f, info);
    if (!wanted) continue;
    expected.insert(r.data);
    shapes.insert(r.data);
  }
  // (At least: other matching traffic, such as neighbour discovery, may be on the interface.)
  EXPECT_GE(shapes.size(), shapes_expected) << "every matching shape reached the interface";
  ASSERT_GT(expected.size(), 0u);
  // Exact, or counted: what is missing must be counted as lost.
  size_t unexpected = 0;
  for (const auto& r : ours.records) {
    auto it = expected.find(r.data);
    if (it == expected.end()) {
      ++unexpected;
      continue;
    }
    expected.erase(it);
  }
  EXPECT_EQ(unexpected, 0u) << "packets in the recording that tcpdump did not see or that the "
                               "filters do not accept";
  EXPECT_EQ(expected.size(), stats.packets_lost())
      << "packets tcpdump saw and the filters accept, missing from the recording, must equal "
         "the recording's loss count";
  EXPECT_EQ(stats.packets_captured, ours.records.size());
  std::printf("%zu packets recorded, %llu lost, %llu unclassified on %s\n", ours.records.size(),
              static_cast<unsigned long long>(stats.packets_lost()),
              static_cast<unsigned long long>(unclassified), dev.c_str());
}

class NonLinear : public ::testing::TestWithParam<Transport> {};

TEST_P(NonLinear, TrafgenTxRingEqualsTcpdump) {
  RECORDER_REQUIRE_ROOT();
  testing::VethNamespace net(testing::unique_name("g"));
  ASSERT_TRUE(net.ok());
  test::TempDir conf_dir("prt_nl");
  // Sent from the namespace: a4/a6 are the peer's addresses, b4/b6 the host's.
  const auto shapes = frames(net.peer4(), net.host4(), net.peer6(), net.host6());
  const std::string conf = conf_dir.path().string() + "/frames.cfg";
  {
    std::ofstream out(conf);
    for (const auto& f : shapes) {
      out << "{ ";
      for (size_t i = 0; i < f.size(); ++i) {
        char byte[8];
        std::snprintf(byte, sizeof(byte), "0x%02x", f[i]);
        out << (i == 0 ? "" : ", ") << byte;
      }
      out << " }\n";
    }
  }
  // Bursts of 20 rounds: each at trafgen's full speed, small enough for tcpdump, the reference,
  // to keep up (it drops a few percent of a 5,000-frame burst on this VM).
  const size_t bursts = 20, rounds_per_burst = 20, rounds = bursts * rounds_per_burst;
  record_and_compare(
      GetParam(), net.host(), filters(net.peer4(), net.host4(), net.peer6(), net.host6()),
      [&] {
        // No -t/-b: trafgen sends through its memory-mapped TX ring, at full speed.
        const std::string cmd = "ip netns exec " + net.ns() + " trafgen --dev " + net.peer() +
                                " --conf " + conf + " --num " +
                                std::to_string(rounds_per_burst * shapes.size()) + " --cpus 1 >" +
                                conf_dir.path().string() + "/trafgen.log 2>&1";
        for (size_t b = 0; b < bursts; ++b) {
          ASSERT_EQ(testing::sh(cmd), 0)
              << testing::sh_output("cat " + conf_dir.path().string() + "/trafgen.log");
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      },
      shapes.size() - 1 /* all but the non-first fragment (no ports) */, rounds);
}

// A tap device in IFF_NAPI_FRAGS mode: frames written as several iovecs become page fragments.
class Tap {
 public:
  explicit Tap(const std::string& name) : name_(name) {
    fd_ = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd_ < 0) return;
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_NAPI | IFF_NAPI_FRAGS;
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (ioctl(fd_, TUNSETIFF, &ifr) != 0) {
      close(fd_);
      fd_ = -1;
      return;
    }
    ok_ = testing::sh("ip link set " + name + " up") == 0;
  }
  ~Tap() {
    if (fd_ >= 0) close(fd_);  // a non-persistent tap vanishes with its fd
  }
  bool ok() const { return ok_; }
  // Writes one frame as three pieces (Ethernet header, the next 20 bytes, the rest).
  bool write_frame(const std::vector<uint8_t>& f) const {
    const size_t a = std::min<size_t>(14, f.size()), b = std::min<size_t>(34, f.size());
    iovec iov[3] = {{const_cast<uint8_t*>(f.data()), a},
                    {const_cast<uint8_t*>(f.data()) + a, b - a},
                    {const_cast<uint8_t*>(f.data()) + b, f.size() - b}};
    return writev(fd_, iov, 3) == static_cast<ssize_t>(f.size());
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool ok_ = false;
};

TEST_P(NonLinear, TapNapiFragsEqualsTcpdump) {
  RECORDER_REQUIRE_ROOT();
  const std::string name = testing::unique_name("f");
  Tap tap(name);
  ASSERT_TRUE(tap.ok()) << "create a tap device with IFF_NAPI_FRAGS";
  const std::string a4 = "10.77.0.1", b4 = "10.77.0.2", a6 = "fd77::1", b6 = "fd77::2";
  const auto shapes = frames(a4, b4, a6, b6);
  const size_t rounds = 200;
  record_and_compare(
      GetParam(), name, filters(a4, b4, a6, b6),
      [&] {
        for (size_t r = 0; r < rounds; ++r) {
          for (const auto& f : shapes) ASSERT_TRUE(tap.write_frame(f));
          // Bursts of 20 rounds, so tcpdump, the reference, keeps up.
          if (r % 20 == 19) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      },
      shapes.size() - 1, rounds);
}

INSTANTIATE_TEST_SUITE_P(Transports, NonLinear,
                         ::testing::Values(Transport::kPerfBuffer, Transport::kRingBuffer),
                         testing::TransportName());

}  // namespace
}  // namespace recorder
