// Byte-exact encoder tests: every expected byte is written out below with what it means, so a
// reviewer can check them against the pcap and pcapng specifications (little-endian host).
#include <gtest/gtest.h>

#include "sink/encoding_queue.h"
#include "sink_test_util.h"

namespace recorder::sink {
namespace {

using test::packet_of;

std::vector<uint8_t> drain(EncodingQueue& q) {
  std::vector<uint8_t> out(q.read_available());
  EXPECT_EQ(q.pop(out.data(), out.size()), out.size());
  return out;
}

constexpr uint64_t kTs = 1700000000123456789ull;  // 2023-11-14T22:13:20.123456789Z

TEST(PcapEncoder, FileHeaderAndRecordsByteExact) {
  EncodingQueue q(FileFormat::kPcap, 65535, 4096);
  ASSERT_TRUE(q.push_file_header());
  const std::vector<uint8_t> eth = {0xde, 0xad, 0xbe, 0xef};
  const std::vector<uint8_t> ip6 = {0x60, 0x00, 0x00, 0x00};
  const std::vector<uint8_t> ip4 = {0x45, 0x00};
  ASSERT_EQ(q.try_append(packet_of(eth, kTs, 1, Direction::kIngress, LinkType::kEthernet, 60)),
            AppendResult::kAppended);
  ASSERT_EQ(q.try_append(packet_of(ip6, 1, 7, Direction::kEgress, LinkType::kRaw)),
            AppendResult::kAppended);
  ASSERT_EQ(q.try_append(packet_of(ip4, 2, 7, Direction::kEgress, LinkType::kRaw, 40)),
            AppendResult::kAppended);
  const std::vector<uint8_t> expected = {
      // file header
      0x4d, 0x3c, 0xb2, 0xa1,  // magic: nanosecond pcap
      0x02, 0x00, 0x04, 0x00,  // version 2.4
      0x00, 0x00, 0x00, 0x00,  // thiszone 0
      0x00, 0x00, 0x00, 0x00,  // sigfigs 0
      0xff, 0xff, 0x00, 0x00,  // snaplen 65535
      0x01, 0x00, 0x00, 0x00,  // LINKTYPE_ETHERNET
      // record 1: Ethernet, 4 of 60 bytes
      0x00, 0xf1, 0x53, 0x65,  // ts_sec 1700000000 = 0x6553f100
      0x15, 0xcd, 0x5b, 0x07,  // ts_nsec 123456789 = 0x075bcd15
      0x04, 0x00, 0x00, 0x00,  // incl_len 4
      0x3c, 0x00, 0x00, 0x00,  // orig_len 60
      0xde, 0xad, 0xbe, 0xef,  // data
      // record 2: raw IPv6 -> synthesized Ethernet header
      0x00, 0x00, 0x00, 0x00,  // ts_sec 0
      0x01, 0x00, 0x00, 0x00,  // ts_nsec 1
      0x12, 0x00, 0x00, 0x00,  // incl_len 4 + 14
      0x12, 0x00, 0x00, 0x00,  // orig_len 4 + 14
      0, 0, 0, 0, 0, 0,        // destination MAC zero
      0, 0, 0, 0, 0, 0,        // source MAC zero
      0x86, 0xdd,              // ethertype IPv6 (version nibble 6)
      0x60, 0x00, 0x00, 0x00,  // data
      // record 3: raw IPv4
      0x00, 0x00, 0x00, 0x00,              // ts_sec 0
      0x02, 0x00, 0x00, 0x00,              // ts_nsec 2
      0x10, 0x00, 0x00, 0x00,              // incl_len 2 + 14
      0x36, 0x00, 0x00, 0x00,              // orig_len 40 + 14
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // MACs
      0x08, 0x00,                          // ethertype IPv4
      0x45, 0x00,                          // data
  };
  EXPECT_EQ(drain(q), expected);
  EXPECT_EQ(q.appended_packets(), 3u);
  EXPECT_EQ(q.appended_bytes(), 10u);
  EXPECT_EQ(q.appended_raw_packets(), 2u);
  EXPECT_TRUE(q.trailer(5, 1, 2).empty());
}

TEST(PcapngEncoder, BlocksByteExact) {
  EncodingQueue q(FileFormat::kPcapng, 65535, 4096);
  ASSERT_TRUE(q.push_file_header());
  const std::vector<uint8_t> a = {1, 2, 3, 4, 5};
  const std::vector<uint8_t> b = {0x45, 0x00, 0x00, 0x14};
  const std::vector<uint8_t> c = {0xaa};
  // ifindex 1 is the loopback device, named "lo" on Linux.
  ASSERT_EQ(q.try_append(packet_of(a, kTs, 1, Direction::kIngress, LinkType::kEthernet, 60)),
            AppendResult::kAppended);
  // No device has ifindex 999999: the IDB is named "if999999".
  ASSERT_EQ(q.try_append(packet_of(b, 2, 999999, Direction::kEgress, LinkType::kRaw)),
            AppendResult::kAppended);
  ASSERT_EQ(q.try_append(packet_of(c, 3, 1, Direction::kUnknown, LinkType::kEthernet)),
            AppendResult::kAppended);
  auto bytes = drain(q);
  const auto trailer = q.trailer(7, 10, 20);
  bytes.insert(bytes.end(), trailer.begin(), trailer.end());
  const std::vector<uint8_t> expected = {
      // SHB, 52 bytes
      0x0a, 0x0d, 0x0d, 0x0a,                          // block type SHB
      0x34, 0x00, 0x00, 0x00,                          // total length 52
      0x4d, 0x3c, 0x2b, 0x1a,                          // byte-order magic
      0x01, 0x00, 0x00, 0x00,                          // version 1.0
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // section length -1 (unknown)
      0x04, 0x00, 0x0d, 0x00,                          // shb_userappl, 13 bytes
      'p', 'c', 'a', 'p', '-', 'r', 'e', 'c', 'o', 'r', 'd', 'e', 'r', 0, 0, 0,  // padded to 16
      0x00, 0x00, 0x00, 0x00,                                                    // opt_endofopt
      0x34, 0x00, 0x00, 0x00,                                                    // total length 52
      // IDB 0: lo, Ethernet, 40 bytes
      0x01, 0x00, 0x00, 0x00,                  // block type IDB
      0x28, 0x00, 0x00, 0x00,                  // total length 40
      0x01, 0x00, 0x00, 0x00,                  // LINKTYPE_ETHERNET, reserved
      0xff, 0xff, 0x00, 0x00,                  // snaplen 65535
      0x02, 0x00, 0x02, 0x00, 'l', 'o', 0, 0,  // if_name "lo"
      0x09, 0x00, 0x01, 0x00, 0x09, 0, 0, 0,   // if_tsresol 9 (ns)
      0x00, 0x00, 0x00, 0x00,                  // opt_endofopt
      0x28, 0x00, 0x00, 0x00,                  // total length 40
      // EPB on interface 0, 52 bytes
      0x06, 0x00, 0x00, 0x00,                          // block type EPB
      0x34, 0x00, 0x00, 0x00,                          // total length 52
      0x00, 0x00, 0x00, 0x00,                          // interface id 0
      0xfe, 0x9c, 0x97, 0x17,                          // timestamp high 0x17979cfe
      0x15, 0xcd, 0x85, 0x3d,                          // timestamp low 0x3d85cd15
      0x05, 0x00, 0x00, 0x00,                          // captured length 5
      0x3c, 0x00, 0x00, 0x00,                          // original length 60
      1, 2, 3, 4, 5, 0, 0, 0,                          // data, padded to 8
      0x02, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00,  // epb_flags: inbound
      0x00, 0x00, 0x00, 0x00,                          // opt_endofopt
      0x34, 0x00, 0x00, 0x00,                          // total length 52
      // IDB 1: if999999, LINKTYPE_RAW, 44 bytes, inline before its first EPB
      0x01, 0x00, 0x00, 0x00,  // block type IDB
      0x2c, 0x00, 0x00, 0x00,  // total length 44
      0x65, 0x00, 0x00, 0x00,  // LINKTYPE_RAW (101), reserved
      0xff, 0xff, 0x00, 0x00,  // snaplen
      0x02, 0x00, 0x08, 0x00, 'i', 'f', '9', '9', '9', '9', '9', '9',  // if_name
      0x09, 0x00, 0x01, 0x00, 0x09, 0, 0, 0,                           // if_tsresol 9
      0x00, 0x00, 0x00, 0x00,                                          // opt_endofopt
      0x2c, 0x00, 0x00, 0x00,                                          // total length 44
      // EPB on interface 1, 48 bytes
      0x06, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00,  // EPB, length 48
      0x01, 0x00, 0x00, 0x00,                          // interface id 1
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,  // timestamp 2 ns
      0x04, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,  // captured 4, original 4
      0x45, 0x00, 0x00, 0x14,                          // data (no padding needed)
      0x02, 0x00, 0x04, 0x00, 0x02, 0x00, 0x00, 0x00,  // epb_flags: outbound
      0x00, 0x00, 0x00, 0x00,                          // opt_endofopt
      0x30, 0x00, 0x00, 0x00,                          // total length 48
      // EPB on interface 0 again (no new IDB), unknown direction: no options, 36 bytes
      0x06, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00,  // EPB, length 36
      0x00, 0x00, 0x00, 0x00,                          // interface id 0
      0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,  // timestamp 3 ns
      0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  // captured 1, original 1
      0xaa, 0x00, 0x00, 0x00,                          // data padded to 4
      0x24, 0x00, 0x00, 0x00,                          // total length 36
      // ISB for interface 0: all 7 drops, 64 bytes
      0x05, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,     // ISB, length 64
      0x00, 0x00, 0x00, 0x00,                             // interface id 0
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,     // timestamp = end 20
      0x02, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0x0a, 0, 0, 0,  // isb_starttime 10
      0x03, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0x14, 0, 0, 0,  // isb_endtime 20
      0x05, 0x00, 0x08, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0,  // isb_ifdrop 7
      0x00, 0x00, 0x00, 0x00,                             // opt_endofopt
      0x40, 0x00, 0x00, 0x00,                             // total length 64
      // ISB for interface 1: 0 drops
      0x05, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,     // ISB, length 64
      0x01, 0x00, 0x00, 0x00,                             // interface id 1
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,     // timestamp 20
      0x02, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0x0a, 0, 0, 0,  // isb_starttime 10
      0x03, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0x14, 0, 0, 0,  // isb_endtime 20
      0x05, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,     // isb_ifdrop 0
      0x00, 0x00, 0x00, 0x00,                             // opt_endofopt
      0x40, 0x00, 0x00, 0x00,                             // total length 64
  };
  EXPECT_EQ(bytes, expected);
}

TEST(PcapngEncoder, DropsWithoutPacketsStillGetAnInterface) {
  EncodingQueue q(FileFormat::kPcapng, 100, 4096);
  const auto trailer = q.trailer(3, 1, 2);
  ASSERT_EQ(trailer.size(), 40u + 64u);  // IDB "if0" + ISB
  EXPECT_EQ(get_u32(trailer.data()), 1u);
  EXPECT_EQ(get_u32(trailer.data() + 40), 5u);
  EXPECT_EQ(get_u16(trailer.data() + 40 + 44), 5u);  // isb_ifdrop option
  EXPECT_EQ(get_u32(trailer.data() + 40 + 48), 3u);  // its value
}

TEST(PcapngEncoder, InterfacesBeyondTheTableShareOtherInterface) {
  EncodingQueue q(FileFormat::kPcapng, 100, 1 << 20);
  ASSERT_TRUE(q.push_file_header());
  const std::vector<uint8_t> d = {1, 2, 3, 4};
  for (uint32_t i = 0; i < PcapngEncoder::kMaxInterfaces + 10; ++i) {
    ASSERT_EQ(q.try_append(packet_of(d, i, 100000 + i)), AppendResult::kAppended);
  }
  // And again: every packet finds its interface without a new IDB.
  for (uint32_t i = 0; i < PcapngEncoder::kMaxInterfaces + 10; ++i) {
    ASSERT_EQ(q.try_append(packet_of(d, i, 100000 + i)), AppendResult::kAppended);
  }
  auto bytes = drain(q);
  size_t idbs = 0, epbs = 0;
  uint32_t max_id = 0;
  for (size_t off = 0; off < bytes.size();) {
    const uint32_t type = get_u32(&bytes[off]);
    if (type == 1) ++idbs;
    if (type == 6) {
      ++epbs;
      max_id = std::max(max_id, get_u32(&bytes[off + 8]));
    }
    off += get_u32(&bytes[off + 4]);
  }
  EXPECT_EQ(idbs, PcapngEncoder::kMaxInterfaces + 1);  // 64 real + "other"
  EXPECT_EQ(epbs, 2 * (PcapngEncoder::kMaxInterfaces + 10));
  EXPECT_EQ(max_id, PcapngEncoder::kMaxInterfaces);
}

TEST(EncodingQueue, PacketsLongerThanTheSnapLengthAreCut) {
  EncodingQueue q(FileFormat::kPcap, 8, 4096);
  const auto frame = test::make_frame(20, 1);
  ASSERT_EQ(q.try_append(packet_of(frame, 1)), AppendResult::kAppended);
  const auto bytes = drain(q);
  ASSERT_EQ(bytes.size(), 16u + 8u);
  EXPECT_EQ(get_u32(&bytes[8]), 8u);    // incl_len cut to the snap length
  EXPECT_EQ(get_u32(&bytes[12]), 20u);  // orig_len unchanged
  EXPECT_EQ(q.appended_bytes(), 8u);
}

TEST(EncodingQueue, FullQueueDropsWholeRecordsAndCountsThem) {
  // 4096 bytes and no writer: the header (24) and 35 records of 116 bytes fit, then full.
  EncodingQueue q(FileFormat::kPcap, 65535, 4096);
  ASSERT_TRUE(q.push_file_header());
  const auto frame = test::make_frame(100, 1);
  int appended = 0;
  AppendResult r;
  while ((r = q.try_append(packet_of(frame, 1))) == AppendResult::kAppended) ++appended;
  EXPECT_EQ(r, AppendResult::kQueueFull);
  EXPECT_EQ(appended, (4096 - 24) / 116);
  EXPECT_EQ(q.try_append(packet_of(frame, 1)), AppendResult::kQueueFull);
  EXPECT_EQ(q.queue_full_packets(), 2u);
  EXPECT_EQ(q.appended_packets(), static_cast<uint64_t>(appended));
  // What is queued is exactly the header and whole records: no partial record was pushed.
  EXPECT_EQ(q.read_available(), 24u + 116u * appended);
  auto bytes = drain(q);
  // Space is back once the consumer has popped.
  EXPECT_EQ(q.try_append(packet_of(frame, 1)), AppendResult::kAppended);
  // A record larger than the whole queue can never fit.
  const auto huge = test::make_frame(8192, 2);
  EXPECT_EQ(q.try_append(packet_of(huge, 1)), AppendResult::kQueueFull);
}

TEST(EncodingQueue, PcapngFullQueueDoesNotLoseTheInterfaceBlock) {
  EncodingQueue q(FileFormat::kPcapng, 65535, 4096);
  ASSERT_TRUE(q.push_file_header());
  const auto big = test::make_frame(4000, 3);
  // IDB + EPB do not fit: dropped whole, the IDB must come with the next packet that fits.
  EXPECT_EQ(q.try_append(packet_of(big, 1, 1)), AppendResult::kQueueFull);
  const std::vector<uint8_t> small = {1, 2, 3, 4};
  EXPECT_EQ(q.try_append(packet_of(small, 1, 1)), AppendResult::kAppended);
  auto bytes = drain(q);
  ASSERT_GE(bytes.size(), 52u + 40u);
  EXPECT_EQ(get_u32(&bytes[52]), 1u);  // IDB right after the SHB
}

}  // namespace
}  // namespace recorder::sink
