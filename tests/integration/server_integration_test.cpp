// Integration tests of recorderd's server surface: the standard gRPC health service (on the API
// socket and alone on --health-listen), server reflection, the TCP listener with (mutual) TLS, the
// JSON config file, and start-up failures.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <memory>
#include <regex>
#include <sstream>
#include <thread>

#include "common/fd.h"
#include "grpc/health/v1/health.grpc.pb.h"

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

// The health-only server's address, from the daemon's log line (it was started with
// --health-listen 127.0.0.1:0); empty, with a test failure, when the line does not say.
std::string health_listen_address(Daemon& d) {
  const std::string log = d.wait_for_log("gRPC health service");
  std::smatch m;
  if (!std::regex_search(log, m, std::regex("health service .* port (\\d+)"))) {
    ADD_FAILURE() << "no health port in the log: " << log;
    return "";
  }
  return "127.0.0.1:" + m[1].str();
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

TEST(ServerIntegration, HealthListenServesOnlyTheHealthServiceWithoutTls) {
  TempDir tmp;
  Daemon d({"--replay", small_input(tmp.path()).string(), "--health-listen", "127.0.0.1:0"});
  const std::string health_address = health_listen_address(d);
  ASSERT_FALSE(health_address.empty());
  auto channel = grpc::CreateChannel(health_address, grpc::InsecureChannelCredentials());
  auto [status, response] = raw_unary(*channel, "/grpc.health.v1.Health/Check", "");
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response, std::string("\x08\x01", 2));  // SERVING
  // Nothing else is reachable there without TLS.
  auto [list_status, ignored] = raw_unary(*channel, "/recorder.Recordings/List", "");
  EXPECT_EQ(list_status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

// Kubernetes' probes use Check; gRPC's client-side health checking uses Watch. Both are served
// by the daemon's own sync health service (service/health_service.h), which must say when the
// graceful shutdown begins.
TEST(ServerIntegration, HealthWatchReportsServingThenNotServingWhenTheShutdownBegins) {
  TempDir tmp;
  Daemon d({"--replay", small_input(tmp.path()).string(), "--health-listen", "127.0.0.1:0"});
  const std::string health_address = health_listen_address(d);
  ASSERT_FALSE(health_address.empty());
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(health_address, grpc::InsecureChannelCredentials()));

  grpc::health::v1::HealthCheckRequest unknown;
  unknown.set_service("recorder.Recordings");
  grpc::health::v1::HealthCheckResponse checked;
  grpc::ClientContext check_ctx;
  check_ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  EXPECT_EQ(stub->Check(&check_ctx, unknown, &checked).error_code(), grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 20s);
  auto watch = stub->Watch(&ctx, grpc::health::v1::HealthCheckRequest());
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  int exit_status = -1;
  std::thread stopper([&] { exit_status = d.terminate(); });  // one SIGTERM, then waits
  const bool read = watch->Read(&response);
  stopper.join();
  ASSERT_TRUE(read) << watch->Finish().error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(exit_status, 0);
  ctx.TryCancel();
  (void)watch->Finish();
}

// No service of either server uses gRPC's callback API: one would make gRPC 1.51 start the
// callback completion queue's two "nexting_thread"s, which wake a few times a second when nothing
// happens (docs/architecture.md, "What wakes the daemon").
TEST(ServerIntegration, NoCallbackApiThreadsAfterServingEveryService) {
  TempDir tmp;
  Daemon d({"--replay", small_input(tmp.path()).string(), "--health-listen", "127.0.0.1:0"});
  const std::string health_address = health_listen_address(d);
  ASSERT_FALSE(health_address.empty());
  auto health = grpc::CreateChannel(health_address, grpc::InsecureChannelCredentials());
  EXPECT_TRUE(raw_unary(*health, "/grpc.health.v1.Health/Check", "").first.ok());
  auto api = grpc::CreateChannel(d.server(), grpc::InsecureChannelCredentials());
  EXPECT_TRUE(raw_unary(*api, "/grpc.health.v1.Health/Check", "").first.ok());
  EXPECT_TRUE(raw_unary(*api, "/recorder.Recordings/List", "").first.ok());
  {  // A Record stream that ends at once (stop as the first request).
    auto stub = pb::Recorder::NewStub(api);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    auto stream = stub->Record(&ctx);
    pb::RecordRequest stop;
    stop.mutable_stop();
    ASSERT_TRUE(stream->Write(stop));
    stream->WritesDone();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  std::vector<std::string> threads;
  for (const auto& task : fs::directory_iterator(fmt::format("/proc/{}/task", d.pid()))) {
    threads.push_back(read_text(task.path() / "comm"));
  }
  for (const auto& name : threads) {
    EXPECT_EQ(name.find("nexting"), std::string::npos) << name;
  }
  EXPECT_NE(std::find(threads.begin(), threads.end(), "record-cq\n"), threads.end());
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

// A CA, a server certificate for 127.0.0.1 and a client certificate from it, and an intruder's
// client certificate from a CA of its own, all made by openssl in `dir`.
void make_certificates(const fs::path& dir) {
  auto openssl = [&](const std::string& command) {
    return sh("cd " + dir.string() + " && " + command + " >/dev/null 2>&1");
  };
  for (const char* ca : {"ca", "wrong-ca"}) {
    ASSERT_EQ(openssl(fmt::format("openssl req -x509 -newkey rsa:2048 -nodes -keyout {0}.key -out "
                                  "{0}.pem -days 1 -subj /CN={0}",
                                  ca)),
              0);
  }
  ASSERT_EQ(openssl("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
                    "-subj /CN=localhost"),
            0);
  ASSERT_EQ(openssl("printf 'subjectAltName=IP:127.0.0.1,DNS:localhost' > san.ext && openssl "
                    "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out "
                    "server.pem -days 1 -extfile san.ext"),
            0);
  for (auto [name, ca] : {std::pair{"client", "ca"}, std::pair{"intruder", "wrong-ca"}}) {
    ASSERT_EQ(openssl(fmt::format("openssl req -newkey rsa:2048 -nodes -keyout {0}.key -out "
                                  "{0}.csr -subj /CN={0} && openssl x509 -req -in {0}.csr -CA "
                                  "{1}.pem -CAkey {1}.key -CAcreateserial -out {0}.pem -days 1",
                                  name, ca)),
              0);
  }
}

// recorderd serving TLS on a free loopback port, client certificates from ca.pem required.
struct TlsDaemon {
  explicit TlsDaemon(const fs::path& t)
      : d({"--replay", small_input(t).string(), "--listen", "127.0.0.1:0", "--tls-cert",
           (t / "server.pem").string(), "--tls-key", (t / "server.key").string(), "--tls-client-ca",
           (t / "ca.pem").string()}) {
    // The TCP port is logged after the unix socket accepts calls (which is all the fixture
    // waits for): reading the log at once failed under load.
    std::smatch m;
    std::string log = d.wait_for_log("client certificates required), port ");
    if (std::regex_search(log, m, std::regex("client certificates required\\), port (\\d+)\n"))) {
      port = std::stoi(m[1].str());
    }
  }
  std::string server() const { return "127.0.0.1:" + std::to_string(port); }
  Daemon d;
  int port = 0;
};

TEST(ServerIntegration, TcpListenerWithMutualTls) {
  TempDir tmp;
  const fs::path& t = tmp.path();
  ASSERT_NO_FATAL_FAILURE(make_certificates(t));
  TlsDaemon tls(t);
  ASSERT_NE(tls.port, 0) << tls.d.log();
  std::string server = tls.server();
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

// A blocking TCP connection to 127.0.0.1:`port` from a socket of the test's own, so its local
// port (`local_port`) is known; reads time out after 20 s rather than hang.
Fd connect_loopback(int port, int* local_port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) return Fd();
  timeval timeout{20, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in local{};
  socklen_t len = sizeof(local);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &len);
  *local_port = ntohs(local.sin_port);
  return fd;
}

// Reads from `fd` until the server closes the connection (or the read times out).
void read_until_closed(int fd) {
  char buffer[4096];
  while (::read(fd, buffer, sizeof(buffer)) > 0) {
  }
}

// A TLS client (OpenSSL) that offers the certificate `name`.pem/.key from `dir`: its local port
// (0 if it could not connect) and whether the server let it in, known from the server's first
// bytes (gRPC sends its HTTP/2 settings once the handshake is done) or the connection's end.
struct TlsAttempt {
  int local_port = 0;
  bool accepted = false;
};
TlsAttempt tls_attempt(int port, const fs::path& dir, const std::string& name) {
  TlsAttempt attempt;
  Fd fd = connect_loopback(port, &attempt.local_port);
  if (!fd) return {};
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  if (SSL_CTX_use_certificate_file(ctx.get(), (dir / (name + ".pem")).c_str(), SSL_FILETYPE_PEM) !=
          1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), (dir / (name + ".key")).c_str(), SSL_FILETYPE_PEM) !=
          1) {
    return {};
  }
  static const unsigned char kH2[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx.get(), kH2, sizeof(kH2));
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd.get());
  // With TLS 1.3 the client finishes its part before the server has checked its certificate:
  // the server's verdict comes with the first read (data, or an alert).
  char byte;
  attempt.accepted = SSL_connect(ssl.get()) == 1 && SSL_read(ssl.get(), &byte, 1) > 0;
  return attempt;
}

