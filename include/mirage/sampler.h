// Copyright (c) Mirage developers.
//! \file sampler.h
//! The per-item sampler shared by every backend: it walks the tokens of one group of four
//! items, counts correct tokens per item in registers, and hands the per-item counts k to a
//! visitor at each target length (lengths are nested: the item at length L is its tokens
//! 0..L-1). Integer-only: the single per-token decision is `u < threshold`. The per-item
//! thresholds and, for multiple choice, the per-item option masses come from item_model.h.
#pragma once

#include <cstdint>

#include "mirage/item_model.h"
#include "mirage/macros.h"
#include "mirage/model.h"
#include "mirage/stream.h"
#include "mirage/sweep.h"

namespace mirage {

//! One item's (or many items') contribution at one length: the three token tallies and, for
//! multiple choice, the three choice tallies (sweep.h).
struct ItemTally {
  int64_t exact_match = 0;
  int64_t token_errors = 0;
  int64_t token_errors_sq = 0;
  int64_t choice_grade = 0;
  int64_t brier = 0;     //!< in BRIER_UNIT
  int64_t brier_sq = 0;  //!< in BRIER_UNIT

  MIRAGE_HD void add(int32_t length, uint32_t correct) {
    const int64_t errors = length - static_cast<int64_t>(correct);
    exact_match += errors == 0 ? 1 : 0;
    token_errors += errors;
    token_errors_sq += errors * errors;
  }
  MIRAGE_HD void add_choice(const ChoiceOutcome& outcome) {
    choice_grade += outcome.grade;
    brier += outcome.brier;
    brier_sq += outcome.brier_sq;
  }
  MIRAGE_HD void add(const ItemTally& other) {
    exact_match += other.exact_match;
    token_errors += other.token_errors;
    token_errors_sq += other.token_errors_sq;
    choice_grade += other.choice_grade;
    brier += other.brier;
    brier_sq += other.brier_sq;
  }
  //! The value of tally `tally` (a Tally enumerator).
  MIRAGE_HD int64_t value(int tally) const {
    switch (tally) {
      case TALLY_EXACT_MATCH:
        return exact_match;
      case TALLY_TOKEN_ERRORS:
        return token_errors;
      case TALLY_TOKEN_ERRORS_SQ:
        return token_errors_sq;
      case TALLY_CHOICE_GRADE:
        return choice_grade;
      case TALLY_BRIER:
        return brier;
      default:
        return brier_sq;
    }
  }
};

//! Adds one unit's per-length item tallies (per_length[0..K)) into a
//! [num_tallies][S][K][T][R] array of segment tallies (tally_array_index). Plain adds: callers
//! that share the array between threads make them atomic or keep per-thread arrays.
MIRAGE_HD inline void add_unit_tallies(const SweepSpec& spec, const WorkUnit& unit,
                                       const ItemTally* per_length, int64_t* segment_tallies) {
  const int tallies = num_item_tallies(spec);
  for (int32_t k = 0; k < spec.num_lengths; ++k) {
    for (int tally = 0; tally < tallies; ++tally) {
      segment_tallies[tally_array_index(spec, tally, unit.scale, k, unit.segment,
                                        unit.replicate)] += per_length[k].value(tally);
    }
  }
}

//! Token thresholds of items 4*group..4*group+3 of replicate r at scale s: threshold[s] for
//! all four without difficulty, else each item's own (item_model.h).
MIRAGE_HD inline void group_thresholds(const SweepSpec& spec, uint32_t replicate, uint32_t scale,
                                       uint32_t group, uint64_t* thresholds) {
  uint64_t t[ITEMS_PER_GROUP];
  group_item_model(spec, replicate, scale, group, t, nullptr);
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) thresholds[w] = t[w];
}

