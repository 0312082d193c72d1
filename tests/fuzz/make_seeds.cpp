// Writes the seed corpora of the fuzz targets: real frames from the packet builder (every
// protocol, VLANs, IPv6 extension headers, fragments) and filter texts. Usage: make_seeds DIR
// (creates DIR/decode_packet, DIR/parse_filter, DIR/classifier, and DIR/request_validation:
// serialized start requests, when built with the service).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "packet_builder.h"
#ifdef RECORDER_SEED_REQUESTS
#include "recorder.pb.h"
#endif

namespace {

void write(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds DIR\n";
    return 2;
  }
  namespace fs = std::filesystem;
  using recorder::test::PacketSpec;
  const fs::path dir = argv[1];
  for (const char* t : {"decode_packet", "parse_filter", "classifier", "request_validation"})
    fs::create_directories(dir / t);

  const std::vector<PacketSpec> specs = {
      {.protocol = IPPROTO_TCP, .source_port = 40000, .destination_port = 443},
      {.protocol = IPPROTO_UDP, .destination_port = 53, .ipv4_option_words = 3},
      {.protocol = IPPROTO_SCTP, .more_fragments = true},
      {.protocol = IPPROTO_UDP, .fragment_offset = 10},
      {.protocol = IPPROTO_ICMP},
      {.vlans = {{0x88a8, 1}, {0x8100, 2}}, .protocol = IPPROTO_TCP},
      {.vlans = {{0x9100, 3}},
       .source = "fd00::1",
       .destination = "fd00::2",
       .protocol = IPPROTO_UDP},
      {.source = "fd00::1", .destination = "2001:db8::1", .protocol = IPPROTO_ICMPV6},
      {.source = "fd00::1",
       .destination = "fd00::2",
       .protocol = IPPROTO_TCP,
       .ipv6_extensions = {IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_AH, IPPROTO_DSTOPTS}},
      {.source = "fd00::1",
       .destination = "fd00::2",
       .protocol = IPPROTO_UDP,
       .fragment_offset = 3},
      {.source = "fd00::1",
       .destination = "fd00::2",
       .protocol = 50,
       .ipv6_extensions = {IPPROTO_FRAGMENT}},
      {.raw_ip = true, .protocol = IPPROTO_TCP},
      {.raw_ip = true, .source = "::1", .destination = "::2", .protocol = IPPROTO_SCTP},
  };
  int n = 0;
  for (const PacketSpec& spec : specs) {
    auto frame = recorder::test::build_packet(spec);
    std::vector<uint8_t> decode = {static_cast<uint8_t>(spec.raw_ip ? 1 : 0)};
    decode.insert(decode.end(), frame.begin(), frame.end());
    write(dir / "decode_packet" / ("frame" + std::to_string(n)), decode);
    if (!spec.raw_ip) {
      // 4 rules of 12 bytes, then the frame.
      std::vector<uint8_t> classify = {3};
      for (int r = 0; r < 4; ++r) {
        for (int i = 0; i < 12; ++i) classify.push_back(static_cast<uint8_t>(r * 37 + i * 11 + n));
      }
      classify.insert(classify.end(), frame.begin(), frame.end());
      write(dir / "classifier" / ("rules_frame" + std::to_string(n)), classify);
    }
    ++n;
  }
  const std::vector<std::string> filters = {"10.0.0.0/8 0 192.168.1.10 443 TCP",
                                            "any 0 any 0 ANY",
                                            "fd00::/64 53 any 0 UDP",
                                            "0.0.0.0/0 0 0.0.0.0/0 0 ICMP",
                                            "::1 1 ::2 2 SCTP",
                                            "10.0.0.1/8 0 any 70000 FOO",
                                            "any 0 2001:db8::/32 0 ICMPv6",
                                            "1.2.3.4 65535 5.6.7.8 65535 17"};
  n = 0;
  for (const auto& f : filters) {
    write(dir / "parse_filter" / ("filter" + std::to_string(n++)), {f.begin(), f.end()});
  }
#ifdef RECORDER_SEED_REQUESTS
  // Start requests as hubble record and recorderctl send them, valid and not.
  const std::vector<std::vector<std::string>> cidr_pairs = {
      {"10.0.0.0/8", "192.168.1.10"}, {"", ""},
      {"fd00::/64", "fd00::1"},       {"10.95.0.1/24", "10.95.0.2/32"},
      {"10.0.0.0/33", "x"},           {"::1", "10.0.0.1"}};
  n = 0;
  for (const auto& pair : cidr_pairs) {
    recorder::pb::RecordRequest request;
    auto* start = request.mutable_start();
    start->mutable_filesink()->set_file_prefix(n % 2 ? "hubble" : "incident-7");
    auto* f = start->add_include();
    f->set_source_cidr(pair[0]);
    f->set_destination_cidr(pair[1]);
    f->set_destination_port(static_cast<uint32_t>(443 * n));
    f->set_protocol(n % 2 ? recorder::pb::PROTOCOL_TCP : recorder::pb::PROTOCOL_ANY);
    start->set_max_capture_length(static_cast<uint32_t>(n * 100));
    start->mutable_stop_condition()->set_packets_captured_count(static_cast<uint64_t>(n));
    start->mutable_stop_condition()->mutable_time_elapsed()->set_seconds(n);
    const std::string bytes = request.SerializeAsString();
    write(dir / "request_validation" / ("start" + std::to_string(n++)),
          {bytes.begin(), bytes.end()});
  }
#endif
  return 0;
}
