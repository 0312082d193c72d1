#include "sink/file_naming.h"

#include <gtest/gtest.h>

namespace recorder::sink {
namespace {

TEST(FileNaming, BuildsAndParsesNames) {
  const auto start = std::chrono::system_clock::from_time_t(1763773323);  // 2025-11-22T01:02:03Z
  const auto name = recording_file_name("hubble", start, 42, "node-1.example", FileFormat::kPcap);
  EXPECT_EQ(name, "hubble_20251122T010203Z_42_node-1.example.pcap");
  auto parsed = parse_recording_file_name(name);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->prefix, "hubble");
  EXPECT_EQ(parsed->start, start);
  EXPECT_EQ(parsed->id, 42u);
  EXPECT_EQ(parsed->node, "node-1.example");
  EXPECT_EQ(parsed->format, FileFormat::kPcap);
  EXPECT_EQ(partial_file_name(name), ".hubble_20251122T010203Z_42_node-1.example.pcap.partial");
}

TEST(FileNaming, SanitizesNodeName) {
  const auto start = std::chrono::system_clock::from_time_t(0);
  const auto name = recording_file_name("p", start, 1, "a_b/c d:é", FileFormat::kPcapng);
  EXPECT_EQ(name, "p_19700101T000000Z_1_a-b-c-d---.pcapng");  // é is two bytes
  auto parsed = parse_recording_file_name(name);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->format, FileFormat::kPcapng);
  EXPECT_EQ(recording_file_name("p", start, 1, "", FileFormat::kPcap),
            "p_19700101T000000Z_1_-.pcap");
}

TEST(FileNaming, RoundTripsPrefixesWithUnderscore) {
  // The prefix rule allows '_' (^[a-z][a-z0-9_-]*$), so the fields are read from the right.
  const auto t = std::chrono::system_clock::from_time_t(1763773323);
  for (std::string prefix : {"hubble", "incident-42", "db_checkout", "a_b_c"}) {
    const std::string name =
        recording_file_name(prefix, t, 17, "node_1.example", FileFormat::kPcapng);
    auto parsed = parse_recording_file_name(name);
    ASSERT_TRUE(parsed.has_value()) << name;
    EXPECT_EQ(parsed->prefix, prefix);
    EXPECT_EQ(parsed->id, 17u);
    EXPECT_EQ(parsed->node, "node-1.example");  // '_' sanitized
    EXPECT_EQ(parsed->format, FileFormat::kPcapng);
    EXPECT_EQ(parsed->start, t);
  }
}

TEST(FileNaming, RejectsOtherNames) {
  for (const char* bad :
       {"", "x.pcap", "a_b_c_d.pcap", "a_20250101T000000Z_1_n.txt", "a_20250101T000000_1_n.pcap",
        "a_20251301T000000Z_1_n.pcap", "a_20250101T000000Z_x_n.pcap",
        "a_20250101T000000Z_1_n_m.pcap", ".a_20250101T000000Z_1_n.pcap.partial",
        "_20250101T000000Z_1_n.pcap", "a_20250101T000000Z_1_n.pcap.corrupt",
        ".hubble_20251122T010203Z_1_n.pcap.json", "x/hubble_20251122T010203Z_1_n.pcap",
        "hubble_1_n.pcap", "notes.txt"}) {
    EXPECT_FALSE(parse_recording_file_name(bad).has_value()) << bad;
  }
}

TEST(FileNaming, ParsesOnlyPrefixesThatKeepThePrefixRule) {
  // The same rule as request validation (file_prefix_problem): a name whose prefix no request
  // could have asked for is not a recording file.
  const std::string rest = "_20250101T000000Z_1_n.pcap";
  EXPECT_TRUE(parse_recording_file_name("a-1_b" + rest).has_value());
  EXPECT_TRUE(parse_recording_file_name(std::string(kMaxFilePrefixBytes, 'a') + rest).has_value());
  for (const std::string& prefix : std::initializer_list<std::string>{
           "Hubble", "1abc", "-a", "a.b", "a b", "a\\b", "\xc3\xa9t\xc3\xa9",
           std::string(kMaxFilePrefixBytes + 1, 'a')}) {
    EXPECT_TRUE(file_prefix_problem(prefix).has_value()) << prefix;
    EXPECT_FALSE(parse_recording_file_name(prefix + rest).has_value()) << prefix;
  }
}

}  // namespace
}  // namespace recorder::sink