//! Samples tokens 0..max_length-1 of attempt `attempt` of items 4*group..4*group+3 of
//! replicate r at scale s (attempt_token_word: attempt 0 is the token stream), item 4*group+w
//! being correct on a token iff its uniform < thresholds[w], and calls
//! `visit(length_index, length, k)` after token length[length_index]-1 for every length,
//! where k[w] is the number of correct tokens of item 4*group+w among the first `length`.
//! `lengths` must be strictly increasing and >= 1 (and <= MAX_LENGTH for attempt > 0).
template <class Visitor>
MIRAGE_HD inline void sample_group_attempt(uint64_t seed, uint32_t replicate, uint32_t scale,
                                           uint32_t group, uint32_t attempt,
                                           const uint64_t* thresholds, const int32_t* lengths,
                                           int32_t num_lengths, Visitor&& visit) {
  const PhiloxKey key = philox_key(seed);
  uint32_t k[ITEMS_PER_GROUP] = {0u, 0u, 0u, 0u};
  int32_t next = 0;
  const int32_t last = lengths[num_lengths - 1];
  PhiloxCounter ctr = philox_counter(group, 0u, STREAM_TOKEN, scale, replicate);
  for (int32_t j = 0; j < last; ++j) {
    ctr.v[1] = attempt_token_word(static_cast<uint32_t>(j), attempt);
    const PhiloxCounter x = philox4x32_10(ctr, key);
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) k[w] += token_correct(x.v[w], thresholds[w]);
    if (j + 1 == lengths[next]) {
      visit(next, lengths[next], k);
      ++next;
    }
  }
}

//! sample_group_attempt of attempt 0: the token stream of docs/DESIGN.md §2.2.
template <class Visitor>
MIRAGE_HD inline void sample_group(uint64_t seed, uint32_t replicate, uint32_t scale,
                                   uint32_t group, const uint64_t* thresholds,
                                   const int32_t* lengths, int32_t num_lengths, Visitor&& visit) {
  sample_group_attempt(seed, replicate, scale, group, 0u, thresholds, lengths, num_lengths, visit);
}

//! sample_group with one threshold for all four items (no item difficulty).
template <class Visitor>
MIRAGE_HD inline void sample_group(uint64_t seed, uint32_t replicate, uint32_t scale,
                                   uint32_t group, uint64_t threshold, const int32_t* lengths,
                                   int32_t num_lengths, Visitor&& visit) {
  const uint64_t thresholds[ITEMS_PER_GROUP] = {threshold, threshold, threshold, threshold};
  sample_group(seed, replicate, scale, group, thresholds, lengths, num_lengths, visit);
}

//! Adds the multiple-choice tallies of the unit's items (choice_outcome of every item at
//! every length) to out[0..num_lengths). No-op for a free-form sweep (spec.choices == 0).
//! Items of a partial group outside [item_begin, item_end) are not counted.
MIRAGE_HD inline void sample_unit_choices(const SweepSpec& spec, const WorkUnit& unit,
                                          ItemTally* out) {
  if (spec.choices <= 0) return;
  const int64_t first_group = unit.item_begin / ITEMS_PER_GROUP;
  const int64_t end_group = (unit.item_end + ITEMS_PER_GROUP - 1) / ITEMS_PER_GROUP;
  const uint32_t replicate = static_cast<uint32_t>(unit.replicate);
  for (int64_t g = first_group; g < end_group; ++g) {
    const int64_t item0 = g * ITEMS_PER_GROUP;
    uint64_t thresholds[ITEMS_PER_GROUP];
    double log_p[ITEMS_PER_GROUP];
    group_item_model(spec, replicate, static_cast<uint32_t>(unit.scale), static_cast<uint32_t>(g),
                     thresholds, log_p);
    ChoiceSplit split[ITEMS_PER_GROUP];
    group_choice_splits(spec.seed, replicate, static_cast<uint32_t>(g), spec.choices, split);
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
      const int64_t item = item0 + w;
      if (item < unit.item_begin || item >= unit.item_end) continue;
      for (int32_t k = 0; k < spec.num_lengths; ++k) {
        out[k].add_choice(choice_outcome(log_p[w], spec.length[k], split[w]));
      }
    }
  }
}

