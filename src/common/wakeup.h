// Wakeup: what a thread that has nothing to do sleeps on, and what any thread wakes it with.
//
// An eventfd: notify() is one write(), with no lock and no allocation, so the packet hot path
// and the writer threads may call it; a notify() before the wait makes the wait return at once,
// so no wake is ever lost. A sleeper waits until a notify() or a deadline it has (none: it sleeps
// until something happens), instead of waking now and then to look.
#pragma once

#include <chrono>
#include <optional>

#include "common/fd.h"
#include "common/result.h"

namespace recorder {

class Wakeup {
 public:
  static Result<Wakeup> create();

  // Any thread.
  void notify() const noexcept;
  // Sleeps until notify() was called (since the last wait) or `deadline` passed; nullopt: no
  // deadline. Clears the notification.
  void wait(std::optional<std::chrono::steady_clock::time_point> deadline) const;

  int fd() const { return fd_.get(); }

 private:
  explicit Wakeup(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

}  // namespace recorder
