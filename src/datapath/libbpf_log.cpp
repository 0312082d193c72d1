#include "datapath/libbpf_log.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace recorder::datapath {
namespace {

std::mutex g_mutex;             // one capture at a time
std::string* g_text = nullptr;  // the current capture's buffer (under g_mutex)

int collect(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG || g_text == nullptr) return 0;
  char buffer[4096];
  va_list copy;
  va_copy(copy, args);
  const int n = vsnprintf(buffer, sizeof(buffer), format, copy);
  va_end(copy);
  if (n > 0) g_text->append(buffer, std::min<size_t>(static_cast<size_t>(n), sizeof(buffer) - 1));
  return 0;
}

}  // namespace

LibbpfLog::LibbpfLog() : lock_(g_mutex) {
  g_text = &text_;
  previous_ = reinterpret_cast<void*>(libbpf_set_print(collect));
}

LibbpfLog::~LibbpfLog() {
  libbpf_set_print(reinterpret_cast<libbpf_print_fn_t>(previous_));
  g_text = nullptr;
}

std::string LibbpfLog::tail(size_t max) const {
  return text_.size() <= max ? text_ : "..." + text_.substr(text_.size() - max);
}

}  // namespace recorder::datapath
