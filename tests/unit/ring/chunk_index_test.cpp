// The chunk index against a full scan: for random traffic written by the product's sink (pcap
// and pcapng) and random filters and time ranges, the packets a snapshot selects through the
// index (candidates, then matches()) are exactly those matches() selects over every packet.
#include "ring/chunk_index.h"

#include <gtest/gtest.h>

#include <fcntl.h>

#include <random>

#include "chunk_writer.h"
#include "dispatch/packet_info.h"
#include "ring/snapshot.h"
#include "temp_dir.h"

namespace recorder::ring {
namespace {
using test::TestPacket;

Filter random_filter(std::mt19937& rng) {
  static const char* cidrs[] = {
      "",        "",          "10.0.0.1",  "10.0.0.0/24", "10.0.0.0/8", "192.168.5.9",
      "fd00::1", "fd00::/64", "fd00::/16", "0.0.0.0/0"};
  static const char* cidrs6[] = {"", "fd00::2", "fd00:1::/32", "::/0"};
  static const char* protocols[] = {"ANY", "ANY", "TCP", "UDP", "SCTP", "ICMP", "ICMPv6"};
  static const char* ports[] = {"0", "0", "0", "53", "80", "443", "1000", "2000", "9"};
  std::string source = cidrs[rng() % 10];
  std::string destination;
  if (source.find(':') != std::string::npos) {
    destination = cidrs6[rng() % 4];
  } else if (!source.empty()) {
    destination = rng() % 2 ? "" : "10.0.0.2";
  } else {
    destination = cidrs[rng() % 10];
  }
  auto text = [](const std::string& c) { return c.empty() ? std::string("any") : c; };
  const std::string line = text(source) + " " + ports[rng() % 9] + " " + text(destination) + " " +
                           ports[rng() % 9] + " " + protocols[rng() % 7];
  auto f = parse_filter(line);
  EXPECT_TRUE(f.ok()) << line << ": " << (f.ok() ? "" : f.error().message());
  return f.ok() ? *f : Filter{};
}

// Ordinals of the packets that match, by the definition (every packet checked).
std::vector<size_t> full_scan(const std::vector<TestPacket>& packets, const IndexQuery& q) {
  std::vector<size_t> out;
  for (size_t i = 0; i < packets.size(); ++i) {
    const auto& p = packets[i];
    if (p.timestamp_ns < q.from_ns || p.timestamp_ns > q.to_ns) continue;
    const PacketInfo info = decode_packet(p.data, LinkType::kEthernet);
    bool any = q.filters.empty();
    for (const auto& f : q.filters) any = any || matches(f, info);
    if (any) out.push_back(i);
  }
  return out;
}

class ChunkIndexTest : public ::testing::TestWithParam<sink::FileFormat> {};

TEST_P(ChunkIndexTest, AgreesWithAFullScanOnRandomFiltersAndRanges) {
  ::recorder::test::TempDir dir("ringidx");
  auto pool = sink::WriterPool::create({});
  ASSERT_TRUE(pool.ok());
  std::mt19937 rng(12345);
  const auto packets = test::random_traffic(rng, 3000, 1700000000000000000ull);
  const std::string name = GetParam() == sink::FileFormat::kPcap ? "c.pcap" : "c.pcapng";
  // A builder that indexed another chunk first, as a ring reuses a closed chunk's tables.
  ChunkIndexBuilder written;
  written.reserve(packets.size());
  for (size_t i = 0; i < 500; ++i) {
    written.add(i * 100, i, decode_packet(packets[i * 3].data, LinkType::kEthernet));
  }
  written.note_interface_block(24);
  written.clear();
  written.reserve(packets.size());
  test::write_chunk(**pool, dir / name, GetParam(), packets, &written);
  auto storage = storage::Directory::open(dir.path());
  ASSERT_TRUE(storage.ok());

  // The index a ring builds as it writes the chunk is the one a full read of the chunk builds,
  // byte for byte, and within the size it promised while writing.
  {
    auto fd = storage->open_file(name, O_RDONLY);
    ASSERT_TRUE(fd.ok());
    auto from_writes = written.finish(GetParam(), std::move(*fd));
    ASSERT_TRUE(from_writes.ok()) << from_writes.error().message();
    ASSERT_TRUE(from_writes->write(*storage, "w.idx").ok());
    auto read_fd = storage->open_file(name, O_RDONLY);
    ASSERT_TRUE(read_fd.ok());
    auto read_reader = ChunkReader::open(std::move(*read_fd));
    ASSERT_TRUE(read_reader.ok());
    auto from_read = ChunkIndex::build(*read_reader);
    ASSERT_TRUE(from_read.ok());
    ASSERT_TRUE(from_read->write(*storage, "r.idx").ok());
    EXPECT_EQ(::recorder::test::read_file(dir / "w.idx"),
              ::recorder::test::read_file(dir / "r.idx"));
    EXPECT_LE(from_writes->size_bytes(), written.size_bound());
    EXPECT_EQ(from_writes->interfaces().size(), GetParam() == sink::FileFormat::kPcap ? 0u : 1u);
  }

  auto fd = storage->open_file(name, O_RDONLY);
  ASSERT_TRUE(fd.ok());
  auto reader = ChunkReader::open(std::move(*fd));
  ASSERT_TRUE(reader.ok()) << reader.error().message();
  auto built = ChunkIndex::build(*reader);
  ASSERT_TRUE(built.ok()) << built.error().message();
  ASSERT_EQ(built->packets(), packets.size());
  EXPECT_EQ(built->first_ns(), packets.front().timestamp_ns);
  EXPECT_EQ(built->last_ns(), packets.back().timestamp_ns);
  ASSERT_TRUE(built->write(*storage, "c.idx").ok());
  auto loaded = ChunkIndex::load(*storage, "c.idx");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  auto index = std::make_shared<const ChunkIndex>(std::move(*loaded));

  const uint64_t first = packets.front().timestamp_ns, last = packets.back().timestamp_ns;
  size_t narrow = 0;
  for (int round = 0; round < 300; ++round) {
    std::vector<Filter> filters;
    const int n = static_cast<int>(rng() % 4);  // 0: every packet of the range
    for (int i = 0; i < n; ++i) filters.push_back(random_filter(rng));
    IndexQuery q;
    q.from_ns = rng() % 4 == 0 ? 0 : first + rng() % (last - first);
    q.to_ns = rng() % 4 == 0 ? UINT64_MAX : q.from_ns + rng() % (last - first);
    q.filters = filters;
    const auto expected = full_scan(packets, q);

    std::vector<SnapshotChunk> chunks;
    auto chunk_fd = storage->open_file(name, O_RDONLY);
    ASSERT_TRUE(chunk_fd.ok());
    chunks.push_back({1, std::move(*chunk_fd), 0, index});
    std::vector<uint64_t> got;  // timestamps are unique: they name the packets
    SnapshotCounts counts;
    auto s = select_packets(
        std::move(chunks), q,
        [&](const CapturedPacket& p) {
          got.push_back(p.timestamp_ns);
          return ok_status();
        },
        &counts);
    ASSERT_TRUE(s.ok()) << s.error().message();
    ASSERT_EQ(got.size(), expected.size()) << "round " << round;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], packets[expected[i]].timestamp_ns) << "round " << round;
    }
    // The index keeps the reading close to what is selected for a filter on an address.
    if (filters.size() == 1 && filters[0].source.family != AddressFamily::kAny &&
        filters[0].source.prefix_length ==
            (filters[0].source.family == AddressFamily::kIPv4 ? 32 : 128)) {
      EXPECT_LT(counts.packets_examined, packets.size() / 2) << to_string(filters[0]);
      ++narrow;
    }
  }
  EXPECT_GT(narrow, 0u);
}

