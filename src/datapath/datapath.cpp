// The Datapath implementation: ties the loader, rule table, tc attachments, interface watcher,
// wall clock and the perf/ring buffer readers together (see datapath.h for the contract).
//
// Threads: open() and the RuleListener/status calls run on control threads; run() is the
// source thread. The reader loop also follows interfaces (netlink events, and a rescan when
// netlink reports an overrun) and re-syncs the clock, so no extra thread is needed. It sleeps
// until something happens: a ring buffer's wakeup, a netlink event, a clock step, drain() or
// wake(); only while samples wait in the buffers (or with the perf buffer, which cannot wake it
// for the first sample) does it also come back after max_latency_ms.
// Attachments are guarded by a mutex (control-side only, never taken per packet).
#include "datapath/datapath.h"
#include "datapath/datapath_testing.h"

#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/if.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "datapath/cpu_buffers.h"
#include "datapath/interface_counters.h"
#include "datapath/interfaces.h"
#include "datapath/loader.h"
#include "datapath/ordered_reader.h"
#include "datapath/rule_compiler.h"
#include "datapath/rule_table.h"
#include "datapath/tc_attachment.h"
#include "datapath/wall_clock.h"

namespace recorder::datapath {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kResyncInterval = std::chrono::seconds(1);
constexpr auto kHealthLogInterval = std::chrono::seconds(10);
// drain() waits for the reader as long as it runs (it wakes the reader; a round normally takes
// well under a millisecond), and says so in the log when a starved reader keeps it this long.
constexpr auto kDrainWarningInterval = std::chrono::seconds(1);
constexpr int kBatchEndIntervalMs = 100;
// A sample is committed to its CPU's buffer a moment after its timestamp is taken (the rest of
// the tc program). Each round delivers only samples older than this, so one committed late on
// another CPU still finds its place in time order.
constexpr uint64_t kOrderWindowNs = 2'000'000;

class DatapathImpl final : public Datapath, private OrderedReader::Visitor {
 public:
  explicit DatapathImpl(Options options) : options_(std::move(options)) {}

  ~DatapathImpl() override {
    {
      std::lock_guard lock(attach_mutex_);
      attachments_.clear();  // detach before the programs go away with object_
    }
    reader_.reset();  // reads the perf buffer's memory
    if (perf_ != nullptr) perf_buffer__free(perf_);
    if (ring_epoll_ >= 0) ::close(ring_epoll_);
    if (drain_fd_ >= 0) ::close(drain_fd_);
  }

  Status init() {
    BpfTransport transport = BpfTransport::kPerfBuffer;
    if (options_.transport == Transport::kRingBuffer ||
        (options_.transport == Transport::kAuto && BpfObject::ring_buffer_supported())) {
      transport = BpfTransport::kRingBuffer;
    }
    drain_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (drain_fd_ < 0) return Error::from_errno("create the reader's wakeup eventfd", errno);
    LoadOptions load;
    load.transport = transport;
    load.ring_bytes_per_cpu = options_.buffer_bytes_per_cpu;
    auto object = BpfObject::load(load);
    if (!object) return std::move(object).error();
    object_ = std::move(object).value();
    table_ = std::make_unique<RuleTable>(*object_);
    if (auto s = transport == BpfTransport::kPerfBuffer ? open_perf() : open_ring(); !s) return s;

    // Subscribe before listing, so no link that appears in between is missed.
    auto watcher = LinkWatcher::open();
    if (!watcher) return std::move(watcher).error();
    watcher_.emplace(std::move(watcher).value());

    auto links = list_links();
    if (!links) return std::move(links).error();
    for (const auto& pattern : options_.interfaces) {
      if (is_glob(pattern)) continue;
      bool found = false;
      for (const auto& l : *links) found = found || l.name == pattern;
      if (!found) {
        return Error(ErrorCode::kInvalidArgument,
                     fmt::format("capture on interface {}: no such interface", pattern));
      }
    }
    for (const auto& l : *links) {
      if (!selected(l)) continue;
      auto s = attach(l);
      if (!s && !is_glob_selected(l)) return s;
      if (!s) spdlog::warn("{}", s.error().message());
    }
    return ok_status();
  }

