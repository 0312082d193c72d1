// The storage directory: every refusal a planted link or file must meet, and the modes of what
// it creates under any umask.
#include "storage/directory.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace recorder::storage {
namespace {

namespace fs = std::filesystem;
using recorder::test::TempDir;

// Sets the process umask for one test and puts the old one back.
class UmaskGuard {
 public:
  explicit UmaskGuard(mode_t mask) : old_(::umask(mask)) {}
  ~UmaskGuard() { ::umask(old_); }

 private:
  mode_t old_;
};

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

class DirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Directory::open(tmp_.path());
    ASSERT_TRUE(d.ok()) << d.error().message();
    dir_.emplace(std::move(*d));
  }
  const Directory& dir() { return *dir_; }

  TempDir tmp_{"storage-test"};
  TempDir outside_{"storage-outside"};
  std::optional<Directory> dir_;
};

TEST(PlainName, OnlySinglePathComponents) {
  EXPECT_TRUE(is_plain_name("a.pcap"));
  EXPECT_TRUE(is_plain_name(".a.pcap.partial"));
  EXPECT_FALSE(is_plain_name(""));
  EXPECT_FALSE(is_plain_name("."));
  EXPECT_FALSE(is_plain_name(".."));
  EXPECT_FALSE(is_plain_name("a/b"));
  EXPECT_FALSE(is_plain_name("/etc/passwd"));
  EXPECT_FALSE(is_plain_name(std::string_view("a\0b", 3)));
}

TEST_F(DirectoryTest, CreatedFileIs0600WhateverTheUmask) {
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}}) {
    UmaskGuard guard(mask);
    const std::string name = "umask" + std::to_string(mask);
    auto f = dir().create_file(name, O_WRONLY);
    ASSERT_TRUE(f.ok()) << f.error().message();
    EXPECT_EQ(mode_of(tmp_ / name), 0600u) << "umask " << std::oct << mask;
  }
}