TEST_P(ChunkIndexTest, SnapshotPacketsAreTheChunksBytesAndMetadata) {
  ::recorder::test::TempDir dir("ringidx");
  auto pool = sink::WriterPool::create({});
  ASSERT_TRUE(pool.ok());
  std::mt19937 rng(7);
  const auto packets = test::random_traffic(rng, 200, 1700000000000000000ull);
  test::write_chunk(**pool, dir / "c", GetParam(), packets);
  auto storage = storage::Directory::open(dir.path());
  auto fd = storage->open_file("c", O_RDONLY);
  ASSERT_TRUE(fd.ok());
  std::vector<SnapshotChunk> chunks;
  chunks.push_back({1, std::move(*fd), 0, nullptr});  // no index: read through
  size_t i = 0;
  auto s = select_packets(std::move(chunks), IndexQuery{}, [&](const CapturedPacket& p) {
    EXPECT_EQ(p.timestamp_ns, packets[i].timestamp_ns);
    EXPECT_EQ(std::vector<uint8_t>(p.data.begin(), p.data.end()), packets[i].data);
    EXPECT_EQ(p.original_length, packets[i].data.size());
    if (GetParam() == sink::FileFormat::kPcapng) {
      EXPECT_EQ(p.direction, packets[i].direction);
      EXPECT_EQ(p.ifindex, 1u);  // "lo" again
    }
    ++i;
    return ok_status();
  });
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(i, packets.size());
}

TEST(ChunkIndex, LoadRefusesWhatIsNotAnIndex) {
  ::recorder::test::TempDir dir("ringidx");
  auto storage = storage::Directory::open(dir.path());
  ASSERT_TRUE(storage.ok());
  {
    auto fd = storage->create_file("bad.idx", O_WRONLY);
    ASSERT_TRUE(fd.ok());
    const std::string junk(100, 'x');
    ASSERT_EQ(::write(fd->get(), junk.data(), junk.size()), 100);
  }
  auto loaded = ChunkIndex::load(*storage, "bad.idx");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code(), ErrorCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Formats, ChunkIndexTest,
                         ::testing::Values(sink::FileFormat::kPcap, sink::FileFormat::kPcapng),
                         [](const auto& param) {
                           return param.param == sink::FileFormat::kPcap ? "pcap" : "pcapng";
                         });

}  // namespace
}  // namespace recorder::ring
