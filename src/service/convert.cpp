#include "service/convert.h"

#include <spdlog/spdlog.h>

#include "service/ring_flags.h"

namespace recorder::service {

grpc::StatusCode to_grpc_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case ErrorCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case ErrorCode::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case ErrorCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case ErrorCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case ErrorCode::kOutOfRange:
      return grpc::StatusCode::OUT_OF_RANGE;
    case ErrorCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case ErrorCode::kInternal:
      return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::UNKNOWN;
}

grpc::Status to_grpc_status(const Error& error) {
  return grpc::Status(to_grpc_code(error.code()), error.message());
}

grpc::Status refuse(std::string_view rpc, std::string_view peer, const grpc::Status& status) {
  spdlog::info("refused {} from {}: {}", rpc, peer, status.error_message());
  return status;
}

grpc::Status refuse(std::string_view rpc, std::string_view peer, const Error& error) {
  return refuse(rpc, peer, to_grpc_status(error));
}

pb::StopReason to_proto(StopReason reason) {
  switch (reason) {
    case StopReason::kNone:
      return pb::STOP_REASON_UNSPECIFIED;
    case StopReason::kPacketLimit:
      return pb::STOP_REASON_PACKET_LIMIT;
    case StopReason::kByteLimit:
      return pb::STOP_REASON_BYTE_LIMIT;
    case StopReason::kTimeLimit:
      return pb::STOP_REASON_TIME_LIMIT;
    case StopReason::kRequested:
      return pb::STOP_REASON_REQUESTED;
    case StopReason::kClientGone:
      return pb::STOP_REASON_CLIENT_GONE;
    case StopReason::kShutdown:
      return pb::STOP_REASON_DAEMON_SHUTDOWN;
    case StopReason::kDiskFull:
      return pb::STOP_REASON_DISK_FULL;
    case StopReason::kWriteError:
      return pb::STOP_REASON_WRITE_ERROR;
    case StopReason::kInterfaceGone:
      return pb::STOP_REASON_INTERFACE_GONE;
    case StopReason::kSourceEnded:
      return pb::STOP_REASON_SOURCE_ENDED;
  }
  return pb::STOP_REASON_UNSPECIFIED;
}

StopReason from_proto(pb::StopReason reason) {
  switch (reason) {
    case pb::STOP_REASON_PACKET_LIMIT:
      return StopReason::kPacketLimit;
    case pb::STOP_REASON_BYTE_LIMIT:
      return StopReason::kByteLimit;
    case pb::STOP_REASON_TIME_LIMIT:
      return StopReason::kTimeLimit;
    case pb::STOP_REASON_REQUESTED:
      return StopReason::kRequested;
    case pb::STOP_REASON_CLIENT_GONE:
      return StopReason::kClientGone;
    case pb::STOP_REASON_DAEMON_SHUTDOWN:
      return StopReason::kShutdown;
    case pb::STOP_REASON_DISK_FULL:
      return StopReason::kDiskFull;
    case pb::STOP_REASON_WRITE_ERROR:
      return StopReason::kWriteError;
    case pb::STOP_REASON_INTERFACE_GONE:
      return StopReason::kInterfaceGone;
    case pb::STOP_REASON_SOURCE_ENDED:
      return StopReason::kSourceEnded;
    default:
      return StopReason::kNone;
  }
}

pb::RecordingState to_proto(RecordingState state) {
  switch (state) {
    case RecordingState::kRunning:
      return pb::RECORDING_STATE_RUNNING;
    case RecordingState::kStopping:
      return pb::RECORDING_STATE_STOPPING;
    case RecordingState::kStopped:
      return pb::RECORDING_STATE_STOPPED;
  }
  return pb::RECORDING_STATE_UNSPECIFIED;
}

void to_proto(const RecordingStats& stats, pb::RecordingStatistics* out) {
  out->set_packets_captured(stats.packets_captured);
  out->set_bytes_captured(stats.bytes_captured);
  out->set_packets_lost(stats.packets_lost());
  out->set_bytes_lost(stats.bytes_lost());
  auto* loss = out->mutable_loss();
  loss->set_kernel_packets(stats.packets_lost_kernel);
  loss->set_kernel_bytes(stats.bytes_lost_kernel);
  loss->set_queue_packets(stats.packets_lost_queue);
  loss->set_queue_bytes(stats.bytes_lost_queue);
  loss->set_write_packets(stats.packets_lost_write);
  loss->set_write_bytes(stats.bytes_lost_write);
}

void to_proto(std::chrono::system_clock::time_point time, google::protobuf::Timestamp* out) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
  out->set_seconds(ns / 1000000000);
  out->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

void to_proto_timestamp(uint64_t ns, google::protobuf::Timestamp* out) {
  out->set_seconds(static_cast<int64_t>(ns / 1000000000u));
  out->set_nanos(static_cast<int32_t>(ns % 1000000000u));
}

uint64_t from_proto_timestamp(const google::protobuf::Timestamp& t) {
  return static_cast<uint64_t>(t.seconds()) * 1000000000u + static_cast<uint64_t>(t.nanos());
}