// The log line that names `peer`'s failed TLS handshake ("" if there is none within 20 s).
std::string handshake_failure_line(const Daemon& d, const std::string& peer) {
  const std::string text = "TLS handshake with " + peer + " failed";
  const std::string log = d.wait_for_log(text);
  const size_t at = log.find(text);
  if (at == std::string::npos) return "";
  const size_t begin = log.rfind('\n', at) + 1;  // npos + 1 == 0 on the first line
  return log.substr(begin, log.find('\n', at) - begin);
}

TEST(ServerIntegration, FailedTlsHandshakesAreLoggedWithThePeer) {
  TempDir tmp;
  const fs::path& t = tmp.path();
  ASSERT_NO_FATAL_FAILURE(make_certificates(t));
  TlsDaemon tls(t);
  ASSERT_NE(tls.port, 0) << tls.d.log();

  // (a) No TLS at all: what an insecure gRPC client sends first, the HTTP/2 preface.
  int plain_port = 0;
  {
    Fd plain = connect_loopback(tls.port, &plain_port);
    ASSERT_TRUE(plain.valid());
    const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    ASSERT_EQ(::write(plain.get(), preface.data(), preface.size()),
              static_cast<ssize_t>(preface.size()));
    read_until_closed(plain.get());
  }
  const std::string plain_line =
      handshake_failure_line(tls.d, "ipv4:127.0.0.1:" + std::to_string(plain_port));
  EXPECT_NE(plain_line.find(" info "), std::string::npos) << tls.d.log();

  // (b) TLS with a client certificate from a CA the daemon does not trust.
  const TlsAttempt intruder = tls_attempt(tls.port, t, "intruder");
  ASSERT_NE(intruder.local_port, 0);
  EXPECT_FALSE(intruder.accepted);
  const std::string intruder_line =
      handshake_failure_line(tls.d, "ipv4:127.0.0.1:" + std::to_string(intruder.local_port));
  EXPECT_NE(intruder_line.find(" info "), std::string::npos) << tls.d.log();
  EXPECT_NE(intruder_line.find("certificate verify failed"), std::string::npos) << intruder_line;

  // A client with the right certificate gets in, and its handshake is not reported.
  const TlsAttempt client = tls_attempt(tls.port, t, "client");
  ASSERT_NE(client.local_port, 0);
  EXPECT_TRUE(client.accepted);
  const std::string log = tls.d.log();
  EXPECT_EQ(log.find("TLS handshake with ipv4:127.0.0.1:" + std::to_string(client.local_port)),
            std::string::npos)
      << log;
  // gRPC's own report of the same failures (without the peer) stays out of the info log.
  EXPECT_EQ(log.find("Handshake failed with fatal error"), std::string::npos) << log;
  EXPECT_EQ(log.find("grpc "), std::string::npos) << log;
}

