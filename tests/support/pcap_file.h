// pcap_file.h: writes and reads pcap files with libpcap, for tests that replay traffic or check
// what a recording wrote. Header-only; link PkgConfig::LIBPCAP (recorder_test_support does).
//
//   test::write_pcap(path, packets);          // nanosecond pcap, Ethernet unless told otherwise
//   auto back = test::read_pcap(path);        // every record with its timestamp
//
// Owned by dispatch (tests/support is shared: add helpers, don't change what others use).
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace recorder::test {

struct PcapRecord {
  uint64_t timestamp_ns = 0;
  uint32_t original_length = 0;  // 0 when writing: data.size()
  std::vector<uint8_t> data;
};

// Orders frames by length, then bytes: the key order of the sets and maps tests compare
// captures with (FrameMultiset, FrameMultimap). std::less on byte vectors would do, but GCC 12
// at -O3 takes its memcmp length for possibly negative and fails a -Werror build
// (-Wstringop-overread, a false positive); equal lengths first keep the bound evident.
struct FrameLess {
  bool operator()(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) const {
    if (a.size() != b.size()) return a.size() < b.size();
    return !a.empty() && std::memcmp(a.data(), b.data(), a.size()) < 0;
  }
};
using FrameMultiset = std::multiset<std::vector<uint8_t>, FrameLess>;
using FrameSet = std::set<std::vector<uint8_t>, FrameLess>;
template <typename T>
using FrameMultimap = std::multimap<std::vector<uint8_t>, T, FrameLess>;

struct PcapContents {
  int link_type = 0;  // DLT_*
  uint32_t snap_length = 0;
  std::vector<PcapRecord> records;
};

// Writes `records` to `path` (pcap, nanosecond timestamps). Throws std::runtime_error on failure.
inline void write_pcap(const std::string& path, const std::vector<PcapRecord>& records,
                       int link_type = DLT_EN10MB, uint32_t snap_length = 262144) {
  pcap_t* dead = pcap_open_dead_with_tstamp_precision(link_type, static_cast<int>(snap_length),
                                                      PCAP_TSTAMP_PRECISION_NANO);
  if (dead == nullptr) throw std::runtime_error("write_pcap: pcap_open_dead failed");
  pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
  if (dumper == nullptr) {
    std::string error = pcap_geterr(dead);
    pcap_close(dead);
    throw std::runtime_error("write_pcap " + path + ": " + error);
  }
  for (const PcapRecord& r : records) {
    pcap_pkthdr header{};
    header.ts.tv_sec = static_cast<time_t>(r.timestamp_ns / 1000000000u);
    header.ts.tv_usec = static_cast<suseconds_t>(r.timestamp_ns % 1000000000u);  // ns precision
    header.caplen = static_cast<uint32_t>(r.data.size());
    header.len = r.original_length != 0 ? r.original_length : header.caplen;
    pcap_dump(reinterpret_cast<u_char*>(dumper), &header, r.data.data());
  }
  pcap_dump_close(dumper);
  pcap_close(dead);
}

// Reads every record of a pcap or pcapng file with nanosecond timestamps.
inline PcapContents read_pcap(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* pcap =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (pcap == nullptr) throw std::runtime_error("read_pcap " + path + ": " + errbuf);
  PcapContents contents;
  contents.link_type = pcap_datalink(pcap);
  contents.snap_length = static_cast<uint32_t>(pcap_snapshot(pcap));
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  int rc;
  while ((rc = pcap_next_ex(pcap, &header, &data)) == 1) {
    PcapRecord r;
    r.timestamp_ns = static_cast<uint64_t>(header->ts.tv_sec) * 1000000000u +
                     static_cast<uint64_t>(header->ts.tv_usec);
    r.original_length = header->len;
    r.data.assign(data, data + header->caplen);
    contents.records.push_back(std::move(r));
  }
  std::string error = rc == PCAP_ERROR_BREAK ? "" : pcap_geterr(pcap);
  pcap_close(pcap);
  if (!error.empty()) throw std::runtime_error("read_pcap " + path + ": " + error);
  return contents;
}

}  // namespace recorder::test
