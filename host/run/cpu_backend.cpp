// Copyright (c) Mirage developers.
#include "run/cpu_backend.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "mirage/item_model_avx2.h"
#include "mirage/philox_avx512.h"
#include "mirage/philox_batch.h"
#include "run/backend.h"

namespace mirage {
namespace {

// How sample_unit_cpu works. A unit's items [item_begin, item_end) split into
//  - blocks of whole item groups (8 groups, 32 items, for the portable and AVX2 kernels;
//    AVX512_GROUPS_PER_BLOCK for the AVX-512 kernel), sampled by a block kernel that keeps
//    the block's per-item counts k in registers across all tokens and accumulates, per
//    length, the sums over items of k, k^2 and [k = L];
//  - the few groups left over at either end (partial groups cut by the unit's bounds, and
//    whole groups that do not fill a block), sampled by the reference sample_group() with a
//    per-item mask.
// The tallies follow from the sums exactly, in integers: over m items at length L,
//   exact_match = #[k = L], token_errors = m L - sum k, token_errors_sq = m L^2 - 2 L sum k
//   + sum k^2.
// So no tally depends on which path sampled an item, and every kernel agrees with
// sample_unit_tokens_reference() bit for bit (tests/test_cpu_sampler.cpp).
//
// Philox is evaluated through the token-stream split of philox_batch.h: per block the group
// prefixes (rounds 1..3 parts that depend on the group only) are computed once, per token
// the token prefix once, and each call finishes with rounds 3..10.

// Groups per block of the portable kernel.
constexpr int GROUPS_PER_BLOCK = 8;
constexpr int ITEMS_PER_BLOCK = GROUPS_PER_BLOCK * ITEMS_PER_GROUP;
// The AVX2 kernel runs AVX2_PAIRS pairs of four-group sets per block. One pair: with two,
// the 16 Philox state registers alone fill AVX2's 16 ymm registers, and on Zen 1 the spills
// cost more than the extra overlap of independent rounds gains (13.8 against 11.3 cycles
// per Philox call, measured).
constexpr int AVX2_PAIRS = 1;
constexpr int AVX2_GROUPS_PER_BLOCK = 8 * AVX2_PAIRS;
// The AVX-512 kernel runs AVX512_SETS sets of eight groups (one group per 64-bit lane) per
// block, their rounds interleaved (docs/BENCHMARKS.md has the measurements behind the count).
constexpr int AVX512_SETS = 6;
constexpr int AVX512_GROUPS_PER_BLOCK = 8 * AVX512_SETS;

// Sums over the items sampled by a block kernel, for one length.
struct LengthSums {
  uint64_t k = 0;      // sum of k
  uint64_t k_sq = 0;   // sum of k^2
  uint64_t exact = 0;  // number of items with k = L
};

// Per-thread scratch, grown (never shrunk) when a sweep has more lengths than any before,
// so a unit allocates nothing once a thread has seen its sweep.
struct Scratch {
  std::vector<LengthSums> sums;  // [K]
  // Vector kernels: [K][3][LANES] 32-bit lane accumulators (LANES = 8 for AVX2, 16 for
  // AVX-512).
  std::vector<uint32_t> lanes;
};

Scratch& thread_scratch(int32_t num_lengths) {
  thread_local Scratch scratch;
  const size_t k = static_cast<size_t>(num_lengths);
  if (scratch.sums.size() < k) {
    scratch.sums.resize(k);
    scratch.lanes.resize(k * 3 * 16);
  }
  return scratch;
}

// The thresholds of one block of 32 items (8 groups) for the block kernels, clamped to 32
// bits: an item with threshold 2^32 (every token correct) compares against 2^32 - 1, which
// misses only the tokens whose uniform is exactly 2^32 - 1, and its bit in `always` makes the
// kernel set its count to k = L at every length (so it stays exact). Items with threshold 0
// never count a token.
struct BlockThresholds {
  uint32_t t[32];
  uint32_t always;  // bit i: item i of the block has threshold 2^32
};

// Per-item thresholds from the item model (item_model.h) for the blocks of one work unit.
// Where the CPU has AVX2 (checked once), the item model runs four items per instruction
// (item_model_avx2.h: Philox on four groups at once, then the math of portable_math_avx2.h),
// with the same bits as group_item_model; otherwise it calls group_item_model per group.
class ItemThresholds {
 public:
  ItemThresholds(const SweepSpec& spec, const WorkUnit& unit)
      : spec_(spec),
        replicate_(static_cast<uint32_t>(unit.replicate)),
        scale_(static_cast<uint32_t>(unit.scale)) {
#if MIRAGE_HAVE_AVX2_PATH
    avx2_ = spec.difficulty != DIFFICULTY_NONE && use_avx2();
    if (avx2_) {
      shift_ = item_shift_params(spec.difficulty, spec.difficulty_a, spec.difficulty_b);
      streams_ = philox_stream_prefix(philox_key(spec.seed), 0u, replicate_);
    }
#endif
  }
  // Fills `out` for groups group0..group0+7.
  void fill(uint32_t group0, BlockThresholds& out) const {
#if MIRAGE_HAVE_AVX2_PATH
    if (avx2_) {
      fill_avx2(group0, out);
      return;
    }
#endif
    out.always = 0;
    for (uint32_t g = 0; g < 8; ++g) {
      uint64_t t[ITEMS_PER_GROUP];
      group_item_model(spec_, replicate_, scale_, group0 + g, t, nullptr);
      for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
        const uint32_t item = g * ITEMS_PER_GROUP + static_cast<uint32_t>(w);
        store(t[w], item, out);
      }
    }
  }

 private:
  // Item `item` of the block gets threshold t.
  static void store(uint64_t t, uint32_t item, BlockThresholds& out) {
    const bool all = t >= THRESHOLD_ONE;
    out.t[item] = all ? 0xffffffffu : static_cast<uint32_t>(t);
    out.always |= (all ? 1u : 0u) << item;
  }

#if MIRAGE_HAVE_AVX2_PATH
  static bool use_avx2() {
    static const bool avx2 = cpu_has_avx2();
    return avx2;
  }

