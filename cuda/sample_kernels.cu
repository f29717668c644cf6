// Copyright (c) Mirage developers.
//! \file sample_kernels.cu
//! The sampling kernels. One block samples one tile (tiles.h): up to TILE_GROUPS item groups
//! of one work unit, so all of its items add into the same tally cells. Random numbers,
//! per-item counts and per-length sums stay in registers; nothing is read or written per token.
//! At the end of the tile the block adds its sums (warp reductions, then shared memory) and
//! issues one 64-bit atomicAdd per tally per target length into the device tally array.
//!
//! Determinism: each thread computes exactly the per-item counts of sample_group (the same
//! Philox counters and threshold comparisons), and all sums are integers, so the tallies are
//! bit-identical to sample_unit_reference whatever the order in which blocks and atomics run.

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

// ---- Fast kernels: at most MAX_K <= 8 lengths, all <= FAST_MAX_LENGTH -----------------------

//! Samples this thread's groups of the tile and adds their per-length sums into registers.
//! MAX_K is a compile-time bound so that the per-length arrays are indexed by constants
//! (registers, not local memory); num_lengths <= MAX_K is the runtime count.
template <int MAX_K, class Word>
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
    item_thresholds(tile, group, threshold, thresholds);
    uint32_t k[ITEMS_PER_GROUP] = {0u, 0u, 0u, 0u};
    int32_t token = 0;
#pragma unroll
    for (int kk = 0; kk < MAX_K; ++kk) {
      if (kk < num_lengths) {
        const int32_t length = p.fast_length[kk];
        count_correct_tokens(key, static_cast<uint32_t>(group), scale, replicate, thresholds, token,
                             length, k);
        token = length;
        const GroupSums sums = group_sums(k, length);
        exact[kk] += sums.exact_match;
        correct[kk] += sums.correct;
        correct_sq[kk] += sums.correct_sq;
      }
    }
  }
}

template <int MAX_K>
__device__ __forceinline__ void sample_tile_fast(const KernelParams& p, const Tile& tile) {
  __shared__ uint32_t s_sums[3][MAX_K][BLOCK_WARPS];
  uint32_t exact[MAX_K], correct[MAX_K], correct_sq[MAX_K];
#pragma unroll
  for (int kk = 0; kk < MAX_K; ++kk) exact[kk] = correct[kk] = correct_sq[kk] = 0u;

  // A threshold below 2^32 goes in as 32 bits, so the per-token comparison is one 32-bit
  // compare; p = 1 (threshold 2^32) takes the 64-bit instantiation.
  const uint64_t threshold = p.spec.threshold[tile.scale];
  if (threshold < THRESHOLD_ONE) {
    accumulate_fast<MAX_K>(p, tile, static_cast<uint32_t>(threshold), exact, correct, correct_sq);
  } else {
    accumulate_fast<MAX_K>(p, tile, THRESHOLD_ONE, exact, correct, correct_sq);
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

template <int MAX_K>
__global__ void __launch_bounds__(BLOCK_THREADS)
    sample_tiles_fast_kernel(const KernelParams params) {
  const Tile tile = params.tiles[blockIdx.x];
  sample_tile_fast<MAX_K>(params, tile);
}

// ---- General kernel: any number of lengths up to MAX_LENGTH ---------------------------------

//! Samples this thread's groups of the tile; at each length the warp adds its sums (32 bits
//! hold one warp's step, tiles.h) into the block's shared per-length sums.
template <class Word>
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
    item_thresholds(tile, group, active ? threshold : Word{0}, thresholds);
    uint32_t k[ITEMS_PER_GROUP] = {0u, 0u, 0u, 0u};
    int32_t token = 0;
    for (int32_t kk = 0; kk < num_lengths; ++kk) {
      const int32_t length = __ldg(p.spec.length + kk);
      count_correct_tokens(key, static_cast<uint32_t>(group), scale, replicate, thresholds, token,
                           length, k);
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

__device__ __forceinline__ void sample_tile_general(const KernelParams& p, const Tile& tile) {
  // Per length: a 64-bit sum of k^2, then 32-bit sums of exact matches and of k
  // (general_shared_bytes).
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

  const uint64_t threshold = p.spec.threshold[tile.scale];
  if (threshold < THRESHOLD_ONE) {
    accumulate_general(p, tile, static_cast<uint32_t>(threshold), s_exact, s_correct, s_correct_sq);
  } else {
    accumulate_general(p, tile, THRESHOLD_ONE, s_exact, s_correct, s_correct_sq);
  }
  __syncthreads();

  const int64_t items = tile_items(tile);
  for (int32_t kk = threadIdx.x; kk < num_lengths; kk += BLOCK_THREADS) {
    add_length_tallies(p, tile, kk, items, s_exact[kk], s_correct[kk],
                       static_cast<int64_t>(s_correct_sq[kk]));
  }
}

__global__ void __launch_bounds__(BLOCK_THREADS)
    sample_tiles_general_kernel(const KernelParams params) {
  const Tile tile = params.tiles[blockIdx.x];
  sample_tile_general(params, tile);
}

//! Largest dynamic shared memory a kernel may use without opting in.
constexpr std::size_t DEFAULT_SHARED_LIMIT = 48 * 1024;

}  // namespace

void prepare_kernel(const KernelChoice& choice) {
  if (choice.fast_lengths != 0 || choice.shared_bytes <= DEFAULT_SHARED_LIMIT) return;
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
  MIRAGE_CUDA_CHECK(cudaFuncSetAttribute(sample_tiles_general_kernel,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(choice.shared_bytes)));
}

void launch_sample_tiles(const KernelChoice& choice, const KernelParams& params, int64_t num_tiles,
                         cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned int>(num_tiles));
  const dim3 block(BLOCK_THREADS);
  switch (choice.fast_lengths) {
    case 1:
      sample_tiles_fast_kernel<1><<<grid, block, 0, stream>>>(params);
      break;
    case 2:
      sample_tiles_fast_kernel<2><<<grid, block, 0, stream>>>(params);
      break;
    case 4:
      sample_tiles_fast_kernel<4><<<grid, block, 0, stream>>>(params);
      break;
    case 8:
      sample_tiles_fast_kernel<8><<<grid, block, 0, stream>>>(params);
      break;
    default:
      sample_tiles_general_kernel<<<grid, block, choice.shared_bytes, stream>>>(params);
      break;
  }
  MIRAGE_CUDA_CHECK(cudaGetLastError());
}

cudaError_t probe_kernel_image() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, sample_tiles_fast_kernel<1>);
}

}  // namespace mirage::cuda::detail
