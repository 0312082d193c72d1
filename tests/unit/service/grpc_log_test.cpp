// The handshaker trace lines of gRPC 1.51 that tie a failed TLS handshake to its peer, as gRPC
// prints them (copied from recorderd's log with GRPC_TRACE=handshaker).
#include "service/grpc_log.h"

#include <gtest/gtest.h>

namespace recorder::service {
namespace {

TEST(HandshakeTrace, StartOfTheFirstHandshaker) {
  auto trace = parse_handshake_trace(
      "handshake_manager 0x7f9098001c90: error=OK shutdown=0 index=0, args={endpoint="
      "0x7f9098000db0, args={grpc.primary_user_agent=grpc-c++/1.51.1}, read_buffer="
      "0x7f909800d170 (length=0), exit_early=0}");
  EXPECT_EQ(trace.kind, HandshakeTrace::kStarted);
  EXPECT_EQ(trace.manager, "0x7f9098001c90");
}

TEST(HandshakeTrace, CompletedWithAnErrorKeepsTheReasonWithoutDetails) {
  auto trace = parse_handshake_trace(
      "handshake_manager 0x7f9098001c90: handshaking complete -- scheduling on_handshake_done "
      "with error=UNKNOWN:Ssl handshake failed: SSL_ERROR_SSL: error:0A000086:SSL "
      "routines::certificate verify failed {file:\"./src/core/lib/security/transport/"
      "security_handshaker.cc\", file_line:393, tsi_code:10}");
  EXPECT_EQ(trace.kind, HandshakeTrace::kCompleted);
  EXPECT_EQ(trace.manager, "0x7f9098001c90");
  EXPECT_EQ(trace.error,
            "Ssl handshake failed: SSL_ERROR_SSL: error:0A000086:SSL routines::certificate "
            "verify failed");
}

TEST(HandshakeTrace, CompletedWithoutAnError) {
  auto trace = parse_handshake_trace(
      "handshake_manager 0x55: handshaking complete -- scheduling on_handshake_done with "
      "error=OK");
  EXPECT_EQ(trace.kind, HandshakeTrace::kCompleted);
  EXPECT_EQ(trace.error, "OK");
}

TEST(HandshakeTrace, OtherLinesMeanNothing) {
  EXPECT_EQ(parse_handshake_trace("handshake_manager 0x55: adding handshaker security [0x66] at "
                                  "index 0")
                .kind,
            HandshakeTrace::kOther);
  // A later handshaker starting is not a new connection.
  EXPECT_EQ(
      parse_handshake_trace("handshake_manager 0x55: error=OK shutdown=0 index=1, args={}").kind,
      HandshakeTrace::kOther);
  EXPECT_EQ(parse_handshake_trace("grpc epoll fd: 5").kind, HandshakeTrace::kOther);
}

}  // namespace
}  // namespace recorder::service
