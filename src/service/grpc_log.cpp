#include "service/grpc_log.h"

#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <string_view>
#include <unordered_map>

namespace recorder::service {
namespace {
// Handshakes in flight that a peer was tied to; gRPC ends every handshake (its deadline is
// 120 s), so this stays small. The bound only guards against a flood.
constexpr size_t kMaxPendingHandshakes = 4096;
// A reason longer than this is cut: OpenSSL's messages are short, gRPC's details are dropped.
constexpr size_t kMaxReasonBytes = 300;

thread_local const std::string* accepting_peer = nullptr;

std::mutex pending_mutex;
std::unordered_map<std::string, std::string> peer_by_manager;  // guarded by pending_mutex

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string_view basename(std::string_view file) {
  const size_t slash = file.rfind('/');
  return slash == std::string_view::npos ? file : file.substr(slash + 1);
}

// "UNKNOWN:Ssl handshake failed: ... {file:..., tsi_code:10}" -> "Ssl handshake failed: ...".
std::string short_reason(std::string_view error) {
  if (const size_t details = error.find(" {"); details != std::string_view::npos) {
    error = error.substr(0, details);
  }
  // A leading status code name ("UNKNOWN:", "UNAVAILABLE:") says nothing the text does not.
  const size_t colon = error.find(':');
  if (colon != std::string_view::npos &&
      error.substr(0, colon).find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") ==
          std::string_view::npos) {
    error = error.substr(colon + 1);
  }
  if (error.size() > kMaxReasonBytes) error = error.substr(0, kMaxReasonBytes);
  return std::string(error);
}

void on_handshake_trace(const std::string& message) {
  const HandshakeTrace trace = parse_handshake_trace(message);
  if (trace.kind == HandshakeTrace::kStarted) {
    if (accepting_peer == nullptr) return;  // not a connection the TCP listener handed over
    std::lock_guard lock(pending_mutex);
    if (peer_by_manager.size() < kMaxPendingHandshakes) {
      peer_by_manager[trace.manager] = *accepting_peer;
    }
  } else if (trace.kind == HandshakeTrace::kCompleted) {
    std::string peer;
    {
      std::lock_guard lock(pending_mutex);
      auto it = peer_by_manager.find(trace.manager);
      if (it == peer_by_manager.end()) return;
      peer = std::move(it->second);
      peer_by_manager.erase(it);
    }
    if (trace.error != "OK") spdlog::info("TLS handshake with {} failed: {}", peer, trace.error);
  }
}

void log_grpc(gpr_log_func_args* args) {
  const std::string_view file = basename(args->file != nullptr ? args->file : "");
  const std::string message = args->message != nullptr ? args->message : "";
  if (file == "handshaker.cc") {
    on_handshake_trace(message);
    spdlog::trace("grpc {}:{}: {}", file, args->line, message);
    return;
  }
  spdlog::level::level_enum level = spdlog::level::debug;
  if (args->severity == GPR_LOG_SEVERITY_ERROR) {
    // OpenSSL's view of a failed handshake, without the peer: the line above says it with one.
    const bool handshake =
        ends_with(file, "ssl_transport_security.cc") && message.rfind("Handshake failed", 0) == 0;
    level = handshake ? spdlog::level::debug : spdlog::level::err;
  }
  spdlog::log(level, "grpc {}:{}: {}", file, args->line, message);
}
}  // namespace

HandshakeTrace parse_handshake_trace(const std::string& message) {
  // gRPC 1.51 src/core/lib/transport/handshaker.cc:
  //   "handshake_manager %p: error=OK shutdown=0 index=0, args={...}"  (the first handshaker)
  //   "handshake_manager %p: handshaking complete -- scheduling on_handshake_done with error=%s"
  constexpr std::string_view kPrefix = "handshake_manager ";
  constexpr std::string_view kStarted = ": error=OK shutdown=0 index=0,";
  constexpr std::string_view kCompleted =
      ": handshaking complete -- scheduling on_handshake_done with error=";
  HandshakeTrace trace;
  const std::string_view m = message;
  if (m.rfind(kPrefix, 0) != 0) return trace;
  const size_t colon = m.find(':', kPrefix.size());
  if (colon == std::string_view::npos) return trace;
  const std::string_view rest = m.substr(colon);
  if (rest.rfind(kStarted, 0) == 0) {
    trace.kind = HandshakeTrace::kStarted;
  } else if (rest.rfind(kCompleted, 0) == 0) {
    trace.kind = HandshakeTrace::kCompleted;
    trace.error = short_reason(rest.substr(kCompleted.size()));
  } else {
    return trace;
  }
  trace.manager = std::string(m.substr(kPrefix.size(), colon - kPrefix.size()));
  return trace;
}

void route_grpc_log() {
  static std::once_flag once;
  std::call_once(once, [] {
    // gRPC reads its verbosity at initialisation: initialise first, so the setting below stays.
    // The reference is kept for the life of the process (see ~Server on grpc_shutdown).
    grpc_init();
    gpr_set_log_function(log_grpc);
    gpr_set_log_verbosity(GPR_LOG_SEVERITY_INFO);
    grpc_tracer_set_enabled("handshaker", 1);
  });
}

AcceptedPeer::AcceptedPeer(const std::string& peer) { accepting_peer = &peer; }
AcceptedPeer::~AcceptedPeer() { accepting_peer = nullptr; }

}  // namespace recorder::service