// The log line that holds both `a` and `b` ("" if none within 20 s).
std::string log_line_with(const Daemon& d, const std::string& a, const std::string& b) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  do {
    std::istringstream log(d.log());
    for (std::string line; std::getline(log, line);) {
      if (line.find(a) != std::string::npos && line.find(b) != std::string::npos) return line;
    }
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return "";
}

TEST(ServerIntegration, RefusedRequestsAreLoggedWithThePeer) {
  TempDir tmp;
  const fs::path& t = tmp.path();
  ASSERT_NO_FATAL_FAILURE(make_certificates(t));
  TlsDaemon tls(t);
  ASSERT_NE(tls.port, 0) << tls.d.log();
  grpc::SslCredentialsOptions credentials;
  credentials.pem_root_certs = read_text(t / "ca.pem");
  credentials.pem_cert_chain = read_text(t / "client.pem");
  credentials.pem_private_key = read_text(t / "client.key");
  auto tcp =
      pb::Recordings::NewStub(grpc::CreateChannel(tls.server(), grpc::SslCredentials(credentials)));

  {  // Over TCP with TLS: the peer is the client's address.
    grpc::ClientContext ctx;
    pb::GetRequest get;
    get.set_id(999);
    pb::RecordingInfo info;
    EXPECT_EQ(tcp->Get(&ctx, get, &info).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    pb::ListRequest list;
    list.set_page_token("not-a-token");
    pb::ListResponse page;
    EXPECT_EQ(tcp->List(&ctx, list, &page).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {  // Over the unix socket.
    grpc::ClientContext ctx;
    pb::StartRequest start;
    start.mutable_recording()->add_include();
    start.mutable_recording()->mutable_filesink()->set_file_prefix("Bad");
    pb::StartResponse started;
    EXPECT_EQ(tls.d.recordings().Start(&ctx, start, &started).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  const std::string get_line = log_line_with(tls.d, "refused Get from ipv4:127.0.0.1:", "999");
  EXPECT_NE(get_line.find(" info "), std::string::npos) << tls.d.log();
  const std::string list_line =
      log_line_with(tls.d, "refused List from ipv4:127.0.0.1:", "page_token");
  EXPECT_NE(list_line.find(" info "), std::string::npos) << tls.d.log();
  const std::string start_line =
      log_line_with(tls.d, "refused Start from unix:", "filesink.file_prefix");
  EXPECT_NE(start_line.find(" info "), std::string::npos) << tls.d.log();
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
  auto bad_metrics =
      run({"--replay", small_input(tmp.path()).string(), "--metrics-listen", "localhost"});
  EXPECT_NE(bad_metrics.exit_code, 0);
  EXPECT_NE(bad_metrics.output.find("--metrics-listen: \"localhost\": no port"), std::string::npos)
      << bad_metrics.output;
  auto bad_health =
      run({"--replay", small_input(tmp.path()).string(), "--health-listen", "256.1.1.1:1"});
  EXPECT_NE(bad_health.exit_code, 0);
  EXPECT_NE(bad_health.output.find("--health-listen"), std::string::npos) << bad_health.output;
  std::ofstream(tmp.path() / "typo.json") << R"({"max-recordingz": 3})";
  auto typo = run({"--config", (tmp.path() / "typo.json").string()});
  EXPECT_NE(typo.exit_code, 0);
  EXPECT_NE(typo.output.find("max-recordingz"), std::string::npos) << typo.output;
}

}  // namespace
}  // namespace recorder::test
