// Copyright (c) Mirage developers.
//! \file sampler.h
//! The per-item sampler shared by every backend: it walks the tokens of one group of four
//! items, counts correct tokens per item in registers, and hands the per-item counts k to a
//! visitor at each target length (lengths are nested: the item at length L is its tokens
//! 0..L-1). Integer-only: the single per-token decision is `u < threshold`.
#pragma once

#include <cstdint>

#include "mirage/macros.h"
#include "mirage/model.h"
#include "mirage/stream.h"
#include "mirage/sweep.h"

namespace mirage {

//! One item's contribution to the three tallies at length L with k correct tokens.
struct ItemTally {
  int64_t exact_match = 0;
  int64_t token_errors = 0;
  int64_t token_errors_sq = 0;

  MIRAGE_HD void add(int32_t length, uint32_t correct) {
    const int64_t errors = length - static_cast<int64_t>(correct);
    exact_match += errors == 0 ? 1 : 0;
    token_errors += errors;
    token_errors_sq += errors * errors;
  }
  MIRAGE_HD void add(const ItemTally& other) {
    exact_match += other.exact_match;
    token_errors += other.token_errors;
    token_errors_sq += other.token_errors_sq;
  }
};

//! Adds one unit's per-length tallies (per_length[0..K)) into a [NUM_TALLIES][S][K][T][R]
//! array of segment tallies (tally_array_index). Plain adds: callers that share the array
//! between threads make them atomic or keep per-thread arrays.
MIRAGE_HD inline void add_unit_tallies(const SweepSpec& spec, const WorkUnit& unit,
                                       const ItemTally* per_length, int64_t* segment_tallies) {
  for (int32_t k = 0; k < spec.num_lengths; ++k) {
    segment_tallies[tally_array_index(spec, TALLY_EXACT_MATCH, unit.scale, k, unit.segment,
                                      unit.replicate)] += per_length[k].exact_match;
    segment_tallies[tally_array_index(spec, TALLY_TOKEN_ERRORS, unit.scale, k, unit.segment,
                                      unit.replicate)] += per_length[k].token_errors;
    segment_tallies[tally_array_index(spec, TALLY_TOKEN_ERRORS_SQ, unit.scale, k, unit.segment,
                                      unit.replicate)] += per_length[k].token_errors_sq;
  }
}

//! The difficulty bin of an item whose difficulty-stream word is u: floor(u * B / 2^32), in
//! [0, B). Integer-only, so every backend bins identically.
MIRAGE_HD inline uint32_t difficulty_bin(uint32_t u, uint32_t bins) {
  return static_cast<uint32_t>((static_cast<uint64_t>(u) * bins) >> 32);
}

//! Difficulty bins of items 4*group..4*group+3 of replicate r: one Philox call of the
//! difficulty stream (token index 0, scale 0: an item's difficulty does not depend on the
//! scale), word w for item 4*group+w. Precondition: spec.num_bins > 0.
MIRAGE_HD inline void group_bins(const SweepSpec& spec, uint32_t replicate, uint32_t group,
                                 uint32_t* bins) {
  const PhiloxCounter x = philox4x32_10(philox_counter(group, 0u, STREAM_DIFFICULTY, 0u, replicate),
                                        philox_key(spec.seed));
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    bins[w] = difficulty_bin(x.v[w], static_cast<uint32_t>(spec.num_bins));
  }
}

//! Token thresholds of items 4*group..4*group+3 at scale s: threshold[s] for all four without
//! difficulty, else each item's (scale, bin) threshold.
MIRAGE_HD inline void group_thresholds(const SweepSpec& spec, uint32_t replicate, uint32_t scale,
                                       uint32_t group, uint64_t* thresholds) {
  if (spec.num_bins == 0) {
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) thresholds[w] = spec.threshold[scale];
    return;
  }
  uint32_t bins[ITEMS_PER_GROUP];
  group_bins(spec, replicate, group, bins);
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    thresholds[w] = spec.bin_threshold[int64_t{scale} * spec.num_bins + bins[w]];
  }
}

