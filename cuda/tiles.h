// Copyright (c) Mirage developers.
//! \file tiles.h
//! Internals of the CUDA backend that need no CUDA headers, so that the host side of the
//! backend, the kernels and the CPU-only tests share them: the tuning constants, the *tile*
//! (the work of one thread block), the kernels' parameters, the per-group and per-thread
//! arithmetic the kernels run (which the host emulation in tests/cuda runs too), and the
//! host-side planning that cuts a list of work units into tiles and tiles into launches.
//!
//! A tile is up to TILE_GROUPS consecutive item groups of one work unit, so every item of a
//! tile adds into the same tally cells (one scale, segment and replicate). A thread block
//! samples one tile; each thread takes groups threadIdx.x, threadIdx.x + BLOCK_THREADS, ...
//! of it, and for each group walks tokens 0..L_max-1 with one Philox4x32-10 call per token
//! (token j of the group's four items, Salmon et al. SC'11), counting correct tokens per item
//! in registers. At each target length L the group contributes, over its items inside the
//! unit, the number of exact matches, the sum of correct-token counts k and the sum of k^2.
//! Those sums are linear, so the block adds them up (warp reductions, then shared memory) and
//! only at the end turns them into tallies: sum(L - k) = nL - sum k and
//! sum (L - k)^2 = nL^2 - 2L sum k + sum k^2, exact in integers. Items of a partial group that
//! lie outside the unit sample with threshold 0: they are never correct, so they add 0 to all
//! three sums and are left out of n.
//!
//! The Philox call is split by what varies (the token-stream split of mirage/philox_batch.h,
//! which the CPU backend uses, written here for host and device): the key schedule is fixed
//! per sweep (a kernel parameter, so the device reads the round keys as constant operands),
//! the scale and replicate words per tile (StreamPrefix), the group word per group
//! (GroupPrefix: 3 of the 20 products) and the token word per token (TokenPrefix: 1 product,
//! the same for every group of the tile, so the block computes them once into shared memory).
//! A call (token j of four items) then costs the other 15 products (philox_finish); one of the
//! 20 (round 1's product of the scale word) is per tile.
//!
//! The fast kernels (at most FAST_MAX_LENGTHS lengths, all <= FAST_MAX_LENGTH) count a group's
//! correct tokens in one register, one byte per item (PackedCounts), walk the tokens once
//! across all lengths (each length adds its tokens to the same counts), and at each length add
//! the group's three sums with byte dot products (dot4_s8: one IDP4A each). Tiles whose groups
//! all lie inside the unit (all but the first and last tile of a unit) take a path with one
//! threshold and no per-item checks; a tile at threshold 0 or 2^32 needs no draws at all.
//!
//! Item difficulty (spec.difficulty != DIFFICULTY_NONE): a thread first computes its group's
//! four per-item thresholds with the core's group_item_model (two Philox calls of the
//! difficulty stream and the portable per-item math of item_model.h), then samples exactly as
//! above with those thresholds (the fast kernels' per-item path, or the general kernel).
//!
//! Multiple choice (spec.choices > 0): the option masses need no token draws, so a separate
//! kernel walks the same tiles: per group it computes the items' log p (group_item_model) and
//! distractor splits (group_choice_splits), and at each length adds the items' choice outcomes
//! (grade, Brier units) with warp reductions and one 64-bit atomic per warp and tally.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "mirage/item_model.h"
#include "mirage/macros.h"
#include "mirage/model.h"
#include "mirage/sampler.h"
#include "mirage/stream.h"
#include "mirage/sweep.h"

#if defined(__CUDACC__)
#define MIRAGE_CUDA_INLINE __forceinline__
#else
#define MIRAGE_CUDA_INLINE inline
#endif

// Loop unrolling on the device only (g++ would warn about the pragma): MIRAGE_UNROLL unrolls a
// loop with a constant trip count completely (per-length registers are then indexed by
// constants); the token loops are unrolled modestly, enough to overlap consecutive Philox
// calls, little enough to stay in the instruction cache.
#if defined(__CUDA_ARCH__)
#define MIRAGE_UNROLL _Pragma("unroll")
#define MIRAGE_NO_UNROLL _Pragma("unroll 1")
#define MIRAGE_TOKEN_LOOP_UNROLL _Pragma("unroll 4")
#define MIRAGE_SECTION_LOOP_UNROLL _Pragma("unroll 2")
#else
#define MIRAGE_UNROLL
#define MIRAGE_NO_UNROLL
#define MIRAGE_TOKEN_LOOP_UNROLL
#define MIRAGE_SECTION_LOOP_UNROLL
#endif

