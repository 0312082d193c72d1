// Sink and WriterPool through real files: io_uring and the pwrite fallback, O_DIRECT and
// buffered, read back with libpcap, tshark and capinfos.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sink/encoded_record.h"
#include "sink/sink.h"
#include "sink_test_util.h"

namespace recorder::sink {
namespace {

using test::make_frame;
using test::packet_of;
using test::TempDir;

std::unique_ptr<WriterPool> make_pool(bool io_uring, bool direct = true, unsigned threads = 1,
                                      size_t total = 1u << 30) {
  WriterPool::Options o;
  o.use_io_uring = io_uring;
  o.direct_io = direct;
  o.threads = threads;
  o.total_queue_bytes = total;
  auto pool = WriterPool::create(o);
  EXPECT_TRUE(pool.ok()) << pool.error().message();
  return std::move(*pool);
}

std::unique_ptr<Sink> open_sink(WriterPool& pool, const std::filesystem::path& path,
                                FileFormat format, size_t queue_bytes = 16u << 20,
                                uint32_t snap = 262144) {
  SinkOptions o;
  o.path = path;
  o.format = format;
  o.queue_bytes = queue_bytes;
  o.snap_length = snap;
  auto sink = Sink::open(pool, o);
  EXPECT_TRUE(sink.ok()) << sink.error().message();
  return sink.ok() ? std::move(*sink) : nullptr;
}

// Appends, waiting while the queue is full (the tests want every packet in the file).
AppendResult append_blocking(Sink& sink, const CapturedPacket& p) {
  for (;;) {
    const AppendResult r = sink.try_append(p);
    if (r != AppendResult::kQueueFull) return r;
    std::this_thread::yield();
  }
}

// A mix of sizes (0 .. 1600 bytes, so records straddle buffer and block boundaries).
struct Workload {
  std::vector<std::vector<uint8_t>> frames;
  std::vector<uint64_t> ts;
  explicit Workload(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      frames.push_back(make_frame((i * 7919) % 1601, static_cast<uint32_t>(i)));
      ts.push_back(1700000000000000000ull + i * 1000003ull);
    }
  }
  uint64_t bytes() const {
    uint64_t b = 0;
    for (auto& f : frames) b += f.size();
    return b;
  }
};

SinkResult record(WriterPool& pool, const std::filesystem::path& path, FileFormat format,
                  const Workload& w, uint64_t dropped = 0) {
  auto sink = open_sink(pool, path, format);
  EXPECT_NE(sink, nullptr);
  if (!sink) return {};
  for (size_t i = 0; i < w.frames.size(); ++i) {
    EXPECT_EQ(append_blocking(*sink, packet_of(w.frames[i], w.ts[i], 1, Direction::kIngress,
                                               LinkType::kEthernet,
                                               static_cast<uint32_t>(w.frames[i].size() + 3))),
              AppendResult::kAppended);
  }
  auto r = sink->close(dropped);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? *r : SinkResult{};
}

void expect_same_packets(const std::filesystem::path& path, const Workload& w) {
  const auto got = test::read_pcap(path).records;
  ASSERT_EQ(got.size(), w.frames.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].timestamp_ns, w.ts[i]) << "packet " << i;
    ASSERT_EQ(got[i].original_length, w.frames[i].size() + 3) << "packet " << i;
    ASSERT_EQ(got[i].data, w.frames[i]) << "packet " << i;
  }
}

class SinkBackendTest : public ::testing::TestWithParam<bool> {};

TEST_P(SinkBackendTest, PcapRoundTripThroughLibpcapTsharkCapinfos) {
  TempDir dir;
  auto pool = make_pool(GetParam());
  EXPECT_EQ(pool->backend().rfind(GetParam() ? "io_uring" : "pwrite (", 0), 0u) << pool->backend();
  Workload w(3000);
  const auto path = dir / "a.pcap";
  const auto r = record(*pool, path, FileFormat::kPcap, w);
  EXPECT_EQ(r.path, std::filesystem::absolute(path));
  EXPECT_EQ(r.packets_written, w.frames.size());
  EXPECT_EQ(r.bytes_written, w.bytes());
  EXPECT_EQ(r.packets_lost_write, 0u);
  EXPECT_EQ(r.bytes_lost_write, 0u);
  EXPECT_FALSE(r.write_error.has_value());
  EXPECT_EQ(r.file_bytes, 24 + 16 * w.frames.size() + w.bytes());
  EXPECT_EQ(std::filesystem::file_size(path), r.file_bytes);
  EXPECT_FALSE(std::filesystem::exists(dir / ".a.pcap.partial"));
  // Space fallocate()d ahead (64 MiB steps) is given back by the ftruncate at close.
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, r.file_bytes + (1u << 20));
  expect_same_packets(path, w);
  test::expect_wireshark_tools_accept(path);
}

