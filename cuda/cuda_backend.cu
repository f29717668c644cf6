// Copyright (c) Mirage developers.
//! \file cuda_backend.cu
//! Host side of the CUDA backend: device discovery, and sample_units, which cuts the work
//! units into tiles (tiles.h), splits the tiles between devices and runs one host thread per
//! device. Each device thread streams its tiles through the sampling kernel in launches of
//! about TARGET_BATCH_DRAWS draws, preparing the next launch's tile descriptors while the
//! current one runs, and keeps its tallies (the whole segment_tally_size array, choice tallies
//! included) on the device until its share is done.
//!
//! Determinism: the tallies are int64 sums of the integers sample_unit_reference gives, so
//! neither the split between devices, nor batches, nor the order of atomics can change a bit.

// First: it configures Random123 for the device pass.

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cuda_backend.h"
#include "cuda_check.cuh"
#include "mirage/item_model.h"
#include "mirage/model.h"
#include "mirage/stream.h"
#include "mirage/sweep.h"
#include "sample_kernels.cuh"
#include "tiles.h"

#ifndef MIRAGE_CUDA_ARCHITECTURES
#define MIRAGE_CUDA_ARCHITECTURES "unknown"
#endif

namespace mirage::cuda {
namespace detail {
namespace {

static_assert(sizeof(unsigned long long) == sizeof(int64_t), "tallies are 64-bit");

//! "12.4" from a CUDA version number such as 12040.
std::string version_string(int version) {
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

//! One sentence on why cudaGetDeviceCount failed.
std::string describe_no_cuda(cudaError_t status) {
  const std::string detail = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(status) +
                             " (" + cudaGetErrorName(status) + ")";
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  if (status == cudaErrorInsufficientDriver) {
    if (driver == 0) return "no NVIDIA driver is installed (" + detail + ")";
    return "the NVIDIA driver supports CUDA " + version_string(driver) +
           ", older than this build's CUDA runtime " + version_string(runtime) + " (" + detail +
           ")";
  }
  if (status == cudaErrorNoDevice) return "no CUDA device was found (" + detail + ")";
  return "CUDA is not usable on this machine (" + detail + ")";
}

//! Throws std::invalid_argument unless the grid, ids and output are consistent.
void check_arguments(const UnitGrid& grid, const std::vector<int>& devices, const int64_t* unit_ids,
                     int64_t count, const int64_t* segment_tallies) {
  const SweepSpec& spec = grid.spec;
  auto fail = [](const std::string& what) {
    throw std::invalid_argument("mirage::cuda::sample_units: " + what);
  };
  if (count < 0) fail("count must be >= 0, got " + std::to_string(count));
  if (count > 0 && (unit_ids == nullptr || segment_tallies == nullptr)) {
    fail("unit_ids and segment_tallies must not be null");
  }
  if (devices.empty()) fail("the device list is empty");
  if (spec.num_scales < 1 || spec.num_lengths < 1 || spec.num_test_sizes < 1 ||
      spec.num_replicates < 1) {
    fail("the sweep needs at least one scale, length, test size and replicate");
  }
  if (spec.length == nullptr || spec.test_size == nullptr) {
    fail("the sweep's length and test_size arrays must not be null");
  }
  if (spec.threshold == nullptr) fail("the sweep's threshold array must not be null");
  if (spec.difficulty < 0 || spec.difficulty > DIFFICULTY_KUMARASWAMY) {
    fail("unknown difficulty family " + std::to_string(spec.difficulty));
  }
  if (spec.difficulty != DIFFICULTY_NONE && spec.scale_logit == nullptr) {
    fail("a sweep with item difficulty needs its scale_logit array");
  }
  if (spec.choices != 0 && (spec.choices < 2 || spec.choices > MAX_CHOICES)) {
    fail("multiple choice needs 2 to " + std::to_string(MAX_CHOICES) + " options, got " +
         std::to_string(spec.choices));
  }
  if (spec.choices != 0 && spec.scale_log_p == nullptr) {
    fail("a multiple-choice sweep needs its scale_log_p array");
  }
  if (spec.num_lengths > MAX_LENGTH) {
    fail("at most " + std::to_string(MAX_LENGTH) + " target lengths, got " +
         std::to_string(spec.num_lengths));
  }
  for (int32_t k = 0; k < spec.num_lengths; ++k) {
    const int32_t previous = k == 0 ? 0 : spec.length[k - 1];
    if (spec.length[k] <= previous || spec.length[k] > MAX_LENGTH) {
      fail("target lengths must be strictly increasing in [1, " + std::to_string(MAX_LENGTH) +
           "], got " + std::to_string(spec.length[k]) + " at index " + std::to_string(k));
    }
  }
  for (int32_t s = 0; s < spec.num_scales; ++s) {
    if (spec.threshold[s] > THRESHOLD_ONE) {
      fail("token thresholds must be <= 2^32, got " + std::to_string(spec.threshold[s]) +
           " at scale " + std::to_string(s));
    }
  }
  for (int32_t t = 0; t < spec.num_test_sizes; ++t) {
    const int64_t previous = t == 0 ? 0 : spec.test_size[t - 1];
    if (spec.test_size[t] <= previous || spec.test_size[t] > static_cast<int64_t>(MAX_ITEMS)) {
      fail("test sizes must be strictly increasing in [1, 2^34], got " +
           std::to_string(spec.test_size[t]) + " at index " + std::to_string(t));
    }
  }
  if (grid.items_per_unit <= 0 || grid.items_per_unit % ITEMS_PER_GROUP != 0) {
    fail("items_per_unit must be a positive multiple of 4, got " +
         std::to_string(grid.items_per_unit));
  }
  const int64_t units = num_units(grid);
  for (int64_t i = 0; i < count; ++i) {
    if (unit_ids[i] < 0 || unit_ids[i] >= units) {
      fail("unit id " + std::to_string(unit_ids[i]) + " is out of range [0, " +
           std::to_string(units) + ")");
    }
  }
}

//! What the device threads share with the calling thread.
class SharedProgress {
 public:
  //! Called by a device thread when a launch of `draws` draws completed.
  void add(int64_t draws) {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ += draws;
    changed_ = true;
    cv_.notify_all();
  }
  //! Called by a device thread when it stops, successfully or not.
  void finish() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++finished_;
    cv_.notify_all();
  }
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

  //! Runs on the calling thread until `workers` threads finished, calling `report` with the
  //! cumulative draws whenever they change. A throw from `report` cancels the work; the
  //! exception is returned once all threads finished.
  std::exception_ptr wait(int workers, const std::function<void(int64_t)>& report) {
    std::exception_ptr error;
    std::unique_lock<std::mutex> lock(mutex_);
    while (finished_ < workers) {
      cv_.wait_for(lock, std::chrono::milliseconds(250),
                   [&] { return changed_ || finished_ >= workers; });
      if (changed_ && report && !error) {
        changed_ = false;
        const int64_t done = done_;
        lock.unlock();
        try {
          report(done);
        } catch (...) {
          error = std::current_exception();
          cancel();
        }
        lock.lock();
      }
    }
    return error;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int64_t done_ = 0;
  bool changed_ = false;
  int finished_ = 0;
  std::atomic<bool> cancelled_{false};
};

//! One device's share: tiles [tile_begin, tile_end) of the sequence.
struct DeviceShare {
  int device = 0;
  int64_t tile_begin = 0;
  int64_t tile_end = 0;
};

//! What a device thread leaves behind: its tallies, or the error that stopped it.
struct DeviceResult {
  std::vector<int64_t> tallies;  //!< empty when the share was empty, failed or was cancelled
  std::string error;
};

//! Samples one device's share of the tiles into result->tallies.
void run_device(const SweepSpec& spec, const TileSequence& sequence, const DeviceShare& share,
                const BatchLimits* limits_override, SharedProgress* progress,
                DeviceResult* result) {
  if (share.tile_begin >= share.tile_end) return;
  MIRAGE_CUDA_CHECK(cudaSetDevice(share.device));
  int multiprocessors = 0;
  MIRAGE_CUDA_CHECK(
      cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, share.device));
  BatchLimits limits;
  if (limits_override != nullptr) {
    limits = *limits_override;
  } else {
    limits.min_tiles = MIN_BATCH_TILES_PER_SM * multiprocessors;
  }
  const int64_t capacity = std::min(limits.max_tiles, share.tile_end - share.tile_begin);
  // The tally arrays (choice tallies included for multiple choice).
  const std::size_t cells = static_cast<std::size_t>(segment_tally_size(spec));
  const bool difficulty = spec.difficulty != DIFFICULTY_NONE;
  const bool choices = spec.choices > 0;
  const std::size_t scales = static_cast<std::size_t>(spec.num_scales);

  const KernelChoice choice = prepare_kernel(choose_kernel(spec));

  Stream stream;
  // Per scale: the thresholds, and what the item model reads (logit p with difficulty,
  // log p for multiple choice).
  DeviceBuffer<uint64_t> d_threshold(scales);
  DeviceBuffer<double> d_scale_logit(difficulty ? scales : 0);
  DeviceBuffer<double> d_scale_log_p(choices ? scales : 0);
  DeviceBuffer<int32_t> d_length(static_cast<std::size_t>(spec.num_lengths));
  DeviceBuffer<unsigned long long> d_tallies(cells);
  DeviceBuffer<Tile> d_tiles[2] = {DeviceBuffer<Tile>(static_cast<std::size_t>(capacity)),
                                   DeviceBuffer<Tile>(static_cast<std::size_t>(capacity))};
  PinnedBuffer<Tile> h_tiles[2] = {PinnedBuffer<Tile>(static_cast<std::size_t>(capacity)),
                                   PinnedBuffer<Tile>(static_cast<std::size_t>(capacity))};
  Event launched[2];
  // Destroyed first: nothing above is freed while queued work may still use it.
  StreamDrain drain(stream.get());

  MIRAGE_CUDA_CHECK(cudaMemcpyAsync(d_threshold.get(), spec.threshold, sizeof(uint64_t) * scales,
                                    cudaMemcpyHostToDevice, stream.get()));
  if (difficulty) {
    MIRAGE_CUDA_CHECK(cudaMemcpyAsync(d_scale_logit.get(), spec.scale_logit,
                                      sizeof(double) * scales, cudaMemcpyHostToDevice,
                                      stream.get()));
  }
  if (choices) {
    MIRAGE_CUDA_CHECK(cudaMemcpyAsync(d_scale_log_p.get(), spec.scale_log_p,
                                      sizeof(double) * scales, cudaMemcpyHostToDevice,
                                      stream.get()));
  }
  MIRAGE_CUDA_CHECK(cudaMemcpyAsync(d_length.get(), spec.length, sizeof(int32_t) * spec.num_lengths,
                                    cudaMemcpyHostToDevice, stream.get()));
  MIRAGE_CUDA_CHECK(
      cudaMemsetAsync(d_tallies.get(), 0, sizeof(unsigned long long) * cells, stream.get()));

  KernelParams params;
  params.spec = spec;
  params.spec.threshold = d_threshold.get();
  params.spec.scale_logit = d_scale_logit.get();  // null without difficulty
  params.spec.scale_log_p = d_scale_log_p.get();  // null for a free-form task
  params.spec.length = d_length.get();
  params.spec.test_size = nullptr;  // the kernels never read it
  params.tallies = d_tallies.get();
  for (int32_t k = 0; k < spec.num_lengths && k < FAST_MAX_LENGTHS; ++k) {
    params.fast_length[k] = spec.length[k];
  }

  // Two descriptor buffers: the host fills one while the launch reading the other runs.
  // Launch b uses slot b % 2; before filling a slot again we have waited for the launch that
  // last read it (the wait for launch b - 1 follows the queueing of launch b).
  BatchCursor cursor(sequence, share.tile_begin, share.tile_end, max_length(spec));
  int64_t pending_draws = 0;
  int pending_slot = -1;
  for (int64_t batch = 0; !progress->cancelled(); ++batch) {
    const int slot = static_cast<int>(batch % 2);
    int64_t draws = 0;
    const int64_t tiles = cursor.next(limits, h_tiles[slot].get(), &draws);
    if (tiles == 0) break;
    MIRAGE_CUDA_CHECK(cudaMemcpyAsync(d_tiles[slot].get(), h_tiles[slot].get(),
                                      sizeof(Tile) * static_cast<std::size_t>(tiles),
                                      cudaMemcpyHostToDevice, stream.get()));
    params.tiles = d_tiles[slot].get();
    launch_sample_tiles(choice, params, tiles, stream.get());
    MIRAGE_CUDA_CHECK(cudaEventRecord(launched[slot].get(), stream.get()));
    if (pending_slot >= 0) {
      MIRAGE_CUDA_CHECK(cudaEventSynchronize(launched[pending_slot].get()));
      progress->add(pending_draws);
    }
    pending_slot = slot;
    pending_draws = draws;
  }
  if (progress->cancelled()) return;
  if (pending_slot >= 0) {
    MIRAGE_CUDA_CHECK(cudaEventSynchronize(launched[pending_slot].get()));
    progress->add(pending_draws);
  }

  std::vector<int64_t> h_tallies(cells);
  MIRAGE_CUDA_CHECK(cudaMemcpyAsync(h_tallies.data(), d_tallies.get(),
                                    sizeof(unsigned long long) * cells, cudaMemcpyDeviceToHost,
                                    stream.get()));
  MIRAGE_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  result->tallies = std::move(h_tallies);
}

}  // namespace

void sample_units_with_limits(const UnitGrid& grid, const std::vector<int>& devices,
                              const int64_t* unit_ids, int64_t count, int64_t* segment_tallies,
                              const std::function<void(int64_t)>& progress,
                              const BatchLimits* limits) {
  check_arguments(grid, devices, unit_ids, count, segment_tallies);
  if (limits != nullptr && (limits->max_tiles < 1 || limits->min_tiles < 0)) {
    throw std::invalid_argument("mirage::cuda: batch limits need max_tiles >= 1, min_tiles >= 0");
  }
  int device_count = 0;
  MIRAGE_CUDA_CHECK(cudaGetDeviceCount(&device_count));
  for (int device : devices) {
    if (device < 0 || device >= device_count) {
      throw std::invalid_argument("mirage::cuda::sample_units: CUDA device " +
                                  std::to_string(device) + " does not exist (this machine has " +
                                  std::to_string(device_count) + ")");
    }
  }
  if (count == 0) return;

  const SweepSpec& spec = grid.spec;
  std::vector<WorkUnit> units(static_cast<std::size_t>(count));
  int64_t total_draws = 0;
  for (int64_t i = 0; i < count; ++i) {
    units[static_cast<std::size_t>(i)] = unit_at(grid, unit_ids[i]);
    total_draws += unit_draws(spec, units[static_cast<std::size_t>(i)]);
  }
  const TileSequence sequence(units.data(), count);
  const int workers = static_cast<int>(devices.size());
  const std::vector<int64_t> bounds = split_evenly(sequence.size(), workers);

  SharedProgress shared;
  std::vector<DeviceResult> results(static_cast<std::size_t>(workers));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(workers));
  // Joins the device threads on every way out of this scope.
  struct Joiner {
    SharedProgress& shared;
    std::vector<std::thread>& threads;
    ~Joiner() {
      shared.cancel();  // a no-op once all threads finished
      for (std::thread& t : threads) {
        if (t.joinable()) t.join();
      }
    }
  } joiner{shared, threads};

