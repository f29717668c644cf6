// Copyright (c) Mirage developers.
//! \file tiles.h
//! Internals of the CUDA backend that need no CUDA headers, so that the host side of the
//! backend, the kernels and the CPU-only tests share them: the tuning constants, the *tile*
//! (the work of one thread block), the per-group arithmetic the kernels run, and the host-side
//! planning that cuts a list of work units into tiles and tiles into launches.
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
//! Item difficulty (spec.difficulty != DIFFICULTY_NONE): a thread first computes its group's
//! four per-item thresholds with the core's group_item_model (two Philox calls of the
//! difficulty stream and the portable per-item math of item_model.h), then samples exactly as
//! above with those thresholds.
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

// The token loop is unrolled modestly on the device: enough to overlap consecutive Philox
// calls, little enough to keep the code in the instruction cache.
#if defined(__CUDA_ARCH__)
#define MIRAGE_TOKEN_LOOP_UNROLL _Pragma("unroll 4")
#else
#define MIRAGE_TOKEN_LOOP_UNROLL
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
//! The fast kernels keep all sums in 32 bits, which holds for lengths up to this.
constexpr int32_t FAST_MAX_LENGTH = 256;
//! A launch samples about this many token draws (~4 ms at 1e12 draws/s): enough to fill the
//! GPU and hide the launch, short enough to report progress between launches.
constexpr int64_t TARGET_BATCH_DRAWS = int64_t{1} << 32;
//! At most this many tiles per launch (bounds the pinned descriptor buffers: 5 MiB each).
constexpr int64_t MAX_BATCH_TILES = int64_t{1} << 17;
//! A launch has at least this many tiles per multiprocessor (unless fewer remain), so that
//! long tiles (large L) still fill the GPU.
constexpr int64_t MIN_BATCH_TILES_PER_SM = 16;

// Every partial sum the kernels keep in 32 bits must fit. Per item k <= L and k^2 <= L^2.
// Fast kernels: a whole tile's sums, in registers and in the block reduction.
static_assert(TILE_ITEMS * FAST_MAX_LENGTH * FAST_MAX_LENGTH <= int64_t{0xffffffff},
              "fast-path tile sums of k^2 must fit in 32 bits");
// General kernel: one warp's sums for one step of groups (then added into 64-bit shared
// memory for k^2), and a whole tile's sums of k and of exact matches in 32-bit shared memory.
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
MIRAGE_HD MIRAGE_CUDA_INLINE uint32_t item_model_thresholds(const SweepSpec& spec,
                                                            const Tile& tile, int64_t group,
                                                            bool active,
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

//! Adds to `correct[w]` the number of correct tokens among tokens [token_begin, token_end) of
//! item 4 * group + w of replicate `replicate` at scale `scale`, the token being correct iff
//! its uniform is below thresholds[w] (the core's philox_counter / philox4x32_10 /
//! token_correct: the same stream as sample_group). 0 <= token_begin, token_end <= 2^24.
//! `Word` as for item_thresholds: each threshold widens to 64 bits only in token_correct.
template <class Word>
MIRAGE_HD MIRAGE_CUDA_INLINE void count_correct_tokens(const PhiloxKey& key, uint32_t group,
                                                       uint32_t scale, uint32_t replicate,
                                                       const Word (&thresholds)[ITEMS_PER_GROUP],
                                                       int32_t token_begin, int32_t token_end,
                                                       uint32_t (&correct)[ITEMS_PER_GROUP]) {
  MIRAGE_TOKEN_LOOP_UNROLL
  for (int32_t j = token_begin; j < token_end; ++j) {
    const PhiloxCounter x = philox4x32_10(
        philox_counter(group, static_cast<uint32_t>(j), STREAM_TOKEN, scale, replicate), key);
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) correct[w] += token_correct(x.v[w], thresholds[w]);
  }
}

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

// ---- Kernel choice --------------------------------------------------------------------------

//! Which kernel samples a sweep: a fast one keeping its per-length sums in registers
//! (instantiated for up to 1, 2, 4 or 8 lengths, all <= FAST_MAX_LENGTH), or the general one
//! that adds per-length sums into shared memory (any number of lengths up to MAX_LENGTH); each
//! without item difficulty or with it. A multiple-choice sweep also runs the choice kernel.
struct KernelChoice {
  int fast_lengths = 0;     //!< 1, 2, 4 or 8 for a fast kernel, 0 for the general one
  bool difficulty = false;  //!< per-item thresholds (spec.difficulty != DIFFICULTY_NONE)
  bool choices = false;     //!< the choice kernel runs too (spec.choices > 0)
  //! Dynamic shared memory per block of the token kernel: the general kernel's per-length sums.
  std::size_t shared_bytes = 0;
};

//! Bytes of dynamic shared memory the general kernel needs per block for K lengths:
//! a 64-bit sum of k^2 and 32-bit sums of exact matches and of k per length.
inline std::size_t general_shared_bytes(int32_t num_lengths) {
  return static_cast<std::size_t>(num_lengths) * (sizeof(uint64_t) + 2 * sizeof(uint32_t));
}

//! The kernels for `spec` (num_lengths in [1, MAX_LENGTH], lengths increasing).
inline KernelChoice choose_kernel(const SweepSpec& spec) {
  KernelChoice choice;
  if (spec.num_lengths <= FAST_MAX_LENGTHS && max_length(spec) <= FAST_MAX_LENGTH) {
    choice.fast_lengths = 1;
    while (choice.fast_lengths < spec.num_lengths) choice.fast_lengths *= 2;
  } else {
    choice.shared_bytes = general_shared_bytes(spec.num_lengths);
  }
  choice.difficulty = spec.difficulty != 0;
  choice.choices = spec.choices > 0;
  return choice;
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
//! it holds at least min_tiles tiles and at least target_draws token draws, or when the tiles
//! run out.
struct BatchLimits {
  int64_t target_draws = TARGET_BATCH_DRAWS;
  int64_t min_tiles = 1;
  int64_t max_tiles = MAX_BATCH_TILES;
};

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
    while (next_ < end_ && n < limits.max_tiles &&
           !(n >= limits.min_tiles && batch_draws >= limits.target_draws)) {
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

//! sample_units (cuda_backend.h) with explicit batch limits (nullptr: the defaults, with
//! min_tiles = MIN_BATCH_TILES_PER_SM per multiprocessor); tests use small limits to run many
//! launches.
void sample_units_with_limits(const UnitGrid& grid, const std::vector<int>& devices,
                              const int64_t* unit_ids, int64_t count, int64_t* segment_tallies,
                              const std::function<void(int64_t)>& progress,
                              const BatchLimits* limits);

}  // namespace mirage::cuda::detail
