// L3 devices: a tun device (ARPHRD_NONE, no Ethernet header) gets the L3 program variants.
// Raw IPv4/IPv6 packets written into the tun fd arrive on the device's ingress; the Datapath
// must hand them over unchanged with link type RAW.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "datapath/datapath.h"
#include "dispatch/filter.h"
#include "packet_builder.h"
#include "privileged.h"

namespace recorder {
namespace {

class CollectingConsumer final : public PacketConsumer {
 public:
  void on_packet(const CapturedPacket& p) noexcept override {
    // Test code: the lock and the copy are fine here.
    std::lock_guard lock(mutex_);
    packets_.push_back(
        {p.link_type, p.direction, std::vector<uint8_t>(p.data.begin(), p.data.end())});
  }
  void on_batch_end() noexcept override {}
  struct Seen {
    LinkType link_type;
    Direction direction;
    std::vector<uint8_t> bytes;
  };
  std::vector<Seen> packets() {
    std::lock_guard lock(mutex_);
    return packets_;
  }

 private:
  std::mutex mutex_;
  std::vector<Seen> packets_;
};

TEST(TunDevice, L3ProgramsCaptureRawIp) {
  RECORDER_REQUIRE_ROOT();
  const std::string name = testing::unique_name("t");
  const int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << "open /dev/net/tun";
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ASSERT_EQ(ioctl(fd, TUNSETIFF, &ifr), 0);
  struct Cleanup {
    int fd;
    ~Cleanup() { close(fd); }  // a non-persistent tun vanishes with its fd
  } cleanup{fd};
  ASSERT_EQ(testing::sh("ip link set " + name + " up"), 0);

  datapath::Options options;
  options.interfaces = {name};
  options.transport = datapath::Transport::kPerfBuffer;
  auto dp = datapath::Datapath::open(options);
  ASSERT_TRUE(dp.ok()) << dp.error().message();
  ASSERT_EQ((*dp)->attached_interfaces().size(), 1u);
  EXPECT_EQ((*dp)->attached_interfaces()[0].link_type, LinkType::kRaw);
  RuleEntry e;
  e.recording_id = 1;
  e.filter = *parse_filter("any 0 any 4789 UDP");
  RuleEntry e6 = e;
  e6.slot = 1;
  e6.filter = *parse_filter("fd77::/16 0 any 0 ANY");
  ASSERT_TRUE((*dp)->install_rules(std::vector<RuleEntry>{e, e6}, 1).ok());

  CollectingConsumer consumer;
  std::atomic<bool> stop{false};
  Status run_status;
  std::thread reader([&] { run_status = (*dp)->run(consumer, stop); });

  std::vector<std::vector<uint8_t>> sent;
  for (int i = 0; i < 5; ++i) {
    sent.push_back(test::build_packet({.raw_ip = true,
                                       .source = "192.0.2.1",
                                       .destination = "192.0.2.2",
                                       .protocol = IPPROTO_UDP,
                                       .source_port = 1000,
                                       .destination_port = 4789,
                                       .payload_length = static_cast<size_t>(10 + i)}));
  }
  sent.push_back(test::build_packet({.raw_ip = true,
                                     .source = "fd77::1",
                                     .destination = "fd77::2",
                                     .protocol = IPPROTO_UDP,
                                     .payload_length = 20}));
  const auto other = test::build_packet({.raw_ip = true,
                                         .source = "192.0.2.1",
                                         .destination = "192.0.2.2",
                                         .protocol = IPPROTO_UDP,
                                         .destination_port = 53});
  for (const auto& p : sent)
    ASSERT_EQ(write(fd, p.data(), p.size()), static_cast<ssize_t>(p.size()));
  ASSERT_EQ(write(fd, other.data(), other.size()), static_cast<ssize_t>(other.size()));

  for (int i = 0; i < 100 && consumer.packets().size() < sent.size(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  stop = true;
  (*dp)->wake();
  reader.join();
  ASSERT_TRUE(run_status.ok()) << run_status.error().message();
  const auto seen = consumer.packets();
  std::vector<std::vector<uint8_t>> ingress;
  for (const auto& s : seen) {
    EXPECT_EQ(s.link_type, LinkType::kRaw);
    if (s.direction == Direction::kIngress) ingress.push_back(s.bytes);
  }
  EXPECT_EQ(ingress, sent);  // in order, unchanged, and the port-53 packet not captured
}

}  // namespace
}  // namespace recorder