namespace mirage::cuda::detail {

// ---- Tuning constants (the only place they are set) ---------------------------------------

//! Threads per block.
constexpr int BLOCK_THREADS = 256;
//! Threads per warp.
constexpr int WARP_THREADS = 32;
//! Warps per block.
constexpr int BLOCK_WARPS = BLOCK_THREADS / WARP_THREADS;
//! Item groups each thread samples in one tile (at most).
constexpr int GROUPS_PER_THREAD = 16;
//! Item groups per tile (at most): the work of one block.
constexpr int64_t TILE_GROUPS = int64_t{BLOCK_THREADS} * GROUPS_PER_THREAD;
//! Items per tile (at most).
constexpr int64_t TILE_ITEMS = TILE_GROUPS * ITEMS_PER_GROUP;
//! The fast kernels keep per-length sums in registers for up to this many target lengths.
constexpr int FAST_MAX_LENGTHS = 8;
//! The fast kernels count a group's correct tokens one byte per item, and find exact matches
//! from the byte's top bit (add_length_packed), which holds for lengths up to this.
constexpr int32_t FAST_MAX_LENGTH = 127;
//! Blocks per multiprocessor the fast kernels are compiled for (__launch_bounds__): 4 blocks of
//! 256 threads leave 64 registers a thread, which they fit without spilling.
constexpr int FAST_MIN_BLOCKS = 4;
//! A launch samples about this many token draws (~4 ms at 1e12 draws/s): enough to fill the
//! GPU and hide the launch, short enough to report progress between launches.
constexpr int64_t TARGET_BATCH_DRAWS = int64_t{1} << 32;
//! At most this many tiles per launch (bounds the pinned descriptor buffers: 5 MiB each).
constexpr int64_t MAX_BATCH_TILES = int64_t{1} << 17;
//! A launch has at least this many tiles per multiprocessor (unless fewer remain), so that
//! long tiles (large L) still fill the GPU; it is then rounded up to whole waves.
constexpr int64_t MIN_BATCH_TILES_PER_SM = 16;

// Every partial sum the kernels keep in 32 bits must fit. Per item k <= L and k^2 <= L^2.
// Fast kernels, per thread (PackedSums): sum k below 2^14 beside 2^14 * exact matches, and
// sum k^2, over GROUPS_PER_THREAD groups.
static_assert(int64_t{GROUPS_PER_THREAD} * ITEMS_PER_GROUP * FAST_MAX_LENGTH < (int64_t{1} << 14),
              "a thread's packed sum of k must stay below bit 14");
static_assert(int64_t{GROUPS_PER_THREAD} * ITEMS_PER_GROUP *
                      ((int64_t{1} << 14) + FAST_MAX_LENGTH) <=
                  int64_t{0xffffffff},
              "a thread's packed sum of k and exact matches must fit in 32 bits");
static_assert(FAST_MAX_LENGTH <= 127, "counts and the exact-match bias must fit in 7 bits");
// Fast kernels: a whole tile's sums, in the block reduction.
static_assert(TILE_ITEMS * FAST_MAX_LENGTH * FAST_MAX_LENGTH <= int64_t{0xffffffff},
              "fast-path tile sums of k^2 must fit in 32 bits");
// General kernel: one warp's sums for one step of groups (then added into the 64-bit shared
// sum of k^2, kept as two 32-bit words), and a whole tile's sums of k and of exact matches in
// 32-bit shared memory.
static_assert(int64_t{WARP_THREADS} * ITEMS_PER_GROUP * MAX_LENGTH * MAX_LENGTH <=
                  int64_t{0xffffffff},
              "general-path warp sums of k^2 must fit in 32 bits");
static_assert(TILE_ITEMS * MAX_LENGTH <= int64_t{0xffffffff},
              "general-path tile sums of k must fit in 32 bits");
static_assert(MAX_LENGTH - 1 <= static_cast<int32_t>(MAX_TOKEN_INDEX),
              "every target length must be addressable by the token counter");
// The choice kernel sums one warp's step of Brier units in 64 bits and grades in 32 bits.
static_assert(int64_t{WARP_THREADS} * ITEMS_PER_GROUP <= int64_t{0xffffffff},
              "a warp's grade count must fit in 32 bits");

// ---- Tiles ---------------------------------------------------------------------------------

//! The work of one thread block: item groups [group_begin, group_begin + num_groups) of the
//! work unit whose items are [item_begin, item_end) at (scale, segment, replicate). Laid out
//! identically by g++ and nvcc (plain integers), so the host copies an array of them as is.
struct Tile {
  int64_t group_begin = 0;  //!< first item group (items 4 * group_begin ...)
  int64_t item_begin = 0;   //!< the unit's first item
  int64_t item_end = 0;     //!< one past the unit's last item
  int32_t num_groups = 0;   //!< 1..TILE_GROUPS
  int32_t scale = 0;
  int32_t replicate = 0;
  int32_t segment = 0;
};

//! Items of the tile that belong to its unit (the n of its tallies); >= 1 for a planned tile.
MIRAGE_HD inline int64_t tile_items(const Tile& tile) {
  const int64_t first = tile.group_begin * ITEMS_PER_GROUP;
  const int64_t end = (tile.group_begin + tile.num_groups) * ITEMS_PER_GROUP;
  const int64_t lo = first > tile.item_begin ? first : tile.item_begin;
  const int64_t hi = end < tile.item_end ? end : tile.item_end;
  return hi - lo;
}

//! True when every item of every group of the tile belongs to its unit (all tiles of a unit
//! but, where the unit does not start or end on a group boundary, its first and last).
MIRAGE_HD inline bool tile_interior(const Tile& tile) {
  return tile_items(tile) == int64_t{tile.num_groups} * ITEMS_PER_GROUP;
}

// ---- Philox4x32-10 of the token stream, split by what varies ---------------------------------

//! Philox4x32 round multipliers and Weyl key increments (Random123's PHILOX_M4x32_0/1 and
//! PHILOX_W32_0/1), and its rounds.
constexpr uint32_t PHILOX_M0 = 0xD2511F53u;
constexpr uint32_t PHILOX_M1 = 0xCD9E8D57u;
constexpr uint32_t PHILOX_W0 = 0x9E3779B9u;
constexpr uint32_t PHILOX_W1 = 0xBB67AE85u;
constexpr int PHILOX_ROUND_COUNT = 10;

//! The round keys of Philox4x32-10 for one seed: round r (1..10) uses {k0[r-1], k1[r-1]}, the
//! key plus r - 1 Weyl increments. A kernel parameter, so the device reads them as constant
//! operands of its LOP3s (no registers, no adds).
struct RoundKeys {
  uint32_t k0[PHILOX_ROUND_COUNT];
  uint32_t k1[PHILOX_ROUND_COUNT];
};

MIRAGE_HD inline RoundKeys round_keys(uint64_t seed) {
  const PhiloxKey key = philox_key(seed);
  RoundKeys k;
  for (int r = 0; r < PHILOX_ROUND_COUNT; ++r) {
    k.k0[r] = key.v[0] + static_cast<uint32_t>(r) * PHILOX_W0;
    k.k1[r] = key.v[1] + static_cast<uint32_t>(r) * PHILOX_W1;
  }
  return k;
}

//! hi and lo of the 64-bit product a * m: one IMAD.WIDE.U32 on the device (a 32 x 32 -> 64
//! multiply, mul.wide.u32; written as __umulhi and a low multiply, ptxas fuses the pair in
//! some places and not in others).
MIRAGE_HD MIRAGE_CUDA_INLINE void mul_hilo(uint32_t a, uint32_t m, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * m;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

//! What is fixed within a tile: counter words 2 and 3 (scale, replicate) under the keys.
struct StreamPrefix {
  uint32_t a_base;  //!< hi(M1 * scale) ^ k0[0]: round-1 word 0 is a_base ^ token word
  uint32_t b_base;  //!< replicate ^ k1[0]: round-1 word 2 is hi(M0 * group) ^ b_base
  uint32_t c_base;  //!< lo(M1 * scale) ^ k0[1]: round-2 word 0 is hi(M1 * b) ^ c_base
};

MIRAGE_HD MIRAGE_CUDA_INLINE StreamPrefix stream_prefix(const RoundKeys& keys, uint32_t scale,
                                                        uint32_t replicate) {
  uint32_t hi, lo;
  mul_hilo(scale, PHILOX_M1, hi, lo);
  return StreamPrefix{hi ^ keys.k0[0], replicate ^ keys.k1[0], lo ^ keys.k0[1]};
}

//! What depends on counter word 0 (the item group) only: rounds 1-3 up to the token.
struct GroupPrefix {
  uint32_t lo_a;    //!< lo(M0 * group), round-1 word 3
  uint32_t d_key;   //!< round-2 word 1 ^ k0[2]
  uint32_t hd_key;  //!< hi(M0 * round-2 word 0) ^ k1[2]
  uint32_t lo_d;    //!< lo(M0 * round-2 word 0), round-3 word 3
};

MIRAGE_HD MIRAGE_CUDA_INLINE GroupPrefix group_prefix(const RoundKeys& keys, const StreamPrefix& s,
                                                      uint32_t group) {
  uint32_t a_hi, a_lo, bc_hi, bc_lo, d_hi, d_lo;
  mul_hilo(group, PHILOX_M0, a_hi, a_lo);
  mul_hilo(a_hi ^ s.b_base, PHILOX_M1, bc_hi, bc_lo);
  mul_hilo(bc_hi ^ s.c_base, PHILOX_M0, d_hi, d_lo);
  return GroupPrefix{a_lo, bc_lo ^ keys.k0[2], d_hi ^ keys.k1[2], d_lo};
}

//! What depends on counter word 1 (token and stream) only; the same for every group of a
//! tile, so the block computes the tile's tokens once (8 bytes each, one LDS.64 per token).
struct alignas(8) TokenPrefix {
  uint32_t hb_key;  //!< hi(M0 * round-1 word 0) ^ k1[1]
  uint32_t lo_b;    //!< lo(M0 * round-1 word 0), round-2 word 3
};

//! The prefix of token `token` (< 2^24) of the token stream (STREAM_TOKEN).
MIRAGE_HD MIRAGE_CUDA_INLINE TokenPrefix token_prefix(const RoundKeys& keys, const StreamPrefix& s,
                                                      uint32_t token) {
  uint32_t hi, lo;
  mul_hilo(s.a_base ^ counter_token_word(token, STREAM_TOKEN), PHILOX_M0, hi, lo);
  return TokenPrefix{hi ^ keys.k1[1], lo};
}

//! philox4x32_10(philox_counter(group, token, STREAM_TOKEN, scale, replicate), key) from the
//! prefixes: the rest of round 3 and rounds 4..10, 15 products (on sm_90: 15 IMAD.WIDE.U32
//! and 17 LOP3, the round keys as constant or uniform-register operands).
MIRAGE_HD MIRAGE_CUDA_INLINE PhiloxCounter philox_finish(const RoundKeys& keys,
                                                         const GroupPrefix& g,
                                                         const TokenPrefix& t) {
  uint32_t e_hi, x1;
  mul_hilo(t.hb_key ^ g.lo_a, PHILOX_M1, e_hi, x1);
  uint32_t x0 = e_hi ^ g.d_key;
  uint32_t x2 = g.hd_key ^ t.lo_b;
  uint32_t x3 = g.lo_d;
  MIRAGE_UNROLL
  for (int r = 3; r < PHILOX_ROUND_COUNT; ++r) {  // rounds 4..10
    uint32_t hi0, lo0, hi1, lo1;
    mul_hilo(x0, PHILOX_M0, hi0, lo0);
    mul_hilo(x2, PHILOX_M1, hi1, lo1);
    x0 = hi1 ^ x1 ^ keys.k0[r];
    x1 = lo1;
    x2 = hi0 ^ x3 ^ keys.k1[r];
    x3 = lo0;
  }
  PhiloxCounter out;
  out.v[0] = x0;
  out.v[1] = x1;
  out.v[2] = x2;
  out.v[3] = x3;
  return out;
}

// ---- Thresholds ------------------------------------------------------------------------------

//! Per-item thresholds of `group`: `threshold` (at most THRESHOLD_ONE) for the items inside
//! the tile's unit, 0 for the others. `Word` is uint32_t when the threshold is below 2^32, so
//! that the compiler sees 32-bit values and compares in 32 bits.
template <class Word>
MIRAGE_HD MIRAGE_CUDA_INLINE void item_thresholds(const Tile& tile, int64_t group, Word threshold,
                                                  Word (&thresholds)[ITEMS_PER_GROUP]) {
  const int64_t item0 = group * ITEMS_PER_GROUP;
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    const int64_t item = item0 + w;
    const bool inside = item >= tile.item_begin && item < tile.item_end;
    thresholds[w] = inside ? threshold : Word{0};
  }
}

//! Per-item thresholds of `group` with item difficulty (spec.difficulty != DIFFICULTY_NONE),
//! in 32 bits: for each item inside the tile's unit, when `active`, the item's own threshold T
//! (group_item_model: spec.scale_logit is a device copy in the kernels), 0 for the others. A
//! threshold of 2^32 (every token correct) does not fit: it goes in as 2^32 - 1 and the item's
//! bit w is set in the returned mask, for set_always_correct to give it k = L at every length.
//! So the token loop compares in 32 bits whatever the thresholds.
MIRAGE_HD MIRAGE_CUDA_INLINE uint32_t
item_model_thresholds(const SweepSpec& spec, const Tile& tile, int64_t group, bool active,
                      uint32_t (&thresholds)[ITEMS_PER_GROUP]) {
  uint64_t t[ITEMS_PER_GROUP];
  // For an inactive lane the group may lie past 2^32 - 1; the wrapped draw is never used.
  group_item_model(spec, static_cast<uint32_t>(tile.replicate), static_cast<uint32_t>(tile.scale),
                   static_cast<uint32_t>(group), t, nullptr);
  const int64_t item0 = group * ITEMS_PER_GROUP;
  uint32_t always = 0u;
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    const int64_t item = item0 + w;
    const bool inside = active && item >= tile.item_begin && item < tile.item_end;
    const bool all = t[w] >= THRESHOLD_ONE;
    thresholds[w] = inside ? (all ? 0xffffffffu : static_cast<uint32_t>(t[w])) : 0u;
    always |= (inside && all ? 1u : 0u) << w;
  }
  return always;
}