  // fill() on AVX2: two sets of four groups; lane l of word w's vector is item
  // 4 (group0 + 4 set + l) + w.
  __attribute__((target("avx2"))) void fill_avx2(uint32_t group0, BlockThresholds& out) const {
    ItemStreamsAvx2 s;
    s.prefix = streams_;
    s.v = philox_stream_avx2(streams_);
    const double base = spec_.scale_logit[scale_];
    out.always = 0;
    for (uint32_t set = 0; set < 2; ++set) {
      const PhiloxGroups4 g = item_groups_avx2(s, group0 + 4 * set);
      OpenUniform4 u[ITEMS_PER_GROUP];
      set_difficulty_uniforms_avx2(s, g, u);
      __m256i tw[ITEMS_PER_GROUP];
      item_model4_avx2(shift_, base, u, tw, nullptr);
      for (uint32_t w = 0; w < ITEMS_PER_GROUP; ++w) {
        alignas(32) uint64_t t[4];
        _mm256_store_si256(reinterpret_cast<__m256i*>(t), tw[w]);
        for (uint32_t l = 0; l < 4; ++l) store(t[l], (4 * set + l) * ITEMS_PER_GROUP + w, out);
      }
    }
  }

#endif
  const SweepSpec& spec_;
  uint32_t replicate_;
  uint32_t scale_;
#if MIRAGE_HAVE_AVX2_PATH
  bool avx2_ = false;
  ItemShiftParams shift_;
  PhiloxStreamPrefix streams_{};  // the difficulty stream's {*, *, 0, replicate}
#endif
};

// The calling thread's scratch, its per-length sums zeroed for a new unit.
Scratch& cleared_scratch(int32_t num_lengths) {
  Scratch& scratch = thread_scratch(num_lengths);
  std::fill_n(scratch.sums.begin(), num_lengths, LengthSums{});
  return scratch;
}

// The Philox stream prefix of a unit's (scale, replicate) (philox_batch.h).
PhiloxStreamPrefix unit_prefix(const SweepSpec& spec, const WorkUnit& unit) {
  return philox_stream_prefix(philox_key(spec.seed), static_cast<uint32_t>(unit.scale),
                              static_cast<uint32_t>(unit.replicate));
}

// The tallies of `m` items from a block kernel's sums over them, exactly, in integers: at
// length L, exact_match = #[k = L], token_errors = m L - sum k, token_errors_sq = m L^2 -
// 2 L sum k + sum k^2.
void add_block_sums(const SweepSpec& spec, const LengthSums* sums, int64_t m,
                    ItemTally* per_length) {
  for (int32_t i = 0; i < spec.num_lengths; ++i) {
    const int64_t length = spec.length[i];
    const auto sum_k = static_cast<int64_t>(sums[i].k);
    per_length[i].exact_match += static_cast<int64_t>(sums[i].exact);
    per_length[i].token_errors += m * length - sum_k;
    per_length[i].token_errors_sq +=
        m * length * length - 2 * length * sum_k + static_cast<int64_t>(sums[i].k_sq);
  }
}

// Tallies of `items` items whose k is the same known value at every length: 0 (threshold 0,
// no token is ever correct) or L (threshold 2^32, every token is). No draw can change them.
void add_constant_tallies(const SweepSpec& spec, int64_t items, bool all_correct,
                          ItemTally* per_length) {
  for (int32_t i = 0; i < spec.num_lengths; ++i) {
    const int64_t length = spec.length[i];
    if (all_correct) {
      per_length[i].exact_match += items;
    } else {
      per_length[i].token_errors += items * length;
      per_length[i].token_errors_sq += items * length * length;
    }
  }
}

// The reference path for groups [g_begin, g_end), counting only items inside the unit.
void sample_groups_masked(const SweepSpec& spec, const WorkUnit& unit, int64_t g_begin,
                          int64_t g_end, ItemTally* per_length) {
  WorkUnit part = unit;
  part.item_begin = std::max(unit.item_begin, g_begin * ITEMS_PER_GROUP);
  part.item_end = std::min(unit.item_end, g_end * ITEMS_PER_GROUP);
  if (part.item_end > part.item_begin) sample_unit_tokens_reference(spec, part, per_length);
}

// Portable block kernel: `blocks` blocks of GROUPS_PER_BLOCK groups from `group_begin`, at a
// threshold in [1, 2^32) for every item, or (items != nullptr) at each item's own threshold.
// Plain C++: the token-stream split of philox_batch.h per group, with the block's per-item
// counts in an array. (Written lane-wise on 64-bit arrays, as the AVX2 kernel is, GCC 12 does
// not vectorize it at the x86-64 baseline and runs it 1.8x slower than this form, which it
// keeps in scalar registers.)
template <bool PER_ITEM>
void sample_blocks_portable(const PhiloxStreamPrefix& prefix, uint32_t threshold,
                            const ItemThresholds* items, const int32_t* lengths,
                            int32_t num_lengths, uint32_t group_begin, int64_t blocks,
                            LengthSums* sums) {
  static_assert(ITEMS_PER_BLOCK == 32, "BlockThresholds holds one block of 32 items");
  for (int64_t b = 0; b < blocks; ++b) {
    const uint32_t group0 = group_begin + static_cast<uint32_t>(b * GROUPS_PER_BLOCK);
    PhiloxGroupPrefix group[GROUPS_PER_BLOCK];
    for (int g = 0; g < GROUPS_PER_BLOCK; ++g) {
      group[g] = philox_group_prefix(prefix, group0 + static_cast<uint32_t>(g));
    }
    BlockThresholds bt;
    if constexpr (PER_ITEM) items->fill(group0, bt);
    uint32_t k[ITEMS_PER_BLOCK] = {};
    int32_t token = 0;
    for (int32_t i = 0; i < num_lengths; ++i) {
      const int32_t length = lengths[i];
      for (; token < length; ++token) {
        const PhiloxTokenPrefix t = philox_token_prefix(
            prefix, counter_token_word(static_cast<uint32_t>(token), STREAM_TOKEN));
        for (int g = 0; g < GROUPS_PER_BLOCK; ++g) {
          const PhiloxCounter x = philox_finish(prefix, group[g], t);
          for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
            const int item = g * ITEMS_PER_GROUP + w;
            const uint32_t limit = PER_ITEM ? bt.t[item] : threshold;
            k[item] += x.v[w] < limit ? 1u : 0u;
          }
        }
      }
      if constexpr (PER_ITEM) {
        for (int item = 0; item < ITEMS_PER_BLOCK; ++item) {
          if ((bt.always >> item) & 1u) k[item] = static_cast<uint32_t>(length);
        }
      }
      uint64_t sum_k = 0, sum_sq = 0, exact = 0;
      for (int item = 0; item < ITEMS_PER_BLOCK; ++item) {
        sum_k += k[item];
        sum_sq += k[item] * k[item];  // k <= 4096: k^2 fits 32 bits
        exact += k[item] == static_cast<uint32_t>(length) ? 1u : 0u;
      }
      sums[i].k += sum_k;
      sums[i].k_sq += sum_sq;
      sums[i].exact += exact;
    }
  }
}

// Repeated attempts (docs/DESIGN.md §3.5): sample_blocks_portable over every attempt of each
// block of 32 items, the token-stream split with attempt_token_word. Per block the per-item
// counts of correct attempts per length are kept in `successes`; attempt 0's sums go to
// `sums` exactly as sample_blocks_portable's, and after the last attempt every item adds one
// to its bin c of `histogram` ([K][A + 1]). The vector kernels keep per-length sums only, so
// this is the CPU's one attempts kernel (about twice the reference's speed per draw).
template <bool PER_ITEM>
void sample_attempt_blocks_portable(const PhiloxStreamPrefix& prefix, uint32_t threshold,
                                    const ItemThresholds* items, const int32_t* lengths,
                                    int32_t num_lengths, int32_t attempts, uint32_t group_begin,
                                    int64_t blocks, LengthSums* sums, int64_t* histogram) {
  static_assert(ITEMS_PER_BLOCK == 32, "BlockThresholds holds one block of 32 items");
  const int32_t bins = attempts + 1;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint32_t group0 = group_begin + static_cast<uint32_t>(b * GROUPS_PER_BLOCK);
    PhiloxGroupPrefix group[GROUPS_PER_BLOCK];
    for (int g = 0; g < GROUPS_PER_BLOCK; ++g) {
      group[g] = philox_group_prefix(prefix, group0 + static_cast<uint32_t>(g));
    }
    BlockThresholds bt;
    if constexpr (PER_ITEM) items->fill(group0, bt);
    uint16_t successes[MAX_ATTEMPT_LENGTHS][ITEMS_PER_BLOCK];
    for (int32_t i = 0; i < num_lengths; ++i) {
      for (int item = 0; item < ITEMS_PER_BLOCK; ++item) successes[i][item] = 0;
    }
    for (int32_t a = 0; a < attempts; ++a) {
      uint32_t k[ITEMS_PER_BLOCK] = {};
      int32_t token = 0;
      for (int32_t i = 0; i < num_lengths; ++i) {
        const int32_t length = lengths[i];
        for (; token < length; ++token) {
          const PhiloxTokenPrefix t = philox_token_prefix(
              prefix, attempt_token_word(static_cast<uint32_t>(token), static_cast<uint32_t>(a)));
          for (int g = 0; g < GROUPS_PER_BLOCK; ++g) {
            const PhiloxCounter x = philox_finish(prefix, group[g], t);
            for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
              const int item = g * ITEMS_PER_GROUP + w;
              const uint32_t limit = PER_ITEM ? bt.t[item] : threshold;
              k[item] += x.v[w] < limit ? 1u : 0u;
            }
          }
        }
        if constexpr (PER_ITEM) {
          for (int item = 0; item < ITEMS_PER_BLOCK; ++item) {
            if ((bt.always >> item) & 1u) k[item] = static_cast<uint32_t>(length);
          }
        }
        for (int item = 0; item < ITEMS_PER_BLOCK; ++item) {
          successes[i][item] += k[item] == static_cast<uint32_t>(length) ? 1 : 0;
        }
        if (a == 0) {
          uint64_t sum_k = 0, sum_sq = 0, exact = 0;
          for (int item = 0; item < ITEMS_PER_BLOCK; ++item) {
            sum_k += k[item];
            sum_sq += k[item] * k[item];
            exact += k[item] == static_cast<uint32_t>(length) ? 1u : 0u;
          }
          sums[i].k += sum_k;
          sums[i].k_sq += sum_sq;
          sums[i].exact += exact;
        }
      }
    }
    for (int32_t i = 0; i < num_lengths; ++i) {
      for (int item = 0; item < ITEMS_PER_BLOCK; ++item) {
        ++histogram[static_cast<size_t>(i) * bins + successes[i][item]];
      }
    }
  }
}

