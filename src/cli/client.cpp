#include "cli/client.h"

#include <fstream>
#include <sstream>

namespace recorder::cli {
namespace {
Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::from_errno("read " + path, errno, ErrorCode::kInvalidArgument);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

Result<std::shared_ptr<grpc::Channel>> make_channel(const ClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  if (options.server.rfind("unix:", 0) == 0) {
    return grpc::CreateCustomChannel(options.server, grpc::InsecureChannelCredentials(), args);
  }
  if (options.tls_ca.empty() && options.tls_cert.empty()) {
    return grpc::CreateCustomChannel(options.server, grpc::InsecureChannelCredentials(), args);
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.tls_ca.empty()) {
    auto ca = read_file(options.tls_ca);
    if (!ca) return ca.error().wrap("--tls-ca");
    ssl.pem_root_certs = *ca;
  }
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    if (options.tls_cert.empty() || options.tls_key.empty()) {
      return Error(ErrorCode::kInvalidArgument, "--tls-cert and --tls-key go together");
    }
    auto cert = read_file(options.tls_cert);
    if (!cert) return cert.error().wrap("--tls-cert");
    auto key = read_file(options.tls_key);
    if (!key) return key.error().wrap("--tls-key");
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  return grpc::CreateCustomChannel(options.server, grpc::SslCredentials(ssl), args);
}

}  // namespace recorder::cli
