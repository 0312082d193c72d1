#include "metrics/node_metrics.h"

#include <spdlog/spdlog.h>

#include <string_view>

#include "metrics/family.h"

namespace recorder::metrics {
namespace {

using service::RecordingState;

void add_recordings(service::RecordingManager& manager,
                    std::vector<prometheus::MetricFamily>& out) {
  auto states = gauge_family("recorder_recordings", "Recordings this daemon knows, by state");
  auto packets = counter_family("recorder_recording_captured_packets_total",
                                "Packets a recording captured (written to its file)");
  auto bytes = counter_family("recorder_recording_captured_bytes_total",
                              "Captured bytes of a recording (after its snap length)");
  auto lost_packets = counter_family(
      "recorder_recording_lost_packets_total",
      "Packets a recording lost, by reason: kernel (the kernel buffer was full), queue (its "
      "write queue was full), write (a write to its file failed)");
  auto lost_bytes = counter_family("recorder_recording_lost_bytes_total",
                                   "Bytes a recording lost (original lengths), by reason");

  uint64_t by_state[3] = {};
  const service::RecordingManager::Page page = manager.list();
  for (const service::RecordingInfo& r : page.recordings) {
    ++by_state[static_cast<size_t>(r.state)];
    const std::string id = std::to_string(r.id);
    const RecordingStats& s = r.stats;
    add_sample(packets, static_cast<double>(s.packets_captured),
               {{"id", id}, {"name", r.file_name}});
    add_sample(bytes, static_cast<double>(s.bytes_captured), {{"id", id}, {"name", r.file_name}});
    const std::pair<std::string_view, std::pair<uint64_t, uint64_t>> losses[] = {
        {"kernel", {s.packets_lost_kernel, s.bytes_lost_kernel}},
        {"queue", {s.packets_lost_queue, s.bytes_lost_queue}},
        {"write", {s.packets_lost_write, s.bytes_lost_write}},
    };
    for (const auto& [reason, counts] : losses) {
      add_sample(lost_packets, static_cast<double>(counts.first),
                 {{"id", id}, {"name", r.file_name}, {"reason", std::string(reason)}});
      add_sample(lost_bytes, static_cast<double>(counts.second),
                 {{"id", id}, {"name", r.file_name}, {"reason", std::string(reason)}});
    }
  }
  for (RecordingState state :
       {RecordingState::kRunning, RecordingState::kStopping, RecordingState::kStopped}) {
    add_sample(states, static_cast<double>(by_state[static_cast<size_t>(state)]),
               {{"state", std::string(service::to_string(state))}});
  }
  for (auto* f : {&states, &packets, &bytes, &lost_packets, &lost_bytes}) {
    out.push_back(std::move(*f));
  }
}

void add_writes(service::RecordingManager& manager, std::vector<prometheus::MetricFamily>& out) {
  const service::RecordingManager::WriteActivity activity = manager.write_activity();
  auto written = counter_family("recorder_written_bytes_total",
                                "Bytes written into recording files since the daemon started");
  add_sample(written, static_cast<double>(activity.written_bytes));
  auto used = gauge_family("recorder_recording_queue_used_bytes",
                           "Bytes waiting in a running recording's write queue");
  auto capacity = gauge_family("recorder_recording_queue_capacity_bytes",
                               "Size of a running recording's write queue");
  for (const auto& q : activity.queues) {
    const std::string id = std::to_string(q.id);
    add_sample(used, static_cast<double>(q.queued_bytes), {{"id", id}, {"name", q.file_name}});
    add_sample(capacity, static_cast<double>(q.capacity_bytes),
               {{"id", id}, {"name", q.file_name}});
  }
  out.push_back(std::move(written));
  out.push_back(std::move(used));
  out.push_back(std::move(capacity));

  auto free = gauge_family("recorder_storage_free_bytes",
                           "Free bytes on the filesystem of the storage path");
  if (auto bytes = manager.storage_free_bytes(); bytes) {
    add_sample(free, static_cast<double>(*bytes));
    out.push_back(std::move(free));
  } else {
    // Left out of this scrape rather than reported as a number that is not true.
    spdlog::warn("metrics: {}", bytes.error().message());
  }
}

void add_capture(const CaptureCounters& c, std::vector<prometheus::MetricFamily>& out) {
  auto per_interface = [&out](const std::vector<CaptureCounters::Interface>& counts,
                              const char* packets_name, const char* bytes_name,
                              const char* packets_help, const char* bytes_help) {
    auto packets = counter_family(packets_name, packets_help);
    auto bytes = counter_family(bytes_name, bytes_help);
    for (const auto& i : counts) {
      add_sample(packets, static_cast<double>(i.packets),
                 {{"interface", i.interface}, {"direction", i.direction}});
      add_sample(bytes, static_cast<double>(i.bytes),
                 {{"interface", i.interface}, {"direction", i.direction}});
    }
    out.push_back(std::move(packets));
    out.push_back(std::move(bytes));
  };
  per_interface(c.seen, "recorder_interface_packets_total", "recorder_interface_bytes_total",
                "Packets through an interface the recorder is attached to, by direction (the "
                "interface's own counters: received for ingress, transmitted for egress)",
                "Bytes through an interface the recorder is attached to, by direction");
  per_interface(c.matched, "recorder_interface_matched_packets_total",
                "recorder_interface_matched_bytes_total",
                "Packets that matched a recording's filter in the kernel and reached the daemon, "
                "by interface and direction (kernel buffer losses are counted per recording)",
                "Bytes (lengths on the wire) of the packets that matched and reached the daemon");
  per_interface(c.unclassified, "recorder_unclassified_packets_total",
                "recorder_unclassified_bytes_total",
                "Packets the kernel program could not classify (a header truncated, malformed or "
                "beyond the parse limits), by interface and direction",
                "Bytes of the packets the kernel program could not classify");
  auto lost = counter_family("recorder_kernel_buffer_lost_samples_total",
                             "Samples the kernel buffer reported lost without saying whose");
  add_sample(lost, static_cast<double>(c.lost_samples));
  auto malformed = counter_family("recorder_malformed_samples_total",
                                  "Samples from the kernel too short for their header: dropped");
  add_sample(malformed, static_cast<double>(c.malformed_samples));
  out.push_back(std::move(lost));
  out.push_back(std::move(malformed));
}

}  // namespace

NodeMetrics::NodeMetrics(service::RecordingManager& manager,
                         std::function<CaptureCounters()> capture)
    : manager_(manager), capture_(std::move(capture)) {}

std::vector<prometheus::MetricFamily> NodeMetrics::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  add_recordings(manager_, out);
  add_writes(manager_, out);
  if (capture_) add_capture(capture_(), out);
  return out;
}

}  // namespace recorder::metrics
