// Record scanner: walks the records of a pcap or pcapng file we wrote and finds where the last
// complete record ends. Used by the writer after a write error (the file is cut back to whole
// records and the kept packets counted) and by crash recovery (recovery.h).
//
// The walk trusts only what it can check: the file header, each record's length fields (and in
// pcapng the repeated trailing block length), and that a record ends within `limit`. It stops
// at the first record that fails a check; everything before it is a valid file.
#pragma once

#include <cstdint>

#include "common/result.h"
#include "sink/sink.h"

namespace recorder::sink {

struct ScanResult {
  FileFormat format = FileFormat::kPcap;
  uint64_t valid_end = 0;     // file offset just after the last complete record
  uint64_t packets = 0;       // packet records (pcap records, pcapng EPBs) before valid_end
  uint64_t record_bytes = 0;  // sum of their captured lengths as stored in the file
  // pcap only: records that carry a synthesized Ethernet header (zero MACs, IPv4/IPv6 type
  // matching the IP version nibble). Lets the sink turn file lengths back into captured bytes.
  uint64_t synthesized_records = 0;
};

// Scans the file open on `fd` from offset 0 up to `limit` bytes. NOT_FOUND-free: an error means
// the file header itself is missing or not pcap/pcapng (kInvalidArgument), or a read failed.
// `resume`: an earlier scan of the same file (which has only grown since): the scan goes on from
// its valid_end, its counts carried, instead of reading what it read again (a file being written,
// scanned until it holds some packets).
Result<ScanResult> scan_records(int fd, uint64_t limit, const ScanResult* resume = nullptr);

}  // namespace recorder::sink