// sample_unit_attempts_reference (sampler.h) with the unit's blocks of whole groups on
// sample_attempt_blocks_portable and the groups at either end on the reference itself; a unit
// at threshold 0 or 2^32 draws nothing (every attempt of every item is wrong, or right).
void sample_unit_attempts_cpu(const SweepSpec& spec, const WorkUnit& unit, ItemTally* per_length,
                              int64_t* histogram) {
  const int64_t items = unit.item_end - unit.item_begin;
  if (items <= 0) return;
  const int32_t bins = attempt_bins(spec);
  const bool per_item = spec.difficulty != DIFFICULTY_NONE;
  const uint64_t threshold = per_item ? 1 : spec.threshold[unit.scale];
  if (threshold == 0 || threshold >= THRESHOLD_ONE) {
    add_constant_tallies(spec, items, threshold != 0, per_length);
    for (int32_t i = 0; i < spec.num_lengths; ++i) {
      histogram[static_cast<size_t>(i) * bins + (threshold != 0 ? spec.attempts : 0)] += items;
    }
    return;
  }
  const int64_t full_begin = (unit.item_begin + ITEMS_PER_GROUP - 1) / ITEMS_PER_GROUP;
  const int64_t full_end = unit.item_end / ITEMS_PER_GROUP;
  const int64_t blocks = full_end > full_begin ? (full_end - full_begin) / GROUPS_PER_BLOCK : 0;
  if (blocks > 0) {
    Scratch& scratch = cleared_scratch(spec.num_lengths);
    LengthSums* sums = scratch.sums.data();
    const PhiloxStreamPrefix prefix = unit_prefix(spec, unit);
    const ItemThresholds item_thresholds(spec, unit);
    const auto t = static_cast<uint32_t>(threshold);
    const auto g0 = static_cast<uint32_t>(full_begin);
    if (per_item) {
      sample_attempt_blocks_portable<true>(prefix, t, &item_thresholds, spec.length,
                                           spec.num_lengths, spec.attempts, g0, blocks, sums,
                                           histogram);
    } else {
      sample_attempt_blocks_portable<false>(prefix, t, nullptr, spec.length, spec.num_lengths,
                                            spec.attempts, g0, blocks, sums, histogram);
    }
    add_block_sums(spec, sums, blocks * GROUPS_PER_BLOCK * ITEMS_PER_GROUP, per_length);
  }
  // The groups before the first block and after the last, masked to the unit.
  WorkUnit head = unit;
  head.item_end = std::min(unit.item_end, full_begin * ITEMS_PER_GROUP);
  if (head.item_end > head.item_begin) {
    sample_unit_attempts_reference(spec, head, per_length, histogram);
  }
  WorkUnit tail = unit;
  tail.item_begin = std::max(unit.item_begin, (full_begin + blocks * GROUPS_PER_BLOCK) *
                                                  int64_t{ITEMS_PER_GROUP});
  if (tail.item_end > tail.item_begin) {
    sample_unit_attempts_reference(spec, tail, per_length, histogram);
  }
}

#if MIRAGE_HAVE_AVX2_PATH

// Adds a vector kernel's 32-bit lane sums ([K][k, k^2, exact][LANES]) into the 64-bit sums
// and clears them.
template <int LANES>
void flush_lane_sums(uint32_t* lanes, int32_t num_lengths, LengthSums* sums) {
  for (int32_t i = 0; i < num_lengths; ++i) {
    uint64_t* dst[3] = {&sums[i].k, &sums[i].k_sq, &sums[i].exact};
    for (int which = 0; which < 3; ++which) {
      uint32_t* src = lanes + (static_cast<size_t>(i) * 3 + static_cast<size_t>(which)) * LANES;
      uint64_t total = 0;
      for (int lane = 0; lane < LANES; ++lane) {
        total += src[lane];
        src[lane] = 0;
      }
      *dst[which] += total;
    }
  }
}

