// Helpers for the sink tests: a temporary directory, packet builders, reading files back
// (tests/support/pcap_file.h), running tshark/capinfos on a file, and the write-backend x
// file-format parameters.
#pragma once

#include <pcap/pcap.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "dispatch/packet.h"
#include "pcap_file.h"
#include "sink/sink.h"
#include "temp_dir.h"

namespace recorder::sink::test {

using recorder::test::read_pcap;  // tests/support/pcap_file.h
using recorder::test::TempDir;    // tests/support/temp_dir.h

inline std::vector<uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::error_code ec;
  std::vector<uint8_t> out(std::filesystem::file_size(p, ec));
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

// A deterministic frame of `size` bytes: a byte pattern seeded by `seed`.
inline std::vector<uint8_t> make_frame(size_t size, uint32_t seed) {
  std::vector<uint8_t> f(size);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : f) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>(x >> 16);
  }
  return f;
}

inline CapturedPacket packet_of(const std::vector<uint8_t>& data, uint64_t ts_ns,
                                uint32_t ifindex = 1, Direction dir = Direction::kIngress,
                                LinkType link = LinkType::kEthernet, uint32_t orig_len = 0) {
  CapturedPacket p;
  p.timestamp_ns = ts_ns;
  p.ifindex = ifindex;
  p.original_length = orig_len ? orig_len : static_cast<uint32_t>(data.size());
  p.direction = dir;
  p.link_type = link;
  p.data = data;
  return p;
}

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Records `n` packets of 200 bytes into dir/name and returns the finished file's bytes (the file
// is removed).
inline std::vector<uint8_t> finished_file(const TempDir& dir, const std::string& name,
                                          FileFormat format, int n) {
  auto pool = WriterPool::create({});
  EXPECT_TRUE(pool.ok());
  SinkOptions o;
  o.path = dir / name;
  o.format = format;
  auto sink = Sink::open(**pool, o);
  EXPECT_TRUE(sink.ok());
  for (int i = 0; i < n; ++i) {
    const auto f = make_frame(200, static_cast<uint32_t>(i));
    EXPECT_EQ((*sink)->try_append(packet_of(f, static_cast<uint64_t>(i))), AppendResult::kAppended);
  }
  EXPECT_TRUE((*sink)->close(0).ok());
  auto bytes = read_file(dir / name);
  std::filesystem::remove(dir / name);
  return bytes;
}

// Writes the first `n` of `bytes` to `p`.
inline void write_file(const std::filesystem::path& p, const std::vector<uint8_t>& bytes,
                       size_t n) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(n));
}

// Runs a shell command, capturing stdout and stderr.
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  const std::string err_file =
      (std::filesystem::temp_directory_path() / ("sinktest_err." + std::to_string(getpid())))
          .string();
  FILE* f = popen((cmd + " 2>" + err_file).c_str(), "r");
  if (f == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) r.out.append(buf, n);
  const int status = pclose(f);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  std::string line;
  while (std::getline(in, line)) {
    // tshark warns on stderr whenever it runs as root; that is not about the file.
    if (line.find("Running as user \"root\"") != std::string::npos) continue;
    r.err += line + "\n";
  }
  std::filesystem::remove(err_file);
  return r;
}

inline bool have_tool(const std::string& name) {
  return run_command("command -v " + name + " >/dev/null").exit_code == 0;
}

// tshark -r and capinfos must read the file cleanly (exit 0, nothing on stderr).
inline void expect_wireshark_tools_accept(const std::filesystem::path& p) {
  ASSERT_TRUE(have_tool("tshark")) << "tshark is not installed (apt-get install tshark)";
  ASSERT_TRUE(have_tool("capinfos"))
      << "capinfos is not installed (apt-get install wireshark-common)";
  auto t = run_command("tshark -r '" + p.string() + "' >/dev/null");
  EXPECT_EQ(t.exit_code, 0) << "tshark -r " << p << ": " << t.err;
  EXPECT_EQ(t.err, "") << "tshark -r " << p;
  auto c = run_command("capinfos '" + p.string() + "' >/dev/null");
  EXPECT_EQ(c.exit_code, 0) << "capinfos " << p << ": " << c.err;
  EXPECT_EQ(c.err, "") << "capinfos " << p;
}

// Tests run with each write backend and file format: (io_uring?, format) parameters, named
// "io_uring_pcap", "pwrite_pcapng", ...
using BackendAndFormat = std::tuple<bool, FileFormat>;
inline auto backends_and_formats() {
  return ::testing::Combine(::testing::Values(true, false),
                            ::testing::Values(FileFormat::kPcap, FileFormat::kPcapng));
}
inline std::string backend_and_format_name(const ::testing::TestParamInfo<BackendAndFormat>& p) {
  return std::string(std::get<0>(p.param) ? "io_uring" : "pwrite") + "_" +
         (std::get<1>(p.param) == FileFormat::kPcap ? "pcap" : "pcapng");
}

// Polls `cond` every 10 ms for up to `limit`.
template <typename F>
bool wait_until(F cond, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

}  // namespace recorder::sink::test
