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
#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_backend.h"
#include "cuda_check.cuh"
#include "device_workers.h"
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
  if (spec.attempts < 1 || spec.attempts > MAX_ATTEMPTS) {
    fail("attempts must be 1 to " + std::to_string(MAX_ATTEMPTS) + ", got " +
         std::to_string(spec.attempts));
  }
  if (spec.attempts > 1 && (spec.choices != 0 || spec.num_lengths > MAX_ATTEMPT_LENGTHS)) {
    fail("repeated attempts need a free-form sweep of at most " +
         std::to_string(MAX_ATTEMPT_LENGTHS) + " target lengths");
  }
  if (spec.budget < 0 || spec.budget > MAX_BUDGET ||
      (spec.budget > 0 &&
       (spec.attempts != 1 || spec.choices != 0 || spec.num_lengths > MAX_ATTEMPT_LENGTHS))) {
    fail("the budget of sampling until success must be 0 to " + std::to_string(MAX_BUDGET) +
         ", and a budget needs one attempt and a free-form sweep of at most " +
         std::to_string(MAX_ATTEMPT_LENGTHS) + " target lengths");
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

//! One device's share: tiles [tile_begin, tile_end) of the sequence.
struct DeviceShare {
  int device = 0;
  int64_t tile_begin = 0;
  int64_t tile_end = 0;
};

//! What a device thread leaves behind: its tallies (empty when its share was empty or it
//! was cancelled; a failure throws, run_workers collects the message).
struct DeviceResult {
  std::vector<int64_t> tallies;
};

//! Samples one device's share of the tiles into result->tallies. Runs on its own thread
//! (run_workers); checks for cancellation between launches.
void run_device(const SweepSpec& spec, const TileSequence& sequence, const DeviceShare& share,
                const BatchLimits* limits_override, WorkerProgress& progress,
                DeviceResult* result) {
  if (share.tile_begin >= share.tile_end) return;
  use_device_on_this_thread(share.device);
  const KernelChoice choice = choose_kernel(spec);
  prepare_kernels();
  check_shared_memory(choice);
  BatchLimits limits;
  if (limits_override != nullptr) {
    limits = *limits_override;
  } else {
    int multiprocessors = 0;
    MIRAGE_CUDA_CHECK(
        cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, share.device));
    limits = batch_limits(int64_t{resident_blocks_per_multiprocessor(choice)} * multiprocessors,
                          multiprocessors);
  }
  const int64_t capacity = std::min(limits.max_tiles, share.tile_end - share.tile_begin);
  // The tally arrays (choice tallies included for multiple choice).
  const std::size_t cells = static_cast<std::size_t>(segment_tally_size(spec));
  const bool difficulty = spec.difficulty != DIFFICULTY_NONE;
  const bool choices = spec.choices > 0;
  const std::size_t scales = static_cast<std::size_t>(spec.num_scales);

  // The kernels run on `stream`; the tile descriptors travel on `copies`, so that the copy
  // for launch b + 1 runs while launch b does (events order each copy after the launch that
  // last read its buffer, and each launch after its copy).
  Stream stream;
  Stream copies;
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
  Event copied[2];
  // Destroyed first: nothing above is freed while queued work may still use it.
  StreamDrain drain_copies(copies.get());
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

  KernelParams params = kernel_params(spec);
  params.spec.threshold = d_threshold.get();
  params.spec.scale_logit = d_scale_logit.get();  // null without difficulty
  params.spec.scale_log_p = d_scale_log_p.get();  // null for a free-form task
  params.spec.length = d_length.get();
  params.spec.test_size = nullptr;  // the kernels never read it
  params.tallies = d_tallies.get();

  // Two descriptor buffers: the host fills one while the launch reading the other runs.
  // Launch b uses slot b % 2. Before the host fills a slot again it has waited for the launch
  // that last read it (the wait for launch b - 1 follows the queueing of launch b), which
  // came after that slot's copy; on the device the copy of a slot also waits for that launch.
  // Draws per item: every attempt walks the tokens (unit_draws; the budget, the most an item
  // may use, when sampling until success).
  BatchCursor cursor(sequence, share.tile_begin, share.tile_end,
                     max_length(spec) * (spec.budget > 0 ? spec.budget : spec.attempts));
  int64_t pending_draws = 0;
  int pending_slot = -1;
  bool used[2] = {false, false};
  for (int64_t batch = 0; !progress.cancelled(); ++batch) {
    const int slot = static_cast<int>(batch % 2);
    int64_t draws = 0;
    const int64_t tiles = cursor.next(limits, h_tiles[slot].get(), &draws);
    if (tiles == 0) break;
    if (used[slot]) MIRAGE_CUDA_CHECK(cudaStreamWaitEvent(copies.get(), launched[slot].get(), 0));
    MIRAGE_CUDA_CHECK(cudaMemcpyAsync(d_tiles[slot].get(), h_tiles[slot].get(),
                                      sizeof(Tile) * static_cast<std::size_t>(tiles),
                                      cudaMemcpyHostToDevice, copies.get()));
    MIRAGE_CUDA_CHECK(cudaEventRecord(copied[slot].get(), copies.get()));
    MIRAGE_CUDA_CHECK(cudaStreamWaitEvent(stream.get(), copied[slot].get(), 0));
    params.tiles = d_tiles[slot].get();
    launch_sample_tiles(choice, params, tiles, stream.get());
    MIRAGE_CUDA_CHECK(cudaEventRecord(launched[slot].get(), stream.get()));
    used[slot] = true;
    if (pending_slot >= 0) {
      MIRAGE_CUDA_CHECK(cudaEventSynchronize(launched[pending_slot].get()));
      progress.add(pending_draws);
    }
    pending_slot = slot;
    pending_draws = draws;
  }
  if (progress.cancelled()) return;
  if (pending_slot >= 0) {
    MIRAGE_CUDA_CHECK(cudaEventSynchronize(launched[pending_slot].get()));
    progress.add(pending_draws);
  }

  std::vector<int64_t> h_tallies(cells);
  MIRAGE_CUDA_CHECK(cudaMemcpyAsync(h_tallies.data(), d_tallies.get(),
                                    sizeof(unsigned long long) * cells, cudaMemcpyDeviceToHost,
                                    stream.get()));
  MIRAGE_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  result->tallies = std::move(h_tallies);
}

}  // namespace