TEST_F(DirectoryTest, GroupReadableFilesAre0640AndGroupOwned) {
  UmaskGuard guard(0);
  auto d = Directory::open(tmp_.path(), Permissions::readable_by_group(::getegid()));
  ASSERT_TRUE(d.ok()) << d.error().message();
  auto f = d->create_file("g.pcap", O_WRONLY);
  ASSERT_TRUE(f.ok()) << f.error().message();
  struct stat st {};
  ASSERT_EQ(::fstat(f->get(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_gid, ::getegid());
}

TEST_F(DirectoryTest, CreateRefusesAnExistingNameAndPlantedLinks) {
  write_text(tmp_ / "taken", "mine");
  auto f = dir().create_file("taken", O_WRONLY);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(read_text(tmp_ / "taken"), "mine");

  // A symbolic link to an existing outside file, and one to a file that does not exist yet:
  // neither is followed, nothing appears or changes outside.
  write_text(outside_ / "victim", "outside");
  fs::create_symlink(outside_ / "victim", tmp_ / "link");
  fs::create_symlink(outside_ / "new", tmp_ / "dangling");
  EXPECT_FALSE(dir().create_file("link", O_WRONLY).ok());
  EXPECT_FALSE(dir().create_file("dangling", O_WRONLY).ok());
  EXPECT_EQ(read_text(outside_ / "victim"), "outside");
  EXPECT_FALSE(fs::exists(outside_ / "new"));
}

TEST_F(DirectoryTest, RefusesNamesThatAreNotPlain) {
  write_text(outside_ / "victim", "outside");
  const std::string escape = "../" + outside_.path().filename().string() + "/victim";
  for (const std::string& name : {escape, (outside_ / "victim").string(), std::string("..")}) {
    auto o = dir().open_file(name, O_RDONLY);
    ASSERT_FALSE(o.ok()) << name;
    EXPECT_EQ(o.error().code(), ErrorCode::kInvalidArgument) << o.error().message();
    auto c = dir().create_file(name, O_WRONLY);
    ASSERT_FALSE(c.ok()) << name;
    EXPECT_EQ(c.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(dir().unlink(name).ok());
    EXPECT_FALSE(dir().rename(name, "x").ok());
  }
  EXPECT_EQ(read_text(outside_ / "victim"), "outside");
}

TEST_F(DirectoryTest, OpenRefusesASymbolicLink) {
  write_text(outside_ / "victim", "outside");
  fs::create_symlink(outside_ / "victim", tmp_ / "link.pcap");
  auto f = dir().open_file("link.pcap", O_RDWR);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(f.error().message().find("symbolic link"), std::string::npos) << f.error().message();
}

TEST_F(DirectoryTest, OpenRefusesAHardLinkToAnOutsideFile) {
  write_text(outside_ / "secret", "outside");
  ASSERT_EQ(::link((outside_ / "secret").c_str(), (tmp_ / "x.pcap").c_str()), 0);
  auto f = dir().open_file("x.pcap", O_RDONLY);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(f.error().message().find("2 hard links"), std::string::npos) << f.error().message();
}

TEST_F(DirectoryTest, OpenRefusesAFifoWithoutBlockingAndADirectory) {
  ASSERT_EQ(::mkfifo((tmp_ / "fifo").c_str(), 0600), 0);
  auto f = dir().open_file("fifo", O_RDONLY);  // would block forever without O_NONBLOCK
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message().find("not a regular file"), std::string::npos);
  fs::create_directory(tmp_ / "sub");
  EXPECT_FALSE(dir().open_file("sub", O_RDONLY).ok());
}

TEST_F(DirectoryTest, OpenGivesABlockingFdOfARegularFile) {
  write_text(tmp_ / "a.pcap", "data");
  auto f = dir().open_file("a.pcap", O_RDONLY);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(::fcntl(f->get(), F_GETFL) & O_NONBLOCK, 0);
  char buf[8] = {};
  EXPECT_EQ(::read(f->get(), buf, sizeof(buf)), 4);
  EXPECT_EQ(std::string(buf, 4), "data");

  auto missing = dir().open_file("none", O_RDONLY);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST_F(DirectoryTest, RenameNeverReplaces) {
  write_text(tmp_ / "a", "a");
  write_text(tmp_ / "b", "b");
  auto s = dir().rename("a", "b");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(read_text(tmp_ / "b"), "b");
  ASSERT_TRUE(dir().rename("a", "c").ok());
  EXPECT_EQ(read_text(tmp_ / "c"), "a");
  EXPECT_TRUE(dir().sync().ok());
}

TEST_F(DirectoryTest, UnlinkRemovesTheLinkNotItsTarget) {
  write_text(outside_ / "victim", "outside");
  fs::create_symlink(outside_ / "victim", tmp_ / "link");
  ASSERT_TRUE(dir().unlink("link").ok());
  EXPECT_FALSE(fs::exists(fs::symlink_status(tmp_ / "link")));
  EXPECT_EQ(read_text(outside_ / "victim"), "outside");
  auto again = dir().unlink("link");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);
}

TEST_F(DirectoryTest, StatExistsAndListDoNotFollowLinks) {
  fs::create_symlink(outside_ / "nothing", tmp_ / "dangling");
  write_text(tmp_ / "file", "x");
  auto st = dir().stat("dangling");
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_TRUE(S_ISLNK(st->st_mode));
  EXPECT_TRUE(*dir().exists("dangling"));
  EXPECT_FALSE(*dir().exists("absent"));
  auto names = dir().list();
  ASSERT_TRUE(names.ok()) << names.error().message();
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"dangling", "file"}));
  auto free = dir().free_bytes();
  ASSERT_TRUE(free.ok()) << free.error().message();
  EXPECT_GT(*free, 0u);
}

TEST(DirectoryCreate, CreatedDirectoryIs0750WhateverTheUmaskAndAnExistingOneKeepsItsMode) {
  TempDir tmp("storage-create");
  for (mode_t mask : {mode_t{0}, mode_t{077}}) {
    UmaskGuard guard(mask);
    const fs::path path = tmp / ("umask" + std::to_string(mask)) / "nested" / "store";
    auto d = Directory::open_or_create(path);
    ASSERT_TRUE(d.ok()) << d.error().message();
    EXPECT_EQ(mode_of(path), 0750u) << "umask " << std::oct << mask;
  }
  fs::create_directory(tmp / "existing");
  fs::permissions(tmp / "existing", fs::perms(0711));
  auto d = Directory::open_or_create(tmp / "existing");
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(mode_of(tmp / "existing"), 0711u);

  write_text(tmp / "file", "x");
  auto not_dir = Directory::open_or_create(tmp / "file");
  ASSERT_FALSE(not_dir.ok());
  EXPECT_NE(not_dir.error().message().find(tmp.path().string() + "/file"), std::string::npos)
      << not_dir.error().message();
}

TEST(GroupId, NamesTheGroupItCannotFind) {
  auto root = group_id("root");
  ASSERT_TRUE(root.ok()) << root.error().message();
  EXPECT_EQ(*root, 0u);
  auto none = group_id("no-such-group-xyz");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(none.error().message().find("no-such-group-xyz"), std::string::npos);
}

}  // namespace
}  // namespace recorder::storage
