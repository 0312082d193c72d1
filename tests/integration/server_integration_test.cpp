// Integration tests of recorderd's server surface: the standard gRPC health service, server
// reflection, the TCP listener with (mutual) TLS, the JSON config file, and start-up failures.
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <regex>

#include "daemon_fixture.h"
#include "packet_builder.h"
#include "pcap_file.h"

namespace recorder::test {
namespace {
using namespace std::chrono_literals;

fs::path small_input(const fs::path& dir) {
  std::vector<PcapRecord> records(1);
  records[0].data = build_packet({});
  fs::path path = dir / "in.pcap";
  write_pcap(path.string(), records);
  return path;
}

// One unary call through the generic stub; returns the status and the raw response bytes.
std::pair<grpc::Status, std::string> raw_unary(grpc::Channel& channel, const std::string& method,
                                               const std::string& request) {
  grpc::GenericStub stub(std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  grpc::CompletionQueue cq;
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1);
  auto call = stub.PrepareUnaryCall(&ctx, method, req, &cq);
  call->StartCall();
  grpc::ByteBuffer resp;
  grpc::Status status;
  call->Finish(&resp, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  cq.Next(&tag, &ok);
  std::vector<grpc::Slice> slices;
  std::string out;
  if (status.ok() && resp.Dump(&slices).ok()) {
    for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return {status, out};
}

TEST(ServerIntegration, HealthServiceReportsServing) {
  TempDir tmp;
  Daemon d({"--replay", small_input(tmp.path()).string()});
  auto channel = grpc::CreateChannel(d.server(), grpc::InsecureChannelCredentials());
  // HealthCheckRequest{service: ""} is the empty message; SERVING is field 1 = 1 -> 08 01.
  auto [status, response] = raw_unary(*channel, "/grpc.health.v1.Health/Check", "");
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response, std::string("\x08\x01", 2));
}

TEST(ServerIntegration, ReflectionListsBothServices) {
  TempDir tmp;
  Daemon d({"--replay", small_input(tmp.path()).string()});
  auto channel = grpc::CreateChannel(d.server(), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  grpc::CompletionQueue cq;
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  ASSERT_TRUE(ok);
  // ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
  grpc::Slice slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer req(&slice, 1);
  call->Write(req, reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  ASSERT_TRUE(ok);
  grpc::ByteBuffer resp;
  call->Read(&resp, reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  ASSERT_TRUE(ok);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(resp.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_NE(bytes.find("recorder.Recorder"), std::string::npos);
  EXPECT_NE(bytes.find("recorder.Recordings"), std::string::npos);
  EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
  ctx.TryCancel();
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

int sh(const std::string& command) {
  int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(ServerIntegration, TcpListenerWithMutualTls) {
  TempDir tmp;
  const fs::path& t = tmp.path();
  // A CA, a server certificate for 127.0.0.1 and a client certificate, all from openssl.
  auto openssl = [&](const std::string& command) {
    return sh("cd " + t.string() + " && " + command + " >/dev/null 2>&1");
  };
  ASSERT_EQ(openssl("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 "
                    "-subj /CN=test-ca"),
            0);
  ASSERT_EQ(openssl("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
                    "-subj /CN=localhost"),
            0);
  ASSERT_EQ(openssl("printf 'subjectAltName=IP:127.0.0.1,DNS:localhost' > san.ext && openssl "
                    "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out "
                    "server.pem -days 1 -extfile san.ext"),
            0);
  ASSERT_EQ(openssl("openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr "
                    "-subj /CN=operator"),
            0);
  ASSERT_EQ(openssl("openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                    "-out client.pem -days 1"),
            0);

  Daemon d({"--replay", small_input(t).string(), "--listen", "127.0.0.1:0", "--tls-cert",
            (t / "server.pem").string(), "--tls-key", (t / "server.key").string(),
            "--tls-client-ca", (t / "ca.pem").string()});
  // The TCP port is logged after the unix socket accepts calls (which is all the fixture waits
  // for): reading the log at once failed under load.
  std::smatch m;
  std::string log = d.wait_for_log("client certificates required), port ");
  ASSERT_TRUE(
      std::regex_search(log, m, std::regex("client certificates required\\), port (\\d+)\n")))
      << log;
  std::string server = "127.0.0.1:" + m[1].str();

  auto with_cert = run_command(
      {RECORDERCTL_PATH, "--server", server, "--tls-ca", (t / "ca.pem").string(), "--tls-cert",
       (t / "client.pem").string(), "--tls-key", (t / "client.key").string(), "list"},
      t, 30s);
  EXPECT_EQ(with_cert.exit_code, 0) << with_cert.output;
  EXPECT_NE(with_cert.output.find("STATE"), std::string::npos) << with_cert.output;

  // Without a client certificate the handshake is refused.
  auto without = run_command(
      {RECORDERCTL_PATH, "--server", server, "--tls-ca", (t / "ca.pem").string(), "list"}, t, 30s);
  EXPECT_NE(without.exit_code, 0) << without.output;
}

TEST(ServerIntegration, JsonConfigFileSetsFlagsAndCommandLineWins) {
  TempDir tmp;
  fs::path config = tmp.path() / "recorderd.json";
  // The replay waits for 3 recordings, which never run: otherwise it would end at once and stop
  // the first recording, making room for the third start.
  std::ofstream(config) << R"({"node_name": "from-config", "max-recordings": 1,
                              "log-level": "debug", "replay-start-after": 3, "replay": ")"
                        << small_input(tmp.path()).string() << R"("})";
  Daemon d({"--config", config.string(), "--max-recordings", "2"});
  auto channel = grpc::CreateChannel(d.server(), grpc::InsecureChannelCredentials());
  EXPECT_NE(d.wait_for_log("node itest").find("node itest"), std::string::npos)
      << "--node-name (fixture) wins";
  // max-recordings 2 from the command line: two starts succeed, the third is refused.
  for (int i = 0; i < 3; ++i) {
    pb::StartRequest req;
    req.mutable_recording()->add_include();
    grpc::ClientContext ctx;
    pb::StartResponse resp;
    auto status = d.recordings().Start(&ctx, req, &resp);
    EXPECT_EQ(status.error_code(),
              i < 2 ? grpc::StatusCode::OK : grpc::StatusCode::RESOURCE_EXHAUSTED)
        << i << ": " << status.error_message();
  }
}

TEST(ServerIntegration, BadStartupConfigurationExitsNonZeroWithAReason) {
  TempDir tmp;
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{RECORDERD_PATH, "--storage-path", (tmp.path() / "s").string(),
                                  "--socket", (tmp.path() / "r.sock").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, tmp.path(), 30s);
  };
  auto missing = run({"--replay", (tmp.path() / "missing.pcap").string()});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("missing.pcap"), std::string::npos) << missing.output;
  auto bad_size = run({"--replay", small_input(tmp.path()).string(), "--queue-memory", "lots"});
  EXPECT_NE(bad_size.exit_code, 0);
  EXPECT_NE(bad_size.output.find("queue-memory"), std::string::npos) << bad_size.output;
  auto no_tls = run({"--replay", small_input(tmp.path()).string(), "--listen", "127.0.0.1:0"});
  EXPECT_NE(no_tls.exit_code, 0);
  EXPECT_NE(no_tls.output.find("--tls-cert"), std::string::npos) << no_tls.output;
  std::ofstream(tmp.path() / "typo.json") << R"({"max-recordingz": 3})";
  auto typo = run({"--config", (tmp.path() / "typo.json").string()});
  EXPECT_NE(typo.exit_code, 0);
  EXPECT_NE(typo.output.find("max-recordingz"), std::string::npos) << typo.output;
}

}  // namespace
}  // namespace recorder::test
