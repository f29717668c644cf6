// Copyright (c) Mirage developers.
//! \file sample_kernels.cu
//! The sampling kernels. One block samples one tile (tiles.h): up to TILE_GROUPS item groups
//! of one work unit, so all of its items add into the same tally cells. Random numbers,
//! per-item counts and per-length sums stay in registers; nothing is read or written per token
//! but the tile's token prefix (one shared-memory load, the same address for every lane).
//! At the end of the tile the block adds its sums (warp reductions, then shared memory) and
//! issues one 64-bit atomicAdd per tally per target length into the device tally array.
//!
//! The per-group and per-thread arithmetic is in tiles.h (fast_thread, fast_group,
//! general_length, philox_finish), which the host emulation of tests/cuda runs too; this file
//! holds what needs CUDA: shared memory, warp reductions, atomics and the launches.
//!
//! Each token kernel has an instantiation without item difficulty (one threshold per tile) and
//! one with it (DIFFICULTY: per-item 32-bit thresholds from the item model, see
//! item_model_thresholds). A multiple-choice sweep also runs the choice kernel on the same
//! tiles.
//!
//! Determinism: each thread computes exactly the per-item counts of sample_group (the same
//! Philox outputs, regrouped, and threshold comparisons) and the per-item choice outcomes of
//! sample_unit_choices (the same portable arithmetic, item_model.h), and all sums are
//! integers, so the tallies are bit-identical to sample_unit_reference whatever the order in
//! which blocks and atomics run.

// First: it configures Random123 for the device pass.

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_check.cuh"
#include "mirage/model.h"
#include "mirage/stream.h"
#include "mirage/sweep.h"
#include "sample_kernels.cuh"
#include "tiles.h"

