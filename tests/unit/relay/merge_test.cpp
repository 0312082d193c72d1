// The k-way merge of the nodes' pcapng files (relay/merge.h) and the pcapng reader under it:
// node files are written by the daemons' own encoder (sink::EncodingQueue, pcapng), merged, and
// read back with libpcap and with PcapngReader: time order (ties stable by node), one interface
// per node and interface named "<node>/<if_name>", blocks kept byte for byte, pcap output only
// for one link type, each node's drop counts kept, a classic pcap node file (a pcap ring's
// snapshot) as one unnamed interface, a missing or torn node file named without failing the
// merge.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>

#include "pcap_file.h"
#include "relay/merge.h"
#include "relay/pcapng_reader.h"
#include "sink/encoding_queue.h"
#include "sink_test_util.h"
#include "temp_dir.h"

namespace recorder::relay {
namespace {
namespace fs = std::filesystem;
using sink::AppendResult;
using sink::EncodingQueue;
using sink::FileFormat;
using sink::test::packet_of;

constexpr uint64_t kT0 = 1700000000000000000ull;

struct Sent {
  uint64_t ts_ns;
  uint32_t ifindex;  // 1 is "lo"; no device has 999999: the encoder names it "if999999"
  uint8_t tag;       // first byte of the data: which packet it is
  LinkType link = LinkType::kEthernet;
};

// A node's file as recorderd writes it (pcapng, IDBs inline, ISBs at the end).
void write_node_file(const fs::path& path, const std::vector<Sent>& packets, uint64_t dropped = 0,
                     FileFormat format = FileFormat::kPcapng) {
  EncodingQueue q(format, 65535, 1u << 20);
  ASSERT_TRUE(q.push_file_header());
  std::vector<std::vector<uint8_t>> data;
  for (const auto& p : packets) data.push_back(std::vector<uint8_t>(60, p.tag));
  for (size_t i = 0; i < packets.size(); ++i) {
    ASSERT_EQ(q.try_append(packet_of(data[i], packets[i].ts_ns, packets[i].ifindex,
                                     Direction::kIngress, packets[i].link)),
              AppendResult::kAppended);
  }
  std::vector<uint8_t> bytes(q.read_available());
  ASSERT_EQ(q.pop(bytes.data(), bytes.size()), bytes.size());
  const auto trailer = q.trailer(dropped, kT0, kT0 + 1000);
  bytes.insert(bytes.end(), trailer.begin(), trailer.end());
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

struct Merged {
  std::vector<std::string> interfaces;                   // names, by id
  std::vector<std::pair<std::string, uint8_t>> packets;  // interface name, tag; in file order
  std::vector<uint64_t> timestamps;
};

Merged read_merged(const fs::path& path) {
  Merged m;
  auto reader = PcapngReader::open(path);
  EXPECT_TRUE(reader) << reader.error().message();
  if (!reader) return m;
  PcapngPacket p;
  for (;;) {
    auto got = (*reader)->next(p);
    EXPECT_TRUE(got) << got.error().message();
    if (!got || !*got) break;
    m.packets.emplace_back((*reader)->interfaces()[p.interface_id].name, p.data[0]);
    m.timestamps.push_back(p.timestamp_ns);
  }
  for (const auto& itf : (*reader)->interfaces()) m.interfaces.push_back(itf.name);
  return m;
}

TEST(Merge, TimeOrderOneInterfacePerNodeAndInterfaceTiesStableByNode) {
  recorder::test::TempDir dir;
  write_node_file(dir / "a.pcapng",
                  {{kT0 + 10, 1, 1}, {kT0 + 20, 999999, 2}, {kT0 + 30, 1, 3}, {kT0 + 50, 1, 4}});
  write_node_file(dir / "b.pcapng", {{kT0 + 5, 1, 11}, {kT0 + 30, 1, 12}, {kT0 + 60, 1, 13}});
  write_node_file(dir / "c.pcapng", {});  // recorded nothing
  const std::vector<MergeInput> inputs = {{"node-a", "10.0.0.1:4245", dir / "a.pcapng"},
                                          {"node-b", "10.0.0.2:4245", dir / "b.pcapng"},
                                          {"node-c", "10.0.0.3:4245", dir / "c.pcapng"}};
  auto result = merge_captures(inputs, dir / "out.pcapng", FileFormat::kPcapng, "a comment");
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->packets, 7u);
  EXPECT_EQ(result->bytes_captured, 7u * 60u);
  ASSERT_EQ(result->inputs.size(), 3u);
  EXPECT_EQ(result->inputs[0].packets, 4u);
  EXPECT_EQ(result->inputs[1].packets, 3u);
  EXPECT_EQ(result->inputs[2].packets, 0u);
  for (const auto& r : result->inputs) EXPECT_EQ(r.error, "");

  const Merged m = read_merged(dir / "out.pcapng");
  EXPECT_EQ(m.interfaces, (std::vector<std::string>{"node-a/lo", "node-a/if999999", "node-b/lo"}));
  const std::vector<std::pair<std::string, uint8_t>> expected = {
      {"node-b/lo", 11}, {"node-a/lo", 1},  {"node-a/if999999", 2},
      {"node-a/lo", 3},  {"node-b/lo", 12},  // same time as node-a's 3: node order
      {"node-a/lo", 4},  {"node-b/lo", 13}};
  EXPECT_EQ(m.packets, expected);
  EXPECT_EQ(m.timestamps, (std::vector<uint64_t>{kT0 + 5, kT0 + 10, kT0 + 20, kT0 + 30, kT0 + 30,
                                                 kT0 + 50, kT0 + 60}));

  // libpcap reads it too: every packet, nanosecond timestamps.
  const auto read = test::read_pcap((dir / "out.pcapng").string()).records;
  ASSERT_EQ(read.size(), 7u);
  EXPECT_EQ(read.front().timestamp_ns, kT0 + 5);
  EXPECT_EQ(read.back().timestamp_ns, kT0 + 60);
}

// isb_ifdrop (option 5) of an interface statistics block; -1 when absent.
int64_t isb_ifdrop(const std::vector<uint8_t>& isb) {
  size_t off = 20;
  while (off + 4 <= isb.size() - 4) {
    uint16_t code, len;
    std::memcpy(&code, isb.data() + off, 2);
    std::memcpy(&len, isb.data() + off + 2, 2);
    if (code == 0) break;
    if (code == 5 && len == 8) {
      uint64_t v;
      std::memcpy(&v, isb.data() + off + 4, 8);
      return static_cast<int64_t>(v);
    }
    off += 4 + ((len + 3u) & ~3u);
  }
  return -1;
}

TEST(Merge, EachNodesDropCountsStayOnItsInterfaces) {
  recorder::test::TempDir dir;
  write_node_file(dir / "a.pcapng", {{kT0 + 1, 1, 1}, {kT0 + 2, 999999, 2}}, 7);
  write_node_file(dir / "b.pcapng", {{kT0 + 3, 1, 3}}, 2);
  auto result = merge_captures({{"a", "x", dir / "a.pcapng"}, {"b", "y", dir / "b.pcapng"}},
                               dir / "out.pcapng", FileFormat::kPcapng, "");
  ASSERT_TRUE(result) << result.error().message();
  auto reader = PcapngReader::open(dir / "out.pcapng");
  ASSERT_TRUE(reader);
  PcapngPacket p;
  for (auto got = (*reader)->next(p); got && *got; got = (*reader)->next(p)) {
  }
  const auto& isbs = (*reader)->statistics();
  ASSERT_EQ(isbs.size(), 3u);  // one per interface: a/lo, a/if999999, b/lo
  std::map<std::string, int64_t> drops;
  for (const auto& isb : isbs) {
    uint32_t id;
    std::memcpy(&id, isb.data() + 8, sizeof(id));
    ASSERT_LT(id, (*reader)->interfaces().size());
    drops[(*reader)->interfaces()[id].name] = isb_ifdrop(isb);
  }
  // The daemon puts a recording's whole drop count on its first interface.
  EXPECT_EQ(drops, (std::map<std::string, int64_t>{{"a/lo", 7}, {"a/if999999", 0}, {"b/lo", 2}}));
}

TEST(Merge, PacketBlocksKeepTheirBytesOnlyTheInterfaceIdChanges) {
  recorder::test::TempDir dir;
  write_node_file(dir / "a.pcapng", {{kT0 + 1, 1, 1}});
  write_node_file(dir / "b.pcapng", {{kT0 + 2, 1, 2}});
  auto result = merge_captures({{"a", "x", dir / "a.pcapng"}, {"b", "y", dir / "b.pcapng"}},
                               dir / "out.pcapng", FileFormat::kPcapng, "");
  ASSERT_TRUE(result) << result.error().message();
  auto in = PcapngReader::open(dir / "b.pcapng");
  auto out = PcapngReader::open(dir / "out.pcapng");
  ASSERT_TRUE(in && out);
  PcapngPacket pi, po;
  auto got = (*in)->next(pi);
  ASSERT_TRUE(got && *got);
  for (int i = 0; i < 2; ++i) {  // b's packet is the second
    got = (*out)->next(po);
    ASSERT_TRUE(got && *got);
  }
  ASSERT_EQ(pi.block.size(), po.block.size());
  EXPECT_EQ(po.interface_id, 1u);
  EXPECT_TRUE(std::equal(pi.block.begin(), pi.block.begin() + 8, po.block.begin()));
  EXPECT_TRUE(std::equal(pi.block.begin() + 12, pi.block.end(), po.block.begin() + 12));
}

TEST(Merge, PcapOutputForOneLinkTypeAndAClearErrorForSeveral) {
  recorder::test::TempDir dir;
  write_node_file(dir / "a.pcapng", {{kT0 + 3, 1, 1}, {kT0 + 9, 1, 2}});
  write_node_file(dir / "b.pcapng", {{kT0 + 4, 1, 3}});
  auto result = merge_captures({{"a", "x", dir / "a.pcapng"}, {"b", "y", dir / "b.pcapng"}},
                               dir / "out.pcap", FileFormat::kPcap, "");
  ASSERT_TRUE(result) << result.error().message();
  const auto file = test::read_pcap((dir / "out.pcap").string());
  EXPECT_EQ(file.link_type, 1);  // Ethernet
  const auto& read = file.records;
  ASSERT_EQ(read.size(), 3u);
  EXPECT_EQ(read[0].data[0], 1);
  EXPECT_EQ(read[1].data[0], 3);
  EXPECT_EQ(read[2].data[0], 2);
  EXPECT_EQ(read[1].timestamp_ns, kT0 + 4);

  write_node_file(dir / "raw.pcapng", {{kT0 + 5, 999999, 4, LinkType::kRaw}});
  auto mixed = merge_captures({{"a", "x", dir / "a.pcapng"}, {"t", "z", dir / "raw.pcapng"}},
                              dir / "mixed.pcap", FileFormat::kPcap, "");
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(mixed.error().message().find("a/lo"), std::string::npos) << mixed.error().message();
  EXPECT_NE(mixed.error().message().find("t/if999999"), std::string::npos)
      << mixed.error().message();
  EXPECT_NE(mixed.error().message().find("pcapng"), std::string::npos);
}

// A ring's snapshot is pcap when the ring is: such a node file is one interface without a name
// ("<node>/if0"), its packets merged in time order with their bytes and nanosecond timestamps.
TEST(Merge, ClassicPcapNodeFileIsOneUnnamedInterface) {
  recorder::test::TempDir dir;
  write_node_file(dir / "a.pcapng", {{kT0 + 10, 1, 1}, {kT0 + 30, 1, 3}});
  write_node_file(dir / "b.pcap", {{kT0 + 20, 1, 2}, {kT0 + 40, 1, 4}}, 0, FileFormat::kPcap);
  auto result = merge_captures({{"a", "x", dir / "a.pcapng"}, {"b", "y", dir / "b.pcap"}},
                               dir / "out.pcapng", FileFormat::kPcapng, "");
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->inputs[1].error, "");
  EXPECT_EQ(result->inputs[1].packets, 2u);
  const Merged m = read_merged(dir / "out.pcapng");
  EXPECT_EQ(m.interfaces, (std::vector<std::string>{"a/lo", "b/if0"}));
  ASSERT_EQ(m.packets.size(), 4u);
  for (uint8_t k = 0; k < 4; ++k) {
    EXPECT_EQ(m.packets[k].second, k + 1);
    EXPECT_EQ(m.timestamps[k], kT0 + 10 * (k + 1u));
    EXPECT_EQ(m.packets[k].first, k % 2 == 0 ? "a/lo" : "b/if0");
  }
  const auto read = test::read_pcap((dir / "out.pcapng").string()).records;
  ASSERT_EQ(read.size(), 4u);
  EXPECT_EQ(read[1].data, std::vector<uint8_t>(60, 2));
}

TEST(Merge, MissingOrTornNodeFileIsNamedAndTheOthersAreMerged) {
  recorder::test::TempDir dir;
  write_node_file(dir / "a.pcapng", {{kT0 + 1, 1, 1}, {kT0 + 2, 1, 2}, {kT0 + 3, 1, 3}});
  write_node_file(dir / "b.pcapng", {{kT0 + 4, 1, 4}});
  // a's file cut inside its last block (an ISB of the trailer): its packets before the cut stay.
  fs::resize_file(dir / "a.pcapng", fs::file_size(dir / "a.pcapng") - 30);
  auto result = merge_captures({{"a", "x", dir / "a.pcapng"},
                                {"b", "y", dir / "b.pcapng"},
                                {"gone", "z", dir / "missing.pcapng"}},
                               dir / "out.pcapng", FileFormat::kPcapng, "");
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->inputs[0].packets, 3u);
  EXPECT_NE(result->inputs[0].error.find("truncated"), std::string::npos)
      << result->inputs[0].error;
  EXPECT_EQ(result->inputs[1].packets, 1u);
  EXPECT_EQ(result->inputs[1].error, "");
  EXPECT_EQ(result->inputs[2].packets, 0u);
  EXPECT_NE(result->inputs[2].error.find("missing.pcapng"), std::string::npos);
  EXPECT_EQ(read_merged(dir / "out.pcapng").packets.size(), 4u);
}

}  // namespace
}  // namespace recorder::relay
