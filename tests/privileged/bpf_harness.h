// BpfHarness: the real recorder BPF object loaded for BPF_PROG_TEST_RUN fixtures. Runs a tc
// program on a hand-built packet and collects what it emitted from the perf buffer or the
// per-CPU ring buffers.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <linux/pkt_cls.h>

#include <cstring>
#include <memory>
#include <vector>

#include "datapath/loader.h"
#include "datapath/rule_table.h"
#include "recorder/recorder_abi.h"

namespace recorder::testing {

struct Sample {
  recorder_capture_hdr hdr{};
  std::vector<uint8_t> data;
};

class BpfHarness {
 public:
  // `with_reader` false: no perf reader is opened, so perf emission fails (loss fixture).
  explicit BpfHarness(datapath::BpfTransport transport, bool with_reader = true) {
    datapath::LoadOptions options;
    options.transport = transport;
    options.ring_bytes_per_cpu = 1u << 20;
    auto obj = datapath::BpfObject::load(options);
    if (!obj) {
      error_ = obj.error().message();
      return;
    }
    object_ = std::move(obj).value();
    table_ = std::make_unique<datapath::RuleTable>(*object_);
    if (!with_reader) return;
    if (transport == datapath::BpfTransport::kPerfBuffer) {
      perf_ =
          perf_buffer__new(object_->events_fd(), 64, &BpfHarness::on_perf, nullptr, this, nullptr);
      if (perf_ == nullptr) error_ = "perf_buffer__new failed";
    } else {
      for (int fd : object_->ring_fds()) {
        if (ring_ == nullptr) {
          ring_ = ring_buffer__new(fd, &BpfHarness::on_ring, this, nullptr);
        } else {
          ring_buffer__add(ring_, fd, &BpfHarness::on_ring, this);
        }
      }
      if (ring_ == nullptr) error_ = "ring_buffer__new failed";
    }
  }
  ~BpfHarness() {
    if (perf_ != nullptr) perf_buffer__free(perf_);
    if (ring_ != nullptr) ring_buffer__free(ring_);
  }

  const std::string& error() const { return error_; }
  bool ok() const { return error_.empty(); }
  datapath::BpfObject& object() { return *object_; }
  datapath::RuleTable& table() { return *table_; }

  // Runs the program once (or `repeat` times) and returns what it emitted.
  std::vector<Sample> run(const std::vector<uint8_t>& packet, bool ingress = true, bool l3 = false,
                          int* verdict = nullptr, uint32_t repeat = 1) {
    samples_.clear();
    std::vector<uint8_t> out(packet.size() + 256);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(), .data_out = out.data(),
                .data_size_in = static_cast<__u32>(packet.size()),
                .data_size_out = static_cast<__u32>(out.size()),
                .repeat = static_cast<int>(repeat));
    const int err = bpf_prog_test_run_opts(object_->program_fd(ingress, l3), &opts);
    last_run_error_ = err;
    last_duration_ns_ = opts.duration;
    if (verdict != nullptr) *verdict = static_cast<int>(opts.retval);
    drain();
    return samples_;
  }
  void drain() {
    if (perf_ != nullptr) perf_buffer__consume(perf_);
    if (ring_ != nullptr) ring_buffer__consume(ring_);
  }
  // Sum over CPUs and interfaces of the kernel's unclassified-packet counters.
  uint64_t unclassified_packets() const {
    uint64_t total = 0;
    for (const auto& c : object_->unclassified()) total += c.packets;
    return total;
  }
  int last_run_error() const { return last_run_error_; }
  uint32_t last_duration_ns() const { return last_duration_ns_; }

 private:
  static void on_perf(void* ctx, int, void* data, __u32 size) {
    static_cast<BpfHarness*>(ctx)->add(data, size);
  }
  static int on_ring(void* ctx, void* data, size_t size) {
    static_cast<BpfHarness*>(ctx)->add(data, size);
    return 0;
  }
  void add(const void* data, size_t size) {
    Sample s;
    if (size < sizeof(s.hdr)) return;
    std::memcpy(&s.hdr, data, sizeof(s.hdr));
    const auto* bytes = static_cast<const uint8_t*>(data) + sizeof(s.hdr);
    const size_t n = std::min<size_t>(s.hdr.cap_len, size - sizeof(s.hdr));
    s.data.assign(bytes, bytes + n);
    samples_.push_back(std::move(s));
  }

  std::string error_;
  std::unique_ptr<datapath::BpfObject> object_;
  std::unique_ptr<datapath::RuleTable> table_;
  perf_buffer* perf_ = nullptr;
  ring_buffer* ring_ = nullptr;
  std::vector<Sample> samples_;
  int last_run_error_ = 0;
  uint32_t last_duration_ns_ = 0;
};

}  // namespace recorder::testing