//! Reference sampler for the token tallies of one work unit: adds them, one ItemTally per
//! length, to `out[0..num_lengths)`. Items of a partial group outside [item_begin, item_end)
//! are not counted (the neighbouring unit counts them). Backends may sample faster, but must
//! agree with this bit for bit.
MIRAGE_HD inline void sample_unit_tokens_reference(const SweepSpec& spec, const WorkUnit& unit,
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

//! Samples attempts 0..spec.attempts-1 of the four items of group `group` with their
//! `thresholds` (an item's difficulty, hence its threshold, is the same for all its attempts)
//! and writes successes[k * ITEMS_PER_GROUP + w] = the number of attempts in which item
//! 4*group+w has all of its first length[k] tokens correct (k < num_lengths <=
//! MAX_ATTEMPT_LENGTHS). With `first` non-null, also calls first(length_index, length, k)
//! with attempt 0's counts (as sample_group does), so a caller gets the item tallies of the
//! same draws.
template <class Visitor>
MIRAGE_HD inline void sample_group_attempts(const SweepSpec& spec, uint32_t replicate,
                                            uint32_t scale, uint32_t group,
                                            const uint64_t* thresholds, uint16_t* successes,
                                            Visitor&& first) {
  const int32_t K = spec.num_lengths;
  for (int32_t i = 0; i < K * ITEMS_PER_GROUP; ++i) successes[i] = 0;
  for (int32_t a = 0; a < spec.attempts; ++a) {
    sample_group_attempt(spec.seed, replicate, scale, group, static_cast<uint32_t>(a), thresholds,
                         spec.length, K, [&](int32_t index, int32_t length, const uint32_t* k) {
                           for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
                             successes[index * ITEMS_PER_GROUP + w] +=
                                 k[w] == static_cast<uint32_t>(length) ? 1 : 0;
                           }
                           if (a == 0) first(index, length, k);
                         });
  }
}

//! inside[w]: whether item ITEMS_PER_GROUP * group + w lies in [item_begin, item_end) (the
//! items of a partial group at a unit's or tile's ends that are not counted).
MIRAGE_HD inline void group_items_inside(int64_t group, int64_t item_begin, int64_t item_end,
                                         bool* inside) {
  const int64_t item0 = group * ITEMS_PER_GROUP;
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    inside[w] = item0 + w >= item_begin && item0 + w < item_end;
  }
}

//! Reference sampler of a sweep with attempts > 1, for one work unit: adds the item tallies of
//! attempt 0 to out[0..num_lengths) (exactly what sample_unit_tokens_reference adds) and the
//! histogram of correct attempts to histogram[k * (attempts + 1) + c] (items of the unit with
//! c of their attempts exactly right at length index k). Items of a partial group outside
//! [item_begin, item_end) are not counted.
MIRAGE_HD inline void sample_unit_attempts_reference(const SweepSpec& spec, const WorkUnit& unit,
                                                     ItemTally* out, int64_t* histogram) {
  const int64_t first_group = unit.item_begin / ITEMS_PER_GROUP;
  const int64_t end_group = (unit.item_end + ITEMS_PER_GROUP - 1) / ITEMS_PER_GROUP;
  const int32_t bins = spec.attempts + 1;
  uint16_t successes[MAX_ATTEMPT_LENGTHS * ITEMS_PER_GROUP];
  for (int64_t g = first_group; g < end_group; ++g) {
    uint64_t thresholds[ITEMS_PER_GROUP];
    group_thresholds(spec, static_cast<uint32_t>(unit.replicate), static_cast<uint32_t>(unit.scale),
                     static_cast<uint32_t>(g), thresholds);
    bool inside[ITEMS_PER_GROUP];
    group_items_inside(g, unit.item_begin, unit.item_end, inside);
    sample_group_attempts(spec, static_cast<uint32_t>(unit.replicate),
                          static_cast<uint32_t>(unit.scale), static_cast<uint32_t>(g), thresholds,
                          successes, [&](int32_t index, int32_t length, const uint32_t* k) {
                            for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
                              if (inside[w]) out[index].add(length, k[w]);
                            }
                          });
    for (int32_t k = 0; k < spec.num_lengths; ++k) {
      for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
        if (inside[w]) ++histogram[k * bins + successes[k * ITEMS_PER_GROUP + w]];
      }
    }
  }
}