// AVX2 block kernel, same contract as sample_blocks_portable but with blocks of
// AVX2_GROUPS_PER_BLOCK groups: AVX2_PAIRS pairs of sets of four groups. Philox runs with one
// group per 64-bit lane (philox_batch.h); each output word of a pair of sets is packed into
// one register of eight 32-bit lanes (lane 2q: group q of the first set, lane 2q+1: group q
// of the second) for the comparison, and the per-item counts k are kept in 16-bit lanes.
//
// The comparison u < T is unsigned; AVX2 compares signed 32-bit lanes, so both sides are
// offset by 2^31 (x ^ 0x80000000), which preserves order. For output words 0 and 2 the
// offset is folded into the last round key (those words end with a key xor); words 1 and 3
// take one xor each.
//
// With per-item thresholds (PER_ITEM) each output word w gets its own threshold register,
// laid out as the words are (lane 2q: item 4q + w of the block, lane 2q + 1: item
// 16 + 4q + w), and the items with threshold 2^32 get k = L at every length through a 16-bit
// mask laid out as the counts are (the same packs of per-word masks).
template <bool PER_ITEM>
__attribute__((target("avx2"))) void sample_blocks_avx2(const PhiloxStreamPrefix& prefix,
                                                        uint32_t threshold,
                                                        const ItemThresholds* items,
                                                        const int32_t* lengths,
                                                        int32_t num_lengths, uint32_t group_begin,
                                                        int64_t blocks, LengthSums* sums,
                                                        uint32_t* lanes,
                                                        uint32_t last_valid = 0xFFFFFFFFu) {
  constexpr int SETS = 2 * AVX2_PAIRS;
  static_assert(!PER_ITEM || AVX2_PAIRS == 1, "per-item thresholds assume one pair per block");
  static_assert(AVX2_PAIRS == 1, "the last block's item mask assumes one pair per block");
  PhiloxStreamAvx2 v = philox_stream_avx2(prefix);
  const __m256i sign = _mm256_set1_epi32(static_cast<int32_t>(0x80000000u));
  v.k0[PHILOX_ROUNDS - 1] = _mm256_xor_si256(v.k0[PHILOX_ROUNDS - 1], sign);
  v.k1[PHILOX_ROUNDS - 1] = _mm256_xor_si256(v.k1[PHILOX_ROUNDS - 1], sign);
  const __m256i t_signed = _mm256_set1_epi32(static_cast<int32_t>(threshold ^ 0x80000000u));

  // 32-bit lane accumulators [K][k, k^2, exact][8], flushed into the 64-bit sums before
  // they can overflow: per block a lane gains at most 4 AVX2_PAIRS L^2 (that many items,
  // each k <= L).
  const int64_t max_length = lengths[num_lengths - 1];
  const int64_t flush_every = std::max<int64_t>(
      1, static_cast<int64_t>(0xFFFFFFFFull / (4 * AVX2_PAIRS * max_length * max_length)));
  std::fill(lanes, lanes + static_cast<size_t>(num_lengths) * 3 * 8, 0u);
  const __m256i lane_index = _mm256_setr_epi64x(0, 1, 2, 3);
  int64_t since_flush = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    // The block's last group is < 2^32 (groups are addressed by 32-bit counter words), so
    // the 64-bit lane adds give the counter words exactly.
    const int64_t group0 = int64_t{group_begin} + b * AVX2_GROUPS_PER_BLOCK;
    PhiloxGroups4 group[SETS];
    for (int q = 0; q < SETS; ++q) {
      group[q] = philox_group_prefix_avx2(
          v, _mm256_add_epi64(_mm256_set1_epi64x(group0 + 4 * q), lane_index));
    }
    // Per-item thresholds (offset by 2^31 like the words) and the always-correct mask.
    __m256i t_word[ITEMS_PER_GROUP] = {t_signed, t_signed, t_signed, t_signed};
    __m256i always16[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    bool any_always = false;
    if constexpr (PER_ITEM) {
      BlockThresholds bt;
      items->fill(static_cast<uint32_t>(group0), bt);
      __m256i always32[ITEMS_PER_GROUP];
      for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
        alignas(32) uint32_t t_lane[8];
        alignas(32) uint32_t a_lane[8];
        for (int q = 0; q < 4; ++q) {
          const int first = 4 * q + w, second = 16 + 4 * q + w;
          t_lane[2 * q] = bt.t[first] ^ 0x80000000u;
          t_lane[2 * q + 1] = bt.t[second] ^ 0x80000000u;
          a_lane[2 * q] = ((bt.always >> first) & 1u) ? 0xffffffffu : 0u;
          a_lane[2 * q + 1] = ((bt.always >> second) & 1u) ? 0xffffffffu : 0u;
        }
        t_word[w] = _mm256_load_si256(reinterpret_cast<const __m256i*>(t_lane));
        always32[w] = _mm256_load_si256(reinterpret_cast<const __m256i*>(a_lane));
      }
      any_always = bt.always != 0;
      always16[0] = _mm256_packs_epi32(always32[0], always32[1]);
      always16[1] = _mm256_packs_epi32(always32[2], always32[3]);
    }
    // The last block may hold items outside the unit (last_valid: bit j for item j of the
    // block): their counts are sampled but zeroed before every sum (k = 0 adds nothing to the
    // sums of k and k^2, and is not L >= 1), through a 16-bit mask laid out as the counts are.
    const bool masked = last_valid != 0xFFFFFFFFu && b + 1 == blocks;
    __m256i valid16[2] = {_mm256_set1_epi16(-1), _mm256_set1_epi16(-1)};
    if (masked) {
      __m256i valid32[ITEMS_PER_GROUP];
      for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
        alignas(32) uint32_t v_lane[8];
        for (int q = 0; q < 4; ++q) {
          v_lane[2 * q] = ((last_valid >> (4 * q + w)) & 1u) ? 0xffffffffu : 0u;
          v_lane[2 * q + 1] = ((last_valid >> (16 + 4 * q + w)) & 1u) ? 0xffffffffu : 0u;
        }
        valid32[w] = _mm256_load_si256(reinterpret_cast<const __m256i*>(v_lane));
      }
      valid16[0] = _mm256_packs_epi32(valid32[0], valid32[1]);
      valid16[1] = _mm256_packs_epi32(valid32[2], valid32[3]);
    }
    // Per-item counts k as 16-bit lanes (k <= 4096): two registers per pair of sets.
    __m256i k[AVX2_PAIRS][2];
    for (auto& pair : k) pair[0] = pair[1] = _mm256_setzero_si256();
    int32_t token = 0;
    for (int32_t i = 0; i < num_lengths; ++i) {
      const int32_t length = lengths[i];
      for (; token < length; ++token) {
        const PhiloxTokenPrefix t = philox_token_prefix(
            prefix, counter_token_word(static_cast<uint32_t>(token), STREAM_TOKEN));
        Philox4Lanes x[SETS];
        philox_finish_avx2(v, group, _mm256_set1_epi64x(t.hb_key), _mm256_set1_epi64x(t.lo_b), x);
        for (int pair = 0; pair < AVX2_PAIRS; ++pair) {
          const Philox4Lanes& a = x[2 * pair];
          const Philox4Lanes& c = x[2 * pair + 1];
          const __m256i u0 = _mm256_blend_epi32(a.x0, _mm256_slli_epi64(c.x0, 32), 0xAA);
          const __m256i u1 =
              _mm256_xor_si256(_mm256_blend_epi32(a.x1, _mm256_slli_epi64(c.x1, 32), 0xAA), sign);
          const __m256i u2 = _mm256_blend_epi32(a.x2, _mm256_slli_epi64(c.x2, 32), 0xAA);
          const __m256i u3 =
              _mm256_xor_si256(_mm256_blend_epi32(a.x3, _mm256_slli_epi64(c.x3, 32), 0xAA), sign);
          // The comparison gives -1 where u < T; packed to 16 bits (-1 stays -1) and
          // subtracted, it counts a correct token. Which item lands in which 16-bit lane
          // does not matter: the lanes are only ever summed.
          const __m256i correct01 = _mm256_packs_epi32(_mm256_cmpgt_epi32(t_word[0], u0),
                                                       _mm256_cmpgt_epi32(t_word[1], u1));
          const __m256i correct23 = _mm256_packs_epi32(_mm256_cmpgt_epi32(t_word[2], u2),
                                                       _mm256_cmpgt_epi32(t_word[3], u3));
          k[pair][0] = _mm256_sub_epi16(k[pair][0], correct01);
          k[pair][1] = _mm256_sub_epi16(k[pair][1], correct23);
        }
      }
      const __m256i len = _mm256_set1_epi16(static_cast<int16_t>(length));
      if (PER_ITEM && any_always) {
        for (auto& pair : k) {
          pair[0] = _mm256_blendv_epi8(pair[0], len, always16[0]);
          pair[1] = _mm256_blendv_epi8(pair[1], len, always16[1]);
        }
      }
      // vpmaddwd multiplies 16-bit lanes and adds neighbouring products into 32-bit lanes:
      // with ones it sums pairs of k, with k itself it sums pairs of k^2 (k <= 4096 < 2^15).
      const __m256i ones = _mm256_set1_epi16(1);
      __m256i sum_k = _mm256_setzero_si256(), sum_sq = sum_k, minus_exact = sum_k;
      for (const auto& pair : k) {
        const __m256i k0 = _mm256_and_si256(pair[0], valid16[0]);
        const __m256i k1 = _mm256_and_si256(pair[1], valid16[1]);
        sum_k = _mm256_add_epi32(sum_k, _mm256_add_epi32(_mm256_madd_epi16(k0, ones),
                                                         _mm256_madd_epi16(k1, ones)));
        sum_sq = _mm256_add_epi32(sum_sq, _mm256_add_epi32(_mm256_madd_epi16(k0, k0),
                                                           _mm256_madd_epi16(k1, k1)));
        const __m256i exact =
            _mm256_add_epi16(_mm256_cmpeq_epi16(k0, len), _mm256_cmpeq_epi16(k1, len));
        minus_exact = _mm256_add_epi32(minus_exact, _mm256_madd_epi16(exact, ones));
      }
      auto* acc = reinterpret_cast<__m256i*>(lanes + static_cast<size_t>(i) * 24);
      _mm256_storeu_si256(acc, _mm256_add_epi32(_mm256_loadu_si256(acc), sum_k));
      _mm256_storeu_si256(acc + 1, _mm256_add_epi32(_mm256_loadu_si256(acc + 1), sum_sq));
      _mm256_storeu_si256(acc + 2, _mm256_sub_epi32(_mm256_loadu_si256(acc + 2), minus_exact));
    }
    if (++since_flush == flush_every || b + 1 == blocks) {
      flush_lane_sums<8>(lanes, num_lengths, sums);
      since_flush = 0;
    }
  }
}

#endif  // MIRAGE_HAVE_AVX2_PATH

#if MIRAGE_HAVE_AVX512_PATH

