// Helpers for tests that drive a RecordingManager: the test thread plays the packet source
// (on_packet + on_batch_end), as the replay source or the datapath would.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <chrono>
#include <string>
#include <thread>

#include "packet_builder.h"
#include "service/recording_manager.h"

namespace recorder::service::test {

// A start request for one filter in Hubble's text form.
inline StartSpec spec_for(const std::string& filter_text, uint64_t packet_limit = 0) {
  StartSpec spec;
  auto filter = parse_filter(filter_text);
  EXPECT_TRUE(filter.ok()) << filter.error().message();
  spec.recording.include.push_back(*filter);
  spec.recording.snap_length = 262144;
  spec.recording.stop.packets = packet_limit;
  spec.file_prefix = "test";
  return spec;
}

// Feeds `count` UDP packets 10.0.0.1:1000 -> 10.0.0.2:`port` of `payload` bytes.
inline void feed(RecordingManager& m, int count, uint16_t port = 53, uint16_t payload = 100) {
  auto bytes = recorder::test::build_packet({.source = "10.0.0.1",
                                             .destination = "10.0.0.2",
                                             .protocol = IPPROTO_UDP,
                                             .source_port = 1000,
                                             .destination_port = port,
                                             .payload_length = payload});
  for (int i = 0; i < count; ++i) {
    CapturedPacket p;
    p.timestamp_ns = 1700000000000000000ull + static_cast<uint64_t>(i) * 1000;
    p.original_length = static_cast<uint32_t>(bytes.size());
    p.data = bytes;
    m.consumer().on_packet(p);
  }
  m.consumer().on_batch_end();
}

// Waits (up to 5 s) until the recording has stopped; its final state.
inline RecordingInfo wait_stopped(RecordingManager& m, uint64_t id) {
  for (int i = 0; i < 500; ++i) {
    auto info = m.get(id);
    if (info.ok() && info->state == RecordingState::kStopped) return *info;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "recording " << id << " did not stop";
  return {};
}

}  // namespace recorder::service::test