  for (int w = 0; w < workers; ++w) {
    DeviceShare share;
    share.device = devices[static_cast<std::size_t>(w)];
    share.tile_begin = bounds[static_cast<std::size_t>(w)];
    share.tile_end = bounds[static_cast<std::size_t>(w) + 1];
    DeviceResult* result = &results[static_cast<std::size_t>(w)];
    threads.emplace_back([&spec, &sequence, share, limits, &shared, result] {
      try {
        run_device(spec, sequence, share, limits, &shared, result);
      } catch (const std::exception& e) {
        result->error = e.what();
        result->tallies.clear();
        shared.cancel();
      } catch (...) {
        result->error = "CUDA device " + std::to_string(share.device) + ": unknown error";
        result->tallies.clear();
        shared.cancel();
      }
      shared.finish();
    });
  }

  const std::exception_ptr progress_error = shared.wait(workers, progress);
  for (std::thread& t : threads) t.join();
  if (progress_error) std::rethrow_exception(progress_error);

  std::string errors;
  int failed = 0;
  for (const DeviceResult& result : results) {
    if (result.error.empty()) continue;
    if (failed++ > 0) errors += "; ";
    errors += result.error;
  }
  if (failed > 0) throw std::runtime_error(errors);

  // The last report comes before the tallies are added, so that a throw from it still leaves
  // segment_tallies untouched.
  if (progress) progress(total_draws);
  const std::size_t cells = static_cast<std::size_t>(segment_tally_size(spec));
  for (const DeviceResult& result : results) {
    if (result.tallies.empty()) continue;
    for (std::size_t i = 0; i < cells; ++i) segment_tallies[i] += result.tallies[i];
  }
}

}  // namespace detail

