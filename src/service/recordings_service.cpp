#include "service/recordings_service.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <string>
#include <vector>

#include "service/convert.h"
#include "service/validation.h"

namespace recorder::service {
namespace {
constexpr size_t kChunkBytes = 1u << 20;
// List pages: the default and largest number of recordings, and the bytes a page stays within.
constexpr size_t kDefaultListPage = 100;
constexpr size_t kMaxListPage = 1000;
constexpr size_t kMaxListBytes = 1u << 20;
constexpr auto kWatchInterval = std::chrono::milliseconds(250);

bool same_stats(const RecordingStats& a, const RecordingStats& b) {
  return a.packets_captured == b.packets_captured && a.bytes_captured == b.bytes_captured &&
         a.packets_lost() == b.packets_lost() && a.bytes_lost() == b.bytes_lost();
}
}  // namespace

RecordingsService::RecordingsService(RecordingBackend& manager, ServiceLimits limits,
                                     CaptureHealthFn capture_health)
    : manager_(manager), limits_(limits), capture_health_(std::move(capture_health)) {}

grpc::Status RecordingsService::Start(grpc::ServerContext* context, const pb::StartRequest* request,
                                      pb::StartResponse* response) {
  auto spec = validate_start(request->recording(), limits_);
  if (!spec) return refuse("Start", context->peer(), spec.error());
  auto info = manager_.start(*spec);
  if (!info) return refuse("Start", context->peer(), info.error());
  log_notes(*spec, info->id, context->peer());
  response->set_id(info->id);
  to_proto(*info, response->mutable_info());
  return grpc::Status::OK;
}

grpc::Status RecordingsService::Get(grpc::ServerContext* context, const pb::GetRequest* request,
                                    pb::RecordingInfo* response) {
  auto info = manager_.get(request->id());
  if (!info) return refuse("Get", context->peer(), info.error());
  to_proto(*info, response);
  if (capture_health_) capture_health_(response->mutable_capture_health());
  return grpc::Status::OK;
}

grpc::Status RecordingsService::List(grpc::ServerContext* context, const pb::ListRequest* request,
                                     pb::ListResponse* response) {
  // The token is the id of the last recording sent: opaque to clients, and still right when
  // recordings come and go between pages.
  uint64_t after = 0;
  if (!request->page_token().empty()) {
    const std::string& token = request->page_token();
    const auto* end = token.data() + token.size();
    auto [ptr, ec] = std::from_chars(token.data(), end, after);
    if (ec != std::errc() || ptr != end || token.size() > 20) {
      return refuse("List", context->peer(),
                    grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "page_token: not a token that List returned"));
    }
  }
  const size_t page_size = request->page_size() == 0
                               ? kDefaultListPage
                               : std::min<size_t>(request->page_size(), kMaxListPage);
  auto page = manager_.list(after, page_size);
  size_t bytes = 0;
  for (const auto& info : page.recordings) {
    pb::RecordingInfo message;
    to_proto(info, &message);
    bytes += message.ByteSizeLong();
    if (bytes > kMaxListBytes && response->recordings_size() > 0) {
      page.more = true;
      break;
    }
    *response->add_recordings() = std::move(message);
  }
  if (page.more) {
    const auto& last = response->recordings(response->recordings_size() - 1);
    response->set_next_page_token(std::to_string(last.id()));
  }
  if (capture_health_) capture_health_(response->mutable_capture_health());
  return grpc::Status::OK;
}

grpc::Status RecordingsService::Stop(grpc::ServerContext* context, const pb::StopRequest* request,
                                     pb::RecordingInfo* response) {
  auto info = manager_.stop(request->id(), StopReason::kRequested);
  if (!info) return refuse("Stop", context->peer(), info.error());
  to_proto(*info, response);
  return grpc::Status::OK;
}

grpc::Status RecordingsService::Watch(grpc::ServerContext* context, const pb::WatchRequest* request,
                                      grpc::ServerWriter<pb::RecordingInfo>* writer) {
  auto info = manager_.get(request->id());
  if (!info) return refuse("Watch", context->peer(), info.error());
  bool first = true;
  RecordingInfo last;
  while (!context->IsCancelled()) {
    if (first || info->version != last.version || !same_stats(info->stats, last.stats)) {
      pb::RecordingInfo message;
      to_proto(*info, &message);
      if (!writer->Write(message)) return grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
      last = *info;
      first = false;
    }
    if (info->state == RecordingState::kStopped) return grpc::Status::OK;
    manager_.wait_for_change(request->id(), info->version, kWatchInterval);
    info = manager_.get(request->id());
    if (!info) return to_grpc_status(info.error());
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
}

grpc::Status RecordingsService::Download(grpc::ServerContext* context,
                                         const pb::DownloadRequest* request,
                                         grpc::ServerWriter<pb::DownloadChunk>* writer) {
  // Streamed from the fd the manager opened and checked (relative to the storage directory's
  // fd, no link followed, a regular file with one link): no path is resolved again, so there is
  // no window between check and read.
  auto file = manager_.open_file(request->id());
  if (!file) return refuse("Download", context->peer(), std::move(file).error().wrap("download"));
  const int fd = file->fd.get();
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return to_grpc_status(Error::from_errno("download: stat " + file->name, errno));
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t offset = request->offset();
  if (offset > size) {
    return refuse("Download", context->peer(),
                  grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                               fmt::format("offset {} is beyond the end of recording {}'s file "
                                           "({} bytes)",
                                           offset, request->id(), size)));
  }
  std::vector<char> buffer(kChunkBytes);
  grpc::Status status = grpc::Status::OK;
  do {
    if (context->IsCancelled()) {
      status = grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
      break;
    }
    ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(offset));
    if (n < 0) {
      status = to_grpc_status(Error::from_errno("download: read " + file->name, errno));
      break;
    }
    pb::DownloadChunk chunk;
    chunk.set_offset(offset);
    chunk.set_file_size(size);
    chunk.set_data(buffer.data(), static_cast<size_t>(n));
    // Always send at least one chunk, so an empty remainder still tells the size.
    if (!writer->Write(chunk)) {
      status = grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
      break;
    }
    offset += static_cast<uint64_t>(n);
    if (n == 0) break;
  } while (offset < size);
  return status;
}

grpc::Status RecordingsService::Delete(grpc::ServerContext* context,
                                       const pb::DeleteRequest* request, pb::DeleteResponse*) {
  auto s = manager_.remove(request->id());
  if (!s) return refuse("Delete", context->peer(), s.error());
  return grpc::Status::OK;
}

}  // namespace recorder::service
