// PacketSource and PacketConsumer: the seam between whatever produces packets (the eBPF
// datapath, a pcap replay file, a test) and dispatch.
//
// A source runs on one thread and calls its consumer from that thread only, so the consumer's
// hot path is single-threaded (each sink queue has exactly one producer).
#pragma once

#include <atomic>
#include <string>

#include "common/result.h"
#include "dispatch/packet.h"

namespace recorder {

class PacketConsumer {
 public:
  virtual ~PacketConsumer() = default;
  // The hot path: must not block, lock, allocate or throw.
  virtual void on_packet(const CapturedPacket& packet) noexcept = 0;
  // Called after each batch of packets; a batch lasts at most 100 ms, and a source ends it
  // before it waits for more. Between two calls the consumer may keep using the routing table it
  // loaded; at this call it lets go of it (the quiescent point that makes table swaps safe
  // without locks).
  virtual void on_batch_end() noexcept = 0;
};

class PacketSource {
 public:
  virtual ~PacketSource() = default;
  // A short description for logs and status: "replay of /tmp/x.pcap", "eBPF tc on veth0,veth1".
  virtual std::string describe() const = 0;
  // Feeds packets to `consumer` until `stop` becomes true or the input ends. Blocks. A source
  // may sleep until it has packets: set `stop`, then call wake().
  virtual Status run(PacketConsumer& consumer, const std::atomic<bool>& stop) = 0;
  // Makes a sleeping run() look at `stop` now. Any thread.
  virtual void wake() noexcept {}
};

}  // namespace recorder
