// FreeSpaceFloor: keeps the writers from taking a filesystem below a floor of free bytes
// (recorderd's --min-free-disk), so a recording stops with "disk full" before the disk is, and
// what else lives there (the recordings' metadata, logs) still has room.
//
// Every writer thread claims the new space a write needs before submitting it. Claims come out
// of a budget per filesystem that is refilled from statvfs only when it runs out, and never to
// more than `check_every` bytes, so statvfs runs about once per `check_every` bytes written.
// Space claimed for writes still in flight (not yet visible to statvfs) is subtracted at each
// refill, so the writers together never claim more than the free space above the floor. Other
// processes writing to the same filesystem are seen at the next refill.
//
// Threads: claim() and settle() may be called from any writer thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>

namespace recorder::sink {

class FreeSpaceFloor {
 public:
  static constexpr uint64_t kDefaultCheckEvery = 8u << 20;

  explicit FreeSpaceFloor(uint64_t floor_bytes, uint64_t check_every = kDefaultCheckEvery)
      : floor_(floor_bytes), check_every_(check_every) {}

  bool enabled() const { return floor_ > 0; }
  uint64_t floor() const { return floor_; }

  // Claims up to `bytes` of new space on the filesystem `dev` that `fd` lives on, for a write
  // about to be made; returns how much it may write. Less than `bytes` when the rest would take
  // the filesystem below the floor (0 also when statvfs fails): the caller writes no more.
  uint64_t claim(int fd, dev_t dev, uint64_t bytes);

  // Claimed bytes whose write has completed (or was not made): statvfs accounts for them now.
  void settle(dev_t dev, uint64_t bytes);

 private:
  struct Filesystem {
    uint64_t budget = 0;     // claimable before the next statvfs
    uint64_t in_flight = 0;  // claimed, not yet settled
  };

  const uint64_t floor_;
  const uint64_t check_every_;
  std::mutex mu_;
  std::map<dev_t, Filesystem> filesystems_;
};

}  // namespace recorder::sink
