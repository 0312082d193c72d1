#include "service/server.h"

#include <thread>

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "service/api_server_builder.h"

namespace recorder::service {
namespace {
constexpr auto kClientsReadStatus = std::chrono::milliseconds(100);
}  // namespace

namespace fs = std::filesystem;

namespace {
Result<std::string> read_file(const std::string& path, std::string_view what) {
  std::ifstream in(path);
  if (!in)
    return Error::from_errno(fmt::format("read {} {}", what, path), errno,
                             ErrorCode::kInvalidArgument);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

Server::Server(std::unique_ptr<RecordService> record, RecordingBackend& manager,
               const ServiceLimits& limits, CaptureHealthFn capture_health)
    : record_(std::move(record)), recordings_(manager, limits, std::move(capture_health)) {}

Result<std::unique_ptr<Server>> Server::start(RecordingBackend& manager,
                                              const ServiceLimits& limits,
                                              const ServerOptions& options) {
  auto record = RecordService::create(manager, limits);
  if (!record) return std::move(record).error();
  std::unique_ptr<Server> server(
      new Server(std::move(*record), manager, limits, options.capture_health));
  // gRPC's default health service is off there: ours (sync, health_service.h) is registered below.
  std::unique_ptr<grpc::ServerBuilder> builder = api_server_builder();
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor;

  if (!options.socket_path.empty()) {
    std::error_code ec;
    fs::create_directories(options.socket_path.parent_path(), ec);
    // A socket left by a previous run would make the bind fail; remove only a socket.
    struct stat st {};
    if (::lstat(options.socket_path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return Error(
            ErrorCode::kInvalidArgument,
            fmt::format("socket path {} exists and is not a socket", options.socket_path.string()));
      }
      fs::remove(options.socket_path, ec);
    }
    builder->AddListeningPort("unix:" + options.socket_path.string(),
                              grpc::InsecureServerCredentials());
    server->socket_path_ = options.socket_path;
  }
  if (!options.listen.empty()) {
    if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
      return Error(ErrorCode::kInvalidArgument,
                   "--listen " + options.listen + " requires --tls-cert and --tls-key");
    }
    auto cert = read_file(options.tls_cert_file, "TLS certificate");
    if (!cert) return cert.error();
    auto key = read_file(options.tls_key_file, "TLS key");
    if (!key) return key.error();
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    if (!options.tls_client_ca_file.empty()) {
      auto ca = read_file(options.tls_client_ca_file, "TLS client CA");
      if (!ca) return ca.error();
      ssl.pem_root_certs = *ca;
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    // recorderd accepts TCP connections itself and hands them to gRPC, so that a failed TLS
    // handshake is logged with the peer (grpc_log.h).
    auto listener = TlsListener::bind(options.listen);
    if (!listener) return listener.error();
    server->listener_ = std::move(*listener);
    server->tcp_port_ = server->listener_->port();
    acceptor = builder->experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
        grpc::SslServerCredentials(ssl));
  }
  server->record_->register_with(*builder);
  builder->RegisterService(&server->recordings_);
  builder->RegisterService(&server->health_);
  if (options.rings != nullptr && options.ring_recordings != nullptr) {
    server->rings_ =
        std::make_unique<RingsService>(*options.rings, *options.ring_recordings, limits);
    builder->RegisterService(server->rings_.get());
  }
  for (grpc::Service* service : options.services) builder->RegisterService(service);
  server->server_ = builder->BuildAndStart();
  if (!server->server_) {
    return Error(ErrorCode::kUnavailable,
                 fmt::format("start the gRPC server on {}{}{}: bind failed (see the log above)",
                             options.socket_path.string(), options.listen.empty() ? "" : " and ",
                             options.listen));
  }
  server->record_->start();
  if (server->listener_) {
    auto started = server->listener_->start(std::move(acceptor));
    if (!started) return started.error();
  }
  if (!server->socket_path_.empty()) {
    if (::chmod(server->socket_path_.c_str(), 0660) != 0) {
      return Error::from_errno("chmod 0660 " + server->socket_path_.string(), errno);
    }
    spdlog::info("serving on unix:{}", server->socket_path_.string());
  }
  if (!options.listen.empty()) {
    spdlog::info("serving on {} (TLS{}), port {}", options.listen,
                 options.tls_client_ca_file.empty() ? "" : ", client certificates required",
                 server->tcp_port_);
  }
  return server;
}

void Server::shutdown(std::chrono::milliseconds grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (!server_) return;  // start() failed before the server was built
  health_.shutdown();
  // Every Record stream ends first, while its connection is still open: grpc::Server::Shutdown
  // closes connections as soon as no call is left, and a client whose transport then fails a
  // write drops the final status it had already received ("Broken pipe" instead of OK after
  // `stopped`: seen in about one SIGTERM in four). Clients get a moment to read their status.
  if (listener_) listener_->stop();
  record_->shutdown(grace);
  std::this_thread::sleep_for(kClientsReadStatus);
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  record_->stop();
  spdlog::info("gRPC server stopped");
  if (!socket_path_.empty()) {
    std::error_code ec;
    fs::remove(socket_path_, ec);
  }
}

Server::~Server() {
  shutdown(std::chrono::milliseconds(2000));
  // grpc::Server's destructor calls grpc_shutdown(), which with gRPC 1.51 (Debian 12) blocks
  // forever joining its executor thread once the callback API has served a call (seen here:
  // stuck in Executor::SetThreading). The server is shut down and drained at this point, so its
  // memory is left to process exit instead.
  (void)server_.release();
}

}  // namespace recorder::service