TEST_P(SinkBackendTest, PcapngRoundTrip) {
  TempDir dir;
  auto pool = make_pool(GetParam());
  Workload w(3000);
  const auto path = dir / "a.pcapng";
  const auto r = record(*pool, path, FileFormat::kPcapng, w, 5);
  EXPECT_EQ(r.packets_written, w.frames.size());
  EXPECT_EQ(std::filesystem::file_size(path), r.file_bytes);
  expect_same_packets(path, w);
  test::expect_wireshark_tools_accept(path);
}

INSTANTIATE_TEST_SUITE_P(Backends, SinkBackendTest, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "io_uring" : "pwrite"; });

TEST(Sink, FallbackAndBufferedWritesProduceIdenticalFiles) {
  Workload w(20000);
  TempDir dir;
  auto uring = make_pool(true, true);
  auto fallback = make_pool(false, true);
  auto buffered = make_pool(false, false);
  EXPECT_EQ(fallback->backend(), "pwrite (io_uring unavailable: disabled by configuration)");
  record(*uring, dir / "u.pcap", FileFormat::kPcap, w);
  record(*fallback, dir / "f.pcap", FileFormat::kPcap, w);
  record(*buffered, dir / "b.pcap", FileFormat::kPcap, w);
  const auto u = test::read_file(dir / "u.pcap");
  EXPECT_GT(u.size(), 10u << 20);  // several write buffers' worth
  EXPECT_TRUE(u == test::read_file(dir / "f.pcap"));
  EXPECT_TRUE(u == test::read_file(dir / "b.pcap"));
}

// io_uring refused by seccomp (as a container runtime may do): the pool must notice at
// create() and fall back to pwrite, saying why. Runs in a child so the filter stays there.
TEST(WriterPool, FallsBackToPwriteWhenSeccompRefusesIoUring) {
  TempDir dir;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(10);
    if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) _exit(11);
    WriterPool::Options po;  // use_io_uring = true
    auto pool = WriterPool::create(po);
    if (!pool.ok()) _exit(12);
    if ((*pool)->backend() !=
        "pwrite (io_uring unavailable: io_uring_queue_init: Operation not permitted)") {
      std::fprintf(stderr, "backend: %s\n", (*pool)->backend().c_str());
      _exit(13);
    }
    SinkOptions so;
    so.path = dir / "seccomp.pcap";
    auto sink = Sink::open(**pool, so);
    if (!sink.ok()) _exit(14);
    const auto f = make_frame(1000, 1);
    for (int i = 0; i < 5000; ++i) {
      if (append_blocking(**sink, packet_of(f, static_cast<uint64_t>(i))) !=
          AppendResult::kAppended) {
        _exit(15);
      }
    }
    auto r = (*sink)->close(0);
    _exit(r.ok() && r->packets_written == 5000 ? 0 : 16);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "child failed at step " << WEXITSTATUS(status);
  EXPECT_EQ(test::read_pcap(dir / "seccomp.pcap").records.size(), 5000u);
}