  // PacketSource
  std::string describe() const override {
    std::string names;
    for (const auto& a : attached_interfaces()) names += (names.empty() ? "" : ",") + a.name;
    return fmt::format("eBPF tc on {} ({})", names.empty() ? "no interface yet" : names,
                       transport_name());
  }

  Status run(PacketConsumer& consumer, const std::atomic<bool>& stop) override {
    consumer_ = &consumer;
    Status s = run_reader(stop);
    consumer_ = nullptr;
    return s;
  }

  // RuleListener
  Status install_rules(std::span<const RuleEntry> rules, uint32_t generation) override {
    std::lock_guard lock(table_mutex_);
    if (auto s = table_->install(rules, generation); !s) {
      return Error(s.error().code(), s.error().message()).wrap("install kernel rules");
    }
    return ok_status();
  }

  std::vector<KernelLoss> take_kernel_losses() override {
    std::map<uint64_t, RuleCounters> losses;
    {
      std::lock_guard lock(table_mutex_);
      losses = table_->take_losses();
    }
    std::vector<KernelLoss> out;
    for (const auto& [id, c] : losses) {
      if (c.emit_fail_packets == 0) continue;
      out.push_back({id, c.emit_fail_packets, c.emit_fail_bytes});
    }
    return out;
  }

  std::vector<AttachedInterface> attached_interfaces() const override {
    std::lock_guard lock(attach_mutex_);
    std::vector<AttachedInterface> out;
    for (const auto& [ifindex, a] : attachments_) out.push_back(a.info);
    return out;
  }

  DatapathHealth health() const override {
    DatapathHealth h;
    h.malformed_samples = malformed_samples_.load(std::memory_order_relaxed);
    h.lost_samples = lost_samples_.load(std::memory_order_relaxed);
    std::map<int, std::string> names;
    for (const auto& a : attached_interfaces()) names[a.ifindex] = a.name;
    for (const auto& k : object_->unclassified()) {
      InterfaceCount c;
      c.ifindex = k.ifindex;
      auto it = names.find(c.ifindex);
      if (it != names.end()) c.interface = it->second;
      c.direction = static_cast<Direction>(k.direction);
      c.packets = k.packets;
      c.bytes = k.bytes;
      h.unclassified.push_back(std::move(c));
    }
    for (const auto& m : matched_.counts()) {
      InterfaceCount c;
      c.ifindex = static_cast<int>(m.ifindex);
      auto it = names.find(c.ifindex);
      if (it != names.end()) c.interface = it->second;
      c.direction = static_cast<Direction>(m.direction);
      c.packets = m.packets;
      c.bytes = m.bytes;
      h.matched.push_back(std::move(c));
    }
    return h;
  }

  int program_fd(bool ingress, bool l3) const { return object_->program_fd(ingress, l3); }

  std::string transport_name() const override {
    return object_->transport() == BpfTransport::kPerfBuffer ? "perf buffer" : "ring buffer";
  }

 private:
  struct Attached {
    std::unique_ptr<TcAttachment> tc;
    AttachedInterface info;
  };

  bool is_glob_selected(const LinkInfo& l) const {
    for (const auto& p : options_.interfaces) {
      if (!is_glob(p) && p == l.name) return false;
    }
    return true;
  }

  bool selected(const LinkInfo& l) const {
    if (!link_selected(options_.interfaces, l)) return false;
    // Our own loopback only when named exactly.
    if ((l.flags & IFF_LOOPBACK) != 0 && is_glob_selected(l)) return false;
    return true;
  }