// AVX-512 block kernel, same contract as sample_blocks_avx2 with blocks of AVX512_SETS sets
// of eight groups. Philox runs with one group per 64-bit lane (philox_avx512.h: the three-way
// xors in one vpternlogq each) and finishes with its words paired
// (philox_finish_paired_avx512): per set, w10 holds words 1 and 0 of the eight groups in its
// sixteen 32-bit lanes (lane 2l: word 1 of group l, lane 2l + 1: word 0) and w32 words 3 and 2.
// Each register is compared with u < T at once by an unsigned compare into a mask register
// (no sign offset, no packing); the two masks of a set, joined into one 32-bit mask
// (kunpckwd), add the set's correct tokens to its per-item counts k with one masked subtract
// of -1 on 32 16-bit lanes (AVX-512BW; lanes 0..15 count the items of w10, 16..31 those of
// w32, in the same order).
//
// With per-item thresholds (PER_ITEM) each of the two registers of a set gets its own
// threshold register in the same layout (ItemThresholds fills one BlockThresholds per set of
// eight groups), and the items with threshold 2^32 get k = L at every length through a
// 32-bit mask laid out as the counts are.
//
// SETS sets of eight groups per block: AVX512_SETS for the bulk of a unit, 1 for the whole
// groups its blocks leave (fewer rounds in flight, but twice the width of an AVX2 block).
template <bool PER_ITEM, int SETS = AVX512_SETS>
__attribute__((target("avx512f,avx512bw,popcnt"))) void sample_blocks_avx512(
    const PhiloxStreamPrefix& prefix, uint32_t threshold, const ItemThresholds* items,
    const int32_t* lengths, int32_t num_lengths, uint32_t group_begin, int64_t blocks,
    LengthSums* sums, uint32_t* lanes) {
  static_assert(ITEMS_PER_GROUP == 4, "a set of eight groups is one BlockThresholds");
  const PhiloxStreamAvx512 v = philox_stream_avx512(prefix);
  const __m512i minus_one = _mm512_set1_epi32(-1);
  const __m512i ones16 = _mm512_set1_epi16(1);
  const __m512i t_all = _mm512_set1_epi32(static_cast<int32_t>(threshold));
  // Where the per-item thresholds of a BlockThresholds go (permutex2var indices into its
  // items 0..15 and 16..31): item 4l + 1 to lane 2l and item 4l to lane 2l + 1 of t10, items
  // 4l + 3 and 4l + 2 likewise of t32.
  const __m512i to_t10 =
      _mm512_setr_epi32(1, 0, 5, 4, 9, 8, 13, 12, 17, 16, 21, 20, 25, 24, 29, 28);
  const __m512i to_t32 =
      _mm512_setr_epi32(3, 2, 7, 6, 11, 10, 15, 14, 19, 18, 23, 22, 27, 26, 31, 30);

  // 32-bit lane accumulators [K][k, k^2, (unused)][16], flushed into the 64-bit sums before
  // they can overflow: per block a lane gains at most 2 SETS L^2 (vpmaddwd adds two items of
  // each set's count register, each k <= L). Exact matches go straight to the 64-bit sums.
  const int64_t max_length = lengths[num_lengths - 1];
  const int64_t flush_every = std::max<int64_t>(
      1, static_cast<int64_t>(0xFFFFFFFFull / (2 * SETS * max_length * max_length)));
  std::fill(lanes, lanes + static_cast<size_t>(num_lengths) * 3 * 16, 0u);
  const __m512i lane_index = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
  int64_t since_flush = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    // The block's last group is < 2^32, so the 64-bit lane adds give the counter words exactly.
    const int64_t group0 = int64_t{group_begin} + b * 8 * SETS;
    PhiloxGroups8 group[SETS];
    for (int q = 0; q < SETS; ++q) {
      group[q] = philox_group_prefix_avx512(
          v, _mm512_add_epi64(_mm512_set1_epi64(group0 + 8 * q), lane_index));
    }
    __m512i t10[SETS], t32[SETS];
    __mmask32 always[SETS] = {};
    bool any_always = false;
    for (int q = 0; q < SETS; ++q) t10[q] = t32[q] = t_all;
    if constexpr (PER_ITEM) {
      for (int q = 0; q < SETS; ++q) {
        BlockThresholds bt;
        items->fill(static_cast<uint32_t>(group0 + 8 * q), bt);
        const __m512i first = _mm512_loadu_si512(bt.t);
        const __m512i second = _mm512_loadu_si512(bt.t + 16);
        t10[q] = _mm512_permutex2var_epi32(first, to_t10, second);
        t32[q] = _mm512_permutex2var_epi32(first, to_t32, second);
        uint32_t a10 = 0, a32 = 0;
        for (uint32_t l = 0; l < 8; ++l) {
          const uint32_t nibble = bt.always >> (4 * l);  // items 4l..4l+3
          a10 |= (((nibble >> 1) & 1u) << (2 * l)) | ((nibble & 1u) << (2 * l + 1));
          a32 |= (((nibble >> 3) & 1u) << (2 * l)) | (((nibble >> 2) & 1u) << (2 * l + 1));
        }
        always[q] = _cvtu32_mask32(a10 | (a32 << 16));
        any_always = any_always || bt.always != 0;
      }
    }
    // Per-item counts k (k <= 4096) in 16-bit lanes, one register per set.
    __m512i count[SETS];
    for (int q = 0; q < SETS; ++q) count[q] = _mm512_setzero_si512();
    int32_t token = 0;
    for (int32_t i = 0; i < num_lengths; ++i) {
      const int32_t length = lengths[i];
      for (; token < length; ++token) {
        const PhiloxTokenPrefix t = philox_token_prefix(
            prefix, counter_token_word(static_cast<uint32_t>(token), STREAM_TOKEN));
        __m512i w10[SETS], w32[SETS];
        philox_finish_paired_avx512(v, group, _mm512_set1_epi64(t.hb_key),
                                    _mm512_set1_epi64(t.lo_b), w10, w32);
        for (int q = 0; q < SETS; ++q) {
          const __mmask32 correct = _mm512_kunpackw(_mm512_cmplt_epu32_mask(w32[q], t32[q]),
                                                    _mm512_cmplt_epu32_mask(w10[q], t10[q]));
          count[q] = _mm512_mask_sub_epi16(count[q], correct, count[q], minus_one);
        }
      }
      const __m512i len = _mm512_set1_epi16(static_cast<int16_t>(length));
      if (PER_ITEM && any_always) {
        for (int q = 0; q < SETS; ++q) count[q] = _mm512_mask_mov_epi16(count[q], always[q], len);
      }
      // vpmaddwd multiplies 16-bit lanes and adds neighbouring products into 32-bit lanes:
      // with ones it sums pairs of k, with k itself pairs of k^2 (k <= 4096 < 2^15).
      auto* acc = lanes + static_cast<size_t>(i) * 48;
      __m512i sum_k = _mm512_loadu_si512(acc);
      __m512i sum_sq = _mm512_loadu_si512(acc + 16);
      uint32_t exact = 0;
      for (int q = 0; q < SETS; ++q) {
        sum_k = _mm512_add_epi32(sum_k, _mm512_madd_epi16(count[q], ones16));
        sum_sq = _mm512_add_epi32(sum_sq, _mm512_madd_epi16(count[q], count[q]));
        exact += static_cast<uint32_t>(
            _mm_popcnt_u32(_cvtmask32_u32(_mm512_cmpeq_epi16_mask(count[q], len))));
      }
      _mm512_storeu_si512(acc, sum_k);
      _mm512_storeu_si512(acc + 16, sum_sq);
      sums[i].exact += exact;
    }
    if (++since_flush == flush_every || b + 1 == blocks) {
      flush_lane_sums<16>(lanes, num_lengths, sums);
      since_flush = 0;
    }
  }
}

#endif  // MIRAGE_HAVE_AVX512_PATH