TEST(Sink, PcapngTwoInterfacesBothDirectionsAndDropsInTshark) {
  TempDir dir;
  auto pool = make_pool(true);
  const auto path = dir / "two.pcapng";
  auto sink = open_sink(*pool, path, FileFormat::kPcapng);
  ASSERT_NE(sink, nullptr);
  const auto f = make_frame(60, 9);
  // Interface 1 (lo) inbound, interface 999999 outbound, then lo outbound.
  ASSERT_EQ(sink->try_append(packet_of(f, 1000, 1, Direction::kIngress)), AppendResult::kAppended);
  ASSERT_EQ(sink->try_append(packet_of(f, 2000, 999999, Direction::kEgress)),
            AppendResult::kAppended);
  ASSERT_EQ(sink->try_append(packet_of(f, 3000, 1, Direction::kEgress)), AppendResult::kAppended);
  auto r = sink->close(42);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->packets_written, 3u);
  test::expect_wireshark_tools_accept(path);
  auto fields = test::run_command("tshark -r '" + path.string() +
                                  "' -T fields -e frame.interface_id -e frame.interface_name"
                                  " -e frame.packet_flags_direction");
  ASSERT_EQ(fields.exit_code, 0) << fields.err;
  EXPECT_EQ(fields.out, "0\tlo\t0x00000001\n1\tif999999\t0x00000002\n0\tlo\t0x00000002\n");
  auto info = test::run_command("capinfos '" + path.string() + "'");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("Number of interfaces in file: 2"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("Number of stat entries = 1"), std::string::npos) << info.out;
  // capinfos 4.0 does not print isb_ifdrop: read the ISBs' options from the blocks.
  const auto bytes = test::read_file(path);
  std::vector<std::pair<uint32_t, uint64_t>> drops;  // interface id, isb_ifdrop
  for (size_t off = 0; off + 12 <= bytes.size();) {
    const uint32_t len = get_u32(&bytes[off + 4]);
    if (get_u32(&bytes[off]) == 5) {
      for (size_t o = off + 20; o + 4 <= off + len - 4;) {
        const uint16_t code = get_u16(&bytes[o]);
        const uint16_t olen = get_u16(&bytes[o + 2]);
        if (code == 0) break;
        if (code == 5) {
          uint64_t v;
          std::memcpy(&v, &bytes[o + 4], 8);
          drops.emplace_back(get_u32(&bytes[off + 8]), v);
        }
        o += 4 + ((olen + 3u) & ~3u);
      }
    }
    off += len;
  }
  // The recording's 42 drops are on interface 0's ISB, interface 1 carries 0.
  const std::vector<std::pair<uint32_t, uint64_t>> expected_drops = {{0, 42}, {1, 0}};
  EXPECT_EQ(drops, expected_drops);
}

// A recording over an L2 device and an L3 device: pcapng keeps each packet's own link type
// (pcap would synthesize Ethernet headers), and Wireshark decodes both as IP.
TEST(Sink, PcapngMixesEthernetAndRawInterfaces) {
  TempDir dir;
  auto pool = make_pool(true);
  const auto path = dir / "mixed.pcapng";
  auto sink = open_sink(*pool, path, FileFormat::kPcapng);
  ASSERT_NE(sink, nullptr);
  // A minimal IPv4/UDP packet (checksum 0), as raw L3 and inside an Ethernet frame.
  const std::vector<uint8_t> ip = {0x45, 0, 0,  28, 0, 1, 0, 0,  64, 17, 0, 0, 10, 0,
                                   0,    1, 10, 0,  0, 2, 0, 53, 0,  53, 0, 8, 0,  0};
  std::vector<uint8_t> eth = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00};
  eth.insert(eth.end(), ip.begin(), ip.end());
  ASSERT_EQ(sink->try_append(packet_of(eth, 1000, 1, Direction::kIngress)),
            AppendResult::kAppended);
  ASSERT_EQ(sink->try_append(packet_of(ip, 2000, 999998, Direction::kEgress, LinkType::kRaw)),
            AppendResult::kAppended);
  ASSERT_TRUE(sink->close(0).ok());
  test::expect_wireshark_tools_accept(path);
  auto fields = test::run_command("tshark -r '" + path.string() +
                                  "' -T fields -e frame.interface_id -e frame.protocols");
  ASSERT_EQ(fields.exit_code, 0) << fields.err;
  EXPECT_EQ(fields.out, "0\teth:ethertype:ip:udp\n1\traw:ip:udp\n");
}