  Status attach(const LinkInfo& l) {
    std::lock_guard lock(attach_mutex_);
    if (attachments_.count(l.ifindex) != 0) return ok_status();
    const auto l3 = link_is_l3(l.type);
    if (!l3) {
      return Error(ErrorCode::kUnavailable,
                   fmt::format("capture on {}: link type {} is not supported", l.name, l.type));
    }
    auto tc = TcAttachment::attach(l.ifindex, l.name, object_->program_fd(true, *l3),
                                   object_->program_fd(false, *l3), options_.attach_mode);
    if (!tc) return std::move(tc).error();
    Attached a;
    a.tc = std::move(tc).value();
    a.info.ifindex = l.ifindex;
    a.info.name = l.name;
    a.info.link_type = *l3 ? LinkType::kRaw : LinkType::kEthernet;
    spdlog::info("recorder attached to {} (ifindex {}, {}, {})", l.name, l.ifindex,
                 *l3 ? "L3" : "Ethernet", a.tc->uses_tcx() ? "tcx links" : "clsact filters");
    attachments_.emplace(l.ifindex, std::move(a));
    return ok_status();
  }

  void forget(int ifindex) {
    std::lock_guard lock(attach_mutex_);
    auto it = attachments_.find(ifindex);
    if (it == attachments_.end()) return;
    // Its filters and (our) qdisc died with the device.
    it->second.tc->forget();
    spdlog::info("recorder detached from {} (interface deleted)", it->second.info.name);
    attachments_.erase(it);
  }

  void handle_link_events() {
    const size_t before = attached_count();
    bool overrun = false;
    for (const auto& e : watcher_->read(overrun)) {
      if (e.removed) {
        forget(e.link.ifindex);
      } else if (selected(e.link)) {
        if (auto s = attach(e.link); !s) spdlog::warn("{}", s.error().message());
      }
    }
    if (overrun) {
      spdlog::info("netlink dropped link events; rescanning the interfaces");
      rescan_links();
    }
    // Most link events change nothing attached (an address, a foreign link); the listener cares
    // whether any interface is left, which only a change of the count can change.
    if (attached_count() != before && options_.interfaces_changed) options_.interfaces_changed();
  }

  size_t attached_count() const {
    std::lock_guard lock(attach_mutex_);
    return attachments_.size();
  }

  // The watcher was subscribed before the first listing (init), so its events are the whole
  // story unless the kernel dropped some; then a full listing catches up.
  void rescan_links() {
    auto links = list_links();
    if (!links) return;
    std::map<int, const LinkInfo*> present;
    for (const auto& l : *links) present[l.ifindex] = &l;
    std::vector<int> gone;
    {
      std::lock_guard lock(attach_mutex_);
      for (const auto& [ifindex, a] : attachments_) {
        if (present.count(ifindex) == 0) gone.push_back(ifindex);
      }
    }
    for (int ifindex : gone) forget(ifindex);
    for (const auto& l : *links) {
      if (selected(l)) {
        if (auto s = attach(l); !s) spdlog::debug("{}", s.error().message());
      }
    }
  }

  // Before a round, at most every second: the kernel-to-wall-clock offset drifts slowly (NTP
  // slewing), and the first round after a quiet spell must not convert with an old offset;
  // steps are caught at once by the clock's step fd.
  void resync_if_due(Clock::time_point now) {
    if (now - last_resync_ < kResyncInterval) return;
    last_resync_ = now;
    clock_.resync();
  }

  // After a round that emptied the buffers (the end of a burst: its packets are all counted by
  // then), at most every kHealthLogInterval: say in the log what could not be classified or was
  // malformed since the last time. A quiet reader stays asleep; the counts are in CaptureHealth
  // at any time, and logged at the end.
  void log_health_if_due(Clock::time_point now) {
    if (now - last_health_log_ < kHealthLogInterval) return;
    last_health_log_ = now;
    log_health();
  }

  void log_health() {
    const DatapathHealth h = health();
    for (const auto& c : h.unclassified) {
      uint64_t& logged = logged_unclassified_[{c.ifindex, static_cast<int>(c.direction)}];
      if (c.packets == logged) continue;
      spdlog::warn(
          "{} packets ({} in all) on {} {} could not be classified (a header truncated, "
          "malformed or beyond the parse limits): they matched only filters that need "
          "no port, protocol or address",
          c.packets - logged, c.packets,
          c.interface.empty() ? fmt::format("ifindex {}", c.ifindex) : c.interface,
          c.direction == Direction::kIngress ? "ingress" : "egress");
      logged = c.packets;
    }
    if (h.malformed_samples != logged_malformed_) {
      spdlog::warn("{} malformed samples from the kernel were dropped ({} in all)",
                   h.malformed_samples - logged_malformed_, h.malformed_samples);
      logged_malformed_ = h.malformed_samples;
    }
  }