//! Sets k[w] = length for each item whose bit w is set in `always` (item_model_thresholds): such
//! an item has threshold 2^32, so every token is correct, but it was counted with 2^32 - 1,
//! which misses the tokens whose uniform is 2^32 - 1. Called at every target length, after the
//! counts reach it; the next length's count continues from k = length, so it stays exact.
MIRAGE_HD MIRAGE_CUDA_INLINE void set_always_correct(uint32_t always, int32_t length,
                                                     uint32_t (&k)[ITEMS_PER_GROUP]) {
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    if ((always >> w) & 1u) k[w] = static_cast<uint32_t>(length);
  }
}

//! One threshold for the four items of a group (an interior group without difficulty).
struct SameThreshold {
  uint32_t t;
  MIRAGE_HD MIRAGE_CUDA_INLINE uint32_t operator[](int) const { return t; }
};

//! Each item's own 32-bit threshold (partial groups, inactive lanes, item difficulty).
struct ItemThresholds {
  uint32_t t[ITEMS_PER_GROUP];
  MIRAGE_HD MIRAGE_CUDA_INLINE uint32_t operator[](int w) const { return t[w]; }
};

//! What a tile without difficulty samples: tokens below a threshold in (0, 2^32), or nothing
//! when every token is wrong (threshold 0) or right (threshold 2^32).
enum class TileDraws { SAMPLED, NONE_CORRECT, ALL_CORRECT };

