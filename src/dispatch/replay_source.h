// ReplaySource: a PacketSource that replays a pcap or pcapng file through libpcap, for tests,
// benchmarks and offline runs of the daemon (`recorderd --replay`).
//
// The file is opened with nanosecond timestamp precision. Ethernet files give LinkType::kEthernet
// packets; raw-IP files (LINKTYPE_RAW, DLT_IPV4, DLT_IPV6) give LinkType::kRaw; any other link
// type is refused at open(). The source owns its pcap handle; packets are borrowed from libpcap's
// buffer for the duration of on_packet() only, as the PacketConsumer contract says.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "common/result.h"
#include "dispatch/source.h"

namespace recorder {

struct ReplayOptions {
  std::filesystem::path path;
  bool loop = false;              // start again at the end of the file until stopped
  double packets_per_second = 0;  // 0: as fast as the consumer takes them
  bool retime = false;            // stamp packets with the current time, not the file's
  uint32_t ifindex = 0;           // reported in CapturedPacket::ifindex
  Direction direction = Direction::kUnknown;
  unsigned batch_packets = 64;  // on_batch_end() after this many packets (and when idle)
};

class ReplaySource final : public PacketSource {
 public:
  // Opens the file and checks its link type. INVALID_ARGUMENT for an unsupported link type,
  // NOT_FOUND / INVALID_ARGUMENT (with libpcap's reason) when the file cannot be read.
  static Result<std::unique_ptr<ReplaySource>> open(ReplayOptions options);
  ~ReplaySource() override;

  std::string describe() const override;
  // Replays until the end of the file (or, with loop, until `stop`). OK at the end of the file;
  // an error when libpcap fails to read a record.
  Status run(PacketConsumer& consumer, const std::atomic<bool>& stop) override;

  LinkType link_type() const { return link_type_; }
  uint64_t packets_replayed() const { return packets_replayed_.load(std::memory_order_relaxed); }

 private:
  struct Handle;
  ReplaySource(ReplayOptions options, std::unique_ptr<Handle> handle, LinkType link_type);

  ReplayOptions options_;
  std::unique_ptr<Handle> handle_;
  LinkType link_type_;
  std::atomic<uint64_t> packets_replayed_{0};
};

}  // namespace recorder