namespace mirage::cuda::detail {
namespace {

//! Sum of v over the 32 lanes of a fully active warp (given to every lane).
__device__ __forceinline__ uint32_t warp_sum(uint32_t v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  return __reduce_add_sync(0xffffffffu, v);
#else
  for (int offset = WARP_THREADS / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
#endif
}

//! Adds `value` to one tally cell of the tile's (scale, segment, replicate).
__device__ __forceinline__ void add_tally(const KernelParams& p, const Tile& tile, int tally,
                                          int32_t length_index, int64_t value) {
  if (value == 0) return;  // skipping a zero add changes nothing and saves an atomic
  const int64_t index =
      tally_array_index(p.spec, tally, tile.scale, length_index, tile.segment, tile.replicate);
  // Two's-complement addition: the unsigned add gives the int64 sum bit for bit.
  atomicAdd(p.tallies + index, static_cast<unsigned long long>(value));
}

//! Adds the tile's three tallies at length index `length_index`, from the block's sums.
__device__ __forceinline__ void add_length_tallies(const KernelParams& p, const Tile& tile,
                                                   int32_t length_index, int64_t items,
                                                   int64_t exact_match, int64_t correct,
                                                   int64_t correct_sq) {
  const LengthTallies t =
      length_tallies(items, p.spec.length[length_index], exact_match, correct, correct_sq);
  add_tally(p, tile, TALLY_EXACT_MATCH, length_index, t.exact_match);
  add_tally(p, tile, TALLY_TOKEN_ERRORS, length_index, t.token_errors);
  add_tally(p, tile, TALLY_TOKEN_ERRORS_SQ, length_index, t.token_errors_sq);
}

// ---- Tiles that draw nothing ------------------------------------------------------------------

//! A tile without difficulty at threshold 0 or 2^32 (tile_draws): every token is wrong, or
//! right, so its tallies follow from its item count; threads kk < K add length kk's.
__device__ __forceinline__ void add_constant_tile(const KernelParams& p, const Tile& tile,
                                                  TileDraws draws) {
  const int64_t items = tile_items(tile);
  for (int32_t kk = threadIdx.x; kk < p.spec.num_lengths; kk += BLOCK_THREADS) {
    const LengthTallies t = constant_tile_tallies(draws, items, __ldg(p.spec.length + kk));
    add_tally(p, tile, TALLY_EXACT_MATCH, kk, t.exact_match);
    add_tally(p, tile, TALLY_TOKEN_ERRORS, kk, t.token_errors);
    add_tally(p, tile, TALLY_TOKEN_ERRORS_SQ, kk, t.token_errors_sq);
  }
}

// ---- Fast kernels: at most MAX_K <= 8 lengths, all <= FAST_MAX_LENGTH -----------------------

//! Each thread samples its groups of the tile with packed byte counts (fast_thread, tiles.h),
//! keeping per-length sums in registers (MAX_K is a compile-time bound so that they are
//! indexed by constants; p.fast.count <= MAX_K is the runtime count). At the end each warp
//! reduces them with __reduce_add_sync, the warp leaders write to shared memory, and K
//! threads add the 8 warps' values and issue the tile's atomics.
template <int MAX_K, bool DIFFICULTY>
__global__ void __launch_bounds__(BLOCK_THREADS, FAST_MIN_BLOCKS)
    sample_tiles_fast_kernel(const KernelParams p) {
  __shared__ TokenPrefix s_tokens[FAST_MAX_LENGTH];
  __shared__ uint32_t s_sums[3][MAX_K][BLOCK_WARPS];
  const Tile tile = p.tiles[blockIdx.x];
  const int32_t num_lengths = p.fast.count;
  uint32_t threshold = 0u;
  if constexpr (!DIFFICULTY) {
    const uint64_t scale_threshold = p.spec.threshold[tile.scale];
    const TileDraws draws = tile_draws(scale_threshold);
    if (draws != TileDraws::SAMPLED) {
      add_constant_tile(p, tile, draws);
      return;
    }
    threshold = static_cast<uint32_t>(scale_threshold);
  }
  const StreamPrefix stream = stream_prefix(p.keys, static_cast<uint32_t>(tile.scale),
                                            static_cast<uint32_t>(tile.replicate));
  fill_token_prefixes(p.keys, stream, static_cast<int32_t>(threadIdx.x),
                      p.fast.length[num_lengths - 1], BLOCK_THREADS, s_tokens);
  __syncthreads();

  PackedSums<MAX_K> sums;
  fast_thread<MAX_K, DIFFICULTY>(p, tile, stream, threshold, s_tokens,
                                 static_cast<int32_t>(threadIdx.x), sums);

  const int lane = threadIdx.x % WARP_THREADS;
  const int warp = threadIdx.x / WARP_THREADS;
#pragma unroll
  for (int kk = 0; kk < MAX_K; ++kk) {
    if (kk < num_lengths) {
      const GroupSums g = unpack_sums(sums.exact[kk], sums.squares[kk]);
      const uint32_t e = warp_sum(g.exact_match);
      const uint32_t c = warp_sum(g.correct);
      const uint32_t c2 = warp_sum(g.correct_sq);
      if (lane == 0) {
        s_sums[0][kk][warp] = e;
        s_sums[1][kk][warp] = c;
        s_sums[2][kk][warp] = c2;
      }
    }
  }
  __syncthreads();
  if (static_cast<int32_t>(threadIdx.x) < num_lengths) {
    const int kk = threadIdx.x;
    uint32_t e = 0u, c = 0u, c2 = 0u;  // whole-tile sums fit in 32 bits (tiles.h)
    for (int w = 0; w < BLOCK_WARPS; ++w) {
      e += s_sums[0][kk][w];
      c += s_sums[1][kk][w];
      c2 += s_sums[2][kk][w];
    }
    add_length_tallies(p, tile, kk, tile_items(tile), e, c, c2);
  }
}

// ---- General kernel: any number of lengths up to MAX_LENGTH ---------------------------------

//! Each warp walks its lanes' groups together (general_length, tiles.h); at each length the
//! warp reduces its three sums (32 bits hold one warp's step, tiles.h) and its leader adds
//! them into the block's per-length sums in dynamic shared memory, the 64-bit sum of k^2 as
//! two 32-bit words (a carry out of the low word adds 1 to the high word: low_word_carries),
//! so no atomic is a compare-and-swap loop.
template <bool DIFFICULTY>
__global__ void __launch_bounds__(BLOCK_THREADS) sample_tiles_general_kernel(const KernelParams p) {
  // general_shared_bytes: the token table, then per length the low and high words of the sum
  // of k^2, the sum of exact matches and the sum of k.
  extern __shared__ unsigned long long s_dynamic[];
  const Tile tile = p.tiles[blockIdx.x];
  const int32_t num_lengths = p.spec.num_lengths;
  uint32_t threshold = 0u;
  if constexpr (!DIFFICULTY) {
    const uint64_t scale_threshold = p.spec.threshold[tile.scale];
    const TileDraws draws = tile_draws(scale_threshold);
    if (draws != TileDraws::SAMPLED) {
      add_constant_tile(p, tile, draws);
      return;
    }
    threshold = static_cast<uint32_t>(scale_threshold);
  }
  const int32_t max_len = __ldg(p.spec.length + num_lengths - 1);
  TokenPrefix* s_tokens = reinterpret_cast<TokenPrefix*>(s_dynamic);
  uint32_t* s_sq_low = reinterpret_cast<uint32_t*>(s_tokens + max_len);
  uint32_t* s_sq_high = s_sq_low + num_lengths;
  uint32_t* s_exact = s_sq_high + num_lengths;
  uint32_t* s_correct = s_exact + num_lengths;
  for (int32_t kk = threadIdx.x; kk < num_lengths; kk += BLOCK_THREADS) {
    s_sq_low[kk] = 0u;
    s_sq_high[kk] = 0u;
    s_exact[kk] = 0u;
    s_correct[kk] = 0u;
  }
  const StreamPrefix stream = stream_prefix(p.keys, static_cast<uint32_t>(tile.scale),
                                            static_cast<uint32_t>(tile.replicate));
  fill_token_prefixes(p.keys, stream, static_cast<int32_t>(threadIdx.x), max_len, BLOCK_THREADS,
                      s_tokens);
  __syncthreads();

  const int lane = threadIdx.x % WARP_THREADS;
  const int32_t warp_first = static_cast<int32_t>(threadIdx.x) - lane;
  for (int32_t step = 0; step < GROUPS_PER_THREAD; ++step) {
    // The warp stays together (warp-uniform exit; lanes past the tile's end sample with
    // threshold 0 and add nothing), so that every lane reaches each warp reduction.
    if (step * BLOCK_THREADS + warp_first >= tile.num_groups) break;
    const int32_t local = step * BLOCK_THREADS + static_cast<int32_t>(threadIdx.x);
    const bool active = local < tile.num_groups;
    const int64_t group = tile.group_begin + local;
    ItemThresholds t;
    const uint32_t always = general_thresholds<DIFFICULTY>(p, tile, group, active, threshold, t);
    const GroupPrefix g = group_prefix(p.keys, stream, static_cast<uint32_t>(group));
    GeneralWalk walk;
    // The atomics stay in the kernel's own body: inside a helper or lambda, ptxas wraps each
    // in a warp aggregation (vote, population count, shuffle) it cannot see is needless.
    for (int32_t kk = 0; kk < num_lengths; ++kk) {
      const GroupSums sums = general_length<DIFFICULTY>(p, s_tokens, g, t, always, kk, walk);
      const uint32_t e = warp_sum(sums.exact_match);
      const uint32_t c = warp_sum(sums.correct);
      const uint32_t c2 = warp_sum(sums.correct_sq);
      if (lane == 0) {
        if (e != 0u) atomicAdd(s_exact + kk, e);
        if (c != 0u) atomicAdd(s_correct + kk, c);
        if (c2 != 0u && low_word_carries(atomicAdd(s_sq_low + kk, c2), c2)) {
          atomicAdd(s_sq_high + kk, 1u);
        }
      }
    }
  }
  __syncthreads();

  const int64_t items = tile_items(tile);
  for (int32_t kk = threadIdx.x; kk < num_lengths; kk += BLOCK_THREADS) {
    const uint64_t sq = (static_cast<uint64_t>(s_sq_high[kk]) << 32) | s_sq_low[kk];
    add_length_tallies(p, tile, kk, items, s_exact[kk], s_correct[kk], static_cast<int64_t>(sq));
  }
}

// ---- Choice kernel: the sampled options of multiple-choice items -------------------------

//! Sum of a 64-bit v over the 32 lanes of a fully active warp (given to every lane).
__device__ __forceinline__ unsigned long long warp_sum64(unsigned long long v) {
  for (int offset = WARP_THREADS / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

//! Adds the tile's choice tallies: each thread takes the tile's groups as the token kernels
//! do; per group and length the warp sums its lanes' outcomes and lane 0 adds them with one
//! atomic per tally (few compared with the per-item portable math, which dominates).
__global__ void __launch_bounds__(BLOCK_THREADS) sample_tiles_choice_kernel(const KernelParams p) {
  const Tile tile = p.tiles[blockIdx.x];
  const int lane = threadIdx.x % WARP_THREADS;
  const int32_t warp_first = static_cast<int32_t>(threadIdx.x) - lane;
  const int32_t num_lengths = p.spec.num_lengths;
  for (int32_t step = 0; step < GROUPS_PER_THREAD; ++step) {
    // Warp-uniform exit: every lane reaches each shuffle; lanes past the tile add nothing.
    if (step * BLOCK_THREADS + warp_first >= tile.num_groups) break;
    const int32_t local = step * BLOCK_THREADS + static_cast<int32_t>(threadIdx.x);
    const bool active = local < tile.num_groups;
    GroupChoices g;
    group_choices(p.spec, tile, tile.group_begin + local, active, g);
    for (int32_t kk = 0; kk < num_lengths; ++kk) {
      const ChoiceSums sums = group_choice_sums(g, __ldg(p.spec.length + kk));
      const uint32_t grade = warp_sum(sums.grade);
      const unsigned long long brier = warp_sum64(sums.brier);
      const unsigned long long brier_sq = warp_sum64(sums.brier_sq);
      if (lane == 0) {
        add_tally(p, tile, TALLY_CHOICE_GRADE, kk, grade);
        add_tally(p, tile, TALLY_BRIER, kk, static_cast<int64_t>(brier));
        add_tally(p, tile, TALLY_BRIER_SQ, kk, static_cast<int64_t>(brier_sq));
      }
    }
  }
}

//! Repeated attempts (spec.attempts > 1, docs/DESIGN.md §3.5): each thread takes the tile's
//! groups as the choice kernel does and walks every attempt of a group with the core's
//! sample_group_attempts, the reference sampler itself (sampler.h), its per-item counts of
//! correct attempts in a local array; it adds attempt 0's item tallies per group and length,
//! and one histogram bin per item and length, with 64-bit atomics. Simple rather than fast:
//! the atomics are amortised over A L_max token draws per item (docs/GPU.md).
__global__ void __launch_bounds__(BLOCK_THREADS) sample_tiles_attempts_kernel(const KernelParams p) {
  const Tile tile = p.tiles[blockIdx.x];
  const int32_t num_lengths = p.spec.num_lengths;
  const uint32_t replicate = static_cast<uint32_t>(tile.replicate);
  const uint32_t scale = static_cast<uint32_t>(tile.scale);
  uint16_t successes[MAX_ATTEMPT_LENGTHS * ITEMS_PER_GROUP];
  for (int32_t local = static_cast<int32_t>(threadIdx.x); local < tile.num_groups;
       local += BLOCK_THREADS) {
    const int64_t group = tile.group_begin + local;
    uint64_t thresholds[ITEMS_PER_GROUP];
    group_thresholds(p.spec, replicate, scale, static_cast<uint32_t>(group), thresholds);
    bool inside[ITEMS_PER_GROUP];
    group_items_inside(group, tile.item_begin, tile.item_end, inside);
    sample_group_attempts(p.spec, replicate, scale, static_cast<uint32_t>(group), thresholds,
                          successes, [&](int32_t index, int32_t length, const uint32_t* k) {
                            ItemTally t;
                            for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
                              if (inside[w]) t.add(length, k[w]);
                            }
                            add_tally(p, tile, TALLY_EXACT_MATCH, index, t.exact_match);
                            add_tally(p, tile, TALLY_TOKEN_ERRORS, index, t.token_errors);
                            add_tally(p, tile, TALLY_TOKEN_ERRORS_SQ, index, t.token_errors_sq);
                          });
    for (int32_t kk = 0; kk < num_lengths; ++kk) {
      for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
        if (!inside[w]) continue;
        add_tally(p, tile, attempt_tally(p.spec, successes[kk * ITEMS_PER_GROUP + w]), kk, 1);
      }
    }
  }
}

//! Sampling until success (spec.budget > 0, docs/DESIGN.md §3.6): each thread takes the tile's
//! groups as the attempts kernel does and walks a group's attempts with the core's
//! sample_group_until, the reference sampler itself (sampler.h), until its live items are
//! solved at the longest length or the budget is spent; it adds attempt 0's item tallies per
//! group and length, and the until tallies of the group's items per length, with 64-bit
//! atomics (integers: the order of addition cannot change a bit).
__global__ void __launch_bounds__(BLOCK_THREADS) sample_tiles_until_kernel(const KernelParams p) {
  const Tile tile = p.tiles[blockIdx.x];
  const int32_t num_lengths = p.spec.num_lengths;
  const uint32_t replicate = static_cast<uint32_t>(tile.replicate);
  const uint32_t scale = static_cast<uint32_t>(tile.scale);
  uint16_t used[MAX_ATTEMPT_LENGTHS * ITEMS_PER_GROUP];
  uint8_t solved[MAX_ATTEMPT_LENGTHS * ITEMS_PER_GROUP];
  for (int32_t local = static_cast<int32_t>(threadIdx.x); local < tile.num_groups;
       local += BLOCK_THREADS) {
    const int64_t group = tile.group_begin + local;
    uint64_t thresholds[ITEMS_PER_GROUP];
    group_thresholds(p.spec, replicate, scale, static_cast<uint32_t>(group), thresholds);
    bool inside[ITEMS_PER_GROUP];
    group_items_inside(group, tile.item_begin, tile.item_end, inside);
    sample_group_until(p.spec, replicate, scale, static_cast<uint32_t>(group), thresholds, inside,
                       used, solved, [&](int32_t index, int32_t length, const uint32_t* k) {
                         ItemTally t;
                         for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
                           if (inside[w]) t.add(length, k[w]);
                         }
                         add_tally(p, tile, TALLY_EXACT_MATCH, index, t.exact_match);
                         add_tally(p, tile, TALLY_TOKEN_ERRORS, index, t.token_errors);
                         add_tally(p, tile, TALLY_TOKEN_ERRORS_SQ, index, t.token_errors_sq);
                       });
    for (int32_t kk = 0; kk < num_lengths; ++kk) {
      int64_t sums[NUM_UNTIL_TALLIES] = {0, 0, 0, 0};
      for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
        if (!inside[w]) continue;
        const int64_t t = used[kk * ITEMS_PER_GROUP + w];
        const int64_t y = solved[kk * ITEMS_PER_GROUP + w];
        sums[UNTIL_SOLVED] += y;
        sums[UNTIL_ATTEMPTS] += t;
        sums[UNTIL_ATTEMPTS_SQ] += t * t;
        sums[UNTIL_SOLVED_ATTEMPTS] += y * t;
      }
      for (int which = 0; which < NUM_UNTIL_TALLIES; ++which) {
        add_tally(p, tile, until_tally(p.spec, which), kk, sums[which]);
      }
    }
  }
}

using SampleKernel = void (*)(KernelParams);

template <bool DIFFICULTY>
SampleKernel kernel_for_lengths(int fast_lengths) {
  switch (fast_lengths) {
    case 1:
      return sample_tiles_fast_kernel<1, DIFFICULTY>;
    case 2:
      return sample_tiles_fast_kernel<2, DIFFICULTY>;
    case 4:
      return sample_tiles_fast_kernel<4, DIFFICULTY>;
    case 8:
      return sample_tiles_fast_kernel<8, DIFFICULTY>;
    default:
      return sample_tiles_general_kernel<DIFFICULTY>;
  }
}

//! The kernel that `choice` names.
SampleKernel sample_kernel(const KernelChoice& choice) {
  return choice.difficulty ? kernel_for_lengths<true>(choice.fast_lengths)
                           : kernel_for_lengths<false>(choice.fast_lengths);
}

//! Dynamic shared memory per block the current device can give `kernel`: its opt-in maximum
//! less the kernel's static shared memory.
std::size_t dynamic_shared_limit(SampleKernel kernel) {
  int device = 0;
  MIRAGE_CUDA_CHECK(cudaGetDevice(&device));
  int optin = 0;
  MIRAGE_CUDA_CHECK(
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  cudaFuncAttributes attributes;
  MIRAGE_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kernel));
  const std::size_t fixed = attributes.sharedSizeBytes;
  return static_cast<std::size_t>(optin) > fixed ? static_cast<std::size_t>(optin) - fixed : 0;
}

}  // namespace

