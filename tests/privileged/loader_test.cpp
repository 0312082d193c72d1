// The loader's ABI check: an object file of this tree loads; one that states another ABI version
// is refused with an error that names both versions.
// The loader's errors carry the verifier log: a program the verifier refuses is loaded through
// libbpf while a LibbpfLog (what the loader wraps its load in) collects the output, and the
// collected text has the verifier's reason.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include "datapath/libbpf_log.h"
#include "datapath/loader.h"
#include "privileged.h"
#include "recorder/recorder_abi.h"

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

TEST(Loader, AnObjectFileOfThisAbiLoads) {
  RECORDER_REQUIRE_ROOT();
  LoadOptions options;
  options.object_path = SAME_ABI_BPF_OBJ;
  auto obj = BpfObject::load(options);
  ASSERT_TRUE(obj.ok()) << obj.error().message();
  EXPECT_GE((*obj)->program_fd(true, false), 0);
}

TEST(Loader, AnObjectOfAnotherAbiVersionIsRefused) {
  RECORDER_REQUIRE_ROOT();
  LoadOptions options;
  options.object_path = OTHER_ABI_BPF_OBJ;
  auto obj = BpfObject::load(options);
  ASSERT_FALSE(obj.ok());
  EXPECT_EQ(obj.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(obj.error().message().find("ABI version 999"), std::string::npos)
      << obj.error().message();
  EXPECT_NE(obj.error().message().find("version " + std::to_string(RECORDER_ABI_VERSION)),
            std::string::npos)
      << obj.error().message();
}

}  // namespace
}  // namespace recorder::datapath