MIRAGE_HD inline TileDraws tile_draws(uint64_t threshold) {
  return threshold == 0               ? TileDraws::NONE_CORRECT
         : threshold >= THRESHOLD_ONE ? TileDraws::ALL_CORRECT
                                      : TileDraws::SAMPLED;
}

// ---- Per-length sums ---------------------------------------------------------------------------

//! One group's contribution at target length `length` (>= 1), from its items' counts of
//! correct tokens among the first `length` (items outside the unit have count 0).
struct GroupSums {
  uint32_t exact_match;  //!< items with k == length
  uint32_t correct;      //!< sum of k
  uint32_t correct_sq;   //!< sum of k^2 (< 2^26 for length <= MAX_LENGTH)
};

MIRAGE_HD MIRAGE_CUDA_INLINE GroupSums group_sums(const uint32_t (&correct)[ITEMS_PER_GROUP],
                                                  int32_t length) {
  GroupSums sums{0u, 0u, 0u};
  const uint32_t l = static_cast<uint32_t>(length);
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    sums.exact_match += correct[w] == l ? 1u : 0u;
    sums.correct += correct[w];
    sums.correct_sq += correct[w] * correct[w];
  }
  return sums;
}

//! The three tallies of one length.
struct LengthTallies {
  int64_t exact_match;
  int64_t token_errors;
  int64_t token_errors_sq;
};

//! Tallies of `items` items at target length `length` from their number of exact matches,
//! their sum of correct-token counts k and their sum of k^2: errors are L - k per item, so
//! token_errors = nL - sum k and token_errors_sq = nL^2 - 2L sum k + sum k^2, exactly.
MIRAGE_HD inline LengthTallies length_tallies(int64_t items, int32_t length, int64_t exact_match,
                                              int64_t correct, int64_t correct_sq) {
  const int64_t l = length;
  LengthTallies t;
  t.exact_match = exact_match;
  t.token_errors = items * l - correct;
  t.token_errors_sq = items * l * l - 2 * l * correct + correct_sq;
  return t;
}

//! The sums of a tile of `items` items at `length` that draws nothing (tile_draws): every
//! token wrong (k = 0) or every token right (k = length).
MIRAGE_HD inline LengthTallies constant_tile_tallies(TileDraws draws, int64_t items,
                                                     int32_t length) {
  const bool all = draws == TileDraws::ALL_CORRECT;
  const int64_t l = length;
  return length_tallies(items, length, all ? items : 0, all ? items * l : 0,
                        all ? items * l * l : 0);
}

//! Adds `add` to the 64-bit value kept as two 32-bit words: the general kernel's shared sum
//! of k^2, which its warp leaders add to with a 32-bit atomic on the low word (returning the
//! old low word) and, when that carried, a second one on the high word: no compare-and-swap
//! loop, and the same 64-bit sum in any order.
MIRAGE_HD inline bool low_word_carries(uint32_t old_low, uint32_t add) {
  return static_cast<uint32_t>(old_low + add) < old_low;
}

// ---- Fast kernels: packed counts ----------------------------------------------------------------

//! The lengths a fast kernel reads from its parameters (constant operands on the device):
//! count = K <= FAST_MAX_LENGTHS, and per length L: L, (0x80 - L) in every byte (the
//! exact-match bias of add_length_packed) and L in every byte (for items that are always
//! correct).
struct FastLengths {
  int32_t count = 0;
  //! 1 when the lengths are 1, 2, ..., count (the benchmark's 1..5): every length adds one
  //! token, and the dense path walks them without loops.
  int32_t dense = 0;
  int32_t length[FAST_MAX_LENGTHS] = {};
  uint32_t exact_bias[FAST_MAX_LENGTHS] = {};
  uint32_t length_bytes[FAST_MAX_LENGTHS] = {};
};

