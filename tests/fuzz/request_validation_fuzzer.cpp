// libFuzzer target: a gRPC start request as the daemon receives it (a RecordRequest parsed from
// the fuzzer's bytes, the Record stream's message; its StartRecording is also what
// Recordings.Start carries) through validate_start() and the conversions back to the wire.
//  - refused: INVALID_ARGUMENT or RESOURCE_EXHAUSTED, with a message that is short whatever was
//    sent (errors quote excerpts, never a whole field);
//  - accepted: within the limits, and every filter converts to its proto form and back to the
//    same filter; the recording's RecordingInfo serializes.
#include <google/protobuf/stubs/logging.h>

#include <cstdlib>

#include "recorder.pb.h"
#include "service/convert.h"
#include "service/validation.h"

namespace {

using namespace recorder;
using namespace recorder::service;

constexpr size_t kMaxErrorMessage = 1024;

void check(const pb::StartRecording& start, const ServiceLimits& limits) {
  auto spec = validate_start(start, limits);
  if (!spec.ok()) {
    const Error& e = spec.error();
    if (e.code() != ErrorCode::kInvalidArgument && e.code() != ErrorCode::kResourceExhausted) {
      std::abort();
    }
    if (e.message().empty() || e.message().size() > kMaxErrorMessage) std::abort();
    return;
  }
  if (spec->recording.include.empty() || spec->recording.include.size() > limits.max_filters) {
    std::abort();
  }
  if (spec->recording.snap_length == 0 || spec->recording.snap_length > limits.max_snap_length) {
    std::abort();
  }
  if (!validate_file_prefix(spec->file_prefix).ok()) std::abort();
  for (const std::string& note : spec->notes) {
    if (note.size() > kMaxErrorMessage) std::abort();
  }

  RecordingInfo info;
  info.id = 1;
  info.filters = spec->recording.include;
  info.stop = spec->recording.stop;
  info.snap_length = spec->recording.snap_length;
  info.format = spec->format;
  info.file_prefix = spec->file_prefix;
  pb::RecordingInfo out;
  to_proto(info, &out);
  if (out.include_size() != static_cast<int>(info.filters.size())) std::abort();
  for (int i = 0; i < out.include_size(); ++i) {
    const pb::Filter& f = out.include(i);
    auto back = make_filter(f.source_cidr(), f.source_port(), f.destination_cidr(),
                            f.destination_port(), static_cast<uint32_t>(f.protocol()));
    if (!back.ok() || !(*back == info.filters[static_cast<size_t>(i)])) std::abort();
  }
  if (out.stop_condition().packets_captured_count() != info.stop.packets) std::abort();
  std::string wire;
  if (!out.SerializeToString(&wire)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Bytes that are not valid UTF-8 in a string field make the parse fail with a log line each.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pb::RecordRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size)) || !request.has_start()) return 0;
  check(request.start(), ServiceLimits{});
  ServiceLimits tight;
  tight.max_filters = 2;
  tight.max_snap_length = 1500;
  check(request.start(), tight);
  return 0;
}
