// NodeMetrics over a real RecordingManager (real sinks and files in a temp dir, the test thread
// playing the packet source): the exposition a scrape reads, parsed back from the text format.
#include "metrics/node_metrics.h"

#include <gtest/gtest.h>

#include <regex>

#include "exposition.h"
#include "manager_fixture.h"
#include "temp_dir.h"

namespace recorder::metrics {
namespace {
using namespace std::chrono_literals;
using service::test::feed;
using service::test::spec_for;
using test::Exposition;
using test::scrape;

class NodeMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service::ManagerOptions options;
    options.storage_path = dir_.path() / "store";
    options.node_name = "unit";
    options.limits.min_free_disk = 0;
    options.limits.queue_bytes_per_recording = 1u << 20;
    auto m = service::RecordingManager::create(options);
    ASSERT_TRUE(m.ok()) << m.error().message();
    manager_ = std::move(*m);
  }
  Exposition read(const NodeMetrics& metrics) {
    std::string error;
    Exposition e = scrape(metrics, &error);
    EXPECT_TRUE(error.empty()) << error;
    return e;
  }

  recorder::test::TempDir dir_{"node-metrics"};
  std::unique_ptr<service::RecordingManager> manager_;
};

TEST_F(NodeMetricsTest, RecordingCountersStatesQueuesAndDiskByNameAndLabels) {
  NodeMetrics metrics(*manager_, {});
  auto first = manager_->start(spec_for("10.0.0.1 0 10.0.0.2 53 UDP"));
  ASSERT_TRUE(first.ok()) << first.error().message();
  feed(*manager_, 25);
  feed(*manager_, 5, 80);  // not selected
  auto stopped = manager_->stop(first->id, StopReason::kRequested);
  ASSERT_TRUE(stopped.ok());
  auto second = manager_->start(spec_for("10.0.0.1 0 10.0.0.2 80 UDP"));
  ASSERT_TRUE(second.ok());
  feed(*manager_, 7, 80);

  const Exposition e = read(metrics);
  EXPECT_EQ(e.value("recorder_recordings", {{"state", "running"}}), 1);
  EXPECT_EQ(e.value("recorder_recordings", {{"state", "stopping"}}), 0);
  EXPECT_EQ(e.value("recorder_recordings", {{"state", "stopped"}}), 1);

  const std::map<std::string, std::string> one = {{"id", std::to_string(first->id)},
                                                  {"name", stopped->file_name}};
  EXPECT_EQ(e.value("recorder_recording_captured_packets_total", one), 25);
  EXPECT_EQ(e.value("recorder_recording_captured_bytes_total", one),
            static_cast<double>(stopped->stats.bytes_captured));
  for (const char* reason : {"kernel", "queue", "write"}) {
    auto labels = one;
    labels["reason"] = reason;
    EXPECT_EQ(e.value("recorder_recording_lost_packets_total", labels), 0) << reason;
    EXPECT_EQ(e.value("recorder_recording_lost_bytes_total", labels), 0) << reason;
  }
  const std::map<std::string, std::string> two = {{"id", std::to_string(second->id)},
                                                  {"name", second->file_name}};
  EXPECT_EQ(e.value("recorder_recording_captured_packets_total", two), 7);

  // Queues: only the running recording has one, of the configured size.
  EXPECT_EQ(e.count("recorder_recording_queue_capacity_bytes"), 1u);
  EXPECT_EQ(e.value("recorder_recording_queue_capacity_bytes", two), 1u << 20);
  ASSERT_TRUE(e.value("recorder_recording_queue_used_bytes", two).has_value());
  EXPECT_LE(*e.value("recorder_recording_queue_used_bytes", two), 1u << 20);

  // The finished file is written whole; the free space is the filesystem's.
  ASSERT_TRUE(e.value("recorder_written_bytes_total").has_value());
  EXPECT_GE(*e.value("recorder_written_bytes_total"), static_cast<double>(stopped->file_size));
  auto free = manager_->storage_free_bytes();
  ASSERT_TRUE(free.ok());
  ASSERT_TRUE(e.value("recorder_storage_free_bytes").has_value());
  EXPECT_GT(*e.value("recorder_storage_free_bytes"), 0);

  // Without a datapath there are no capture series.
  EXPECT_EQ(e.types.count("recorder_interface_packets_total"), 0u);

  // Prometheus conventions: recorder_ prefix, counters and only counters end in _total.
  for (const auto& [name, type] : e.types) {
    if (!name.starts_with("recorder_")) continue;
    EXPECT_EQ(type == "counter", name.ends_with("_total")) << name << " is a " << type;
    EXPECT_TRUE(std::regex_match(name, std::regex("[a-z_]+"))) << name;
  }
}

