#include "service/file_names.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace recorder::service {
namespace {
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "svc-names-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void touch(const fs::path& p) { std::ofstream(p) << "x"; }

TEST(Confinement, ServesOnlyRegularFilesDirectlyInsideStorage) {
  TempDir storage;
  TempDir outside;
  touch(storage.path() / "ok.pcap");
  touch(outside.path() / "secret");
  fs::create_directory(storage.path() / "sub");
  touch(storage.path() / "sub" / "nested.pcap");
  fs::create_symlink(outside.path() / "secret", storage.path() / "link.pcap");
  fs::create_symlink(storage.path() / "ok.pcap", storage.path() / "inner-link.pcap");

  auto ok = confine_to_storage(storage.path(), "ok.pcap");
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(*ok, fs::canonical(storage.path() / "ok.pcap"));

  // A link to a file inside is resolved to that file, which is fine.
  EXPECT_TRUE(confine_to_storage(storage.path(), "inner-link.pcap").ok());

  for (const char* bad :
       {"../secret", "sub/nested.pcap", "/etc/passwd", "..", ".", "", "link.pcap", "sub"}) {
    auto r = confine_to_storage(storage.path(), bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument)
          << bad << ": " << r.error().message();
    }
  }
  auto missing = confine_to_storage(storage.path(), "missing.pcap");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace recorder::service
