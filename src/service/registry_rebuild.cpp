#include "service/registry_rebuild.h"

#include <spdlog/spdlog.h>

#include <map>

#include "service/pcap_recount.h"
#include "service/recording_metadata.h"
#include "sink/file_naming.h"

namespace recorder::service {

namespace {

// Fills `info` from what the file holds.
void recount(const RecordingStore& store, RecordingInfo& info) {
  auto fd = store.open_for_reading(info.file_name);
  if (!fd) {
    info.stop_message = fd.error().message();
    return;
  }
  const PcapCount count = recount_pcap(fd->get());
  info.stats.packets_captured = count.packets;
  info.stats.bytes_captured = count.bytes;
  info.snap_length = count.snap_length;
  info.stop_message = count.error;
}

}  // namespace

std::vector<RecordingInfo> rebuild_registry(const RecordingStore& store) {
  std::map<uint64_t, RecordingInfo> found;
  auto names = store.names();
  if (!names) {
    spdlog::warn("rebuild the registry of finished recordings: {}", names.error().message());
    return {};
  }
  for (const auto& name : *names) {
    auto parsed = sink::parse_recording_file_name(name);
    if (!parsed) continue;
    auto size = store.file_size(name);
    if (!size) continue;  // not a regular file (or gone)
    if (found.count(parsed->id) != 0) {
      spdlog::warn("two files claim recording id {}; ignoring {}", parsed->id, name);
      continue;
    }
    RecordingInfo info;
    info.id = parsed->id;
    info.state = RecordingState::kStopped;
    info.file_prefix = parsed->prefix;
    info.node_name = parsed->node;
    info.format = parsed->format;
    info.file_name = name;
    info.file_path = store.path() / name;
    info.file_size = *size;
    info.start_time = parsed->start;
    info.stop_time = info.start_time;
    auto text = store.read_metadata(name);
    Status loaded = text ? from_metadata_json(*text, info) : Status(text.error());
    if (!loaded) {
      if (loaded.error().code() != ErrorCode::kNotFound) {
        spdlog::warn("ignoring unreadable metadata of {}: {}", name, loaded.error().message());
      }
      recount(store, info);
      if (info.stop_message.empty()) info.stop_message = "found at start-up without metadata";
    }
    found.emplace(info.id, std::move(info));
  }
  if (!found.empty()) {
    spdlog::info("found {} finished recordings in {}", found.size(), store.path().string());
  }
  std::vector<RecordingInfo> out;
  out.reserve(found.size());
  for (auto& [_, info] : found) out.push_back(std::move(info));
  return out;
}

}  // namespace recorder::service
