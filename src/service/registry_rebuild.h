// The registry of finished recordings, rebuilt at start-up from the storage directory: every
// file named like a recording (sink/file_naming.h) is a finished recording (partial files have
// been repaired before). Its metadata tells its final state; a file without metadata is
// recounted with libpcap (pcap_recount.h) and marked as found without metadata.
#pragma once

#include <vector>

#include "service/recording_info.h"
#include "service/recording_store.h"

namespace recorder::service {

// The finished recordings in `store`, by increasing id (of two files claiming one id, the
// first found wins; the other is logged and left alone).
std::vector<RecordingInfo> rebuild_registry(const RecordingStore& store);

}  // namespace recorder::service
