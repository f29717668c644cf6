// Copyright (c) Mirage developers.
#include "run/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace mirage {

namespace {
// What latest_progress() reports.
std::atomic<int64_t> g_latest_done{0};
std::atomic<int64_t> g_latest_total{0};
std::atomic<int64_t> g_started{0};
}  // namespace

ProgressSnapshot latest_progress() {
  return {g_latest_done.load(std::memory_order_relaxed),
          g_latest_total.load(std::memory_order_relaxed),
          g_started.load(std::memory_order_relaxed)};
}

std::string format_si(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.3g", value);
  return buffer;
}

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      terminal_(::isatty(STDERR_FILENO) == 1),
      line_every_(batch_interval()),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  g_latest_done.store(0, std::memory_order_relaxed);
  g_latest_total.store(total_, std::memory_order_relaxed);
  g_started.fetch_add(1, std::memory_order_relaxed);
}

Progress::~Progress() {
  finish();
}

void Progress::add(int64_t done) {
  done_.fetch_add(done, std::memory_order_relaxed);
  g_latest_done.fetch_add(done, std::memory_order_relaxed);
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (elapsed < (terminal_ ? 1.0 : line_every_)) return;
  std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  if (std::chrono::duration<double>(now - last_draw_).count() < (terminal_ ? 0.25 : line_every_))
    return;
  last_draw_ = now;
  if (terminal_) {
    draw(elapsed);
  } else {
    line(elapsed);
  }
}

double Progress::batch_interval() {
  const char* text = std::getenv("MIRAGE_PROGRESS_EVERY");
  if (text == nullptr) return 60.0;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  return end != text && *end == '\0' && seconds > 0 ? seconds : 60.0;
}

void Progress::line(double elapsed) {
  const double done = static_cast<double>(done_.load(std::memory_order_relaxed));
  const double rate = done / elapsed;
  const double eta = rate > 0 ? (static_cast<double>(total_) - done) / rate : 0.0;
  std::fprintf(stderr, "mirage: %s %.1f%% of %s token draws, %s draws/s, elapsed %.0f s, ETA %.0f s\n",
               label_.c_str(), total_ > 0 ? 100.0 * done / static_cast<double>(total_) : 100.0,
               format_si(static_cast<double>(total_)).c_str(), format_si(rate).c_str(), elapsed,
               eta);
  std::fflush(stderr);
}

void Progress::draw(double elapsed) {
  const double done = static_cast<double>(done_.load(std::memory_order_relaxed));
  const double rate = done / elapsed;
  const double fraction = total_ > 0 ? done / static_cast<double>(total_) : 1.0;
  const double eta = rate > 0 ? (static_cast<double>(total_) - done) / rate : 0.0;
  std::fprintf(stderr, "\r%s %5.1f%%  %s draws/s  elapsed %.0fs  ETA %.0fs   ", label_.c_str(),
               100.0 * fraction, format_si(rate).c_str(), elapsed, eta);
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (drawn_) {
    std::fprintf(stderr, "\r%*s\r", 79, "");
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace mirage