  void deliver(const void* sample, size_t size) noexcept {
    if (size < sizeof(recorder_capture_hdr)) {
      bump(malformed_samples_);
      return;
    }
    // Perf samples start 4 bytes past an 8-byte boundary: copy the header into aligned
    // storage rather than read u64 fields (and hand out a RuleMask) in place.
    std::memcpy(&hdr_, sample, sizeof(hdr_));
    if (size < sizeof(hdr_) + hdr_.cap_len || hdr_.cap_len > hdr_.orig_len) {
      bump(malformed_samples_);
      return;
    }
    matched_.add(hdr_.ifindex, hdr_.direction, hdr_.orig_len);
    CapturedPacket p;
    p.timestamp_ns = clock_.to_wall_ns(hdr_.ktime_ns);
    p.ifindex = hdr_.ifindex;
    p.original_length = hdr_.orig_len;
    p.direction = static_cast<Direction>(hdr_.direction);
    p.link_type = static_cast<LinkType>(hdr_.link_type);
    p.data = {static_cast<const uint8_t*>(sample) + sizeof(hdr_), hdr_.cap_len};
    p.kernel_rules = &hdr_.rules;
    p.rule_generation = hdr_.generation;
    if (hdr_.vlan_present != 0 && p.link_type == LinkType::kEthernet && p.data.size() >= 12 &&
        p.data.size() + 4 <= vlan_frame_.size()) {
      // Put the offloaded outer tag back behind the MAC addresses (reader-owned buffer, no
      // allocation): the capture then shows the frame as it was on the wire.
      uint8_t* out = vlan_frame_.data();
      std::memcpy(out, p.data.data(), 12);
      std::memcpy(out + 12, &hdr_.vlan_proto, 2);
      out[14] = static_cast<uint8_t>(hdr_.vlan_tci >> 8);
      out[15] = static_cast<uint8_t>(hdr_.vlan_tci);
      std::memcpy(out + 16, p.data.data() + 12, p.data.size() - 12);
      p.data = {out, p.data.size() + 4};
      p.original_length += 4;
    }
    consumer_->on_packet(p);
  }

  // OrderedReader::Visitor
  void sample(const uint8_t* data, size_t size) noexcept override { deliver(data, size); }
  void lost(uint64_t samples) noexcept override {
    lost_samples_.store(lost_samples_.load(std::memory_order_relaxed) + samples,
                        std::memory_order_relaxed);
  }

  // Single-writer counter (the reader thread), read by anyone.
  static void bump(std::atomic<uint64_t>& counter) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  // Polls the control fds (netlink, clock step, drain requests and wake()) and `extra_fd` for up
  // to timeout_ms (-1: until one of them has something).
  void wait_and_handle(int extra_fd, int timeout_ms) {
    pollfd fds[4] = {{watcher_->fd(), POLLIN, 0},
                     {clock_.step_fd(), POLLIN, 0},
                     {drain_fd_, POLLIN, 0},
                     {extra_fd, POLLIN, 0}};
    const int n = poll(fds, extra_fd >= 0 ? 4 : 3, timeout_ms);
    if (n > 0) {
      if (fds[0].revents & POLLIN) handle_link_events();
      if (fds[1].revents & POLLIN) clock_.check_step();
      if (fds[2].revents & POLLIN) {
        uint64_t requests;
        (void)!::read(drain_fd_, &requests, sizeof(requests));  // a wakeup; the count is moot
      }
    }
  }

 public:
  void wake() noexcept override {
    const uint64_t one = 1;
    (void)!::write(drain_fd_, &one, sizeof(one));
  }

