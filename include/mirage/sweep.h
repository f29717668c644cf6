// Copyright (c) Mirage developers.
//! \file sweep.h
//! The plain-data description of a sweep that every backend consumes, the layout of the
//! tally arrays (docs/DESIGN.md §3) and the fixed decomposition of the index space into
//! work units.
//!
//! Tallies are kept per *segment* while sampling: segment t holds items
//! [test_size[t-1], test_size[t]) (test_size[-1] = 0). Because test sets are nested, the
//! tally of the test set of size test_size[t] is the sum of segments 0..t; the host takes
//! that prefix sum once at the end. All tallies are int64 sums, so the result is the same
//! for any order in which work units are added: threads, devices, ranks and shards cannot
//! change a single bit.
#pragma once

#include <cstdint>

#include "mirage/macros.h"
#include "mirage/stream.h"

namespace mirage {

//! The tallies kept per (scale, length, segment or test size, replicate). The first
//! NUM_TALLIES come from the token draws and exist in every sweep; a multiple-choice sweep
//! (SweepSpec::choices > 0) also keeps the NUM_CHOICE_TALLIES of its sampled options.
enum Tally : int {
  TALLY_EXACT_MATCH = 0,      //!< items with every token of the first L correct
  TALLY_TOKEN_ERRORS = 1,     //!< sum over items of (L - k)
  TALLY_TOKEN_ERRORS_SQ = 2,  //!< sum over items of (L - k)^2
  NUM_TALLIES = 3,
  TALLY_CHOICE_GRADE = 3,  //!< items whose correct option has the highest mass
  TALLY_BRIER = 4,         //!< sum over items of the Brier score in units of BRIER_UNIT
  TALLY_BRIER_SQ = 5,      //!< sum over items of the squared Brier score, in BRIER_UNIT
  NUM_CHOICE_TALLIES = 3,
  MAX_TALLIES = 6,
};

//! Per-item Brier scores b (0 <= b <= 2) and their squares b^2 (<= 4) are rounded to the
//! nearest multiple of BRIER_UNIT = 2^-26 before they are summed, so that the sums are exact
//! integers whatever the order of addition (threads, devices, ranks): round(b * 2^26) <= 2^27
//! and round(b^2 * 2^26) <= 2^28, so 2^34 items (MAX_ITEMS) sum to at most 2^62. The rounding
//! moves an item's score by at most 2^-27 = 7.5e-9.
constexpr double BRIER_UNIT = 1.0 / 67108864.0;  // 2^-26
//! 1 / BRIER_UNIT.
constexpr double BRIER_SCALE = 67108864.0;  // 2^26

//! Largest number of options of a multiple-choice item.
constexpr int32_t MAX_CHOICES = 64;

//! Largest target length accepted: keeps n * L^2 inside int64 for n <= MAX_ITEMS.
constexpr int32_t MAX_LENGTH = 4096;

//! Largest number of attempts per item (--attempts): the histogram of correct attempts has
//! A + 1 int64 bins per cell, so memory grows with A (the counter layout would allow 4096).
constexpr int32_t MAX_ATTEMPTS = 1024;
//! Largest budget of sampling until success (--until-success --budget B): B <= 2^14 keeps the
//! sum over MAX_ITEMS = 2^34 items of their squared attempts (<= B^2 each) within 2^62, and
//! the attempt indices within the attempt streams 4..7 (stream.h).
constexpr int32_t MAX_BUDGET = 16384;
static_assert(MAX_BUDGET - 1 == static_cast<int32_t>(MAX_EXTENDED_ATTEMPT_INDEX),
              "the budget must fit the attempt streams");

//! The tallies of sampling until success, per cell, after the item tallies (until_tally):
//! t_i is the number of attempts item i used at length L (its first attempt with all L
//! tokens correct, or the budget B if none was), y_i = 1 if it succeeded within B.
enum UntilTally : int {
  UNTIL_SOLVED = 0,           //!< sum of y_i: items solved within the budget
  UNTIL_ATTEMPTS = 1,         //!< sum of t_i: attempts used, solved and censored items alike
  UNTIL_ATTEMPTS_SQ = 2,      //!< sum of t_i^2
  UNTIL_SOLVED_ATTEMPTS = 3,  //!< sum of y_i t_i: attempts used by the solved items
  NUM_UNTIL_TALLIES = 4,
};

//! Largest number of target lengths of a sweep with attempts > 1: the per-item counts of
//! correct attempts are kept per length in a fixed array (registers or local memory on the
//! device).
constexpr int32_t MAX_ATTEMPT_LENGTHS = 64;

//! Everything a backend needs to sample a sweep; host-owned arrays, borrowed.
struct SweepSpec {
  uint64_t seed = 0;
  int32_t num_scales = 0;               //!< S
  int32_t num_lengths = 0;              //!< K
  int32_t num_test_sizes = 0;           //!< T
  int32_t num_replicates = 0;           //!< R
  const uint64_t* threshold = nullptr;  //!< [S] token thresholds, see model.h
  const int32_t* length = nullptr;      //!< [K] strictly increasing target lengths >= 1
  const int64_t* test_size = nullptr;   //!< [T] strictly increasing nested test sizes >= 1
  //! Item difficulty (item_model.h): DIFFICULTY_NONE (every item uses threshold[s]) or a
  //! family whose per-item logit shift d_i, drawn from the reserved difficulty stream, makes
  //! item i's per-token probability sigmoid(scale_logit[s] + d_i). Parameters: normal sigma,
  //! logistic scale, Kumaraswamy (a, b).
  int32_t difficulty = 0;
  double difficulty_a = 0.0;
  double difficulty_b = 0.0;
  //! [S] logit(p_s) computed once on the host (+/-inf for p = 0 or 1); read with difficulty.
  const double* scale_logit = nullptr;
  //! Options per multiple-choice item (2..MAX_CHOICES), or 0 for a free-form task.
  int32_t choices = 0;
  //! [S] log(p_s) computed once on the host; read by multiple choice without difficulty.
  const double* scale_log_p = nullptr;
  //! Independent attempts per item (1..MAX_ATTEMPTS; free-form only). With A > 1 the sweep
  //! also keeps, per cell, the histogram of c, an item's number of attempts whose first L
  //! tokens are all correct (c = 0..A: A + 1 tallies after the item tallies); the item
  //! tallies come from attempt 0 alone, which is the token stream of a sweep with A = 1.
  int32_t attempts = 1;
  //! Sampling until success (docs/DESIGN.md §3.6): 0 = off; B = 1..MAX_BUDGET attempts item i
  //! until its first attempt with all L tokens correct, at most B (attempts must be 1; free-form
  //! only). The attempts are those of `attempts` (attempt_token_word); attempt 0 gives the item
  //! tallies as always, and the NUM_UNTIL_TALLIES tallies follow them.
  int32_t budget = 0;
};

//! Longest target length of the sweep.
MIRAGE_HD inline int32_t max_length(const SweepSpec& spec) {
  return spec.length[spec.num_lengths - 1];
}

//! Number of items sampled per (replicate, scale): the largest test size.
MIRAGE_HD inline int64_t max_test_size(const SweepSpec& spec) {
  return spec.test_size[spec.num_test_sizes - 1];
}

//! Number of cells of one tally array, S * K * T * R.
MIRAGE_HD inline int64_t tally_cells(const SweepSpec& spec) {
  return int64_t{spec.num_scales} * spec.num_lengths * spec.num_test_sizes * spec.num_replicates;
}

//! Flat index of cell [s][k][t][r] in a row-major S x K x T x R array (the HDF5 layout).
MIRAGE_HD inline int64_t tally_index(const SweepSpec& spec, int32_t scale, int32_t length_index,
                                     int32_t test_index, int32_t replicate) {
  return ((int64_t{scale} * spec.num_lengths + length_index) * spec.num_test_sizes + test_index) *
             spec.num_replicates +
         replicate;
}

//! Flat index of tally `tally` of cell [s][k][t][r] in an array laid out
//! [num_tallies(spec)][S][K][T][R] (tally-major), the layout every backend adds into.
MIRAGE_HD inline int64_t tally_array_index(const SweepSpec& spec, int tally, int32_t scale,
                                           int32_t length_index, int32_t test_index,
                                           int32_t replicate) {
  return tally * tally_cells(spec) + tally_index(spec, scale, length_index, test_index, replicate);
}

//! Per-item tallies the sweep keeps (the fields of ItemTally): NUM_TALLIES, plus
//! NUM_CHOICE_TALLIES for multiple choice.
MIRAGE_HD inline int num_item_tallies(const SweepSpec& spec) {
  return spec.choices > 0 ? NUM_TALLIES + NUM_CHOICE_TALLIES : NUM_TALLIES;
}

//! Bins of the histogram of correct attempts: A + 1 with attempts A > 1, else 0.
MIRAGE_HD inline int attempt_bins(const SweepSpec& spec) {
  return spec.attempts > 1 ? spec.attempts + 1 : 0;
}

//! Tallies of sampling until success: NUM_UNTIL_TALLIES with a budget, else 0.
MIRAGE_HD inline int until_tallies(const SweepSpec& spec) {
  return spec.budget > 0 ? NUM_UNTIL_TALLIES : 0;
}

//! Tallies the sweep keeps: the item tallies, then the attempt_bins histogram bins, then the
//! until_tallies.
MIRAGE_HD inline int num_tallies(const SweepSpec& spec) {
  return num_item_tallies(spec) + attempt_bins(spec) + until_tallies(spec);
}

//! The tally of sampling until success `which` (an UntilTally; spec.budget > 0).
MIRAGE_HD inline int until_tally(const SweepSpec& spec, int which) {
  return num_item_tallies(spec) + attempt_bins(spec) + which;
}

//! The tally that counts items with c correct attempts (0 <= c <= attempts, attempts > 1).
MIRAGE_HD inline int attempt_tally(const SweepSpec& spec, int32_t correct_attempts) {
  return num_item_tallies(spec) + correct_attempts;
}

//! Number of int64 in a segment-tally array: num_tallies(spec) arrays of S x K x T x R.
MIRAGE_HD inline int64_t segment_tally_size(const SweepSpec& spec) {
  return num_tallies(spec) * tally_cells(spec);
}

//! First item of segment t.
MIRAGE_HD inline int64_t segment_begin(const SweepSpec& spec, int32_t segment) {
  return segment == 0 ? 0 : spec.test_size[segment - 1];
}

//! One piece of the index space: items [item_begin, item_end) of one segment, for one
//! replicate and one scale, all tokens 0..max_length-1.
struct WorkUnit {
  int32_t replicate = 0;
  int32_t scale = 0;
  int32_t segment = 0;
  int64_t item_begin = 0;
  int64_t item_end = 0;
};

//! The fixed decomposition of a sweep into work units. Units are numbered
//! id = ((r * S + s) * chunks_per_replicate_scale + c), where chunk c runs over the chunks of
//! every segment in order; a chunk holds at most `items_per_unit` items and never crosses a
//! segment boundary. The numbering depends only on the spec and items_per_unit, so
//! checkpoints and shards can name units by id.
struct UnitGrid {
  SweepSpec spec;
  int64_t items_per_unit = 0;  //!< a multiple of ITEMS_PER_GROUP
  //! Optional [T + 1]: the first chunk of each segment within one (replicate, scale), and at
  //! [T] the chunks per (replicate, scale). With it unit_at() is O(log T) instead of O(T), which
  //! matters for sweeps of thousands of test sizes (host only; null means compute).
  const int64_t* chunk_start = nullptr;
};

//! Number of chunks that segment t splits into.
MIRAGE_HD inline int64_t segment_chunks(const UnitGrid& grid, int32_t segment) {
  const int64_t n = grid.spec.test_size[segment] - segment_begin(grid.spec, segment);
  return (n + grid.items_per_unit - 1) / grid.items_per_unit;
}

//! Number of chunks per (replicate, scale).
MIRAGE_HD inline int64_t chunks_per_replicate_scale(const UnitGrid& grid) {
  if (grid.chunk_start != nullptr) return grid.chunk_start[grid.spec.num_test_sizes];
  int64_t total = 0;
  for (int32_t t = 0; t < grid.spec.num_test_sizes; ++t) total += segment_chunks(grid, t);
  return total;
}

//! Total number of work units of the sweep.
MIRAGE_HD inline int64_t num_units(const UnitGrid& grid) {
  return int64_t{grid.spec.num_replicates} * grid.spec.num_scales *
         chunks_per_replicate_scale(grid);
}

//! The work unit with the given id (0 <= id < num_units(grid)).
MIRAGE_HD inline WorkUnit unit_at(const UnitGrid& grid, int64_t id) {
  const int64_t per_rs = chunks_per_replicate_scale(grid);
  const int64_t rs = id / per_rs;
  int64_t chunk = id % per_rs;
  WorkUnit unit;
  unit.replicate = static_cast<int32_t>(rs / grid.spec.num_scales);
  unit.scale = static_cast<int32_t>(rs % grid.spec.num_scales);
  if (grid.chunk_start != nullptr) {
    // The last segment whose first chunk is <= chunk.
    int32_t lo = 0, hi = grid.spec.num_test_sizes - 1;
    while (lo < hi) {
      const int32_t mid = lo + (hi - lo + 1) / 2;
      if (grid.chunk_start[mid] <= chunk) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    unit.segment = lo;
    unit.item_begin =
        segment_begin(grid.spec, lo) + (chunk - grid.chunk_start[lo]) * grid.items_per_unit;
    const int64_t end = unit.item_begin + grid.items_per_unit;
    unit.item_end = end < grid.spec.test_size[lo] ? end : grid.spec.test_size[lo];
    return unit;
  }
  for (int32_t t = 0; t < grid.spec.num_test_sizes; ++t) {
    const int64_t chunks = segment_chunks(grid, t);
    if (chunk < chunks) {
      unit.segment = t;
      unit.item_begin = segment_begin(grid.spec, t) + chunk * grid.items_per_unit;
      const int64_t end = unit.item_begin + grid.items_per_unit;
      unit.item_end = end < grid.spec.test_size[t] ? end : grid.spec.test_size[t];
      return unit;
    }
    chunk -= chunks;
  }
  return unit;  // unreachable for a valid id
}

//! Token draws of one work unit: the uniforms that decide a token of one of its items,
//! items x longest length x attempts. (Throughput everywhere in Mirage is counted in these.)
//! Sampling until success draws what the outcomes ask for; here it counts the most a unit may
//! draw, items x longest length x budget (the plan of batches and progress), and the draws
//! used come from the tallies (until_draws).
MIRAGE_HD inline int64_t unit_draws(const SweepSpec& spec, const WorkUnit& unit) {
  return (unit.item_end - unit.item_begin) * max_length(spec) *
         (spec.budget > 0 ? spec.budget : spec.attempts);
}

}  // namespace mirage