// The same L3 packet in a pcap file: one link type per file, so it gets a synthesized Ethernet
// header that Wireshark decodes.
TEST(Sink, PcapGivesRawPacketsAnEthernetHeader) {
  TempDir dir;
  auto pool = make_pool(true);
  const auto path = dir / "raw.pcap";
  auto sink = open_sink(*pool, path, FileFormat::kPcap);
  ASSERT_NE(sink, nullptr);
  const std::vector<uint8_t> ip = {0x45, 0, 0,  28, 0, 1, 0, 0,  64, 17, 0, 0, 10, 0,
                                   0,    1, 10, 0,  0, 2, 0, 53, 0,  53, 0, 8, 0,  0};
  ASSERT_EQ(sink->try_append(packet_of(ip, 2000, 5, Direction::kEgress, LinkType::kRaw)),
            AppendResult::kAppended);
  auto r = sink->close(0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->bytes_written, ip.size());  // captured bytes, without the synthesized 14
  test::expect_wireshark_tools_accept(path);
  const auto contents = test::read_pcap(path);
  const auto& got = contents.records;
  EXPECT_EQ(contents.link_type, DLT_EN10MB);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].data.size(), 14 + ip.size());
  EXPECT_TRUE(std::equal(ip.begin(), ip.end(), got[0].data.begin() + 14));
  auto fields = test::run_command("tshark -r '" + path.string() + "' -T fields -e frame.protocols");
  EXPECT_EQ(fields.out, "eth:ethertype:ip:udp\n");
}

TEST(Sink, ManySmallPacketsThroughIoUring) {
  TempDir dir;
  auto pool = make_pool(true);
  const auto path = dir / "many.pcap";
  auto sink = open_sink(*pool, path, FileFormat::kPcap);
  ASSERT_NE(sink, nullptr);
  constexpr uint32_t kN = 1000000;
  std::vector<uint8_t> f(64);
  for (uint32_t i = 0; i < kN; ++i) {
    std::memcpy(f.data(), &i, sizeof i);  // each packet carries its number
    ASSERT_EQ(append_blocking(*sink, packet_of(f, 1000 + i)), AppendResult::kAppended);
  }
  auto r = sink->close(0);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->packets_written, kN);
  EXPECT_EQ(r->file_bytes, 24u + kN * (16u + 64u));
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* h =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  ASSERT_NE(h, nullptr) << err;
  pcap_pkthdr* hdr;
  const u_char* data;
  uint32_t n = 0;
  while (pcap_next_ex(h, &hdr, &data) == 1) {
    uint32_t id;
    std::memcpy(&id, data, sizeof id);
    ASSERT_EQ(id, n);
    ASSERT_EQ(hdr->caplen, 64u);
    ASSERT_EQ(static_cast<uint64_t>(hdr->ts.tv_usec), 1000u + n);
    ++n;
  }
  pcap_close(h);
  EXPECT_EQ(n, kN);
}

TEST(Sink, ManyLargePacketsThroughIoUringTwoThreadsTwoSinks) {
  TempDir dir;
  auto pool = make_pool(true, true, 2);
  auto a = open_sink(*pool, dir / "a.pcapng", FileFormat::kPcapng);
  auto b = open_sink(*pool, dir / "b.pcap", FileFormat::kPcap);
  ASSERT_TRUE(a && b);
  constexpr uint32_t kN = 100000;
  std::vector<uint8_t> f = make_frame(1500, 5);
  for (uint32_t i = 0; i < kN; ++i) {
    std::memcpy(f.data(), &i, sizeof i);
    ASSERT_EQ(append_blocking(*a, packet_of(f, i, 1, Direction::kEgress)), AppendResult::kAppended);
    ASSERT_EQ(append_blocking(*b, packet_of(f, i)), AppendResult::kAppended);
  }
  auto ra = a->close(0);
  auto rb = b->close(0);
  ASSERT_TRUE(ra.ok() && rb.ok());
  for (const auto& path : {dir / "a.pcapng", dir / "b.pcap"}) {
    const auto got = test::read_pcap(path).records;
    ASSERT_EQ(got.size(), kN) << path;
    for (uint32_t i = 0; i < kN; ++i) {
      uint32_t id;
      std::memcpy(&id, got[i].data.data(), sizeof id);
      ASSERT_EQ(id, i) << path;
      ASSERT_EQ(got[i].data.size(), 1500u);
      ASSERT_TRUE(std::equal(got[i].data.begin() + 4, got[i].data.end(), f.begin() + 4));
    }
  }
}