// sample_unit_cpu() with `kernel`, which must run here (not automatic; no check).
// `avx512_sets`: sets of eight groups per AVX-512 block (AVX512_SETS, or 1 for what the
// blocks of a unit leave).
void sample_unit_kernel(const SweepSpec& spec, const WorkUnit& unit, ItemTally* per_length,
                        CpuKernel kernel, int avx512_sets = AVX512_SETS) {
  const int64_t items = unit.item_end - unit.item_begin;
  if (items <= 0) return;
  const bool per_item = spec.difficulty != DIFFICULTY_NONE;
  const uint64_t threshold = per_item ? 1 : spec.threshold[unit.scale];
  if (threshold == 0 || threshold >= THRESHOLD_ONE) {
    add_constant_tallies(spec, items, threshold != 0, per_length);
    return;
  }

  const int64_t first_group = unit.item_begin / ITEMS_PER_GROUP;
  const int64_t end_group = (unit.item_end + ITEMS_PER_GROUP - 1) / ITEMS_PER_GROUP;
  // Whole groups start at full_begin; blocks of them run on the block kernel.
  const int64_t full_begin = (unit.item_begin + ITEMS_PER_GROUP - 1) / ITEMS_PER_GROUP;
  const int64_t full_end = unit.item_end / ITEMS_PER_GROUP;
  const int64_t block_groups = kernel == CpuKernel::avx512 ? 8 * int64_t{avx512_sets}
                               : kernel == CpuKernel::avx2 ? AVX2_GROUPS_PER_BLOCK
                                                           : GROUPS_PER_BLOCK;
  const int64_t blocks = full_end > full_begin ? (full_end - full_begin) / block_groups : 0;
  const int64_t block_end = full_begin + blocks * block_groups;
  if (blocks > 0) {
    Scratch& scratch = cleared_scratch(spec.num_lengths);
    LengthSums* sums = scratch.sums.data();
    const PhiloxStreamPrefix prefix = unit_prefix(spec, unit);
    const auto t = static_cast<uint32_t>(threshold);
    const auto g0 = static_cast<uint32_t>(full_begin);
    const ItemThresholds item_thresholds(spec, unit);
    const ItemThresholds* source = per_item ? &item_thresholds : nullptr;
    const int32_t* lengths = spec.length;
    const int32_t k = spec.num_lengths;
    switch (kernel) {
#if MIRAGE_HAVE_AVX512_PATH
      case CpuKernel::avx512:
        if (per_item && avx512_sets == 1) {
          sample_blocks_avx512<true, 1>(prefix, t, source, lengths, k, g0, blocks, sums,
                                        scratch.lanes.data());
        } else if (avx512_sets == 1) {
          sample_blocks_avx512<false, 1>(prefix, t, source, lengths, k, g0, blocks, sums,
                                         scratch.lanes.data());
        } else if (per_item) {
          sample_blocks_avx512<true>(prefix, t, source, lengths, k, g0, blocks, sums,
                                     scratch.lanes.data());
        } else {
          sample_blocks_avx512<false>(prefix, t, source, lengths, k, g0, blocks, sums,
                                      scratch.lanes.data());
        }
        break;
#endif
#if MIRAGE_HAVE_AVX2_PATH
      case CpuKernel::avx2:
        if (per_item) {
          sample_blocks_avx2<true>(prefix, t, source, lengths, k, g0, blocks, sums,
                                   scratch.lanes.data());
        } else {
          sample_blocks_avx2<false>(prefix, t, source, lengths, k, g0, blocks, sums,
                                    scratch.lanes.data());
        }
        break;
#endif
      default:
        if (per_item) {
          sample_blocks_portable<true>(prefix, t, source, lengths, k, g0, blocks, sums);
        } else {
          sample_blocks_portable<false>(prefix, t, source, lengths, k, g0, blocks, sums);
        }
        break;
    }
    add_block_sums(spec, sums, blocks * block_groups * ITEMS_PER_GROUP, per_length);
  }
  sample_groups_masked(spec, unit, first_group, full_begin, per_length);
  const int64_t rest_begin = blocks > 0 ? block_end : full_begin;
#if MIRAGE_HAVE_AVX512_PATH
  // An AVX-512 block is 48 groups: the whole groups it leaves (up to 47, e.g. 10 of the 250
  // in a test set of 1,000 items) go to AVX-512 blocks of one set of 8 groups rather than to
  // AVX2 blocks of 8 (which took as much time as the AVX-512 blocks on a 20,000-replicate sweep
  // at n <= 1000) or the scalar reference, which costs about 15x more per draw.
  if (kernel == CpuKernel::avx512 && avx512_sets > 1 &&
      full_end - rest_begin >= AVX2_GROUPS_PER_BLOCK) {
    WorkUnit rest = unit;
    rest.item_begin = rest_begin * ITEMS_PER_GROUP;
    sample_unit_kernel(spec, rest, per_length, CpuKernel::avx512, 1);
    return;
  }
#endif
#if MIRAGE_HAVE_AVX2_PATH
  // What is left (fewer than 8 whole groups, then the last partial group) fits one AVX2 block
  // of 8 groups whose items past the unit's end are masked out of the sums: the reference, at
  // about 15x the cost per draw, had taken 40 % of the sampling of a 20,000-replicate sweep at
  // n = 10, 100, 1000 (the items past the end are sampled and dropped; with item difficulty
  // the reference keeps them, as per-item thresholds exist only inside the unit).
  if (!per_item && (kernel == CpuKernel::avx2 || kernel == CpuKernel::avx512) &&
      end_group > rest_begin && end_group - rest_begin <= AVX2_GROUPS_PER_BLOCK &&
      rest_begin + AVX2_GROUPS_PER_BLOCK <= (int64_t{1} << 32)) {
    const int64_t first_item = rest_begin * ITEMS_PER_GROUP;
    const int64_t valid_items = unit.item_end - first_item;  // 1..32, from the block's start
    const uint32_t valid =
        valid_items >= 32 ? 0xFFFFFFFFu : (uint32_t{1} << uint32_t(valid_items)) - 1u;
    Scratch& scratch = cleared_scratch(spec.num_lengths);
    LengthSums* sums = scratch.sums.data();
    const PhiloxStreamPrefix prefix = unit_prefix(spec, unit);
    sample_blocks_avx2<false>(prefix, static_cast<uint32_t>(threshold), nullptr, spec.length,
                              spec.num_lengths, static_cast<uint32_t>(rest_begin), 1, sums,
                              scratch.lanes.data(), valid);
    add_block_sums(spec, sums, valid_items, per_length);
    return;
  }
#endif
  sample_groups_masked(spec, unit, rest_begin, end_group, per_length);
}

// Whether the CPU has what `kernel` needs (its self-check aside).
bool cpu_supports(CpuKernel kernel) {
  switch (kernel) {
    case CpuKernel::automatic:
    case CpuKernel::portable:
      return true;
    case CpuKernel::avx2:
      return cpu_has_avx2();
    case CpuKernel::avx512:
      return cpu_has_avx512();
  }
  return false;
}

// MIRAGE_TEST_CORRUPT_SELF_CHECK set to anything but "" or "0": the test hook of the
// process-wide self-check (cpu_kernel_self_check's `corrupt`).
bool corrupt_self_check_from_environment() {
  const char* value = std::getenv("MIRAGE_TEST_CORRUPT_SELF_CHECK");
  return value != nullptr && value[0] != '\0' && std::string(value) != "0";
}

// Whether the AVX-512 kernel runs here: the CPU has AVX-512F and the kernel passed its
// self-check, which runs once per process, on first use; a failure is said on stderr once.
bool avx512_usable() {
  static const bool usable = [] {
    if (!cpu_has_avx512()) return false;
    const std::string difference =
        cpu_kernel_self_check(CpuKernel::avx512, corrupt_self_check_from_environment());
    if (difference.empty()) return true;
    std::cerr << "mirage: warning: the AVX-512 CPU kernel failed its start-up self-check ("
              << difference << "); using the " << (cpu_has_avx2() ? "AVX2" : "portable")
              << " kernel instead\n";
    return false;
  }();
  return usable;
}

// The kernel force_cpu_kernel() chose (automatic: none).
std::atomic<int> forced_kernel{static_cast<int>(CpuKernel::automatic)};

// The fastest kernel available here.
CpuKernel fastest_kernel() {
  static const CpuKernel fastest = avx512_usable()  ? CpuKernel::avx512
                                   : cpu_has_avx2() ? CpuKernel::avx2
                                                    : CpuKernel::portable;
  return fastest;
}

const char* kernel_option_name(CpuKernel kernel) {
  switch (kernel) {
    case CpuKernel::automatic:
      return "auto";
    case CpuKernel::portable:
      return "portable";
    case CpuKernel::avx2:
      return "avx2";
    case CpuKernel::avx512:
      return "avx512";
  }
  return "unknown";
}

// Why `kernel` (not available here) cannot run, for the messages of --cpu-kernel and
// sample_unit_cpu.
std::string unavailable_reason(CpuKernel kernel) {
  if (!cpu_supports(kernel)) {
    return std::string("this CPU (or build) has no ") +
           (kernel == CpuKernel::avx512 ? "AVX-512F and AVX-512BW" : "AVX2");
  }
  return std::string("the ") + cpu_kernel_name(kernel) +
         " kernel failed its start-up self-check on this CPU (see the warning above)";
}

