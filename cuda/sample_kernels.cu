// Copyright (c) Mirage developers.
//! \file sample_kernels.cu
//! The sampling kernels. One block samples one tile (tiles.h): up to TILE_GROUPS item groups
//! of one work unit, so all of its items add into the same tally cells. Random numbers,
//! per-item counts and per-length sums stay in registers; nothing is read or written per token.
//! At the end of the tile the block adds its sums (warp reductions, then shared memory) and
//! issues one 64-bit atomicAdd per tally per target length into the device tally array.
//!
//! Each token kernel has an instantiation without item difficulty (one threshold per tile) and
//! one with it (DIFFICULTY: per-item 32-bit thresholds from the item model, see
//! item_model_thresholds); the sweep picks one, so the path without difficulty compiles to the
//! same code as before difficulty existed. A multiple-choice sweep also runs the choice kernel
//! on the same tiles.
//!
//! Determinism: each thread computes exactly the per-item counts of sample_group (the same
//! Philox counters and threshold comparisons) and the per-item choice outcomes of
//! sample_unit_choices (the same portable arithmetic, item_model.h), and all sums are
//! integers, so the tallies are bit-identical to sample_unit_reference whatever the order in
//! which blocks and atomics run.

// First: it configures Random123 for the device pass.

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

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

//! The per-item thresholds of `group`: without difficulty `threshold` for the items inside the
//! unit (when `active`), 0 for the others, and returns 0; with it each item's own 32-bit
//! threshold (`threshold` is unused, Word is uint32_t), returning the items whose threshold is
//! 2^32 (item_model_thresholds), for set_always_correct.
template <bool DIFFICULTY, class Word>
__device__ __forceinline__ uint32_t group_item_thresholds(const KernelParams& p, const Tile& tile,
                                                          int64_t group, bool active,
                                                          Word threshold,
                                                          Word (&thresholds)[ITEMS_PER_GROUP]) {
  if constexpr (DIFFICULTY) {
    static_assert(sizeof(Word) == sizeof(uint32_t), "the difficulty path compares in 32 bits");
    return item_model_thresholds(p.spec, tile, group, active, thresholds);
  } else {
    item_thresholds(tile, group, active ? threshold : Word{0}, thresholds);
    return 0u;
  }
}

// ---- Fast kernels: at most MAX_K <= 8 lengths, all <= FAST_MAX_LENGTH -----------------------

//! Samples this thread's groups of the tile and adds their per-length sums into registers.
//! MAX_K is a compile-time bound so that the per-length arrays are indexed by constants
//! (registers, not local memory); num_lengths <= MAX_K is the runtime count.
template <int MAX_K, bool DIFFICULTY, class Word>
__device__ __forceinline__ void accumulate_fast(const KernelParams& p, const Tile& tile,
                                                Word threshold, uint32_t (&exact)[MAX_K],
                                                uint32_t (&correct)[MAX_K],
                                                uint32_t (&correct_sq)[MAX_K]) {
  const PhiloxKey key = philox_key(p.spec.seed);
  const uint32_t scale = static_cast<uint32_t>(tile.scale);
  const uint32_t replicate = static_cast<uint32_t>(tile.replicate);
  const int32_t num_lengths = p.spec.num_lengths;
  for (int32_t local = threadIdx.x; local < tile.num_groups; local += BLOCK_THREADS) {
    const int64_t group = tile.group_begin + local;
    Word thresholds[ITEMS_PER_GROUP];
    const uint32_t always =
        group_item_thresholds<DIFFICULTY>(p, tile, group, true, threshold, thresholds);
    uint32_t k[ITEMS_PER_GROUP] = {0u, 0u, 0u, 0u};
    int32_t token = 0;
#pragma unroll
    for (int kk = 0; kk < MAX_K; ++kk) {
      if (kk < num_lengths) {
        const int32_t length = p.fast_length[kk];
        count_correct_tokens(key, static_cast<uint32_t>(group), scale, replicate, thresholds, token,
                             length, k);
        if constexpr (DIFFICULTY) set_always_correct(always, length, k);
        token = length;
        const GroupSums sums = group_sums(k, length);
        exact[kk] += sums.exact_match;
        correct[kk] += sums.correct;
        correct_sq[kk] += sums.correct_sq;
      }
    }
  }
}

