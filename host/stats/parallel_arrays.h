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
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <vector>

namespace mirage {

//! Work to size and fill arrays in parallel: add every array, then run().
class ParallelArrays {
 public:
  //! `array` becomes `size` copies of `value` when run() runs.
  template <class T>
  void assign(std::vector<T>* array, size_t size, T value) {
    tasks_.push_back(Task{size * sizeof(T), [array, size, value] { array->assign(size, value); }});
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