CpuKernel resolve(CpuKernel kernel) {
  if (kernel == CpuKernel::automatic) return cpu_kernel_selected();
  if (!cpu_kernel_available(kernel)) {
    throw std::invalid_argument(std::string("CPU kernel '") + cpu_kernel_name(kernel) +
                                "' is not available: " + unavailable_reason(kernel));
  }
  return kernel;
}

}  // namespace

bool cpu_kernel_available(CpuKernel kernel) {
  if (kernel == CpuKernel::avx512) return avx512_usable();
  return cpu_supports(kernel);
}

CpuKernel cpu_kernel_selected() {
  const auto forced = static_cast<CpuKernel>(forced_kernel.load(std::memory_order_relaxed));
  return forced != CpuKernel::automatic ? forced : fastest_kernel();
}

void require_cpu_kernel(CpuKernel kernel) {
  if (kernel != CpuKernel::automatic && !cpu_kernel_available(kernel)) {
    throw std::invalid_argument(std::string("--cpu-kernel: value '") + kernel_option_name(kernel) +
                                "' is not allowed here: " + unavailable_reason(kernel) +
                                "; use auto (the fastest available: " +
                                cpu_kernel_name(fastest_kernel()) + ") or portable");
  }
}

void force_cpu_kernel(CpuKernel kernel) {
  require_cpu_kernel(kernel);
  forced_kernel.store(static_cast<int>(kernel), std::memory_order_relaxed);
}

const char* cpu_kernel_name(CpuKernel kernel) {
  switch (kernel) {
    case CpuKernel::automatic:
      return cpu_kernel_name(cpu_kernel_selected());
    case CpuKernel::portable:
      return "portable";
    case CpuKernel::avx2:
      return "AVX2";
    case CpuKernel::avx512:
      return "AVX-512";
  }
  return "unknown";
}

CpuKernel parse_cpu_kernel(const std::string& option, const std::string& text) {
  for (CpuKernel kernel :
       {CpuKernel::automatic, CpuKernel::portable, CpuKernel::avx2, CpuKernel::avx512}) {
    if (text == kernel_option_name(kernel)) return kernel;
  }
  throw std::invalid_argument(option + ": unknown CPU kernel '" + text +
                              "'; allowed: auto, portable, avx2, avx512");
}

std::string cpu_kernel_self_check(CpuKernel kernel, bool corrupt) {
  if (kernel == CpuKernel::automatic) kernel = cpu_kernel_selected();
  if (!cpu_supports(kernel)) return std::string("this CPU has no ") + cpu_kernel_name(kernel);
  // Two scales (p = 0.5791, the paper's toy model at 6.7e9 parameters, and threshold
  // 2^32 - 1, where only u = 2^32 - 1 is wrong), lengths 1, 3 and 9, items [3, 153): a partial
  // group at each end and two AVX-512 blocks, four AVX2 blocks, plus whole groups left over;
  // then the same items with per-item thresholds from logistic:20 difficulty, whose blocks hold
  // items with threshold 0 and 2^32 beside ordinary ones.
  const uint64_t thresholds[] = {token_threshold(0.5791), 0xFFFFFFFFu};
  const double logits[] = {0.3, 2.0};
  const int32_t lengths[] = {1, 3, 9};
  const int64_t sizes[] = {1 << 20};
  const int32_t difficulties[] = {DIFFICULTY_NONE, DIFFICULTY_LOGISTIC};
  for (int32_t difficulty : difficulties) {
    SweepSpec spec;
    spec.seed = 0x5e1fc4ecull;
    spec.num_scales = 2;
    spec.num_lengths = 3;
    spec.num_test_sizes = 1;
    spec.num_replicates = 2;
    spec.threshold = thresholds;
    spec.length = lengths;
    spec.test_size = sizes;
    spec.difficulty = difficulty;
    spec.difficulty_a = difficulty == DIFFICULTY_NONE ? 0.0 : 20.0;
    spec.scale_logit = logits;
    for (int32_t scale = 0; scale < spec.num_scales; ++scale) {
      const WorkUnit unit{1, scale, 0, 3, 153};
      ItemTally reference[3], fast[3];
      sample_unit_tokens_reference(spec, unit, reference);
      sample_unit_kernel(spec, unit, fast, kernel);
      if (corrupt) fast[0].exact_match += 1;
      for (int32_t k = 0; k < spec.num_lengths; ++k) {
        if (fast[k].exact_match != reference[k].exact_match ||
            fast[k].token_errors != reference[k].token_errors ||
            fast[k].token_errors_sq != reference[k].token_errors_sq) {
          std::ostringstream out;
          out << (difficulty == DIFFICULTY_NONE ? "one threshold" : "per-item thresholds")
              << ", scale " << scale << ", length " << lengths[k] << ": exact_match "
              << fast[k].exact_match << ", token_errors " << fast[k].token_errors
              << ", token_errors_sq " << fast[k].token_errors_sq << "; reference "
              << reference[k].exact_match << ", " << reference[k].token_errors << ", "
              << reference[k].token_errors_sq;
          return out.str();
        }
      }
      corrupt = false;
    }
  }
  return "";
}

void sample_unit_cpu(const SweepSpec& spec, const WorkUnit& unit, ItemTally* per_length,
                     CpuKernel kernel) {
  sample_unit_kernel(spec, unit, per_length, resolve(kernel));
}

namespace {

#if MIRAGE_HAVE_AVX2_PATH

// The multiple-choice tallies of the items of groups group_begin..group_begin+4 sets-1 (all
// inside the unit), four groups at a time on AVX2 (item_model_avx2.h, word-major lanes): the
// same per-item outcomes as sample_unit_choices, bit for bit; the tallies are integer sums,
// so their order does not matter.
__attribute__((target("avx2"))) void sample_choice_sets_avx2(const SweepSpec& spec,
                                                             const WorkUnit& unit,
                                                             int64_t group_begin, int64_t sets,
                                                             ItemTally* out) {
  const ItemStreamsAvx2 s = item_streams_avx2(spec.seed, static_cast<uint32_t>(unit.replicate));
  const bool difficulty = spec.difficulty != DIFFICULTY_NONE;
  const ItemShiftParams shift =
      item_shift_params(spec.difficulty, spec.difficulty_a, spec.difficulty_b);
  const __m256d base = _mm256_set1_pd(difficulty ? spec.scale_logit[unit.scale] : 0.0);
  // Lane sums [K][grade, brier, brier_sq][4].
  std::vector<int64_t> acc(static_cast<size_t>(spec.num_lengths) * 12, 0);
  // Without difficulty every item has log p = scale_log_p[s], so q = p^L and 1 - q at each
  // length are the same for all items: computed once, as choice_outcome computes them.
  std::vector<double> fixed_q, fixed_miss;
  if (!difficulty) {
    const double log_p = spec.scale_log_p[unit.scale];
    for (int32_t k = 0; k < spec.num_lengths; ++k) {
      const double log_q = pm::mul(static_cast<double>(spec.length[k]), log_p);
      fixed_q.push_back(pm::exp(log_q));
      fixed_miss.push_back(-pm::expm1(log_q));
    }
  }
  for (int64_t set = 0; set < sets; ++set) {
    const PhiloxGroups4 g = item_groups_avx2(s, static_cast<uint32_t>(group_begin + 4 * set));
    __m256d log_p[ITEMS_PER_GROUP];
    if (difficulty) {
      OpenUniform4 u[ITEMS_PER_GROUP];
      set_difficulty_uniforms_avx2(s, g, u);
      __m256d x[ITEMS_PER_GROUP];
      for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
        x[w] = _mm256_add_pd(base, item_logit_shift_avx2(shift, u[w]));
      }
      for (int w = 0; w < ITEMS_PER_GROUP; ++w) log_p[w] = pm::avx2::log_sigmoid(x[w]);
    }
    ChoiceSplit4 split[ITEMS_PER_GROUP];
    set_choice_splits_avx2(s, g, spec.choices, split);
    for (int32_t k = 0; k < spec.num_lengths; ++k) {
      __m256i grade = _mm256_setzero_si256(), brier = grade, brier_sq = grade;
      for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
        const ChoiceOutcome4 o =
            difficulty
                ? choice_outcome_avx2(log_p[w], spec.length[k], split[w])
                : choice_outcome_from_q_avx2(_mm256_set1_pd(fixed_q[size_t(k)]),
                                             _mm256_set1_pd(fixed_miss[size_t(k)]), split[w]);
        grade = _mm256_add_epi64(grade, o.grade);
        brier = _mm256_add_epi64(brier, o.brier);
        brier_sq = _mm256_add_epi64(brier_sq, o.brier_sq);
      }
      auto* a = reinterpret_cast<__m256i*>(acc.data() + static_cast<size_t>(k) * 12);
      _mm256_storeu_si256(a, _mm256_add_epi64(_mm256_loadu_si256(a), grade));
      _mm256_storeu_si256(a + 1, _mm256_add_epi64(_mm256_loadu_si256(a + 1), brier));
      _mm256_storeu_si256(a + 2, _mm256_add_epi64(_mm256_loadu_si256(a + 2), brier_sq));
    }
  }
  for (int32_t k = 0; k < spec.num_lengths; ++k) {
    const int64_t* a = acc.data() + static_cast<size_t>(k) * 12;
    out[k].choice_grade += a[0] + a[1] + a[2] + a[3];
    out[k].brier += a[4] + a[5] + a[6] + a[7];
    out[k].brier_sq += a[8] + a[9] + a[10] + a[11];
  }
}

