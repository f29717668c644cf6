// Copyright (c) Mirage developers.
//! \file test_device_workers.cpp
//! CPU tests of the coordination between the CUDA backend's device threads and the calling
//! thread (cuda/device_workers.h), with fake workers: an empty progress callback, a callback
//! that throws, failing workers, many workers, and a calling thread that must sleep rather
//! than spin. Also built with ThreadSanitizer (test_device_workers_tsan, tests/cuda) where the
//! compiler supports it. A deadlock does not hang the suite: each run has a deadline, past
//! which the test binary prints what hung and exits.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../cuda/device_workers.h"

namespace mirage::cuda::detail {
namespace {

using namespace std::chrono_literals;

//! Runs `body` on its own thread and returns (or rethrows) its outcome; if it has not
//! finished after `limit`, the workers are deadlocked: say so and end the process (a
//! deadlocked thread cannot be joined, so no test could run after it anyway).
template <class Body>
void within_deadline(const char* what, Body body, std::chrono::seconds limit = 60s) {
  std::packaged_task<void()> task(body);
  std::future<void> done = task.get_future();
  std::thread runner(std::move(task));
  if (done.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "DEADLOCK: %s did not finish within %lld s\n", what,
                 static_cast<long long>(limit.count()));
    std::fflush(stderr);
    std::_Exit(3);
  }
  runner.join();
  done.get();
}

//! CPU time the calling thread has used, in seconds.
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

//! A worker that adds 1 `steps` times, or until cancelled when `stop_on_cancel`, pausing
//! `pause` after each add (so that the calling thread waits while work is still going on).
WorkerFn adder(int steps, bool stop_on_cancel, std::atomic<int>* stopped_early = nullptr,
               std::chrono::microseconds pause = 0us) {
  return [=](int, WorkerProgress& progress) {
    for (int i = 0; i < steps; ++i) {
      if (stop_on_cancel && progress.cancelled()) {
        if (stopped_early != nullptr) ++*stopped_early;
        return;
      }
      progress.add(1);
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
    }
  };
}

// The deadlock of the first CUDA backend: with an empty callback the change flag was never
// cleared, and the calling thread spun holding the mutex that add() and finish() need.
TEST(DeviceWorkers, AnEmptyProgressCallbackDoesNotDeadlock) {
  within_deadline("run_workers with an empty callback", [] {
    run_workers(8, adder(50, false, nullptr, 2ms), {});
    run_workers(8, adder(2000, false), {});
  });
}

TEST(DeviceWorkers, ReportsCumulativeProgressOnTheCallingThreadUpToTheTotal) {
  for (int workers : {1, 3, 64}) {
    within_deadline("many workers", [workers] {
      const std::thread::id caller = std::this_thread::get_id();
      std::vector<int64_t> reports;
      bool on_caller = true;
      run_workers(workers, adder(300, false), [&](int64_t done) {
        reports.push_back(done);
        on_caller = on_caller && std::this_thread::get_id() == caller;
      });
      ASSERT_FALSE(reports.empty());
      EXPECT_TRUE(on_caller);
      EXPECT_TRUE(std::is_sorted(reports.begin(), reports.end()));
      EXPECT_EQ(reports.back(), int64_t{300} * workers) << workers << " workers";
      EXPECT_GT(reports.front(), 0);
    });
  }
}

// The calling thread sleeps on the condition variable while nothing changes, for an empty
// callback too: it used to spin (and then deadlock) once a change was pending.
TEST(DeviceWorkers, TheCallingThreadSleepsWhileTheWorkersWork) {
  for (bool with_callback : {false, true}) {
    within_deadline("a slow worker", [with_callback] {
      const double before = thread_cpu_seconds();
      int64_t last = 0;
      run_workers(
          2,
          [](int, WorkerProgress& progress) {
            progress.add(1);
            std::this_thread::sleep_for(400ms);
            progress.add(1);
          },
          with_callback ? std::function<void(int64_t)>([&](int64_t done) { last = done; })
                        : std::function<void(int64_t)>());
      const double used = thread_cpu_seconds() - before;
      EXPECT_LT(used, 0.2) << "the calling thread used " << used << " s of CPU in 0.4 s";
      if (with_callback) EXPECT_EQ(last, 4);
    });
  }
}

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

// A throw from the callback cancels the workers and is rethrown as is, after every worker
// finished; the callback is not called again.
TEST(DeviceWorkers, AThrowingCallbackCancelsTheWorkersAndIsRethrown) {
  within_deadline("a throwing callback", [] {
    std::atomic<int> stopped{0};
    int calls = 0;
    EXPECT_THROW(run_workers(4, adder(1 << 30, true, &stopped),
                             [&](int64_t) {
                               ++calls;
                               throw Interrupted();
                             }),
                 Interrupted);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(stopped.load(), 4);
  });
}

// Workers that ignore cancellation and keep adding after the callback threw: the old wait
// then spun holding the lock (its change flag stayed set) and the workers blocked in add().
TEST(DeviceWorkers, WorkersThatKeepAddingAfterTheCallbackThrewStillFinish) {
  within_deadline("workers adding after a throw", [] {
    int calls = 0;
    EXPECT_THROW(run_workers(6, adder(50, false, nullptr, 2ms),
                             [&](int64_t) {
                               ++calls;
                               throw Interrupted();
                             }),
                 Interrupted);
    EXPECT_EQ(calls, 1);
  });
}

// A failing worker (a device error) cancels the others; its message is the error.
TEST(DeviceWorkers, AFailingWorkerCancelsTheOthersAndNamesItsError) {
  within_deadline("a failing worker", [] {
    std::atomic<int> stopped{0};
    std::vector<int64_t> reports;
    try {
      run_workers(
          5,
          [&](int index, WorkerProgress& progress) {
            if (index == 2) {
              progress.add(10);
              throw std::runtime_error("CUDA error on device 2 (fake): launch failed");
            }
            adder(1 << 30, true, &stopped)(index, progress);
          },
          [&](int64_t done) { reports.push_back(done); });
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "CUDA error on device 2 (fake): launch failed");
    }
    EXPECT_EQ(stopped.load(), 4);
    EXPECT_TRUE(std::is_sorted(reports.begin(), reports.end()));
  });
}

