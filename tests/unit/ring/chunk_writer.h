// ChunkWriter: writes packets into a chunk file with the product's own Sink and WriterPool (as a
// ring does), for the ring area's tests; and the random IPv4/IPv6 traffic they index and query.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dispatch/packet.h"
#include "dispatch/packet_info.h"
#include "packet_builder.h"
#include "ring/chunk_index.h"
#include "sink/sink.h"

namespace recorder::ring::test {

struct TestPacket {
  uint64_t timestamp_ns = 0;
  std::vector<uint8_t> data;
  Direction direction = Direction::kIngress;
};

inline CapturedPacket captured(const TestPacket& p) {
  CapturedPacket c;
  c.timestamp_ns = p.timestamp_ns;
  c.original_length = static_cast<uint32_t>(p.data.size());
  c.direction = p.direction;
  c.ifindex = 1;  // lo: its name survives into a pcapng interface block
  c.data = p.data;
  return c;
}

// Appends `packet`, waiting while the queue is full (the test producer may wait).
inline void append(sink::Sink& sink, const CapturedPacket& packet) {
  for (;;) {
    const auto r = sink.try_append(packet);
    if (r == sink::AppendResult::kAppended) return;
    ASSERT_NE(r, sink::AppendResult::kFailed);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

// Writes `packets` with a Sink; `index`, when given, is fed each packet as a ring's producer
// feeds its chunk's index (the record's placement, the decoded packet).
inline sink::SinkResult write_chunk(sink::WriterPool& pool, const std::filesystem::path& path,
                                    sink::FileFormat format, const std::vector<TestPacket>& packets,
                                    ChunkIndexBuilder* index = nullptr) {
  sink::SinkOptions options;
  options.path = path;
  options.format = format;
  options.queue_bytes = 1u << 20;
  auto sink = sink::Sink::open(pool, options);
  EXPECT_TRUE(sink.ok()) << sink.error().message();
  for (const auto& p : packets) {
    const CapturedPacket c = captured(p);
    append(**sink, c);
    if (index != nullptr) {
      const sink::RecordPlacement at = (*sink)->last_placement();
      if (at.interface_block != sink::RecordPlacement::kNone) {
        index->note_interface_block(at.interface_block);
      }
      index->add(at.offset, c.timestamp_ns, decode_packet(c.data, c.link_type));
    }
  }
  auto result = (*sink)->close(0);
  EXPECT_TRUE(result.ok());
  return *result;
}

// Random traffic among a few hosts of both families, ports and protocols, in time order.
inline std::vector<TestPacket> random_traffic(std::mt19937& rng, size_t count, uint64_t start_ns) {
  static const char* v4[] = {"10.0.0.1", "10.0.0.2", "10.0.1.7", "192.168.5.9"};
  static const char* v6[] = {"fd00::1", "fd00::2", "fd00:1::9"};
  static const uint8_t protocols[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP};
  static const uint16_t ports[] = {53, 80, 443, 1000, 2000};
  std::vector<TestPacket> out;
  uint64_t t = start_ns;
  for (size_t i = 0; i < count; ++i) {
    t += 1 + rng() % 2000000;
    ::recorder::test::PacketSpec spec;
    const bool six = rng() % 3 == 0;
    if (six) {
      spec.source = v6[rng() % 3];
      spec.destination = v6[rng() % 3];
    } else {
      spec.source = v4[rng() % 4];
      spec.destination = v4[rng() % 4];
    }
    spec.protocol = protocols[rng() % 4];
    if (six && spec.protocol == IPPROTO_ICMP) spec.protocol = IPPROTO_ICMPV6;
    spec.source_port = ports[rng() % 5];
    spec.destination_port = ports[rng() % 5];
    spec.payload_length = rng() % 200;
    TestPacket p;
    p.timestamp_ns = t;
    p.data = ::recorder::test::build_packet(spec);
    p.direction = rng() % 2 ? Direction::kIngress : Direction::kEgress;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace recorder::ring::test
