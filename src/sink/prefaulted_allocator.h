// PrefaultedAllocator: the allocator of the sink queues' ring memory.
//
// The hot path must not allocate, and a first touch of an anonymous page is an allocation by the
// kernel (a page fault that zeroes a page) on the producer's thread. Rings are therefore mapped
// with MAP_POPULATE when a sink opens: the configured queue memory is reserved up front, as
// perf and BPF ring buffers are, and the producer never faults.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>

namespace recorder::sink {

template <typename T>
struct PrefaultedAllocator {
  using value_type = T;

  PrefaultedAllocator() = default;
  template <typename U>
  PrefaultedAllocator(const PrefaultedAllocator<U>&) noexcept {
  }  // NOLINT(google-explicit-constructor)

  T* allocate(size_t n) {
    void* p = ::mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) noexcept { ::munmap(p, n * sizeof(T)); }

  template <typename U>
  bool operator==(const PrefaultedAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace recorder::sink