void use_device_on_this_thread(int device) {
  name_device_in_errors(device);
  MIRAGE_CUDA_CHECK(cudaSetDevice(device));
}

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

  std::vector<DeviceResult> results(static_cast<std::size_t>(workers));
  // One thread per share (device_workers.h); the calling thread reports progress. Any failure
  // throws here, before segment_tallies is touched.
  run_workers(
      workers,
      [&](int w, WorkerProgress& progress) {
        DeviceShare share;
        share.device = devices[static_cast<std::size_t>(w)];
        share.tile_begin = bounds[static_cast<std::size_t>(w)];
        share.tile_end = bounds[static_cast<std::size_t>(w) + 1];
        DeviceResult& result = results[static_cast<std::size_t>(w)];
        try {
          run_device(spec, sequence, share, limits, progress, &result);
        } catch (const std::exception&) {
          result.tallies.clear();
          throw;
        } catch (...) {
          result.tallies.clear();
          throw std::runtime_error("CUDA device " + std::to_string(share.device) +
                                   ": unknown error");
        }
      },
      progress);

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

namespace {

//! What list_devices found (computed once per process).
struct DeviceList {
  std::vector<DeviceInfo> devices;
  std::string why_none;
};

//! Probes every device: its properties, and whether this build's kernels load on it (which
//! creates a context on each, so it is worth doing only once).
DeviceList find_devices() {
  DeviceList found;
  std::vector<DeviceInfo>& devices = found.devices;
  std::string* why_none = &found.why_none;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // not sticky: clear it
    *why_none = detail::describe_no_cuda(status);
    return found;
  }
  if (count == 0) {
    *why_none = "the CUDA driver reports no devices";
    return found;
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
  if (devices.empty()) {
    *why_none = "found " + std::to_string(count) +
                " CUDA device(s), but none can run this build (compiled for CUDA "
                "architectures " MIRAGE_CUDA_ARCHITECTURES "): " +
                rejected;
  }
  return found;
}

}  // namespace

std::vector<DeviceInfo> list_devices(std::string* why_none) {
  // Devices do not come and go while a process runs (CUDA fixes the list at initialization),
  // so they are probed once, however often callers ask.
  static const DeviceList found = find_devices();
  if (why_none != nullptr) *why_none = found.devices.empty() ? found.why_none : std::string();
  return found.devices;
}

void sample_units(const UnitGrid& grid, const std::vector<int>& devices, const int64_t* unit_ids,
                  int64_t count, int64_t* segment_tallies,
                  const std::function<void(int64_t)>& progress) {
  detail::sample_units_with_limits(grid, devices, unit_ids, count, segment_tallies, progress,
                                   nullptr);
}

}  // namespace mirage::cuda