//! The fast lengths of `spec` (only the first FAST_MAX_LENGTHS are kept).
inline FastLengths fast_lengths(const SweepSpec& spec) {
  FastLengths f;
  f.count = spec.num_lengths < FAST_MAX_LENGTHS ? spec.num_lengths : FAST_MAX_LENGTHS;
  f.dense = 1;
  for (int32_t k = 0; k < f.count; ++k) {
    if (spec.length[k] != k + 1) f.dense = 0;
    const uint32_t l = static_cast<uint32_t>(spec.length[k]);
    f.length[k] = spec.length[k];
    f.exact_bias[k] = ((0x80u - l) & 0xffu) * 0x01010101u;
    f.length_bytes[k] = (l & 0xffu) * 0x01010101u;
  }
  return f;
}

//! Sum over the four bytes of the products of the signed bytes of a and b, plus c (IDP4A on
//! the device, wrapping like it).
MIRAGE_HD MIRAGE_CUDA_INLINE uint32_t dot4_s8(uint32_t a, uint32_t b, uint32_t c) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint32_t>(
      __dp4a(static_cast<int>(a), static_cast<int>(b), static_cast<int>(c)));
#else
  int64_t sum = static_cast<int32_t>(c);
  for (int i = 0; i < 4; ++i) {
    sum += int64_t{static_cast<int8_t>(a >> (8 * i))} * static_cast<int8_t>(b >> (8 * i));
  }
  return static_cast<uint32_t>(sum);
#endif
}

//! Adds to the packed counts (byte w: correct tokens of item 4 * group + w so far, <= 127) the
//! items whose word of the Philox output is below their threshold (the core's token_correct
//! for a threshold below 2^32).
template <uint32_t ONE>
MIRAGE_HD MIRAGE_CUDA_INLINE void add_if_below(uint32_t& counts, uint32_t u, uint32_t t) {
#if defined(__CUDA_ARCH__)
  // A compare and a predicated add in place (ISETP, @P IADD3): written as C++, nvcc forms
  // counts + ONE in another register and selects (three instructions).
  asm("{\n\t.reg .pred p;\n\tsetp.lt.u32 p, %1, %2;\n\t@p add.u32 %0, %0, %3;\n\t}"
      : "+r"(counts)
      : "r"(u), "r"(t), "n"(ONE));
#else
  counts += u < t ? ONE : 0u;
#endif
}

template <class Thresholds>
MIRAGE_HD MIRAGE_CUDA_INLINE uint32_t count_packed(uint32_t counts, const PhiloxCounter& x,
                                                   const Thresholds& t) {
  add_if_below<0x00000001u>(counts, x.v[0], t[0]);
  add_if_below<0x00000100u>(counts, x.v[1], t[1]);
  add_if_below<0x00010000u>(counts, x.v[2], t[2]);
  add_if_below<0x01000000u>(counts, x.v[3], t[3]);
  return counts;
}

//! A fast kernel thread's sums over its groups, per length kk: exact[kk] holds the sum of k in
//! bits 0..13 and 2^14 times the number of exact matches above; squares[kk] the sum of k^2
//! (bounds: the static_asserts above).
template <int MAX_K>
struct PackedSums {
  uint32_t exact[MAX_K];
  uint32_t squares[MAX_K];
};

//! Adds one group's sums at one length from its packed counts: sum k and sum k^2 are byte dot
//! products; k == L exactly when the byte k + (0x80 - L) reaches 0x80 (k <= L <= 127), and
//! (-128) * (-128) = 2^14 counts it above the sum of k.
MIRAGE_HD MIRAGE_CUDA_INLINE void add_length_packed(uint32_t counts, uint32_t exact_bias,
                                                    uint32_t& exact, uint32_t& squares) {
  exact = dot4_s8(counts, 0x01010101u, exact);
  exact = dot4_s8((counts + exact_bias) & 0x80808080u, 0x80808080u, exact);
  squares = dot4_s8(counts, counts, squares);
}

//! The per-length sums of a thread's PackedSums at length index kk.
MIRAGE_HD MIRAGE_CUDA_INLINE GroupSums unpack_sums(uint32_t exact, uint32_t squares) {
  return GroupSums{exact >> 14, exact & 0x3fffu, squares};
}

//! Byte w all ones for each bit w of `bits`.
MIRAGE_HD MIRAGE_CUDA_INLINE uint32_t bits_to_bytes(uint32_t bits) {
  uint32_t bytes = 0u;
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) bytes |= ((bits >> w) & 1u) * (0xffu << (8 * w));
  return bytes;
}

//! One group of a fast kernel: walks tokens 0..L_max-1 once, across the lengths (the first
//! token of each length's section unconditionally, then the rest of it), counting the items'
//! correct tokens in one register, and at each length adds the group's sums into `sums`.
//! `tokens` holds the tile's TokenPrefix per token (shared memory on the device). ALWAYS: the
//! items whose bytes are set in `always_bytes` have threshold 2^32 (item_model_thresholds)
//! and get k = L at each length.
//! DENSE (lengths.dense): length kk is kk + 1, so the walk is token kk then length kk, with
//! no loop and the token's table entry at a constant offset.
template <int MAX_K, bool DENSE, bool ALWAYS, class Thresholds>
MIRAGE_HD MIRAGE_CUDA_INLINE void fast_group(const RoundKeys& keys, const FastLengths& lengths,
                                             const TokenPrefix* tokens, const GroupPrefix& g,
                                             const Thresholds& t, uint32_t always_bytes,
                                             PackedSums<MAX_K>& sums) {
  uint32_t counts = 0u;
  int32_t first = 0;
  MIRAGE_UNROLL
  for (int kk = 0; kk < MAX_K; ++kk) {
    if (kk >= lengths.count) break;
    const int32_t end = DENSE ? kk + 1 : lengths.length[kk];
    counts = count_packed(counts, philox_finish(keys, g, tokens[DENSE ? kk : first]), t);
    if constexpr (!DENSE) {
      MIRAGE_SECTION_LOOP_UNROLL
      for (int32_t j = first + 1; j < end; ++j) {
        counts = count_packed(counts, philox_finish(keys, g, tokens[j]), t);
      }
    }
    if constexpr (ALWAYS) {
      counts = (counts & ~always_bytes) | (lengths.length_bytes[kk] & always_bytes);
    }
    add_length_packed(counts, lengths.exact_bias[kk], sums.exact[kk], sums.squares[kk]);
    first = end;
  }
}

// ---- Kernel parameters --------------------------------------------------------------------------