void to_proto(const RecordingInfo& info, pb::RecordingInfo* out) {
  out->set_id(info.id);
  out->set_state(to_proto(info.state));
  out->set_stop_reason(to_proto(info.stop_reason));
  out->set_stop_message(info.stop_message);
  to_proto(info.stats, out->mutable_stats());
  if (!info.file_path.empty()) out->set_file_path(info.file_path.string());
  out->set_file_size(info.file_size);
  out->set_file_name(info.file_name);
  for (const auto& f : info.filters) to_proto_filter(f, out->add_include());
  to_proto(info.start_time, out->mutable_start_time());
  if (info.state == RecordingState::kStopped) to_proto(info.stop_time, out->mutable_stop_time());
  out->set_format(info.format == sink::FileFormat::kPcapng ? pb::FILE_FORMAT_PCAPNG
                                                           : pb::FILE_FORMAT_PCAP);
  out->set_snap_length(info.snap_length);
  auto* stop = out->mutable_stop_condition();
  stop->set_packets_captured_count(info.stop.packets);
  stop->set_bytes_captured_count(info.stop.bytes);
  if (info.stop.duration.count() > 0) {
    stop->mutable_time_elapsed()->set_seconds(info.stop.duration.count() / 1000000000);
    stop->mutable_time_elapsed()->set_nanos(
        static_cast<int32_t>(info.stop.duration.count() % 1000000000));
  }
  out->set_file_prefix(info.file_prefix);
  out->set_node_name(info.node_name);
  for (const auto& node : info.nodes) {
    auto* n = out->add_nodes();
    n->set_node_name(node.node_name);
    n->set_address(node.address);
    n->set_error(node.error);
    n->set_recording_id(node.recording_id);
    n->set_state(to_proto(node.state));
    n->set_stop_reason(to_proto(node.stop_reason));
    to_proto(node.stats, n->mutable_stats());
    n->set_file_path(node.file_path);
    n->set_file_size(node.file_size);
    n->set_packets_merged(node.packets_merged);
  }
}

RecordingStats from_proto(const pb::RecordingStatistics& stats) {
  RecordingStats out;
  out.packets_captured = stats.packets_captured();
  out.bytes_captured = stats.bytes_captured();
  out.packets_lost_kernel = stats.loss().kernel_packets();
  out.bytes_lost_kernel = stats.loss().kernel_bytes();
  out.packets_lost_queue = stats.loss().queue_packets();
  out.bytes_lost_queue = stats.loss().queue_bytes();
  out.packets_lost_write = stats.loss().write_packets();
  out.bytes_lost_write = stats.loss().write_bytes();
  // A peer that reports losses without the breakdown: count them where nothing is known better.
  if (out.packets_lost() < stats.packets_lost()) {
    out.packets_lost_kernel += stats.packets_lost() - out.packets_lost();
  }
  if (out.bytes_lost() < stats.bytes_lost()) {
    out.bytes_lost_kernel += stats.bytes_lost() - out.bytes_lost();
  }
  return out;
}

RecordingState from_proto(pb::RecordingState state) {
  switch (state) {
    case pb::RECORDING_STATE_STOPPING:
      return RecordingState::kStopping;
    case pb::RECORDING_STATE_STOPPED:
      return RecordingState::kStopped;
    default:
      return RecordingState::kRunning;
  }
}

void to_proto(const StartSpec& spec, pb::StartRecording* out) {
  for (const auto& f : spec.recording.include) to_proto_filter(f, out->add_include());
  out->set_max_capture_length(spec.requested_snap_length);
  out->mutable_filesink()->set_file_prefix(spec.file_prefix);
  auto* stop = out->mutable_stop_condition();
  stop->set_packets_captured_count(spec.recording.stop.packets);
  stop->set_bytes_captured_count(spec.recording.stop.bytes);
  if (spec.recording.stop.duration.count() > 0) {
    stop->mutable_time_elapsed()->set_seconds(spec.recording.stop.duration.count() / 1000000000);
    stop->mutable_time_elapsed()->set_nanos(
        static_cast<int32_t>(spec.recording.stop.duration.count() % 1000000000));
  }
  out->set_format(spec.format == sink::FileFormat::kPcapng ? pb::FILE_FORMAT_PCAPNG
                                                           : pb::FILE_FORMAT_PCAP);
}

void to_proto(std::chrono::nanoseconds duration, google::protobuf::Duration* out) {
  out->set_seconds(duration.count() / 1000000000);
  out->set_nanos(static_cast<int32_t>(duration.count() % 1000000000));
}

void to_proto(const ring::RingStatus& ring, std::string_view node_name, pb::RingInfo* out) {
  const ring::RingSpec& spec = ring.spec;
  auto* config = out->mutable_config();
  config->set_name(spec.name);
  for (const auto& f : spec.include) to_proto_filter(f, config->add_include());
  config->set_max_capture_length(spec.snap_length);
  config->set_format(spec.format == sink::FileFormat::kPcapng ? pb::FILE_FORMAT_PCAPNG
                                                              : pb::FILE_FORMAT_PCAP);
  config->set_max_bytes(spec.max_bytes);
  if (spec.max_age.count() != 0) to_proto(spec.max_age, config->mutable_max_age());
  config->set_chunk_bytes(spec.chunk_bytes);
  to_proto(spec.chunk_duration, config->mutable_chunk_duration());
  out->set_state(ring.running ? pb::RING_STATE_RUNNING : pb::RING_STATE_STOPPED);
  to_proto(ring.stats, out->mutable_stats());
  out->set_chunks(ring.chunks);
  out->set_bytes(ring.bytes);
  if (ring.first_ns != 0) {
    to_proto_timestamp(ring.first_ns, out->mutable_oldest());
    to_proto_timestamp(ring.last_ns, out->mutable_newest());
  }
  out->set_chunks_deleted(ring.chunks_deleted);
  out->set_message(ring.message);
  out->set_node_name(std::string(node_name));
}

}  // namespace recorder::service