TEST_F(NodeMetricsTest, SeriesOfADeletedRecordingAreGoneAndWrittenBytesNeverFall) {
  NodeMetrics metrics(*manager_, {});
  auto started = manager_->start(spec_for("10.0.0.1 0 10.0.0.2 53 UDP"));
  ASSERT_TRUE(started.ok());
  feed(*manager_, 40, 53, 1000);
  const double running_written = *read(metrics).value("recorder_written_bytes_total");
  auto stopped = manager_->stop(started->id, StopReason::kRequested);
  ASSERT_TRUE(stopped.ok());
  const Exposition after_stop = read(metrics);
  EXPECT_EQ(after_stop.count("recorder_recording_captured_packets_total"), 1u);
  EXPECT_EQ(after_stop.count("recorder_recording_queue_used_bytes"), 0u);
  const double stopped_written = *after_stop.value("recorder_written_bytes_total");
  EXPECT_GE(stopped_written, running_written);
  EXPECT_GE(stopped_written, static_cast<double>(stopped->file_size));

  ASSERT_TRUE(manager_->remove(started->id).ok());
  const Exposition after_delete = read(metrics);
  EXPECT_EQ(after_delete.count("recorder_recording_captured_packets_total"), 0u);
  EXPECT_EQ(after_delete.count("recorder_recording_lost_packets_total"), 0u);
  EXPECT_EQ(after_delete.value("recorder_recordings", {{"state", "stopped"}}), 0);
  EXPECT_EQ(after_delete.value("recorder_written_bytes_total"), stopped_written);
}

TEST_F(NodeMetricsTest, CaptureCountersByInterfaceAndDirection) {
  CaptureCounters counters;
  counters.seen = {{"eth0", "ingress", 100, 6400}, {"eth0", "egress", 90, 5000}};
  counters.matched = {{"eth0", "egress", 20, 1200}};
  counters.unclassified = {{"eth0", "ingress", 3, 180}};
  counters.lost_samples = 4;
  counters.malformed_samples = 1;
  NodeMetrics metrics(*manager_, [&counters] { return counters; });
  const Exposition e = read(metrics);
  EXPECT_EQ(e.types.at("recorder_interface_packets_total"), "counter");
  EXPECT_EQ(e.value("recorder_interface_packets_total",
                    {{"interface", "eth0"}, {"direction", "ingress"}}),
            100);
  EXPECT_EQ(
      e.value("recorder_interface_bytes_total", {{"interface", "eth0"}, {"direction", "egress"}}),
      5000);
  EXPECT_EQ(e.value("recorder_interface_matched_packets_total",
                    {{"interface", "eth0"}, {"direction", "egress"}}),
            20);
  EXPECT_EQ(e.value("recorder_interface_matched_bytes_total",
                    {{"interface", "eth0"}, {"direction", "egress"}}),
            1200);
  EXPECT_EQ(e.value("recorder_unclassified_packets_total",
                    {{"interface", "eth0"}, {"direction", "ingress"}}),
            3);
  EXPECT_EQ(e.value("recorder_unclassified_bytes_total",
                    {{"interface", "eth0"}, {"direction", "ingress"}}),
            180);
  EXPECT_EQ(e.value("recorder_kernel_buffer_lost_samples_total"), 4);
  EXPECT_EQ(e.value("recorder_malformed_samples_total"), 1);

  // Read again at the next scrape: nothing is cached.
  counters.seen[0].packets = 150;
  EXPECT_EQ(read(metrics).value("recorder_interface_packets_total",
                                {{"interface", "eth0"}, {"direction", "ingress"}}),
            150);
}

}  // namespace
}  // namespace recorder::metrics
