// The storage path and recorderctl fetch against someone who plants files or runs a hostile
// server: a real recorderd in --replay mode (no privileges), recorderctl as users run it.
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <random>

#include "daemon_fixture.h"
#include "packet_builder.h"
#include "pcap_file.h"

namespace recorder::test {
namespace {

using namespace std::chrono_literals;

fs::path replay_input(const fs::path& dir) {
  std::vector<PcapRecord> records;
  for (int i = 0; i < 50; ++i) {
    PcapRecord r;
    r.timestamp_ns = 1700000000000000000ull + static_cast<uint64_t>(i) * 1000;
    r.data = build_packet({.source = "10.0.0.1",
                           .destination = "10.0.0.2",
                           .protocol = IPPROTO_UDP,
                           .source_port = 1000,
                           .destination_port = 53,
                           .payload_length = 100});
    records.push_back(std::move(r));
  }
  fs::path path = dir / "input.pcap";
  write_pcap(path.string(), records);
  return path;
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

struct Downloaded {
  grpc::Status status;
  std::string data;
};

Downloaded download(Daemon& d, uint64_t id) {
  grpc::ClientContext ctx;
  pb::DownloadRequest request;
  request.set_id(id);
  auto reader = d.recordings().Download(&ctx, request);
  Downloaded out;
  pb::DownloadChunk chunk;
  while (reader->Read(&chunk)) out.data += chunk.data();
  out.status = reader->Finish();
  return out;
}

// Anyone who can write into the storage path plants links named like partial files, pointing
// at files elsewhere: start-up recovery must neither cut nor rename them.
TEST(StorageIntegration, PlantedPartialLinksToOutsideFilesAreUntouchedAfterRestart) {
  TempDir tmp("storage-int");
  TempDir outside("storage-outside");
  const auto input = replay_input(tmp.path());
  const fs::path storage = tmp.path() / "storage";
  const std::string secret(5000, 's');  // no pcap header: recovery would cut it to nothing
  write_text(outside.path() / "via-symlink", secret);
  write_text(outside.path() / "via-hardlink", secret);
  { Daemon first({"--replay", input.string()}, storage); }  // creates the storage path

  fs::create_symlink(outside.path() / "via-symlink",
                     storage / ".hubble_20260101T000000Z_7_itest.pcap.partial");
  ASSERT_EQ(::link((outside.path() / "via-hardlink").c_str(),
                   (storage / ".hubble_20260101T000000Z_8_itest.pcap.partial").c_str()),
            0);
  Daemon restarted({"--replay", input.string()}, storage);

  EXPECT_EQ(read_text(outside.path() / "via-symlink"), secret);
  EXPECT_EQ(read_text(outside.path() / "via-hardlink"), secret);
  EXPECT_TRUE(fs::is_symlink(storage / ".hubble_20260101T000000Z_7_itest.pcap.partial"));
  for (const char* name :
       {"hubble_20260101T000000Z_7_itest.pcap", "hubble_20260101T000000Z_8_itest.pcap",
        "hubble_20260101T000000Z_7_itest.pcap.corrupt",
        "hubble_20260101T000000Z_8_itest.pcap.corrupt"}) {
    EXPECT_FALSE(fs::exists(fs::symlink_status(storage / name))) << name;
  }
  const std::string log = restarted.log();
  EXPECT_NE(log.find("_7_itest.pcap.partial left alone"), std::string::npos) << log;
  EXPECT_NE(log.find("_8_itest.pcap.partial left alone"), std::string::npos) << log;
}

// A recording's file swapped for a hard link to (or a symlink at) a file outside the storage
// path is not served.
TEST(StorageIntegration, DownloadRefusesLinksToOutsideFiles) {
  TempDir tmp("storage-int");
  TempDir outside("storage-outside");
  const auto input = replay_input(tmp.path());
  const std::string secret = "outside secret, not a recording";
  write_text(outside.path() / "secret", secret);
  Daemon d({"--replay", input.string(), "--replay-loop", "--replay-rate", "2000",
            "--replay-start-after", "0"});
  const auto info = record_packets(d, 10);
  const fs::path file = info.file_path();
  ASSERT_TRUE(fs::is_regular_file(file)) << file;
  const auto served = download(d, info.id());
  ASSERT_TRUE(served.status.ok()) << served.status.error_message();
  EXPECT_EQ(served.data, read_text(file));

  fs::remove(file);
  ASSERT_EQ(::link((outside.path() / "secret").c_str(), file.c_str()), 0);
  const auto hard = download(d, info.id());
  EXPECT_EQ(hard.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << hard.status.error_message();
  EXPECT_NE(hard.status.error_message().find("hard links"), std::string::npos)
      << hard.status.error_message();
  EXPECT_EQ(hard.data.find("secret"), std::string::npos);

  fs::remove(file);
  fs::create_symlink(outside.path() / "secret", file);
  const auto sym = download(d, info.id());
  EXPECT_FALSE(sym.status.ok());
  EXPECT_TRUE(sym.data.empty());
  EXPECT_EQ(read_text(outside.path() / "secret"), secret);
}

// A hostile Recordings server: Get answers with whatever file name the test sets per id,
// Download serves `content`.
class HostileServer final : public pb::Recordings::Service {
 public:
  explicit HostileServer(const fs::path& socket) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix://" + socket.string(), grpc::InsecureServerCredentials());
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    if (!server_) throw std::runtime_error("hostile server did not start");
  }
  ~HostileServer() override { server_->Shutdown(std::chrono::system_clock::now() + 2s); }

  grpc::Status Get(grpc::ServerContext*, const pb::GetRequest* request,
                   pb::RecordingInfo* info) override {
    info->set_id(request->id());
    info->set_state(pb::RECORDING_STATE_STOPPED);
    info->set_file_name(names[request->id()]);
    return grpc::Status::OK;
  }

  grpc::Status Download(grpc::ServerContext*, const pb::DownloadRequest* request,
                        grpc::ServerWriter<pb::DownloadChunk>* writer) override {
    if (request->offset() > content.size()) {
      return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "offset beyond the end");
    }
    for (uint64_t at = request->offset();;) {
      pb::DownloadChunk chunk;
      chunk.set_offset(at);
      chunk.set_file_size(content.size());
      chunk.set_data(content.substr(at, 1u << 20));
      at += chunk.data().size();
      if (!writer->Write(chunk)) return grpc::Status::CANCELLED;
      if (at >= content.size()) return grpc::Status::OK;
    }
  }

  std::map<uint64_t, std::string> names;
  std::string content;

 private:
  std::unique_ptr<grpc::Server> server_;
};

TEST(StorageIntegration, FetchNeverTrustsTheServersFileName) {
  TempDir tmp("fetch-int");
  const fs::path work = tmp.path() / "work";
  fs::create_directory(work);
  HostileServer server(tmp.path() / "hostile.sock");
  std::mt19937 random(7);
  server.content.resize((5u << 20) / 2);  // 2.5 MiB: several chunks, resume check past 1 MiB
  for (char& c : server.content) c = static_cast<char>(random());
  const std::string good = "hubble_20260101T000000Z_5_node-1.pcap";
  server.names = {{1, "../escape_20260101T000000Z_1_node.pcap"},
                  {2, ".bashrc"},
                  {3, "hubble_20260101T000000Z_99_node.pcap"},  // another recording's name
                  {4, "/tmp/x_20260101T000000Z_4_node.pcap"},
                  {5, good}};
  write_text(work / ".bashrc", "echo mine\n");
  auto fetch = [&](uint64_t id) {
    return run_command(
        {"/usr/bin/env", "-C", work.string(), RECORDERCTL_PATH, "--server",
         "unix://" + (tmp.path() / "hostile.sock").string(), "fetch", std::to_string(id)},
        tmp.path());
  };

  for (uint64_t id : {1, 2, 3, 4}) {
    auto r = fetch(id);
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("refusing to use it, give -o FILE"), std::string::npos) << r.output;
  }
  EXPECT_EQ(read_text(work / ".bashrc"), "echo mine\n");
  EXPECT_FALSE(fs::exists(tmp.path() / "escape_20260101T000000Z_1_node.pcap"));
  EXPECT_FALSE(fs::exists("/tmp/x_20260101T000000Z_4_node.pcap"));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(work)) names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{".bashrc"});

  // A name the daemon makes for this recording: created exclusively, private, byte for byte.
  auto ok = fetch(5);
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(read_text(work / good), server.content);
  struct stat st {};
  ASSERT_EQ(::stat((work / good).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  // Resumes into a file holding the recording's beginning...
  fs::resize_file(work / good, 2u << 20);
  auto resumed = fetch(5);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed at 2097152"), std::string::npos) << resumed.output;
  EXPECT_EQ(read_text(work / good), server.content);

  // ...but not into one that holds anything else, nor one longer than the recording.
  std::string other = server.content.substr(0, 1u << 20);
  other[4242] ^= 1;
  write_text(work / good, other);
  auto differs = fetch(5);
  EXPECT_NE(differs.exit_code, 0) << differs.output;
  EXPECT_NE(differs.output.find("not resuming into it"), std::string::npos) << differs.output;
  EXPECT_EQ(read_text(work / good), other);
  write_text(work / good, server.content + "more");
  auto longer = fetch(5);
  EXPECT_NE(longer.exit_code, 0) << longer.output;
  EXPECT_NE(longer.output.find("not resuming into it"), std::string::npos) << longer.output;

  // A link planted under the name is not followed.
  fs::remove(work / good);
  write_text(tmp.path() / "victim", "victim");
  fs::create_symlink(tmp.path() / "victim", work / good);
  auto link = fetch(5);
  EXPECT_NE(link.exit_code, 0) << link.output;
  EXPECT_NE(link.output.find("symbolic link"), std::string::npos) << link.output;
  EXPECT_EQ(read_text(tmp.path() / "victim"), "victim");
}

}  // namespace
}  // namespace recorder::test
