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

//! Samples tokens 0..max_length-1 of items 4*group..4*group+3 of replicate r at scale s and
//! calls `visit(length_index, length, k)` after token length[length_index]-1 for every length,
//! where k[w] is the number of correct tokens of item 4*group+w among the first `length`.
//! `lengths` must be strictly increasing and >= 1.
template <class Visitor>
MIRAGE_HD inline void sample_group(uint64_t seed, uint32_t replicate, uint32_t scale,
                                   uint32_t group, uint64_t threshold, const int32_t* lengths,
                                   int32_t num_lengths, Visitor&& visit) {
  const PhiloxKey key = philox_key(seed);
  uint32_t k[ITEMS_PER_GROUP] = {0u, 0u, 0u, 0u};
  int32_t next = 0;
  const int32_t last = lengths[num_lengths - 1];
  for (int32_t j = 0; j < last; ++j) {
    const PhiloxCounter x = philox4x32_10(
        philox_counter(group, static_cast<uint32_t>(j), STREAM_TOKEN, scale, replicate), key);
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) k[w] += token_correct(x.v[w], threshold);
    if (j + 1 == lengths[next]) {
      visit(next, lengths[next], k);
      ++next;
    }
  }
}

//! Reference sampler for one work unit: adds the unit's tallies, one ItemTally per length, to
//! `out[0..num_lengths)`. Items of a partial group outside [item_begin, item_end) are not
//! counted (the neighbouring unit counts them). Backends may sample faster, but must agree
//! with this bit for bit.
MIRAGE_HD inline void sample_unit_reference(const SweepSpec& spec, const WorkUnit& unit,
                                            ItemTally* out) {
  const uint64_t threshold = spec.threshold[unit.scale];
  const int64_t first_group = unit.item_begin / ITEMS_PER_GROUP;
  const int64_t end_group = (unit.item_end + ITEMS_PER_GROUP - 1) / ITEMS_PER_GROUP;
  for (int64_t g = first_group; g < end_group; ++g) {
    const int64_t item0 = g * ITEMS_PER_GROUP;
    sample_group(spec.seed, static_cast<uint32_t>(unit.replicate),
                 static_cast<uint32_t>(unit.scale), static_cast<uint32_t>(g), threshold,
                 spec.length, spec.num_lengths,
                 [&](int32_t index, int32_t length, const uint32_t* k) {
                   for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
                     const int64_t item = item0 + w;
                     if (item >= unit.item_begin && item < unit.item_end) out[index].add(length, k[w]);
                   }
                 });
  }
}

}  // namespace mirage