//! Everything a sampling launch reads, passed by value (the kernel's constant parameter space,
//! so the kernels read lengths and round keys without a memory load). Plain C++: the host
//! emulation in tests/cuda builds one with host pointers.
struct KernelParams {
  //! length, threshold and (with difficulty) scale_logit, and (for multiple choice)
  //! scale_log_p point to device copies; the kernels never read test_size.
  SweepSpec spec;
  const Tile* tiles = nullptr;  //!< [num_tiles] device tile descriptors
  //! [segment_tally_size(spec)] device segment tallies (choice tallies included)
  unsigned long long* tallies = nullptr;
  RoundKeys keys = {};  //!< round_keys(spec.seed)
  FastLengths fast;     //!< fast_lengths(spec)
};

//! The parameters of `spec` with its own (host) arrays; the backend then points the arrays
//! at device copies.
inline KernelParams kernel_params(const SweepSpec& spec) {
  KernelParams p;
  p.spec = spec;
  p.keys = round_keys(spec.seed);
  p.fast = fast_lengths(spec);
  return p;
}

//! The token prefixes of tokens [begin, end) of the tile's stream with stride `step`, into
//! tokens[j] (the block fills its shared table with begin = threadIdx.x, step = BLOCK_THREADS).
MIRAGE_HD MIRAGE_CUDA_INLINE void fill_token_prefixes(const RoundKeys& keys, const StreamPrefix& s,
                                                      int32_t begin, int32_t end, int32_t step,
                                                      TokenPrefix* tokens) {
  for (int32_t j = begin; j < end; j += step) {
    tokens[j] = token_prefix(keys, s, static_cast<uint32_t>(j));
  }
}

//! The groups thread `thread` of a fast kernel samples in `tile` (sampled: tile_draws is
//! SAMPLED without difficulty; `threshold` < 2^32 is the scale's), into `sums`: groups
//! thread, thread + BLOCK_THREADS, ... Interior tiles without difficulty take the path with
//! one threshold and no per-item checks; the first and last tile of a unit compare each item
//! with its own threshold (0 outside the unit); with difficulty every item has its own.
template <int MAX_K, bool DIFFICULTY>
MIRAGE_HD MIRAGE_CUDA_INLINE void fast_thread(const KernelParams& p, const Tile& tile,
                                              const StreamPrefix& stream, uint32_t threshold,
                                              const TokenPrefix* tokens, int32_t thread,
                                              PackedSums<MAX_K>& sums) {
  MIRAGE_UNROLL
  for (int kk = 0; kk < MAX_K; ++kk) sums.exact[kk] = sums.squares[kk] = 0u;
  if constexpr (DIFFICULTY) {
    MIRAGE_NO_UNROLL
    for (int32_t local = thread; local < tile.num_groups; local += BLOCK_THREADS) {
      const int64_t group = tile.group_begin + local;
      ItemThresholds t;
      const uint32_t always = item_model_thresholds(p.spec, tile, group, true, t.t);
      const GroupPrefix g = group_prefix(p.keys, stream, static_cast<uint32_t>(group));
      fast_group<MAX_K, false, true>(p.keys, p.fast, tokens, g, t, bits_to_bytes(always), sums);
    }
  } else if (tile_interior(tile)) {
    // Every group lies inside the unit: one threshold, no checks. The counter takes the
    // group's low 32 bits (a tile never crosses 2^32 groups).
    const SameThreshold t{threshold};
    const uint32_t first = static_cast<uint32_t>(tile.group_begin);
    if (p.fast.dense) {
      MIRAGE_NO_UNROLL
      for (int32_t local = thread; local < tile.num_groups; local += BLOCK_THREADS) {
        const GroupPrefix g = group_prefix(p.keys, stream, first + static_cast<uint32_t>(local));
        fast_group<MAX_K, true, false>(p.keys, p.fast, tokens, g, t, 0u, sums);
      }
    } else {
      MIRAGE_NO_UNROLL
      for (int32_t local = thread; local < tile.num_groups; local += BLOCK_THREADS) {
        const GroupPrefix g = group_prefix(p.keys, stream, first + static_cast<uint32_t>(local));
        fast_group<MAX_K, false, false>(p.keys, p.fast, tokens, g, t, 0u, sums);
      }
    }
  } else {
    MIRAGE_NO_UNROLL
    for (int32_t local = thread; local < tile.num_groups; local += BLOCK_THREADS) {
      const int64_t group = tile.group_begin + local;
      ItemThresholds t;
      item_thresholds(tile, group, threshold, t.t);
      const GroupPrefix g = group_prefix(p.keys, stream, static_cast<uint32_t>(group));
      fast_group<MAX_K, false, false>(p.keys, p.fast, tokens, g, t, 0u, sums);
    }
  }
}

// ---- General kernel -----------------------------------------------------------------------------

//! Reads lengths[i] (global memory on the device, through the read-only cache).
MIRAGE_HD MIRAGE_CUDA_INLINE int32_t load_length(const int32_t* lengths, int32_t i) {
#if defined(__CUDA_ARCH__)
  return __ldg(lengths + i);
#else
  return lengths[i];
#endif
}

//! Where a general-kernel group's token walk stands: the items' counts of correct tokens so
//! far and the next token.
struct GeneralWalk {
  uint32_t k[ITEMS_PER_GROUP] = {0u, 0u, 0u, 0u};
  int32_t token = 0;
};

//! One length of a general-kernel group's walk: continues `walk` through the tokens up to
//! length kk (the walk visits tokens 0..L_max-1 once across all lengths) and returns the
//! group's sums at that length (the kernel's warp then adds them into shared memory). With
//! ALWAYS, the items of `always` (item_model_thresholds) get k = L.
template <bool ALWAYS>
MIRAGE_HD MIRAGE_CUDA_INLINE GroupSums general_length(const KernelParams& p,
                                                      const TokenPrefix* tokens,
                                                      const GroupPrefix& g, const ItemThresholds& t,
                                                      uint32_t always, int32_t kk,
                                                      GeneralWalk& walk) {
  const int32_t end = load_length(p.spec.length, kk);
  MIRAGE_TOKEN_LOOP_UNROLL
  for (; walk.token < end; ++walk.token) {
    const PhiloxCounter x = philox_finish(p.keys, g, tokens[walk.token]);
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) add_if_below<1u>(walk.k[w], x.v[w], t[w]);
  }
  if constexpr (ALWAYS) set_always_correct(always, end, walk.k);
  return group_sums(walk.k, end);
}