void prepare_kernels() {
  static std::mutex mutex;
  static std::vector<int> prepared;  // device ordinals
  int device = 0;
  MIRAGE_CUDA_CHECK(cudaGetDevice(&device));
  const std::lock_guard<std::mutex> lock(mutex);
  if (std::find(prepared.begin(), prepared.end(), device) != prepared.end()) return;
  // Only the general kernels use dynamic shared memory. The attribute is a limit, not a
  // reservation: each launch still gets (and occupancy still counts) what it asks for.
  for (SampleKernel kernel :
       {sample_tiles_general_kernel<false>, sample_tiles_general_kernel<true>}) {
    MIRAGE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(dynamic_shared_limit(kernel))));
  }
  prepared.push_back(device);
}

void check_shared_memory(const KernelChoice& choice) {
  if (choice.shared_bytes == 0) return;
  const std::size_t limit = dynamic_shared_limit(sample_kernel(choice));
  if (choice.shared_bytes > limit) {
    int device = 0;
    MIRAGE_CUDA_CHECK(cudaGetDevice(&device));
    throw std::runtime_error("CUDA device " + std::to_string(device) + " offers " +
                             std::to_string(limit) +
                             " bytes of dynamic shared memory per block; sampling this many "
                             "target lengths needs " +
                             std::to_string(choice.shared_bytes));
  }
}

