// pipeline_bench (bench/pipeline), run as bench/run_pipeline.sh runs it but with few packets:
// every offered packet must reach the recordings it matches, with the user-space classifier and
// with kernel rule bits (which must carry the generation of the table they were computed with,
// or dispatch drops them as stale: issue 11). Counts only, no timing.
#include <gtest/gtest.h>

#include <ostream>
#include <regex>
#include <string>

#include "privileged.h"
#include "temp_dir.h"

namespace recorder {
namespace {

// The value of `key=` in the benchmark's result line, -1 if absent.
long long field(const std::string& output, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex("(^|\\s)" + key + "=(\\d+)"))) return -1;
  return std::stoll(m[2].str());
}

struct Case {
  const char* match;  // "one": each packet matches one recording; "all": every recording
  bool kernel_bits;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << "--match " << c.match << (c.kernel_bits ? " --kernel-bits" : "");
}

class PipelineBench : public ::testing::TestWithParam<Case> {};

TEST_P(PipelineBench, EveryOfferedPacketReachesTheRecordingsItMatches) {
  const Case c = GetParam();
  test::TempDir dir("prt_pipeline");
  constexpr long long kPackets = 20000, kRecordings = 4;
  const std::string output = testing::sh_output(
      std::string(PIPELINE_BENCH_PATH) + " --packets " + std::to_string(kPackets) +
      " --recordings " + std::to_string(kRecordings) + " --match " + c.match +
      (c.kernel_bits ? " --kernel-bits" : "") + " --out-dir " + dir.path().string() + " 2>&1");
  const long long per_packet = std::string(c.match) == "all" ? kRecordings : 1;
  EXPECT_EQ(field(output, "packets"), kPackets) << output;
  EXPECT_EQ(field(output, "captured"), kPackets * per_packet) << output;
  EXPECT_EQ(field(output, "lost"), 0) << output;
  EXPECT_EQ(field(output, "unmatched"), 0) << output;
  EXPECT_EQ(field(output, "stale_rule_bits"), 0) << output;
}

INSTANTIATE_TEST_SUITE_P(
    Modes, PipelineBench,
    ::testing::Values(Case{"one", false}, Case{"one", true}, Case{"all", false}, Case{"all", true}),
    [](const auto& param_info) {
      return std::string(param_info.param.match == std::string("all") ? "MatchAll" : "MatchOne") +
             (param_info.param.kernel_bits ? "KernelBits" : "UserSpace");
    });

}  // namespace
}  // namespace recorder
