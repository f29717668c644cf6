// Copyright (c) Mirage developers.
//! \file sweep.h
//! The plain-data description of a sweep that every backend consumes, the layout of the
//! tally arrays (DESIGN.md section 3) and the fixed decomposition of the index space into
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

//! The tallies kept per (scale, length, segment or test size, replicate).
enum Tally : int {
  TALLY_EXACT_MATCH = 0,      //!< items with every token of the first L correct
  TALLY_TOKEN_ERRORS = 1,     //!< sum over items of (L - k)
  TALLY_TOKEN_ERRORS_SQ = 2,  //!< sum over items of (L - k)^2
  NUM_TALLIES = 3,
};

//! Largest target length accepted: keeps n * L^2 inside int64 for n <= MAX_ITEMS.
constexpr int32_t MAX_LENGTH = 4096;

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
  //! Item difficulty bins B (0: every item uses threshold[s]). When B > 0 each item draws a
  //! bin from the difficulty stream and uses bin_threshold[s * B + bin], and the sampler also
  //! counts items per (segment, replicate, bin); `threshold` is then unused.
  int32_t num_bins = 0;
  const uint64_t* bin_threshold = nullptr;  //!< [S][B] when num_bins > 0, each <= 2^32
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
//! [NUM_TALLIES][S][K][T][R] (tally-major), the layout every backend adds into.
MIRAGE_HD inline int64_t tally_array_index(const SweepSpec& spec, int tally, int32_t scale,
                                           int32_t length_index, int32_t test_index,
                                           int32_t replicate) {
  return tally * tally_cells(spec) + tally_index(spec, scale, length_index, test_index, replicate);
}

//! Number of int64 in a segment-tally array: the NUM_TALLIES tally arrays, then, when the
//! sweep has difficulty bins, the item counts per [segment][replicate][bin].
MIRAGE_HD inline int64_t segment_tally_size(const SweepSpec& spec) {
  return NUM_TALLIES * tally_cells(spec) +
         int64_t{spec.num_test_sizes} * spec.num_replicates * spec.num_bins;
}

//! Index of the item count of (segment, replicate, bin) in a segment-tally array.
MIRAGE_HD inline int64_t bin_count_index(const SweepSpec& spec, int32_t segment, int32_t replicate,
                                         uint32_t bin) {
  return NUM_TALLIES * tally_cells(spec) +
         (int64_t{segment} * spec.num_replicates + replicate) * spec.num_bins + bin;
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
};

//! Number of chunks that segment t splits into.
MIRAGE_HD inline int64_t segment_chunks(const UnitGrid& grid, int32_t segment) {
  const int64_t n = grid.spec.test_size[segment] - segment_begin(grid.spec, segment);
  return (n + grid.items_per_unit - 1) / grid.items_per_unit;
}

//! Number of chunks per (replicate, scale).
MIRAGE_HD inline int64_t chunks_per_replicate_scale(const UnitGrid& grid) {
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
//! items x longest length. (Throughput everywhere in Mirage is counted in these.)
MIRAGE_HD inline int64_t unit_draws(const SweepSpec& spec, const WorkUnit& unit) {
  return (unit.item_end - unit.item_begin) * max_length(spec);
}

}  // namespace mirage
