// Copyright (c) Mirage developers.
//! \file device_workers.h
//! How sample_units (cuda_backend.cu) runs one host thread per device share while the calling
//! thread reports progress: plain C++17, no CUDA headers, so that the CPU tests
//! (tests/test_device_workers.cpp, also built with ThreadSanitizer where the compiler has it)
//! drive it with fake workers.
//!
//! The rules it keeps:
//!  - Progress is reported on the calling thread only, with the cumulative count of completed
//!    work (non-decreasing), and never again once the callback has thrown.
//!  - The calling thread sleeps on a condition variable while nothing changed: every change
//!    (a worker's add() or finish()) is consumed whether or not it is reported, so an empty
//!    callback, or one that has thrown, never turns the wait into a spin that holds the lock
//!    (the deadlock of the first CUDA backend: its wait cleared the change flag only when it
//!    reported, and then kept the mutex the workers needed for add() and finish()).
//!  - A throw from the callback or from any worker cancels the others, which see cancelled()
//!    between units of work; every worker is joined before run_workers returns or throws.
//!  - Errors: the callback's exception is rethrown as is; otherwise the workers' messages, in
//!    worker order, joined by "; ", in one std::runtime_error.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mirage::cuda::detail {

//! What the workers of one run_workers call share with the calling thread.
class WorkerProgress {
 public:
  //! Called by a worker when `amount` more units of work (token draws) are complete.
  void add(int64_t amount) {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ += amount;
    changed_ = true;
    cv_.notify_all();
  }

  //! True once any worker failed or the progress callback threw: workers stop at their next
  //! check. Cheap (one atomic load): call it between units of work.
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  //! Asks every worker to stop at its next check.
  void cancel() { cancelled_.store(true, std::memory_order_release); }

  //! Called exactly once by each worker when it stops, successfully or not.
  void finish() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++finished_;
    cv_.notify_all();
  }

  //! Runs on the calling thread until `workers` workers have called finish(), calling
  //! `report` (unless empty) with the cumulative amount whenever it changed. A throw from
  //! `report` cancels the work and stops further reports; the exception is returned once
  //! every worker finished (null if none).
  std::exception_ptr wait(int workers, const std::function<void(int64_t)>& report) {
    std::exception_ptr error;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return changed_ || finished_ >= workers; });
      // Consume the change whatever happens to it: a change left pending would make the
      // predicate true forever, and this thread would spin without ever releasing the lock.
      const bool changed = changed_;
      changed_ = false;
      if (changed && report && !error) {
        const int64_t done = done_;
        lock.unlock();
        try {
          report(done);
        } catch (...) {
          error = std::current_exception();
          cancel();
        }
        lock.lock();
        continue;  // changes made while reporting are seen by the next wait's predicate
      }
      if (finished_ >= workers) break;
    }
    return error;
  }

  //! The cumulative amount added so far.
  int64_t done() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return done_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  int64_t done_ = 0;
  bool changed_ = false;
  int finished_ = 0;
  std::atomic<bool> cancelled_{false};
};

//! The work of worker `index` (0 <= index < workers). It calls progress.add() as work
//! completes and should return early once progress.cancelled(); it reports failure by
//! throwing (std::exception: its what() becomes the error; anything else: "worker N failed").
using WorkerFn = std::function<void(int index, WorkerProgress& progress)>;

//! Runs work(0), ..., work(workers - 1), each on its own thread, while the calling thread
//! reports progress (WorkerProgress::wait). Returns when every worker succeeded; throws the
//! callback's exception if it threw, else a std::runtime_error with the failed workers'
//! messages in worker order. Every thread is joined on every path (a failure to start a
//! thread cancels and joins the ones already started, then rethrows).
inline void run_workers(int workers, const WorkerFn& work,
                        const std::function<void(int64_t)>& report) {
  if (workers <= 0) return;
  WorkerProgress progress;
  std::vector<std::string> errors(static_cast<std::size_t>(workers));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(workers));
  // Joins the workers on every way out of this scope.
  struct Joiner {
    WorkerProgress& progress;
    std::vector<std::thread>& threads;
    ~Joiner() {
      progress.cancel();  // a no-op for workers that already finished
      for (std::thread& t : threads) {
        if (t.joinable()) t.join();
      }
    }
  } joiner{progress, threads};

  for (int w = 0; w < workers; ++w) {
    std::string* error = &errors[static_cast<std::size_t>(w)];
    threads.emplace_back([&work, &progress, w, error] {
      try {
        work(w, progress);
      } catch (const std::exception& e) {
        *error = e.what();
        if (error->empty()) *error = "worker " + std::to_string(w) + " failed";
        progress.cancel();
      } catch (...) {
        *error = "worker " + std::to_string(w) + " failed with an unknown exception";
        progress.cancel();
      }
      progress.finish();
    });
  }

  const std::exception_ptr report_error = progress.wait(workers, report);
  for (std::thread& t : threads) t.join();
  if (report_error) std::rethrow_exception(report_error);

  std::string message;
  for (const std::string& e : errors) {
    if (e.empty()) continue;
    if (!message.empty()) message += "; ";
    message += e;
  }
  if (!message.empty()) throw std::runtime_error(message);
}

}  // namespace mirage::cuda::detail