//! Sampling until success (spec.budget = B > 0, docs/DESIGN.md §3.6) of the four items of group
//! `group` with their `thresholds`: walks attempts a = 0, 1, ... (attempt_token_word, the draws
//! of --attempts) of all tokens 0..max_length-1 and writes used[k * ITEMS_PER_GROUP + w] = t,
//! the attempts item 4*group+w used at length index k: the first attempt whose first length[k]
//! tokens are all correct is attempt t - 1 (solved[..] = 1), or t = B if none of the B attempts
//! is (solved[..] = 0). The walk stops after the attempt that solves the last item at the
//! longest length among those with live[w] (items of a partial group outside the unit are not
//! live and never keep it going; their values are not meaningful). `first` is called with
//! attempt 0's counts as sample_group_attempts does.
template <class Visitor>
MIRAGE_HD inline void sample_group_until(const SweepSpec& spec, uint32_t replicate, uint32_t scale,
                                         uint32_t group, const uint64_t* thresholds,
                                         const bool* live, uint16_t* used, uint8_t* solved,
                                         Visitor&& first) {
  const int32_t K = spec.num_lengths;
  for (int32_t i = 0; i < K * ITEMS_PER_GROUP; ++i) {
    used[i] = static_cast<uint16_t>(spec.budget);
    solved[i] = 0;
  }
  int remaining = 0;  // live items not yet solved at the longest length
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) remaining += live[w] ? 1 : 0;
  for (int32_t a = 0; a < spec.budget && remaining > 0; ++a) {
    sample_group_attempt(spec.seed, replicate, scale, group, static_cast<uint32_t>(a), thresholds,
                         spec.length, K, [&](int32_t index, int32_t length, const uint32_t* k) {
                           for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
                             const int32_t cell = index * ITEMS_PER_GROUP + w;
                             if (solved[cell] == 0 && k[w] == static_cast<uint32_t>(length)) {
                               solved[cell] = 1;
                               used[cell] = static_cast<uint16_t>(a + 1);
                               if (index == K - 1 && live[w]) --remaining;
                             }
                           }
                           if (a == 0) first(index, length, k);
                         });
  }
}

//! Reference sampler of a sweep with a budget (sampling until success), for one work unit: adds
//! the item tallies of attempt 0 to out[0..num_lengths) (exactly what
//! sample_unit_tokens_reference adds) and, per length index k, the NUM_UNTIL_TALLIES sums
//! (UntilTally) of the unit's items to until[k * NUM_UNTIL_TALLIES + which]. Items of a
//! partial group outside [item_begin, item_end) are not counted. Returns the token draws the
//! unit used: max_length x the attempts of its items at the longest length (every attempt
//! before an item's last draws all max_length tokens).
MIRAGE_HD inline int64_t sample_unit_until_reference(const SweepSpec& spec, const WorkUnit& unit,
                                                     ItemTally* out, int64_t* until) {
  const int64_t first_group = unit.item_begin / ITEMS_PER_GROUP;
  const int64_t end_group = (unit.item_end + ITEMS_PER_GROUP - 1) / ITEMS_PER_GROUP;
  uint16_t used[MAX_ATTEMPT_LENGTHS * ITEMS_PER_GROUP];
  uint8_t solved[MAX_ATTEMPT_LENGTHS * ITEMS_PER_GROUP];
  int64_t attempts_at_longest = 0;
  for (int64_t g = first_group; g < end_group; ++g) {
    uint64_t thresholds[ITEMS_PER_GROUP];
    group_thresholds(spec, static_cast<uint32_t>(unit.replicate), static_cast<uint32_t>(unit.scale),
                     static_cast<uint32_t>(g), thresholds);
    bool inside[ITEMS_PER_GROUP];
    group_items_inside(g, unit.item_begin, unit.item_end, inside);
    sample_group_until(spec, static_cast<uint32_t>(unit.replicate),
                       static_cast<uint32_t>(unit.scale), static_cast<uint32_t>(g), thresholds,
                       inside, used, solved, [&](int32_t index, int32_t length, const uint32_t* k) {
                         for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
                           if (inside[w]) out[index].add(length, k[w]);
                         }
                       });
    for (int32_t k = 0; k < spec.num_lengths; ++k) {
      for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
        if (!inside[w]) continue;
        const int64_t t = used[k * ITEMS_PER_GROUP + w];
        const int64_t y = solved[k * ITEMS_PER_GROUP + w];
        int64_t* cell = until + k * NUM_UNTIL_TALLIES;
        cell[UNTIL_SOLVED] += y;
        cell[UNTIL_ATTEMPTS] += t;
        cell[UNTIL_ATTEMPTS_SQ] += t * t;
        cell[UNTIL_SOLVED_ATTEMPTS] += y * t;
        if (k == spec.num_lengths - 1) attempts_at_longest += t;
      }
    }
  }
  return attempts_at_longest * max_length(spec);
}

//! Reference sampler for one work unit: every tally of the sweep (tokens and, for multiple
//! choice, the options), one ItemTally per length, added to `out[0..num_lengths)`.
MIRAGE_HD inline void sample_unit_reference(const SweepSpec& spec, const WorkUnit& unit,
                                            ItemTally* out) {
  sample_unit_tokens_reference(spec, unit, out);
  sample_unit_choices(spec, unit, out);
}

}  // namespace mirage