bool built() {
  return true;
}

std::vector<DeviceInfo> list_devices(std::string* why_none) {
  std::vector<DeviceInfo> devices;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // not sticky: clear it
    if (why_none != nullptr) *why_none = detail::describe_no_cuda(status);
    return devices;
  }
  if (count == 0) {
    if (why_none != nullptr) *why_none = "the CUDA driver reports no devices";
    return devices;
  }
  int current = 0;
  const bool restore = cudaGetDevice(&current) == cudaSuccess;
  std::string rejected;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    cudaError_t error = cudaGetDeviceProperties(&prop, i);
    const bool have_prop = error == cudaSuccess;
    // Loading a kernel is the one sure test that this build's code runs on the device.
    if (error == cudaSuccess) error = cudaSetDevice(i);
    if (error == cudaSuccess) error = detail::probe_kernel_image();
    if (error != cudaSuccess) {
      cudaGetLastError();
      if (!rejected.empty()) rejected += "; ";
      rejected += "device " + std::to_string(i);
      if (have_prop) {
        rejected += std::string(" (") + prop.name + ", compute capability " +
                    std::to_string(prop.major) + "." + std::to_string(prop.minor) + ")";
      }
      rejected +=
          std::string(": ") + cudaGetErrorString(error) + " (" + cudaGetErrorName(error) + ")";
      continue;
    }
    DeviceInfo info;
    info.index = i;
    info.name = prop.name;
    info.major = prop.major;
    info.minor = prop.minor;
    info.total_memory = prop.totalGlobalMem;
    info.multiprocessors = prop.multiProcessorCount;
    devices.push_back(info);
  }
  if (restore) cudaSetDevice(current);
  if (why_none != nullptr) {
    if (devices.empty()) {
      *why_none = "found " + std::to_string(count) +
                  " CUDA device(s), but none can run this build (compiled for CUDA "
                  "architectures " MIRAGE_CUDA_ARCHITECTURES "): " +
                  rejected;
    } else {
      why_none->clear();
    }
  }
  return devices;
}

void sample_units(const UnitGrid& grid, const std::vector<int>& devices, const int64_t* unit_ids,
                  int64_t count, int64_t* segment_tallies,
                  const std::function<void(int64_t)>& progress) {
  detail::sample_units_with_limits(grid, devices, unit_ids, count, segment_tallies, progress,
                                   nullptr);
}

}  // namespace mirage::cuda