TEST(Sink, QuietRecordingBecomesVisibleWithoutClose) {
  TempDir dir;
  auto pool = make_pool(true);
  auto sink = open_sink(*pool, dir / "quiet.pcap", FileFormat::kPcap);
  ASSERT_NE(sink, nullptr);
  const auto partial = dir / ".quiet.pcap.partial";
  ASSERT_TRUE(std::filesystem::exists(partial));
  const auto f = make_frame(100, 1);
  ASSERT_EQ(sink->try_append(packet_of(f, 5)), AppendResult::kAppended);
  // Not a speed assertion: the writer flushes data that waited ~100 ms; allow seconds.
  EXPECT_TRUE(test::wait_until([&] {
    std::error_code ec;
    return std::filesystem::file_size(partial, ec) == 24u + 16u + 100u;
  })) << "partial file size "
      << std::filesystem::file_size(partial);
  const auto got = test::read_pcap(partial).records;
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].data, f);
  ASSERT_TRUE(sink->close(0).ok());
}

// Packets that trickle in over several flush intervals: each flush writes the whole blocks with
// O_DIRECT and the unaligned tail through the page cache; the next flush rewrites that block
// directly. The file must come out exact, and grow while recording.
TEST_P(SinkBackendTest, TricklingPacketsAcrossFlushes) {
  TempDir dir;
  auto pool = make_pool(GetParam());
  const auto path = dir / "trickle.pcap";
  auto sink = open_sink(*pool, path, FileFormat::kPcap, 64u << 10);
  ASSERT_NE(sink, nullptr);
  Workload w(120);
  uint64_t last_size = 0;
  int grew = 0;
  for (size_t i = 0; i < w.frames.size(); ++i) {
    ASSERT_EQ(append_blocking(*sink, packet_of(w.frames[i], w.ts[i], 1, Direction::kIngress,
                                               LinkType::kEthernet,
                                               static_cast<uint32_t>(w.frames[i].size() + 3))),
              AppendResult::kAppended);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(dir / ".trickle.pcap.partial", ec);
    if (size > last_size) ++grew;
    last_size = std::max(last_size, size);
  }
  EXPECT_GE(grew, 3) << "the partial file should grow at each flush";
  auto r = sink->close(0);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->packets_written, w.frames.size());
  expect_same_packets(path, w);
}

// The smallest ring (four blocks) with records of every size up to 1600 bytes: records cross the
// end of the ring hundreds of times, and direct writes are taken straight from ring memory in
// pieces split at the end. Every packet must come out intact and in order.
TEST_P(SinkBackendTest, SmallestRingWrapsWithRecordsAcrossItsEnd) {
  TempDir dir;
  auto pool = make_pool(GetParam());
  const auto path = dir / "wrap.pcap";
  auto sink = open_sink(*pool, path, FileFormat::kPcap, kMinQueueBytes);
  ASSERT_NE(sink, nullptr);
  Workload w(3000);
  for (size_t i = 0; i < w.frames.size(); ++i) {
    ASSERT_EQ(append_blocking(*sink, packet_of(w.frames[i], w.ts[i], 1, Direction::kIngress,
                                               LinkType::kEthernet,
                                               static_cast<uint32_t>(w.frames[i].size() + 3))),
              AppendResult::kAppended);
  }
  auto r = sink->close(0);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->packets_written, w.frames.size());
  EXPECT_GT(r->file_bytes, 100 * kMinQueueBytes);  // the ring went round many times
  expect_same_packets(path, w);
}

TEST(Sink, CloseIsIdempotentAndRefusesExistingFile) {
  TempDir dir;
  auto pool = make_pool(true);
  auto sink = open_sink(*pool, dir / "x.pcap", FileFormat::kPcap);
  ASSERT_NE(sink, nullptr);
  auto r1 = sink->close(0);
  auto r2 = sink->close(0);
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(r1->path, r2->path);
  EXPECT_EQ(r1->file_bytes, 24u);
  EXPECT_EQ(r2->file_bytes, 24u);
  EXPECT_EQ(test::read_pcap(dir / "x.pcap").records.size(), 0u);
  SinkOptions o;
  o.path = dir / "x.pcap";
  auto again = Sink::open(*pool, o);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  o.path = dir / "missing-dir" / "y.pcap";
  auto nodir = Sink::open(*pool, o);
  ASSERT_FALSE(nodir.ok());
  EXPECT_EQ(nodir.error().code(), ErrorCode::kNotFound) << nodir.error().message();
}

