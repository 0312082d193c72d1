// Recounting a finished file that has no metadata (a crash, a file copied in): what the file
// holds, read with libpcap, is what the recording captured; its losses are unknown (0).
#pragma once

#include <cstdint>
#include <string>

namespace recorder::service {

struct PcapCount {
  uint64_t packets = 0;
  uint64_t bytes = 0;        // captured bytes (record lengths)
  uint32_t snap_length = 0;  // from the file header
  std::string error;         // empty when the file was readable as pcap/pcapng
};

// Reads the whole file open on `fd` from its start (the caller keeps and closes `fd`).
PcapCount recount_pcap(int fd);

}  // namespace recorder::service