//! The thresholds of a general-kernel lane's group: with difficulty the item model's (and
//! the items that are always correct, returned), else `threshold` for the items inside the
//! unit; 0 for every item of an inactive lane (past the tile's end).
template <bool DIFFICULTY>
MIRAGE_HD MIRAGE_CUDA_INLINE uint32_t general_thresholds(const KernelParams& p, const Tile& tile,
                                                         int64_t group, bool active,
                                                         uint32_t threshold, ItemThresholds& t) {
  if constexpr (DIFFICULTY) {
    return item_model_thresholds(p.spec, tile, group, active, t.t);
  } else {
    item_thresholds(tile, group, active ? threshold : 0u, t.t);
    return 0u;
  }
}

// ---- Kernel choice --------------------------------------------------------------------------

//! Which kernel samples a sweep: a fast one keeping its per-length sums in registers
//! (instantiated for up to 1, 2, 4 or 8 lengths, all <= FAST_MAX_LENGTH), or the general one
//! that adds per-length sums into shared memory (any number of lengths up to MAX_LENGTH); each
//! without item difficulty or with it. A multiple-choice sweep also runs the choice kernel.
struct KernelChoice {
  int fast_lengths = 0;     //!< 1, 2, 4 or 8 for a fast kernel, 0 for the general one
  bool difficulty = false;  //!< per-item thresholds (spec.difficulty != DIFFICULTY_NONE)
  bool choices = false;     //!< the choice kernel runs too (spec.choices > 0)
  //! Dynamic shared memory per block of the token kernel (general kernel: its token table
  //! and per-length sums; the fast kernels use static shared memory only).
  std::size_t shared_bytes = 0;
};

//! Bytes of dynamic shared memory the general kernel needs per block for K lengths up to
//! L_max: the tile's TokenPrefix per token, then per length a sum of k^2 in two 32-bit words
//! and 32-bit sums of exact matches and of k.
inline std::size_t general_shared_bytes(int32_t num_lengths, int32_t max_length) {
  return static_cast<std::size_t>(max_length) * sizeof(TokenPrefix) +
         static_cast<std::size_t>(num_lengths) * 4 * sizeof(uint32_t);
}

//! The kernels for `spec` (num_lengths in [1, MAX_LENGTH], lengths increasing).
inline KernelChoice choose_kernel(const SweepSpec& spec) {
  KernelChoice choice;
  if (spec.num_lengths <= FAST_MAX_LENGTHS && max_length(spec) <= FAST_MAX_LENGTH) {
    choice.fast_lengths = 1;
    while (choice.fast_lengths < spec.num_lengths) choice.fast_lengths *= 2;
  } else {
    choice.shared_bytes = general_shared_bytes(spec.num_lengths, max_length(spec));
  }
  choice.difficulty = spec.difficulty != 0;
  choice.choices = spec.choices > 0;
  return choice;
}

//! The multiple-choice sums of one group at one target length, over its items inside the
//! tile's unit (ChoiceOutcome of item_model.h).
struct ChoiceSums {
  uint32_t grade;
  uint64_t brier;     //!< BRIER_UNIT
  uint64_t brier_sq;  //!< BRIER_UNIT
};

//! What the choice kernel needs of one group, computed once per group: each item's log p,
//! its distractor split, and whether it is inside the tile's unit (and the group `active`).
struct GroupChoices {
  double log_p[ITEMS_PER_GROUP];
  ChoiceSplit split[ITEMS_PER_GROUP];
  uint32_t inside;  //!< bit w: item 4 * group + w counts
};

MIRAGE_HD MIRAGE_CUDA_INLINE void group_choices(const SweepSpec& spec, const Tile& tile,
                                                int64_t group, bool active, GroupChoices& out) {
  uint64_t thresholds[ITEMS_PER_GROUP];
  group_item_model(spec, static_cast<uint32_t>(tile.replicate), static_cast<uint32_t>(tile.scale),
                   static_cast<uint32_t>(group), thresholds, out.log_p);
  group_choice_splits(spec.seed, static_cast<uint32_t>(tile.replicate),
                      static_cast<uint32_t>(group), spec.choices, out.split);
  out.inside = 0u;
  const int64_t item0 = group * ITEMS_PER_GROUP;
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    const int64_t item = item0 + w;
    const bool inside = active && item >= tile.item_begin && item < tile.item_end;
    out.inside |= (inside ? 1u : 0u) << w;
  }
}

//! The group's choice sums at target length `length`.
MIRAGE_HD MIRAGE_CUDA_INLINE ChoiceSums group_choice_sums(const GroupChoices& g, int32_t length) {
  ChoiceSums sums{0u, 0u, 0u};
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    if (!((g.inside >> w) & 1u)) continue;
    const ChoiceOutcome o = choice_outcome(g.log_p[w], length, g.split[w]);
    sums.grade += o.grade;
    sums.brier += static_cast<uint64_t>(o.brier);
    sums.brier_sq += static_cast<uint64_t>(o.brier_sq);
  }
  return sums;
}

// ---- Planning (host) -----------------------------------------------------------------------

//! First item group of a unit and one past its last.
inline int64_t unit_first_group(const WorkUnit& unit) {
  return unit.item_begin / ITEMS_PER_GROUP;
}
inline int64_t unit_end_group(const WorkUnit& unit) {
  return (unit.item_end + ITEMS_PER_GROUP - 1) / ITEMS_PER_GROUP;
}

//! Number of tiles of a unit (>= 1 for a unit with items).
inline int64_t unit_tile_count(const WorkUnit& unit) {
  return (unit_end_group(unit) - unit_first_group(unit) + TILE_GROUPS - 1) / TILE_GROUPS;
}