#endif  // MIRAGE_HAVE_AVX2_PATH

// sample_unit_choices (sampler.h) with the whole sets of four groups inside the unit on AVX2
// where the CPU has it (checked once), the rest (partial groups at the ends, whole groups
// that do not fill a set) by sample_unit_choices itself.
void sample_unit_choices_cpu(const SweepSpec& spec, const WorkUnit& unit, ItemTally* out) {
  if (spec.choices <= 0) return;
#if MIRAGE_HAVE_AVX2_PATH
  static const bool avx2 = cpu_has_avx2();
  const int64_t full_begin = (unit.item_begin + ITEMS_PER_GROUP - 1) / ITEMS_PER_GROUP;
  const int64_t full_end = unit.item_end / ITEMS_PER_GROUP;
  const int64_t sets = full_end > full_begin ? (full_end - full_begin) / 4 : 0;
  if (avx2 && sets > 0) {
    sample_choice_sets_avx2(spec, unit, full_begin, sets, out);
    WorkUnit head = unit;
    head.item_end = full_begin * ITEMS_PER_GROUP;
    if (head.item_end > head.item_begin) sample_unit_choices(spec, head, out);
    WorkUnit tail = unit;
    tail.item_begin = (full_begin + 4 * sets) * ITEMS_PER_GROUP;
    if (tail.item_end > tail.item_begin) sample_unit_choices(spec, tail, out);
    return;
  }
#endif
  sample_unit_choices(spec, unit, out);
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int32_t threads) : threads_(threads > 0 ? threads : omp_get_max_threads()) {}

  std::string name() const override { return "cpu"; }

  std::string devices() const override {
    std::ostringstream out;
    out << "OpenMP, " << threads_ << (threads_ == 1 ? " thread" : " threads") << ", ";
    // Attempts and sampling until success have their own (portable) paths, whatever kernel
    // single attempts would use; once such a sweep has been sampled, say which ran.
    if (path_.empty()) {
      out << cpu_kernel_name(CpuKernel::automatic) << " kernel";
    } else {
      out << path_;
    }
    return out.str();
  }

  void sample(const UnitGrid& grid, const int64_t* unit_ids, int64_t count,
              int64_t* segment_tallies, const ProgressFn& progress) override {
    const SweepSpec& spec = grid.spec;
    const int tallies = num_item_tallies(spec);
    const int bins = attempt_bins(spec);
    if (spec.attempts < 1 || spec.attempts > MAX_ATTEMPTS ||
        (bins > 0 && (spec.choices != 0 || spec.num_lengths > MAX_ATTEMPT_LENGTHS))) {
      throw std::invalid_argument(
          "cpu backend: attempts must be 1 to " + std::to_string(MAX_ATTEMPTS) +
          ", and more than one needs a free-form sweep of at most " +
          std::to_string(MAX_ATTEMPT_LENGTHS) + " target lengths");
    }
    if (spec.budget < 0 || spec.budget > MAX_BUDGET ||
        (spec.budget > 0 && (bins > 0 || spec.choices != 0 ||
                             spec.num_lengths > MAX_ATTEMPT_LENGTHS))) {
      throw std::invalid_argument(
          "cpu backend: the budget of sampling until success must be 0 to " +
          std::to_string(MAX_BUDGET) + ", and a budget needs one attempt and a free-form sweep "
          "of at most " + std::to_string(MAX_ATTEMPT_LENGTHS) + " target lengths");
    }
    path_ = spec.budget > 0 ? "portable until-success path"
            : bins > 0      ? "portable attempts kernel"
                            : "";
#pragma omp parallel num_threads(threads_)
    {
      std::vector<ItemTally> per_length(static_cast<size_t>(spec.num_lengths));
      std::vector<int64_t> histogram(static_cast<size_t>(spec.num_lengths) * size_t(bins));
      std::vector<int64_t> until(static_cast<size_t>(spec.num_lengths) * NUM_UNTIL_TALLIES);
      // Adds a unit's value of one tally at length index k into the shared segment tallies.
      auto add = [&](int tally, const WorkUnit& unit, int32_t k, int64_t value) {
        int64_t& cell = segment_tallies[tally_array_index(spec, tally, unit.scale, k,
                                                          unit.segment, unit.replicate)];
#pragma omp atomic
        cell += value;
      };
      // Dynamic scheduling: units differ in size (segments of nested test sets).
#pragma omp for schedule(dynamic, 1)
      for (int64_t u = 0; u < count; ++u) {
        const WorkUnit unit = unit_at(grid, unit_ids[u]);
        for (ItemTally& t : per_length) t = ItemTally{};
        if (spec.budget > 0) {
          // Sampling until success (docs/DESIGN.md §3.6): the reference sampler itself, one
          // group of four items at a time, attempt after attempt; attempt 0 gives the item
          // tallies from the same draws.
          std::fill(until.begin(), until.end(), int64_t{0});
          sample_unit_until_reference(spec, unit, per_length.data(), until.data());
          for (int32_t k = 0; k < spec.num_lengths; ++k) {
            for (int which = 0; which < NUM_UNTIL_TALLIES; ++which) {
              const int64_t value = until[size_t(k) * NUM_UNTIL_TALLIES + which];
              if (value != 0) add(until_tally(spec, which), unit, k, value);
            }
          }
        } else if (bins > 0) {
          // Repeated attempts (docs/DESIGN.md §3.5): the portable attempts kernel, whatever
          // --cpu-kernel says (the vector kernels keep no per-item counts across attempts);
          // it gives attempt 0's item tallies from the same draws.
          std::fill(histogram.begin(), histogram.end(), int64_t{0});
          sample_unit_attempts_cpu(spec, unit, per_length.data(), histogram.data());
          for (int32_t k = 0; k < spec.num_lengths; ++k) {
            for (int32_t c = 0; c < bins; ++c) {
              const int64_t value = histogram[size_t(k) * bins + c];
              if (value != 0) add(attempt_tally(spec, c), unit, k, value);
            }
          }
        } else {
          sample_unit_cpu(spec, unit, per_length.data());
          sample_unit_choices_cpu(spec, unit, per_length.data());
        }
        for (int32_t k = 0; k < spec.num_lengths; ++k) {
          for (int tally = 0; tally < tallies; ++tally) {
            add(tally, unit, k, per_length[k].value(tally));
          }
        }
        if (progress) progress(unit_draws(spec, unit));
      }
    }
  }

 private:
  int32_t threads_;
  std::string path_;  //!< the special path the last sweep took (empty: the kernels)
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int32_t threads) {
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace mirage