// Someone who can write into the storage directory plants symbolic links under the names a
// sink uses: the sink refuses them and nothing outside is created or written.
TEST(Sink, PlantedLinksAtItsNamesAreNeverFollowed) {
  TempDir dir;
  TempDir outside;
  { std::ofstream(outside / "victim") << "outside"; }
  auto pool = make_pool(true);
  std::filesystem::create_symlink(outside / "victim", dir / ".a.pcap.partial");
  std::filesystem::create_symlink(outside / "created-through-link", dir / "b.pcap");
  SinkOptions o;
  o.path = dir / "a.pcap";
  auto a = Sink::open(*pool, o);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code(), ErrorCode::kAlreadyExists) << a.error().message();
  o.path = dir / "b.pcap";
  auto b = Sink::open(*pool, o);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code(), ErrorCode::kAlreadyExists) << b.error().message();

  // A link planted at the final name while recording: the finished file is not renamed over it.
  o.path = dir / "c.pcap";
  auto c = Sink::open(*pool, o);
  ASSERT_TRUE(c.ok()) << c.error().message();
  std::filesystem::create_symlink(outside / "victim", dir / "c.pcap");
  auto closed = (*c)->close(0);
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().code(), ErrorCode::kAlreadyExists) << closed.error().message();
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "c.pcap"));

  EXPECT_EQ(test::read_file(outside / "victim"),
            std::vector<uint8_t>({'o', 'u', 't', 's', 'i', 'd', 'e'}));
  EXPECT_FALSE(std::filesystem::exists(outside / "created-through-link"));
}

// Captures hold passwords and personal data: 0600 whatever the umask, or 0640 for a group.
TEST(Sink, FileIs0600WhateverTheUmaskOr0640ForItsGroup) {
  TempDir dir;
  auto pool = make_pool(true);
  const mode_t old_mask = ::umask(0);
  SinkOptions o;
  o.path = dir / "private.pcap";
  auto priv = Sink::open(*pool, o);
  o.path = dir / "group.pcap";
  o.permissions = storage::Permissions::readable_by_group(::getegid());
  auto group = Sink::open(*pool, o);
  ::umask(old_mask);
  ASSERT_TRUE(priv.ok()) << priv.error().message();
  ASSERT_TRUE(group.ok()) << group.error().message();
  ASSERT_TRUE((*priv)->close(0).ok());
  ASSERT_TRUE((*group)->close(0).ok());
  struct stat st {};
  ASSERT_EQ(::stat((dir / "private.pcap").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat((dir / "group.pcap").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_gid, ::getegid());
}

// An idle writer must sleep, not spin: with a sink open and nothing to write, the process uses
// a small fraction of one CPU (a generous bound: this is about spinning, not speed).
TEST(WriterPool, IdleWriterDoesNotSpin) {
  TempDir dir;
  auto pool = make_pool(true, true, 2);
  auto sink = open_sink(*pool, dir / "idle.pcap", FileFormat::kPcap);
  ASSERT_NE(sink, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  getrusage(RUSAGE_SELF, &after);
  auto cpu_us = [](const rusage& u) {
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000L + u.ru_utime.tv_usec +
           u.ru_stime.tv_usec;
  };
  EXPECT_LT(cpu_us(after) - cpu_us(before), 200000) << "writer threads busy while idle";
  ASSERT_TRUE(sink->close(0).ok());
}

TEST(WriterPool, OpenCloseCyclesLeaveNoFdsOrMemoryReserved) {
  TempDir dir;
  auto pool = make_pool(true, true, 1, 64u << 20);
  auto count_fds = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                         std::filesystem::directory_iterator{});
  };
  const auto before = count_fds();
  const auto f = make_frame(500, 1);
  // fmt::format, not "c" + std::to_string(i) + ...: GCC 12 at -O3 flags that concatenation with a
  // false -Wrestrict (GCC bug 105329), which broke `cmake -DCMAKE_BUILD_TYPE=Release`.
  const auto name = [](int i) { return fmt::format("c{}.pcapng", i); };
  for (int i = 0; i < 50; ++i) {
    // 16 MiB each against a 64 MiB budget: only works if close gives the memory back.
    auto sink = open_sink(*pool, dir / name(i), FileFormat::kPcapng);
    ASSERT_NE(sink, nullptr);
    for (int j = 0; j < 100; ++j) {
      ASSERT_EQ(append_blocking(*sink, packet_of(f, j)), AppendResult::kAppended);
    }
    if (i % 2 == 0) {
      ASSERT_TRUE(sink->close(0).ok());
    }  // the others close in the destructor
  }
  EXPECT_EQ(count_fds(), before);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(test::read_pcap(dir / name(i)).records.size(), 100u);
  }
}