//! Tile `index` (0 <= index < unit_tile_count(unit)) of a unit.
inline Tile unit_tile(const WorkUnit& unit, int64_t index) {
  Tile tile;
  tile.group_begin = unit_first_group(unit) + index * TILE_GROUPS;
  const int64_t left = unit_end_group(unit) - tile.group_begin;
  tile.num_groups = static_cast<int32_t>(left < TILE_GROUPS ? left : TILE_GROUPS);
  tile.item_begin = unit.item_begin;
  tile.item_end = unit.item_end;
  tile.scale = unit.scale;
  tile.replicate = unit.replicate;
  tile.segment = unit.segment;
  return tile;
}

//! The tiles of a list of work units, in unit order, numbered 0..size()-1. Borrows `units`.
class TileSequence {
 public:
  TileSequence(const WorkUnit* units, int64_t count)
      : units_(units), offsets_(static_cast<std::size_t>(count) + 1, 0) {
    for (int64_t u = 0; u < count; ++u) {
      offsets_[static_cast<std::size_t>(u) + 1] =
          offsets_[static_cast<std::size_t>(u)] + unit_tile_count(units[u]);
    }
  }
  //! Number of tiles.
  int64_t size() const { return offsets_.back(); }
  //! Number of units.
  int64_t units() const { return static_cast<int64_t>(offsets_.size()) - 1; }
  //! The unit holding tile `index` (0 <= index < size()).
  int64_t unit_of(int64_t index) const {
    // The last unit whose first tile is <= index.
    int64_t lo = 0, hi = units();
    while (hi - lo > 1) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (offsets_[static_cast<std::size_t>(mid)] <= index) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
  //! First tile of unit u (u <= units()).
  int64_t first_tile(int64_t u) const { return offsets_[static_cast<std::size_t>(u)]; }
  const WorkUnit& unit(int64_t u) const { return units_[u]; }

 private:
  const WorkUnit* units_;
  std::vector<int64_t> offsets_;
};

//! How tiles are grouped into launches. A batch closes when it holds max_tiles tiles, or when
//! it holds at least min_tiles tiles and at least target_draws token draws in a whole number
//! of waves (a multiple of wave_tiles), or when the tiles run out. The backend sets wave_tiles
//! to the blocks the GPU holds at once (occupancy API) and min_tiles and max_tiles to whole
//! waves (batch_limits), so that no launch ends with a partly filled wave, except the last.
struct BatchLimits {
  int64_t target_draws = TARGET_BATCH_DRAWS;
  int64_t min_tiles = 1;
  int64_t max_tiles = MAX_BATCH_TILES;
  int64_t wave_tiles = 1;
};

//! The default limits for a device that holds `resident_blocks` blocks of the token kernel at
//! once on `multiprocessors` multiprocessors: batches of whole waves, at least
//! MIN_BATCH_TILES_PER_SM tiles per multiprocessor, at most MAX_BATCH_TILES.
inline BatchLimits batch_limits(int64_t resident_blocks, int64_t multiprocessors) {
  BatchLimits limits;
  const int64_t wave = resident_blocks > 0 ? resident_blocks : 1;
  limits.wave_tiles = wave;
  const int64_t min_tiles = MIN_BATCH_TILES_PER_SM * (multiprocessors > 0 ? multiprocessors : 1);
  limits.min_tiles = (min_tiles + wave - 1) / wave * wave;
  limits.max_tiles = MAX_BATCH_TILES / wave * wave;
  if (limits.max_tiles < limits.min_tiles) limits.max_tiles = limits.min_tiles;
  return limits;
}

//! Walks tiles [begin, end) of a TileSequence and hands them out in batches.
class BatchCursor {
 public:
  BatchCursor(const TileSequence& tiles, int64_t begin, int64_t end, int32_t max_length)
      : tiles_(tiles), next_(begin), end_(end), max_length_(max_length) {
    if (next_ < end_) {
      unit_ = tiles_.unit_of(next_);
    }
  }

  //! Writes the next batch to out[0..n) (out holds at least limits.max_tiles tiles), sets
  //! *draws to its token draws, and returns n; returns 0 when no tiles are left.
  int64_t next(const BatchLimits& limits, Tile* out, int64_t* draws) {
    int64_t n = 0;
    int64_t batch_draws = 0;
    const int64_t wave = limits.wave_tiles > 0 ? limits.wave_tiles : 1;
    while (next_ < end_ && n < limits.max_tiles &&
           !(n >= limits.min_tiles && batch_draws >= limits.target_draws && n % wave == 0)) {
      while (tiles_.first_tile(unit_ + 1) <= next_) ++unit_;
      const Tile tile = unit_tile(tiles_.unit(unit_), next_ - tiles_.first_tile(unit_));
      out[n++] = tile;
      batch_draws += tile_items(tile) * max_length_;
      ++next_;
    }
    *draws = batch_draws;
    return n;
  }

 private:
  const TileSequence& tiles_;
  int64_t next_;
  int64_t end_;
  int32_t max_length_;
  int64_t unit_ = 0;
};

//! Cuts [0, total) into `parts` contiguous ranges of sizes differing by at most one; part p
//! is [bounds[p], bounds[p + 1]). Depends only on total and parts.
inline std::vector<int64_t> split_evenly(int64_t total, int parts) {
  std::vector<int64_t> bounds(static_cast<std::size_t>(parts) + 1, 0);
  for (int p = 0; p <= parts; ++p) {
    const int64_t base = total / parts, extra = total % parts;
    bounds[static_cast<std::size_t>(p)] = base * p + (p < extra ? p : extra);
  }
  return bounds;
}

//! sample_units (cuda_backend.h) with explicit batch limits (nullptr: the defaults of
//! batch_limits for each device); tests use small limits to run many launches.
void sample_units_with_limits(const UnitGrid& grid, const std::vector<int>& devices,
                              const int64_t* unit_ids, int64_t count, int64_t* segment_tallies,
                              const std::function<void(int64_t)>& progress,
                              const BatchLimits* limits);

//! Makes CUDA device `device` current on the calling thread and has every CUDA error this
//! thread reports from then on name that device (a new thread starts on device 0, so the
//! current device would name the wrong one when cudaSetDevice itself fails). Throws
//! std::runtime_error naming the device when it cannot be selected.
void use_device_on_this_thread(int device);

}  // namespace mirage::cuda::detail
