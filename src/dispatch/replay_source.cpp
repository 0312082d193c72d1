#include "dispatch/replay_source.h"

#include "common/wall_clock.h"

#include <fmt/format.h>
#include <pcap/pcap.h>

#include <cerrno>
#include <chrono>
#include <thread>

namespace recorder {
namespace {

// DLT_IPV4 / DLT_IPV6 are not defined by every libpcap; their values are fixed by the registry.
constexpr int kDltIpv4 = 228;
constexpr int kDltIpv6 = 229;
constexpr int kLinktypeRaw = 101;

Result<LinkType> link_type_of(int dlt, const std::filesystem::path& path) {
  switch (dlt) {
    case DLT_EN10MB:
      return LinkType::kEthernet;
    case DLT_RAW:
    case kLinktypeRaw:
    case kDltIpv4:
    case kDltIpv6:
      return LinkType::kRaw;
    default:
      break;
  }
  const char* name = pcap_datalink_val_to_name(dlt);
  return Error(ErrorCode::kInvalidArgument,
               fmt::format("replay {}: link type {} ({}) is not supported: expected Ethernet or "
                           "raw IP (LINKTYPE_RAW, IPV4, IPV6)",
                           path.string(), name != nullptr ? name : "unknown", dlt));
}

Result<pcap_t*> open_file(const std::filesystem::path& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* pcap =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (pcap == nullptr) {
    std::error_code ec;
    const bool exists = std::filesystem::exists(path, ec);
    return Error(exists ? ErrorCode::kInvalidArgument : ErrorCode::kNotFound,
                 fmt::format("replay {}: open: {}", path.string(), errbuf), exists ? 0 : ENOENT);
  }
  return pcap;
}

}  // namespace

struct ReplaySource::Handle {
  pcap_t* pcap = nullptr;
  ~Handle() {
    if (pcap != nullptr) pcap_close(pcap);
  }
};

Result<std::unique_ptr<ReplaySource>> ReplaySource::open(ReplayOptions options) {
  auto pcap = open_file(options.path);
  if (!pcap) return std::move(pcap).error();
  auto handle = std::make_unique<Handle>();
  handle->pcap = *pcap;
  auto link_type = link_type_of(pcap_datalink(handle->pcap), options.path);
  if (!link_type) return std::move(link_type).error();
  if (options.batch_packets == 0) options.batch_packets = 1;
  if (options.packets_per_second < 0) {
    return Error(
        ErrorCode::kInvalidArgument,
        fmt::format("replay {}: packets per second must not be negative", options.path.string()));
  }
  return std::unique_ptr<ReplaySource>(
      new ReplaySource(std::move(options), std::move(handle), *link_type));
}

ReplaySource::ReplaySource(ReplayOptions options, std::unique_ptr<Handle> handle,
                           LinkType link_type)
    : options_(std::move(options)), handle_(std::move(handle)), link_type_(link_type) {}

ReplaySource::~ReplaySource() = default;

std::string ReplaySource::describe() const {
  std::string text = fmt::format("replay of {}", options_.path.string());
  if (options_.loop) text += ", looping";
  if (options_.packets_per_second > 0) {
    text += fmt::format(", {} packets/s", options_.packets_per_second);
  }
  return text;
}

Status ReplaySource::run(PacketConsumer& consumer, const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  const bool paced = options_.packets_per_second > 0;
  const auto start = Clock::now();
  constexpr auto kMaxIdle = std::chrono::milliseconds(100);
  unsigned in_batch = 0;
  uint64_t sent = 0;
  auto end_batch = [&] {
    if (in_batch != 0) consumer.on_batch_end();
    in_batch = 0;
  };

  while (!stop.load(std::memory_order_relaxed)) {
    if (paced) {
      // Packet `sent` is due at start + sent / rate. While waiting, end the batch (the consumer
      // lets go of its routing table) and wake at least every 100 ms to notice `stop`.
      const auto due =
          start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                      static_cast<double>(sent) / options_.packets_per_second));
      auto now = Clock::now();
      if (now < due) {
        end_batch();
        while (now < due && !stop.load(std::memory_order_relaxed)) {
          const auto wait = std::min<Clock::duration>(due - now, kMaxIdle);
          std::this_thread::sleep_for(wait);
          now = Clock::now();
        }
        if (stop.load(std::memory_order_relaxed)) break;
      }
    }

    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(handle_->pcap, &header, &data);
    if (rc == PCAP_ERROR_BREAK) {  // end of file
      if (!options_.loop) break;
      end_batch();
      auto reopened = open_file(options_.path);
      if (!reopened) return std::move(reopened).error();
      pcap_close(handle_->pcap);
      handle_->pcap = *reopened;
      continue;
    }
    if (rc != 1) {
      end_batch();
      return Error(ErrorCode::kInternal,
                   fmt::format("replay {}: read packet {}: {}", options_.path.string(), sent + 1,
                               pcap_geterr(handle_->pcap)));
    }
    CapturedPacket packet;
    // With nanosecond precision, libpcap puts nanoseconds in tv_usec.
    packet.timestamp_ns = options_.retime ? wall_clock_ns()
                                          : static_cast<uint64_t>(header->ts.tv_sec) * 1000000000u +
                                                static_cast<uint64_t>(header->ts.tv_usec);
    packet.ifindex = options_.ifindex;
    packet.original_length = std::max(header->len, header->caplen);
    packet.direction = options_.direction;
    packet.link_type = link_type_;
    packet.data = std::span<const uint8_t>(data, header->caplen);
    consumer.on_packet(packet);
    ++sent;
    packets_replayed_.store(sent, std::memory_order_relaxed);
    if (++in_batch >= options_.batch_packets) end_batch();
  }
  end_batch();
  return ok_status();
}

}  // namespace recorder
