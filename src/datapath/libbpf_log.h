// LibbpfLog: collects what libbpf prints (warnings and information, which include the verifier
// log of a rejected program) while it is alive, so a failed load can say why in its error.
//
// libbpf has one process-wide print callback, so captures are serialized: a second LibbpfLog
// waits for the first to end. The previous callback is restored on destruction.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>

namespace recorder::datapath {

class LibbpfLog {
 public:
  LibbpfLog();
  ~LibbpfLog();
  LibbpfLog(const LibbpfLog&) = delete;
  LibbpfLog& operator=(const LibbpfLog&) = delete;

  // The last `max` bytes collected so far: a verifier log gives its reason at the end.
  std::string tail(size_t max = 16384) const;

 private:
  std::unique_lock<std::mutex> lock_;
  void* previous_ = nullptr;  // libbpf_print_fn_t
  std::string text_;
};

}  // namespace recorder::datapath
