// datapath_bench (bench/datapath), run the way compare_capture.sh runs it, so a
// harness that drifts from the datapath it measures fails here instead of recording nothing in a
// benchmark while recorderd works (issue 11: the harness recorded 0 packets, because the traffic
// started before it had loaded its programs; anything that keeps its rule out of the kernel or
// its packets out of the file shows the same way). Counts only, no timing.
//
//   capture: started like tcpdump on a veth, it must say "listening on"; every UDP packet sent
//            after that, in both directions, must be in its file, and its own summary must agree.
//   rate:    driving the tc program with BPF_PROG_TEST_RUN, every driven packet must be
//            captured or counted as lost.
//   latency: every quiet packet it sends must reach the reader (it reports a figure only then).
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <array>
#include <regex>
#include <string>
#include <vector>

#include "dispatch/packet_info.h"
#include "listening_process.h"
#include "netns.h"
#include "packet_builder.h"
#include "pcap_file.h"
#include "privileged.h"
#include "temp_dir.h"

namespace recorder {
namespace {

using testing::ListeningProcess;
using testing::sh_output;
using testing::unique_name;
using testing::VethNamespace;

constexpr uint16_t kPort = 5555;

// The value after `key ` in the harness's output ("captured 300 lost_kernel 0 ..."), -1 if absent.
long long field(const std::string& output, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex("(^|\\s)" + key + " (\\d+)"))) return -1;
  return std::stoll(m[2].str());
}

// An IPv4 address as PacketInfo holds it.
std::array<uint8_t, 16> ipv4(const std::string& text) {
  std::array<uint8_t, 16> out{};
  inet_pton(AF_INET, text.c_str(), out.data());
  return out;
}

class DatapathBenchCapture : public ::testing::TestWithParam<const char*> {};

TEST_P(DatapathBenchCapture, RecordsEveryUdpPacketSentOnceItListens) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("b"));
  ASSERT_TRUE(net.ok());
  test::TempDir dir("prt_bench");
  const std::string file = (dir / "capture.pcap").string();
  ListeningProcess harness({DATAPATH_BENCH_PATH, "capture", net.host(), "3600", file, GetParam()},
                           (dir / "harness.log").string());
  ASSERT_TRUE(harness.ready()) << "datapath_bench never said it listens:\n" << harness.output();

  // Egress of the captured end: UDP from the host side. Ingress: frames sent out of the peer
  // (as trafgen does in compare_capture.sh).
  // The peer's address is resolved first, so no datagram waits (or is dropped) in the
  // neighbour queue.
  constexpr int kEach = 150;
  ASSERT_EQ(testing::sh("ping -c 1 -W 5 -q " + net.peer4() + " >/dev/null"), 0);
  net.send_udp(false, kPort, kEach, 100);
  test::PacketSpec spec;
  spec.source = net.peer4();
  spec.destination = net.host4();
  spec.protocol = IPPROTO_UDP;
  spec.source_port = 4000;
  spec.destination_port = kPort;
  spec.payload_length = 86;  // a 128-byte frame, as compare_capture.sh sends
  const std::vector<std::vector<uint8_t>> frames(kEach, test::build_packet(spec));
  ASSERT_TRUE(net.inject(frames));

  ASSERT_EQ(harness.stop(), 0) << harness.output();
  const std::string output = harness.output();
  const test::PcapContents contents = test::read_pcap(file);
  int egress = 0, ingress = 0;
  for (const auto& r : contents.records) {
    const PacketInfo info = decode_packet(r.data, LinkType::kEthernet);
    if (info.ip_version != 4 || info.protocol != IPPROTO_UDP || info.destination_port != kPort) {
      continue;
    }
    if (info.source == ipv4(net.host4())) ++egress;
    if (info.source == ipv4(net.peer4())) ++ingress;
  }
  EXPECT_EQ(egress, kEach) << output;
  EXPECT_EQ(ingress, kEach) << output;
  // Its summary counts what is in the file, and nothing was lost.
  EXPECT_EQ(field(output, "captured"), static_cast<long long>(contents.records.size())) << output;
  EXPECT_EQ(field(output, "lost_kernel"), 0) << output;
  EXPECT_EQ(field(output, "lost_queue"), 0) << output;
}

INSTANTIATE_TEST_SUITE_P(Transports, DatapathBenchCapture, ::testing::Values("perf", "ring"),
                         [](const auto& param_info) { return std::string(param_info.param); });

// One paced round of the rate mode (no interface: the harness drives the program itself).
TEST(DatapathBenchRate, EveryDrivenPacketIsCapturedOrCountedLost) {
  RECORDER_REQUIRE_ROOT();
  test::TempDir dir("prt_bench");
  for (const char* transport : {"perf", "ring"}) {
    SCOPED_TRACE(transport);
    const std::string output = sh_output(std::string(DATAPATH_BENCH_PATH) + " rate " + transport +
                                         " " + dir.path().string() + " 0.2 0.05 2>&1");
    // The row: transport, target ("0.1 Mpps"), driven, driven Mpps, captured, kernel lost,
    // queue lost, file MB.
    std::smatch m;
    ASSERT_TRUE(
        std::regex_search(output, m,
                          std::regex(std::string(transport) +
                                     R"(\s+\S+ Mpps\s+(\d+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+)")))
        << output;
    const long long driven = std::stoll(m[1].str()), captured = std::stoll(m[2].str());
    const long long lost = std::stoll(m[3].str()) + std::stoll(m[4].str());
    EXPECT_GT(driven, 0) << output;
    EXPECT_GT(captured, 0) << output;
    EXPECT_EQ(captured + lost, driven) << output;
  }
}

// A short latency run: each lone packet is delivered (the harness exits 0 and reports them all
// only when every one arrived); how long it took is the benchmark's figure, not checked here.
TEST(DatapathBenchLatency, EveryQuietPacketArrives) {
  RECORDER_REQUIRE_ROOT();
  for (const char* transport : {"perf", "ring"}) {
    SCOPED_TRACE(transport);
    const std::string output = sh_output(std::string(DATAPATH_BENCH_PATH) + " latency " +
                                         transport + " 3 20 2>&1; echo exit=$?");
    EXPECT_NE(output.find(": 3 quiet packets, latency min "), std::string::npos) << output;
    EXPECT_NE(output.find("exit=0"), std::string::npos) << output;
  }
}

}  // namespace
}  // namespace recorder

static ::testing::Environment* const kNoLeftovers =
    ::testing::AddGlobalTestEnvironment(new recorder::testing::NoLeftoversEnvironment);
