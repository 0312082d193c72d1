// The loader's errors carry the verifier log: a program the verifier refuses is loaded through
// libbpf while a LibbpfLog (what the loader wraps its load in) collects the output, and the
// collected text has the verifier's reason.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include "datapath/libbpf_log.h"
#include "privileged.h"

namespace recorder::datapath {
namespace {

TEST(LibbpfLog, ARejectedProgramsVerifierLogIsCollected) {
  RECORDER_REQUIRE_ROOT();
  std::string text;
  {
    const LibbpfLog log;
    bpf_object* obj = bpf_object__open_file(REJECTED_BPF_OBJ, nullptr);
    ASSERT_NE(obj, nullptr) << REJECTED_BPF_OBJ;
    EXPECT_NE(bpf_object__load(obj), 0) << "the verifier accepted an unchecked packet read";
    bpf_object__close(obj);
    text = log.tail();
  }
  EXPECT_NE(text.find("invalid access to packet"), std::string::npos) << text;
}

TEST(LibbpfLog, TailKeepsTheEnd) {
  const LibbpfLog log;
  EXPECT_EQ(log.tail(), "");
  EXPECT_EQ(bpf_object__open_file("/nonexistent/recorder-test.bpf.o", nullptr), nullptr);
  const std::string all = log.tail();
  EXPECT_NE(all.find("/nonexistent/recorder-test.bpf.o"), std::string::npos) << all;
  ASSERT_GT(all.size(), 8u);
  EXPECT_EQ(log.tail(8), "..." + all.substr(all.size() - 8));
}

}  // namespace
}  // namespace recorder::datapath
