#include "daemon/capture_counters.h"

#include <spdlog/spdlog.h>

#include "datapath/interfaces.h"

namespace recorder::daemon {
namespace {

std::string direction_name(Direction d) {
  return d == Direction::kIngress ? "ingress" : d == Direction::kEgress ? "egress" : "unknown";
}

}  // namespace

metrics::CaptureCounters capture_counters(const datapath::Datapath& datapath) {
  metrics::CaptureCounters out;
  const datapath::DatapathHealth health = datapath.health();
  auto convert = [](const std::vector<datapath::InterfaceCount>& in) {
    std::vector<metrics::CaptureCounters::Interface> converted;
    for (const auto& c : in) {
      // An interface deleted since keeps its counts under its former index.
      std::string name = c.interface.empty() ? "ifindex " + std::to_string(c.ifindex) : c.interface;
      converted.push_back({std::move(name), direction_name(c.direction), c.packets, c.bytes});
    }
    return converted;
  };
  out.unclassified = convert(health.unclassified);
  out.matched = convert(health.matched);
  out.lost_samples = health.lost_samples;
  out.malformed_samples = health.malformed_samples;

  auto links = datapath::list_links();
  if (!links) {
    spdlog::warn("metrics: {}", links.error().message());
    return out;
  }
  for (const auto& attached : datapath.attached_interfaces()) {
    for (const auto& link : *links) {
      if (link.ifindex != attached.ifindex) continue;
      out.seen.push_back({attached.name, "ingress", link.rx_packets, link.rx_bytes});
      out.seen.push_back({attached.name, "egress", link.tx_packets, link.tx_bytes});
    }
  }
  return out;
}

}  // namespace recorder::daemon