template <int MAX_K, bool DIFFICULTY>
__device__ __forceinline__ void sample_tile_fast(const KernelParams& p, const Tile& tile) {
  __shared__ uint32_t s_sums[3][MAX_K][BLOCK_WARPS];
  uint32_t exact[MAX_K], correct[MAX_K], correct_sq[MAX_K];
#pragma unroll
  for (int kk = 0; kk < MAX_K; ++kk) exact[kk] = correct[kk] = correct_sq[kk] = 0u;

  if constexpr (DIFFICULTY) {
    // Per-item 32-bit thresholds (item_model_thresholds).
    accumulate_fast<MAX_K, true>(p, tile, 0u, exact, correct, correct_sq);
  } else {
    // A threshold below 2^32 goes in as 32 bits, so the per-token comparison is one 32-bit
    // compare; p = 1 (threshold 2^32) takes the 64-bit instantiation.
    const uint64_t threshold = p.spec.threshold[tile.scale];
    if (threshold < THRESHOLD_ONE) {
      accumulate_fast<MAX_K, false>(p, tile, static_cast<uint32_t>(threshold), exact, correct,
                                    correct_sq);
    } else {
      accumulate_fast<MAX_K, false>(p, tile, THRESHOLD_ONE, exact, correct, correct_sq);
    }
  }

  const int lane = threadIdx.x % WARP_THREADS;
  const int warp = threadIdx.x / WARP_THREADS;
  const int32_t num_lengths = p.spec.num_lengths;
#pragma unroll
  for (int kk = 0; kk < MAX_K; ++kk) {
    if (kk < num_lengths) {
      const uint32_t e = warp_sum(exact[kk]);
      const uint32_t c = warp_sum(correct[kk]);
      const uint32_t c2 = warp_sum(correct_sq[kk]);
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

template <int MAX_K, bool DIFFICULTY>
__global__ void __launch_bounds__(BLOCK_THREADS)
    sample_tiles_fast_kernel(const KernelParams params) {
  const Tile tile = params.tiles[blockIdx.x];
  sample_tile_fast<MAX_K, DIFFICULTY>(params, tile);
}

// ---- General kernel: any number of lengths up to MAX_LENGTH ---------------------------------

//! Samples this thread's groups of the tile; at each length the warp adds its sums (32 bits
//! hold one warp's step, tiles.h) into the block's shared per-length sums.
template <bool DIFFICULTY, class Word>
__device__ __forceinline__ void accumulate_general(const KernelParams& p, const Tile& tile,
                                                   Word threshold, uint32_t* s_exact,
                                                   uint32_t* s_correct,
                                                   unsigned long long* s_correct_sq) {
  const PhiloxKey key = philox_key(p.spec.seed);
  const uint32_t scale = static_cast<uint32_t>(tile.scale);
  const uint32_t replicate = static_cast<uint32_t>(tile.replicate);
  const int32_t num_lengths = p.spec.num_lengths;
  const int lane = threadIdx.x % WARP_THREADS;
  const int32_t warp_first = static_cast<int32_t>(threadIdx.x) - lane;
  for (int32_t step = 0; step < GROUPS_PER_THREAD; ++step) {
    // The warp stays together (warp-uniform exit; lanes past the tile's end sample with
    // threshold 0 and add nothing), so that every lane reaches each warp reduction.
    if (step * BLOCK_THREADS + warp_first >= tile.num_groups) break;
    const int32_t local = step * BLOCK_THREADS + static_cast<int32_t>(threadIdx.x);
    const bool active = local < tile.num_groups;
    const int64_t group = tile.group_begin + local;
    Word thresholds[ITEMS_PER_GROUP];
    const uint32_t always =
        group_item_thresholds<DIFFICULTY>(p, tile, group, active, threshold, thresholds);
    uint32_t k[ITEMS_PER_GROUP] = {0u, 0u, 0u, 0u};
    int32_t token = 0;
    for (int32_t kk = 0; kk < num_lengths; ++kk) {
      const int32_t length = __ldg(p.spec.length + kk);
      count_correct_tokens(key, static_cast<uint32_t>(group), scale, replicate, thresholds, token,
                           length, k);
      if constexpr (DIFFICULTY) set_always_correct(always, length, k);
      token = length;
      const GroupSums sums = group_sums(k, length);
      const uint32_t e = warp_sum(sums.exact_match);
      const uint32_t c = warp_sum(sums.correct);
      const uint32_t c2 = warp_sum(sums.correct_sq);
      if (lane == 0) {
        if (e != 0u) atomicAdd(s_exact + kk, e);
        if (c != 0u) atomicAdd(s_correct + kk, c);
        if (c2 != 0u) atomicAdd(s_correct_sq + kk, static_cast<unsigned long long>(c2));
      }
    }
  }
}

template <bool DIFFICULTY>
__device__ __forceinline__ void sample_tile_general(const KernelParams& p, const Tile& tile) {
  // Per length: a 64-bit sum of k^2, then 32-bit sums of exact matches and of k
  // (general_shared_bytes).
  // (Declared here rather than in a helper function, which makes nvcc wrap the atomics below
  // in a needless warp aggregation.)
  extern __shared__ unsigned long long s_dynamic[];
  const int32_t num_lengths = p.spec.num_lengths;
  unsigned long long* s_correct_sq = s_dynamic;
  uint32_t* s_exact = reinterpret_cast<uint32_t*>(s_dynamic + num_lengths);
  uint32_t* s_correct = s_exact + num_lengths;
  for (int32_t kk = threadIdx.x; kk < num_lengths; kk += BLOCK_THREADS) {
    s_correct_sq[kk] = 0ull;
    s_exact[kk] = 0u;
    s_correct[kk] = 0u;
  }
  __syncthreads();

  if constexpr (DIFFICULTY) {
    accumulate_general<true>(p, tile, 0u, s_exact, s_correct, s_correct_sq);
  } else {
    const uint64_t threshold = p.spec.threshold[tile.scale];
    if (threshold < THRESHOLD_ONE) {
      accumulate_general<false>(p, tile, static_cast<uint32_t>(threshold), s_exact, s_correct,
                                s_correct_sq);
    } else {
      accumulate_general<false>(p, tile, THRESHOLD_ONE, s_exact, s_correct, s_correct_sq);
    }
  }
  __syncthreads();

  const int64_t items = tile_items(tile);
  for (int32_t kk = threadIdx.x; kk < num_lengths; kk += BLOCK_THREADS) {
    add_length_tallies(p, tile, kk, items, s_exact[kk], s_correct[kk],
                       static_cast<int64_t>(s_correct_sq[kk]));
  }
}

template <bool DIFFICULTY>
__global__ void __launch_bounds__(BLOCK_THREADS)
    sample_tiles_general_kernel(const KernelParams params) {
  const Tile tile = params.tiles[blockIdx.x];
  sample_tile_general<DIFFICULTY>(params, tile);
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

//! Largest dynamic shared memory a kernel may use without opting in.
constexpr std::size_t DEFAULT_SHARED_LIMIT = 48 * 1024;

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

}  // namespace

KernelChoice prepare_kernel(const KernelChoice& requested) {
  KernelChoice choice = requested;
  if (choice.shared_bytes <= DEFAULT_SHARED_LIMIT) return choice;
  int device = 0;
  MIRAGE_CUDA_CHECK(cudaGetDevice(&device));
  int optin = 0;
  MIRAGE_CUDA_CHECK(
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (static_cast<std::size_t>(optin) < choice.shared_bytes) {
    throw std::runtime_error("CUDA device " + std::to_string(device) + " offers " +
                             std::to_string(optin) +
                             " bytes of shared memory per block; sampling this many target "
                             "lengths needs " +
                             std::to_string(choice.shared_bytes));
  }
  MIRAGE_CUDA_CHECK(cudaFuncSetAttribute(sample_kernel(choice),
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(choice.shared_bytes)));
  return choice;
}

void launch_sample_tiles(const KernelChoice& choice, const KernelParams& params, int64_t num_tiles,
                         cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned int>(num_tiles));
  const dim3 block(BLOCK_THREADS);
  sample_kernel(choice)<<<grid, block, choice.shared_bytes, stream>>>(params);
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
