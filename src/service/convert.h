// Conversions between the service's C++ types and the protobuf messages, and between Error codes
// and gRPC status codes. Kept in one place so both services map things identically.
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <string_view>

#include "common/result.h"
#include "dispatch/filter.h"
#include "dispatch/recording.h"
#include "recorder.pb.h"
#include "ring/ring.h"
#include "service/recording_info.h"
#include "service/validation.h"

namespace recorder::service {

grpc::StatusCode to_grpc_code(ErrorCode code);
grpc::Status to_grpc_status(const Error& error);
// A refused request: logged at info level with the rpc and the client's gRPC peer string
// ("ipv4:10.0.0.5:41234", "unix:"), then returned as its gRPC status. Messages are short
// (validation quotes only excerpts of what the client sent).
grpc::Status refuse(std::string_view rpc, std::string_view peer, const Error& error);
grpc::Status refuse(std::string_view rpc, std::string_view peer, const grpc::Status& status);

pb::StopReason to_proto(StopReason reason);
StopReason from_proto(pb::StopReason reason);

pb::RecordingState to_proto(RecordingState state);
void to_proto(const RecordingStats& stats, pb::RecordingStatistics* out);
void to_proto(std::chrono::system_clock::time_point time, google::protobuf::Timestamp* out);
// Nanoseconds since the Unix epoch (ring times, snapshot ranges) as a Timestamp, and back (a
// Timestamp at or after 1970: validated, or a node's own).
void to_proto_timestamp(uint64_t ns, google::protobuf::Timestamp* out);
uint64_t from_proto_timestamp(const google::protobuf::Timestamp& t);
void to_proto(const RecordingInfo& info, pb::RecordingInfo* out);
// The request that starts `spec` elsewhere (the relay forwards a validated start to its peers).
void to_proto(const StartSpec& spec, pb::StartRecording* out);

// What a peer reports, back into the service's types (the relay).
RecordingStats from_proto(const pb::RecordingStatistics& stats);
RecordingState from_proto(pb::RecordingState state);
void to_proto(std::chrono::nanoseconds duration, google::protobuf::Duration* out);
void to_proto(const ring::RingStatus& ring, std::string_view node_name, pb::RingInfo* out);

}  // namespace recorder::service
