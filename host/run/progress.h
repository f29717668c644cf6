// Copyright (c) Mirage developers.
//! \file progress.h
//! Progress on stderr (rate and ETA) for work that takes longer than a second, silent with
//! --quiet: a line redrawn in place on a terminal, and otherwise (batch jobs, logs) a full line
//! every MIRAGE_PROGRESS_EVERY seconds [60].
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace mirage {

class Progress {
 public:
  //! `total` units of work (token draws); `label` precedes the figures. Shown only when
  //! `enabled`.
  Progress(std::string label, int64_t total, bool enabled);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  //! Adds `done` units; thread-safe. On a terminal, redraws at most every 0.25 s after the
  //! first second; otherwise writes a line every MIRAGE_PROGRESS_EVERY seconds.
  void add(int64_t done);
  //! Clears the line (call once at the end).
  void finish();
  //! Units completed so far.
  int64_t done() const { return done_.load(std::memory_order_relaxed); }

 private:
  void draw(double elapsed);
  void line(double elapsed);
  static double batch_interval();

  std::string label_;
  int64_t total_;
  bool enabled_;
  bool terminal_;
  double line_every_;
  bool drawn_ = false;
  std::atomic<int64_t> done_{0};
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::mutex mutex_;
};

//! "1.23e+09" style formatting for rates and counts.
std::string format_si(double value);

//! Units done and in all of the Progress constructed last in this process, whether or not it
//! draws, and how many have been constructed (0: none yet): for a caller that polls from
//! another thread while a run goes on (the Python module's progress bar).
struct ProgressSnapshot {
  int64_t done = 0;
  int64_t total = 0;
  int64_t started = 0;
};
ProgressSnapshot latest_progress();

}  // namespace mirage