TEST(DeviceWorkers, SeveralFailuresAreReportedInWorkerOrder) {
  within_deadline("several failing workers", [] {
    try {
      run_workers(4,
                  [](int index, WorkerProgress& progress) {
                    progress.add(1);
                    if (index == 3) throw std::runtime_error("third");
                    if (index == 1) throw 42;  // not a std::exception
                    while (!progress.cancelled()) std::this_thread::sleep_for(1ms);
                  },
                  {});
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "worker 1 failed with an unknown exception; third");
    }
  });
}

// The callback's exception wins over the workers' errors, and a failure with an empty
// callback still surfaces.
TEST(DeviceWorkers, TheCallbacksExceptionWinsAndEmptyCallbacksStillSeeFailures) {
  within_deadline("a worker failing after the callback threw", [] {
    EXPECT_THROW(run_workers(
                     2,
                     [](int index, WorkerProgress& progress) {
                       progress.add(1);
                       while (index == 0 && !progress.cancelled()) {
                         std::this_thread::sleep_for(1ms);
                       }
                       if (index == 0) throw std::runtime_error("device failed");
                     },
                     [](int64_t) { throw Interrupted(); }),
                 Interrupted);
    EXPECT_THROW(run_workers(3,
                             [](int index, WorkerProgress& progress) {
                               progress.add(1);
                               if (index == 1) throw std::runtime_error("device failed");
                             },
                             {}),
                 std::runtime_error);
  });
}

TEST(DeviceWorkers, NoWorkersOrNoProgressReportNothing) {
  within_deadline("idle workers", [] {
    bool called = false;
    run_workers(0, adder(10, false), [&](int64_t) { called = true; });
    EXPECT_FALSE(called);
    run_workers(
        16, [](int, WorkerProgress&) {}, [&](int64_t) { called = true; });
    EXPECT_FALSE(called);
  });
}

// Many rounds of many short-lived workers with a callback that throws at a random point:
// run_workers must return every time (ThreadSanitizer checks the locking in the tsan build).
TEST(DeviceWorkers, ManyRunsWithThrowsAtEveryPointFinish) {
  within_deadline("many runs", [] {
    for (int round = 0; round < 200; ++round) {
      int calls = 0;
      const int throw_at = round % 7;
      try {
        run_workers(1 + round % 9, adder(50 + round, round % 2 == 0), [&](int64_t) {
          if (calls++ == throw_at) throw Interrupted();
        });
      } catch (const Interrupted&) {
        EXPECT_EQ(calls, throw_at + 1);
      }
    }
  });
}

}  // namespace
}  // namespace mirage::cuda::detail