int resident_blocks_per_multiprocessor(const KernelChoice& choice) {
  int blocks = 0;
  MIRAGE_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
      &blocks, sample_kernel(choice), BLOCK_THREADS, choice.shared_bytes));
  return blocks > 0 ? blocks : 1;
}

void launch_sample_tiles(const KernelChoice& choice, const KernelParams& params, int64_t num_tiles,
                         cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned int>(num_tiles));
  const dim3 block(BLOCK_THREADS);
  if (params.spec.budget > 0) {
    // Sampling until success gives the item tallies of attempt 0 too.
    sample_tiles_until_kernel<<<grid, block, 0, stream>>>(params);
  } else if (params.spec.attempts > 1) {
    // The attempts kernel gives the item tallies of attempt 0 too (the token stream).
    sample_tiles_attempts_kernel<<<grid, block, 0, stream>>>(params);
  } else {
    sample_kernel(choice)<<<grid, block, choice.shared_bytes, stream>>>(params);
  }
  MIRAGE_CUDA_CHECK(cudaGetLastError());
  if (choice.choices) {
    sample_tiles_choice_kernel<<<grid, block, 0, stream>>>(params);
    MIRAGE_CUDA_CHECK(cudaGetLastError());
  }
}

cudaError_t probe_kernel_image() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, sample_tiles_fast_kernel<1, false>);
}

}  // namespace mirage::cuda::detail