TEST(WriterPool, QueueMemoryBudgetIsEnforced) {
  TempDir dir;
  auto pool = make_pool(true, true, 1, 1u << 20);
  auto a = open_sink(*pool, dir / "a.pcap", FileFormat::kPcap, 512u << 10);
  auto b = open_sink(*pool, dir / "b.pcap", FileFormat::kPcap, 512u << 10);
  ASSERT_TRUE(a && b);
  SinkOptions o;
  o.path = dir / "c.pcap";
  o.queue_bytes = kMinQueueBytes;
  auto c = Sink::open(*pool, o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(c.error().message().find("1048576 of 1048576 bytes in use"), std::string::npos)
      << c.error().message();
  EXPECT_FALSE(std::filesystem::exists(dir / ".c.pcap.partial"));
  ASSERT_TRUE(a->close(0).ok());
  auto d = Sink::open(*pool, o);  // a's memory is back
  ASSERT_TRUE(d.ok()) << d.error().message();
  ASSERT_TRUE((*d)->close(0).ok());
  ASSERT_TRUE(b->close(0).ok());
}

// RLIMIT_FSIZE makes writes past the limit fail with EFBIG (SIGXFSZ ignored): a real write
// error from the kernel without root. The limit is process-wide, so it is restored at once.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old_);
    rlimit l = old_;
    l.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &l);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_);
    signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_{};
  sighandler_t old_handler_;
};

class SinkWriteErrorTest : public ::testing::TestWithParam<test::BackendAndFormat> {};

TEST_P(SinkWriteErrorTest, WriteErrorLeavesValidFileAndExactCounts) {
  const auto [io_uring, format] = GetParam();
  TempDir dir;
  auto pool = make_pool(io_uring);
  const auto path = dir / (format == FileFormat::kPcap ? "full.pcap" : "full.pcapng");
  SinkResult r;
  uint64_t appended = 0, appended_bytes = 0;
  {
    FileSizeLimit limit(3u << 20);  // 3 MiB, not a multiple of any record size
    auto sink = open_sink(*pool, path, format, 1u << 20);
    ASSERT_NE(sink, nullptr);
    AppendResult a = AppendResult::kAppended;
    for (uint32_t i = 0; i < 100000 && a != AppendResult::kFailed; ++i) {
      const auto f = make_frame(100 + i % 1400, i);
      a = append_blocking(*sink, packet_of(f, i, 1, Direction::kIngress));
      if (a == AppendResult::kAppended) {
        ++appended;
        appended_bytes += f.size();
      }
    }
    ASSERT_EQ(a, AppendResult::kFailed) << "the limit was never hit";
    EXPECT_TRUE(sink->failed());
    EXPECT_EQ(sink->failure_errno(), EFBIG);
    auto c = sink->close(0);
    ASSERT_TRUE(c.ok()) << c.error().message();
    r = *c;
  }
  ASSERT_TRUE(r.write_error.has_value());
  EXPECT_EQ(r.write_error->sys_errno(), EFBIG);
  EXPECT_EQ(r.write_error->code(), ErrorCode::kResourceExhausted);
  EXPECT_LE(r.file_bytes, 3u << 20);
  EXPECT_EQ(std::filesystem::file_size(path), r.file_bytes);
  EXPECT_EQ(r.packets_written + r.packets_lost_write, appended);
  EXPECT_EQ(r.bytes_written + r.bytes_lost_write, appended_bytes);
  EXPECT_GT(r.packets_written, 1000u);
  EXPECT_GT(r.packets_lost_write, 0u);
  const auto got = test::read_pcap(path).records;
  ASSERT_EQ(got.size(), r.packets_written);
  uint64_t bytes = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].data, make_frame(100 + i % 1400, static_cast<uint32_t>(i)));
    bytes += got[i].data.size();
  }
  EXPECT_EQ(bytes, r.bytes_written);
  test::expect_wireshark_tools_accept(path);
}

INSTANTIATE_TEST_SUITE_P(Backends, SinkWriteErrorTest, test::backends_and_formats(),
                         test::backend_and_format_name);

}  // namespace
}  // namespace recorder::sink