//! Samples tokens 0..max_length-1 of items 4*group..4*group+3 of replicate r at scale s, item
//! 4*group+w being correct on a token iff its uniform < thresholds[w], and calls
//! `visit(length_index, length, k)` after token length[length_index]-1 for every length,
//! where k[w] is the number of correct tokens of item 4*group+w among the first `length`.
//! `lengths` must be strictly increasing and >= 1.
template <class Visitor>
MIRAGE_HD inline void sample_group(uint64_t seed, uint32_t replicate, uint32_t scale,
                                   uint32_t group, const uint64_t* thresholds,
                                   const int32_t* lengths, int32_t num_lengths, Visitor&& visit) {
  const PhiloxKey key = philox_key(seed);
  uint32_t k[ITEMS_PER_GROUP] = {0u, 0u, 0u, 0u};
  int32_t next = 0;
  const int32_t last = lengths[num_lengths - 1];
  for (int32_t j = 0; j < last; ++j) {
    const PhiloxCounter x = philox4x32_10(
        philox_counter(group, static_cast<uint32_t>(j), STREAM_TOKEN, scale, replicate), key);
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) k[w] += token_correct(x.v[w], thresholds[w]);
    if (j + 1 == lengths[next]) {
      visit(next, lengths[next], k);
      ++next;
    }
  }
}

//! sample_group with one threshold for all four items (no item difficulty).
template <class Visitor>
MIRAGE_HD inline void sample_group(uint64_t seed, uint32_t replicate, uint32_t scale,
                                   uint32_t group, uint64_t threshold, const int32_t* lengths,
                                   int32_t num_lengths, Visitor&& visit) {
  const uint64_t thresholds[ITEMS_PER_GROUP] = {threshold, threshold, threshold, threshold};
  sample_group(seed, replicate, scale, group, thresholds, lengths, num_lengths, visit);
}

//! Adds the unit's items per difficulty bin into counts[0..B) (whatever the unit's scale).
MIRAGE_HD inline void count_unit_bins(const SweepSpec& spec, const WorkUnit& unit,
                                      int64_t* counts) {
  const int64_t first_group = unit.item_begin / ITEMS_PER_GROUP;
  const int64_t end_group = (unit.item_end + ITEMS_PER_GROUP - 1) / ITEMS_PER_GROUP;
  for (int64_t g = first_group; g < end_group; ++g) {
    uint32_t bins[ITEMS_PER_GROUP];
    group_bins(spec, static_cast<uint32_t>(unit.replicate), static_cast<uint32_t>(g), bins);
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
      const int64_t item = g * ITEMS_PER_GROUP + w;
      if (item >= unit.item_begin && item < unit.item_end) ++counts[bins[w]];
    }
  }
}

//! Adds the difficulty-bin counts of the unit's items into a segment-tally array. Only units
//! of scale 0 count (an item's bin does not depend on the scale, and each item must be
//! counted once per replicate). No-op without difficulty bins. Not atomic.
MIRAGE_HD inline void add_unit_bin_counts(const SweepSpec& spec, const WorkUnit& unit,
                                          int64_t* segment_tallies) {
  if (spec.num_bins == 0 || unit.scale != 0) return;
  count_unit_bins(spec, unit,
                  segment_tallies + bin_count_index(spec, unit.segment, unit.replicate, 0u));
}

//! Reference sampler for one work unit: adds the unit's tallies, one ItemTally per length, to
//! `out[0..num_lengths)`. Items of a partial group outside [item_begin, item_end) are not
//! counted (the neighbouring unit counts them). Backends may sample faster, but must agree
//! with this bit for bit.
MIRAGE_HD inline void sample_unit_reference(const SweepSpec& spec, const WorkUnit& unit,
                                            ItemTally* out) {
  const int64_t first_group = unit.item_begin / ITEMS_PER_GROUP;
  const int64_t end_group = (unit.item_end + ITEMS_PER_GROUP - 1) / ITEMS_PER_GROUP;
  for (int64_t g = first_group; g < end_group; ++g) {
    const int64_t item0 = g * ITEMS_PER_GROUP;
    uint64_t thresholds[ITEMS_PER_GROUP];
    group_thresholds(spec, static_cast<uint32_t>(unit.replicate), static_cast<uint32_t>(unit.scale),
                     static_cast<uint32_t>(g), thresholds);
    sample_group(spec.seed, static_cast<uint32_t>(unit.replicate),
                 static_cast<uint32_t>(unit.scale), static_cast<uint32_t>(g), thresholds,
                 spec.length, spec.num_lengths,
                 [&](int32_t index, int32_t length, const uint32_t* k) {
                   for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
                     const int64_t item = item0 + w;
                     if (item >= unit.item_begin && item < unit.item_end)
                       out[index].add(length, k[w]);
                   }
                 });
  }
}

}  // namespace mirage
