// Copyright (c) Mirage developers.
//! \file parallel_arrays.h
//! Sizing the reduction's large result arrays on several threads at once.
//!
//! A freshly allocated array's pages are faulted in by whichever thread first writes them, and
//! `std::vector::assign` writes all of them in the calling thread: for the per-replicate arrays
//! of a many-replicate sweep (hundreds of MB) that first touch was the largest serial part of
//! the reduction (about 0.8 ms per MB on a VM). Here each array is sized and filled by its own
//! OpenMP thread, largest first, so the faults of different arrays run side by side. The values
//! are those of `assign`; nothing else changes.
//!
//! Arrays of 4 MB or more are also offered transparent huge pages (Linux `madvise`
//! MADV_HUGEPAGE, where the system's transparent_hugepage setting is "madvise" or "always"):
//! one fault per 2 MB instead of one per 4 KB.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace mirage {

//! Asks the kernel to back the whole 2 MB pages inside [data, data + bytes) with transparent
//! huge pages: advice only (no effect where the kernel does not offer them, and every failure
//! is ignored); the contents are unchanged.
inline void advise_huge_pages(void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t HUGE_PAGE = uintptr_t{1} << 21;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(HUGE_PAGE - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

//! `array->assign(size, value)`, with arrays of 4 MB or more allocated first (untouched, as
//! reserve leaves them) and offered huge pages before they are written.
template <class T>
void assign_large(std::vector<T>* array, size_t size, T value) {
  constexpr size_t LARGE = size_t{4} << 20;
  if (size * sizeof(T) >= LARGE && array->capacity() < size) {
    std::vector<T>().swap(*array);
    array->reserve(size);
    advise_huge_pages(array->data(), size * sizeof(T));
  }
  array->assign(size, value);
}

//! Work to size and fill arrays in parallel: add every array, then run().
class ParallelArrays {
 public:
  //! `array` becomes `size` copies of `value` when run() runs.
  template <class T>
  void assign(std::vector<T>* array, size_t size, T value) {
    tasks_.push_back(Task{size * sizeof(T), [array, size, value] { assign_large(array, size, value); }});
  }

  //! Fills every array added, each on one thread, the largest first; then forgets them.
  void run() {
    std::stable_sort(tasks_.begin(), tasks_.end(),
                     [](const Task& a, const Task& b) { return a.bytes > b.bytes; });
    const int64_t count = int64_t(tasks_.size());
    // std::vector::assign throws only bad_alloc; nothing may escape the parallel loop.
    bool failed = false;
#pragma omp parallel for schedule(dynamic, 1) reduction(|| : failed)
    for (int64_t i = 0; i < count; ++i) {
      try {
        tasks_[size_t(i)].fill();
      } catch (...) {
        failed = true;
      }
    }
    tasks_.clear();
    if (failed) throw std::bad_alloc();
  }

 private:
  struct Task {
    size_t bytes;
    std::function<void()> fill;
  };
  std::vector<Task> tasks_;
};

}  // namespace mirage
