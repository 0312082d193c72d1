#include "common/wakeup.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace recorder {

Result<Wakeup> Wakeup::create() {
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return Error::from_errno("create a wakeup eventfd", errno);
  return Wakeup(Fd(fd));
}

void Wakeup::notify() const noexcept {
  const uint64_t one = 1;
  (void)!::write(fd_.get(), &one, sizeof(one));  // EAGAIN only when the counter is full: awake
}

void Wakeup::wait(std::optional<std::chrono::steady_clock::time_point> deadline) const {
  pollfd p{fd_.get(), POLLIN, 0};
  if (deadline) {
    const auto left = std::max(*deadline - std::chrono::steady_clock::now(),
                               std::chrono::steady_clock::duration::zero());
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    const timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    (void)::ppoll(&p, 1, &ts, nullptr);
  } else {
    (void)::ppoll(&p, 1, nullptr, nullptr);  // EINTR just returns: the caller looks again
  }
  uint64_t count = 0;
  (void)!::read(fd_.get(), &count, sizeof(count));  // clears it; EAGAIN when nothing came
}

}  // namespace recorder