  // RuleListener: the reader delivers, each round, every sample older than its horizon; wake it
  // until a round's horizon has passed the moment of the call. There is no deadline: giving up
  // would let the stopped recording's last packets reach dispatch after its routing entry is
  // gone, where they would count as unmatched instead of as written or lost. The reader never
  // waits for the control side (dispatch appends without blocking), so a slow reader (CPU cap,
  // load) only makes the stop slow; a reader that ends delivers everything first (run_reader).
  void drain() override {
    if (!reading_.load(std::memory_order_acquire)) return;
    const uint64_t since = WallClock::monotonic_now_ns();
    const auto start = Clock::now();
    auto next_warning = start + kDrainWarningInterval;
    while (reading_.load(std::memory_order_acquire) &&
           delivered_through_ns_.load(std::memory_order_acquire) < since) {
      if (const auto now = Clock::now(); now >= next_warning) {
        spdlog::warn(
            "removing a recording waits for the reader to deliver the kernel's buffers up to "
            "the stop ({} ms so far): its last packets will reach its file",
            std::chrono::duration_cast<std::chrono::milliseconds>(now - start).count());
        next_warning = now + kDrainWarningInterval;
      }
      wake();
      std::this_thread::sleep_for(std::chrono::milliseconds(1) +
                                  std::chrono::nanoseconds(kOrderWindowNs));
    }
  }

 private:
  // The perf buffers are opened at init: the kernel can only emit into a CPU's buffer once its
  // perf event exists, so packets between open() and run() are kept, not lost.
  Status open_perf() {
    perf_event_attr attr{};
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_BPF_OUTPUT;
    attr.sample_type = PERF_SAMPLE_RAW;
    // Wake the reader only once a CPU's buffer holds reader_wakeup_bytes(); quiet packets are
    // picked up by the poll timeout instead (max_latency_ms): a perf buffer cannot wake the
    // reader for the first sample after a quiet spell without waking it for every sample.
    const size_t bytes = per_cpu_buffer_bytes(options_.buffer_bytes_per_cpu);
    const size_t pages = bytes / static_cast<size_t>(sysconf(_SC_PAGESIZE));
    attr.watermark = 1;
    attr.wakeup_watermark = static_cast<uint32_t>(reader_wakeup_bytes(bytes));
    // libbpf sets the buffers up (one perf event and mmap per CPU, an epoll fd); the samples
    // are read in place by the OrderedReader, not through libbpf's callback.
    perf_ = perf_buffer__new_raw(object_->events_fd(), pages, &attr, &ignore_perf_event, nullptr,
                                 nullptr);
    if (perf_ == nullptr) {
      return Error::from_errno("open the per-CPU perf buffers", errno, ErrorCode::kUnavailable);
    }
    auto buffers = perf_cpu_buffers(perf_);
    if (!buffers) return std::move(buffers).error();
    reader_ = std::make_unique<OrderedReader>(std::move(buffers).value());
    wait_fd_ = perf_buffer__epoll_fd(perf_);
    return ok_status();
  }

  static enum bpf_perf_event_ret ignore_perf_event(void*, int, struct perf_event_header*) {
    return LIBBPF_PERF_EVENT_CONT;
  }

  Status open_ring() {
    auto buffers = ring_cpu_buffers(object_->ring_fds());
    if (!buffers) return std::move(buffers).error();
    reader_ = std::make_unique<OrderedReader>(std::move(buffers).value());
    auto epoll = ring_buffers_epoll(object_->ring_fds());
    if (!epoll) return std::move(epoll).error();
    ring_epoll_ = wait_fd_ = *epoll;
    return ok_status();
  }

