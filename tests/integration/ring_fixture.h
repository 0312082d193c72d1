// ring_fixture.h: helpers for the flight-recorder integration tests (unprivileged replay and
// privileged veth): recorderctl against a Daemon, polling a ring's Get, and the expected
// snapshot of a list of packets (filter_selection.h's select: a time range and filters).
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "filter_selection.h"
#include "pcap_file.h"

namespace recorder::test {

inline void expect_same_packets(const std::vector<PcapRecord>& got,
                                const std::vector<PcapRecord>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].timestamp_ns, want[i].timestamp_ns) << "packet " << i;
    EXPECT_EQ(got[i].data, want[i].data) << "packet " << i;
  }
}

inline std::string seconds_text(uint64_t ns) {
  return fmt::format("{}.{:09}", ns / 1000000000u, ns % 1000000000u);
}

inline CommandResult ctl(Daemon& d, std::vector<std::string> args) {
  std::vector<std::string> argv = {RECORDERCTL_PATH, "--server", d.server()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, d.dir());
}

inline pb::RingInfo get_ring(Daemon& d, const std::string& name) {
  auto stub =
      pb::Rings::NewStub(grpc::CreateChannel(d.server(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext c;
  pb::GetRingRequest request;
  request.set_name(name);
  pb::RingInfo info;
  auto status = stub->Get(&c, request, &info);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return info;
}

// Polls the ring until it has captured `packets` packets (or 30 s pass).
inline pb::RingInfo wait_for_ring_packets(Daemon& d, const std::string& name, uint64_t packets) {
  pb::RingInfo info;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    info = get_ring(d, name);
    if (info.stats().packets_captured() >= packets) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return info;
}

}  // namespace recorder::test