  // The reader loop for both transports: wait for a wakeup (or the latency bound), deliver what
  // the buffers hold in time order up to the horizon, end the batch. A ring buffer wakes the
  // reader for a sample that lands in an emptied ring (recorder.bpf.c, ringbuf_wakeup_flag), so
  // after a round that left every ring empty the reader sleeps without a timeout; while samples
  // wait past the horizon, or with the perf buffer, it comes back within the latency bound.
  Status run_reader(const std::atomic<bool>& stop) {
    const int latency = static_cast<int>(
        std::min<uint32_t>(std::max<uint32_t>(options_.max_latency_ms, 1), kBatchEndIntervalMs));
    const bool woken_by_first_sample = object_->transport() == BpfTransport::kRingBuffer;
    int timeout = latency;
    reading_.store(true, std::memory_order_release);
    while (!stop.load(std::memory_order_relaxed)) {
      wait_and_handle(wait_fd_, timeout);
      if (stop.load(std::memory_order_relaxed)) break;
      // poll() only looks at the epoll fd; collecting the events is what re-arms the
      // edge-triggered ring buffers (and clears the perf buffers' wakeup flags).
      epoll_event events[64];
      while (::epoll_wait(wait_fd_, events, 64, 0) == 64) {
      }
      resync_if_due(Clock::now());
      const uint64_t horizon = WallClock::monotonic_now_ns() - kOrderWindowNs;
      reader_->read(horizon, *this);
      consumer_->on_batch_end();
      delivered_through_ns_.store(horizon, std::memory_order_release);
      const bool drained = reader_->drained();
      if (drained) log_health_if_due(Clock::now());
      timeout = woken_by_first_sample && drained ? -1 : latency;
    }
    // Whatever the kernel wrote before stop.
    reader_->read(OrderedReader::kNoHorizon, *this);
    consumer_->on_batch_end();
    reading_.store(false, std::memory_order_release);
    log_losses();
    return ok_status();
  }

  void log_losses() {
    const uint64_t lost = lost_samples_.load(std::memory_order_relaxed);
    if (lost != 0) spdlog::warn("perf buffer reported {} lost samples", lost);
    log_health();
  }

  Options options_;
  std::unique_ptr<BpfObject> object_;
  std::mutex table_mutex_;
  std::unique_ptr<RuleTable> table_;
  std::optional<LinkWatcher> watcher_;
  WallClock clock_;
  Clock::time_point last_resync_ = Clock::now();
  PacketConsumer* consumer_ = nullptr;
  recorder_capture_hdr hdr_{};  // the current sample's header (reader thread only)
  // A frame with its VLAN tag re-inserted (reader thread only; the largest capture + tag).
  std::vector<uint8_t> vlan_frame_ = std::vector<uint8_t>(kMaxSnapLength + 4);
  perf_buffer* perf_ = nullptr;
  int ring_epoll_ = -1;
  int wait_fd_ = -1;  // the epoll fd the reader waits on (perf or ring)
  std::unique_ptr<OrderedReader> reader_;
  // drain(): a wakeup for the reader, whether it runs, and the horizon of its last round.
  int drain_fd_ = -1;
  std::atomic<bool> reading_{false};
  std::atomic<uint64_t> delivered_through_ns_{0};
  std::atomic<uint64_t> lost_samples_{0};
  std::atomic<uint64_t> malformed_samples_{0};
  InterfaceCounters matched_;  // written by the reader thread, read by health()
  // What log_health() last reported (reader thread only).
  Clock::time_point last_health_log_ = Clock::now();
  std::map<std::pair<int, int>, uint64_t> logged_unclassified_;
  uint64_t logged_malformed_ = 0;
  mutable std::mutex attach_mutex_;
  std::map<int, Attached> attachments_;
};

}  // namespace

Result<std::unique_ptr<Datapath>> Datapath::open(Options options) {
  auto impl = std::make_unique<DatapathImpl>(std::move(options));
  if (auto s = impl->init(); !s) return std::move(s).error().wrap("open the eBPF datapath");
  return std::unique_ptr<Datapath>(std::move(impl));
}

}  // namespace recorder::datapath

namespace recorder::datapath::testing_access {

int program_fd(Datapath& datapath, bool ingress, bool l3) {
  auto* impl = dynamic_cast<DatapathImpl*>(&datapath);
  return impl == nullptr ? -1 : impl->program_fd(ingress, l3);
}

}  // namespace recorder::datapath::testing_access
