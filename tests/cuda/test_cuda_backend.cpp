// Copyright (c) Mirage developers.
//! \file test_cuda_backend.cpp
//! Tests of the CUDA backend. The host reference is mirage::sample_unit_reference with
//! add_unit_tallies (mirage/sampler.h); the GPU's whole segment-tally array (the choice
//! tallies of multiple-choice sweeps included) must equal it element for element, for any unit
//! size, split, order, batch size and device list, with and without item difficulty. Tests that
//! need a device skip, saying why, when list_devices finds none; the planning tests, the
//! argument checks and a host emulation of the kernels' per-tile arithmetic run everywhere.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "cuda_backend.h"
#include "known_answer_kernel.h"
#include "mirage/model.h"
#include "mirage/sampler.h"
#include "mirage/stream.h"
#include "mirage/sweep.h"
#include "tiles.h"

namespace mirage::cuda {
namespace {

using test::PhiloxInput;
using test::PhiloxOutput;
using test::TokenQuery;

// ---- Sweeps and the host reference ---------------------------------------------------------

//! A sweep that owns its arrays; spec() borrows them. threshold[S] are the scales; with item
//! difficulty or multiple choice, logit and log_p follow from them (with_items).
struct Sweep {
  std::string name;
  uint64_t seed = 0;
  std::vector<uint64_t> threshold;
  std::vector<int32_t> length;
  std::vector<int64_t> test_size;
  int32_t replicates = 1;
  int32_t difficulty = DIFFICULTY_NONE;
  double difficulty_a = 0.0, difficulty_b = 0.0;
  int32_t choices = 0;
  std::vector<double> logit, log_p;

  SweepSpec spec() const {
    SweepSpec s;
    s.seed = seed;
    s.num_scales = static_cast<int32_t>(threshold.size());
    s.num_lengths = static_cast<int32_t>(length.size());
    s.num_test_sizes = static_cast<int32_t>(test_size.size());
    s.num_replicates = replicates;
    s.threshold = threshold.data();
    s.length = length.data();
    s.test_size = test_size.data();
    s.difficulty = difficulty;
    s.difficulty_a = difficulty_a;
    s.difficulty_b = difficulty_b;
    s.scale_logit = logit.empty() ? nullptr : logit.data();
    s.choices = choices;
    s.scale_log_p = log_p.empty() ? nullptr : log_p.data();
    return s;
  }
  UnitGrid grid(int64_t items_per_unit) const {
    UnitGrid g;
    g.spec = spec();
    g.items_per_unit = items_per_unit;
    return g;
  }
};

//! `sweep` with item difficulty (family, a, b) and `choices` options, its per-scale logit(p)
//! and log(p) taken from its thresholds (p = T / 2^32: +/-inf at p = 0 and 1).
Sweep with_items(Sweep sweep, std::string name, int32_t family, double a, double b,
                 int32_t choices) {
  sweep.name = std::move(name);
  sweep.difficulty = family;
  sweep.difficulty_a = a;
  sweep.difficulty_b = b;
  sweep.choices = choices;
  sweep.logit.clear();
  sweep.log_p.clear();
  for (uint64_t t : sweep.threshold) {
    const double p = threshold_probability(t);
    const double inf = std::numeric_limits<double>::infinity();
    sweep.logit.push_back(p == 0.0 ? -inf : p == 1.0 ? inf : std::log(p) - std::log1p(-p));
    sweep.log_p.push_back(p == 0.0 ? -inf : std::log(p));
  }
  return sweep;
}

//! `count` thresholds: p = 0 and p = 1 exactly, p = 0.999, the largest threshold below 1, then
//! the paper's toy law (model.h) over scales 1e8..1e13.
std::vector<uint64_t> thresholds(int count) {
  std::vector<uint64_t> t;
  t.push_back(0);
  t.push_back(THRESHOLD_ONE);
  t.push_back(token_threshold(0.999));
  t.push_back(THRESHOLD_ONE - 1);
  for (int s = 0; static_cast<int>(t.size()) < count; ++s) {
    const double scale = std::pow(10.0, 8.0 + 5.0 * s / std::max(1, count - 5));
    t.push_back(token_threshold(
        token_probability(power_law_loss(scale, DEFAULT_LOSS_SCALE, DEFAULT_LOSS_EXPONENT))));
  }
  t.resize(static_cast<std::size_t>(count));
  return t;
}

std::vector<int32_t> lengths_up_to(int32_t last) {
  std::vector<int32_t> l(static_cast<std::size_t>(last));
  std::iota(l.begin(), l.end(), 1);
  return l;
}

//! The sweeps with item difficulty and multiple choice: each family, spreads wide enough
//! (logistic:20) that items with threshold 0 and 2^32 sit beside ordinary ones in one scale,
//! odd sizes, several replicates, each fast kernel and the general kernel, K = 2, 4 and 64.
std::vector<Sweep> item_sweeps() {
  const std::vector<int32_t> lengths = {1, 3, 17, 64};
  std::vector<int32_t> general = lengths_up_to(12);
  general.insert(general.end(), {50, 100, 300});
  const Sweep odd{"", 31, thresholds(6), lengths, {1, 7, 1000, 4099}, 3};
  const Sweep eight{"", 36, thresholds(5), {1, 2, 3, 4, 5, 8, 13, 21}, {10, 10000}, 2};
  const Sweep one{"", 35, thresholds(5), {10}, {4099, 20000}, 2};
  const Sweep wide{"", 38, thresholds(5), general, {5, 333, 2000}, 2};
  const Sweep longest{"", 39, thresholds(4), lengths_up_to(MAX_LENGTH), {3, 21}, 1};
  const Sweep tiles{"", 42, thresholds(5), {1, 7},
                    {3 * detail::TILE_ITEMS + 5, 5 * detail::TILE_ITEMS + 2}, 2};
  std::vector<Sweep> all;
  all.push_back(with_items(odd, "normal", DIFFICULTY_NORMAL, 1.5, 0.0, 0));
  all.push_back(with_items(odd, "logistic_extreme", DIFFICULTY_LOGISTIC, 20.0, 0.0, 0));
  all.push_back(with_items(odd, "kumaraswamy", DIFFICULTY_KUMARASWAMY, 0.2, 2.0, 0));
  all.push_back(with_items(one, "normal_one_length", DIFFICULTY_NORMAL, 3.0, 0.0, 0));
  all.push_back(with_items(eight, "logistic_eight_lengths", DIFFICULTY_LOGISTIC, 20.0, 0.0, 0));
  all.push_back(with_items(wide, "kumaraswamy_general", DIFFICULTY_KUMARASWAMY, 0.5, 0.3, 0));
  all.push_back(with_items(longest, "logistic_max_lengths", DIFFICULTY_LOGISTIC, 20.0, 0.0, 0));
  all.push_back(with_items(tiles, "normal_tile_boundaries", DIFFICULTY_NORMAL, 2.0, 0.0, 0));
  all.push_back(with_items(odd, "choice_4", DIFFICULTY_NONE, 0.0, 0.0, 4));
  all.push_back(with_items(eight, "choice_2_normal", DIFFICULTY_NORMAL, 1.5, 0.0, 2));
  all.push_back(with_items(wide, "choice_64_logistic", DIFFICULTY_LOGISTIC, 20.0, 0.0, 64));
  all.push_back(with_items(tiles, "choice_5_kumaraswamy", DIFFICULTY_KUMARASWAMY, 0.3, 1.0, 5));
  const Sweep dense{"", 43, thresholds(5), lengths_up_to(5), {7, 5003}, 2};
  all.push_back(with_items(dense, "logistic_dense", DIFFICULTY_LOGISTIC, 20.0, 0.0, 0));
  return all;
}

//! The sweeps every equality test runs: odd sizes, one item, partial groups, p = 0 and 1,
//! each fast kernel (1, 2, 4, 8 lengths, up to FAST_MAX_LENGTH) and the general kernel (more
//! than 8 lengths, lengths past FAST_MAX_LENGTH, all MAX_LENGTH lengths); then the sweeps with
//! item difficulty and multiple choice (item_sweeps).
std::vector<Sweep> sweeps() {
  std::vector<Sweep> all;
  all.push_back({"odd_sizes", 20231210, thresholds(37), {1, 3, 17, 64}, {1, 7, 1000, 4099}, 3});
  all.push_back({"one_item", 7, {0, THRESHOLD_ONE, token_threshold(0.5)}, {5}, {1}, 2});
  all.push_back({"one_length", 11, thresholds(6), {10}, {4099, 20000}, 2});
  all.push_back({"two_lengths", 12, thresholds(5), {2, detail::FAST_MAX_LENGTH}, {33, 5000}, 2});
  all.push_back(
      {"eight_lengths", 13, thresholds(5), {1, 2, 3, 4, 5, 8, 13, 21}, {10, 100, 1000, 10000}, 2});
  {
    std::vector<int32_t> l = lengths_up_to(12);
    l.insert(l.end(), {50, 100, 300});
    all.push_back({"general_fifteen_lengths", 14, thresholds(5), l, {5, 333, 2000}, 2});
  }
  all.push_back({"general_long", 15, thresholds(5), {1, 257, 1000}, {9, 100}, 2});
  all.push_back({"general_max_lengths",
                 16,
                 {THRESHOLD_ONE - 1, THRESHOLD_ONE, token_threshold(0.999), 0},
                 lengths_up_to(MAX_LENGTH),
                 {3, 21},
                 1});
  all.push_back({"tile_boundaries",
                 17,
                 thresholds(5),
                 {1, 7},
                 {3 * detail::TILE_ITEMS + 5, 5 * detail::TILE_ITEMS + 2},
                 2});
  // The benchmark's lengths 1..5 (the fast kernels' dense walk) over interior and boundary
  // tiles, and dense sweeps of 1 and 8 lengths; the longest fast length beside a dense start.
  all.push_back(
      {"dense_bench", 18, thresholds(6), lengths_up_to(5), {7, 2 * detail::TILE_ITEMS + 6}, 2});
  all.push_back({"dense_one", 19, thresholds(5), {1}, {3, 4099}, 2});
  all.push_back({"dense_eight", 21, thresholds(5), lengths_up_to(8), {10, 5001}, 2});
  all.push_back({"fast_longest",
                 22,
                 thresholds(5),
                 {1, 2, 3, 4, 5, 6, 7, detail::FAST_MAX_LENGTH},
                 {9, detail::TILE_ITEMS + 2},
                 1});
  for (Sweep& sweep : item_sweeps()) all.push_back(std::move(sweep));
  return all;
}

//! A sweep whose last items reach MAX_ITEMS (group indices up to 2^32 - 1), and the ids of its
//! units nearest the end: the last chunk of segment 0 (which ends inside a group) and the
//! 13-item segment 1, for every replicate and scale. Sampling all of it would take 2^34 items.
struct HighItems {
  explicit HighItems(bool items = false) {
    if (items) {
      sweep = with_items(sweep, "high_items_difficulty_choice", DIFFICULTY_LOGISTIC, 20.0, 0.0, 4);
      grid = sweep.grid(int64_t{1} << 20);
    }
  }
  Sweep sweep{"high_items",
              0x5eed,
              thresholds(5),
              {1, 5},
              {int64_t(MAX_ITEMS) - 13, int64_t(MAX_ITEMS)},
              2};
  UnitGrid grid = sweep.grid(int64_t{1} << 20);
  std::vector<int64_t> ids() const {
    std::vector<int64_t> out;
    const int64_t per_rs = chunks_per_replicate_scale(grid);
    for (int64_t rs = 0; rs < int64_t{grid.spec.num_replicates} * grid.spec.num_scales; ++rs) {
      out.push_back(rs * per_rs + per_rs - 2);
      out.push_back(rs * per_rs + per_rs - 1);
    }
    return out;
  }
};

//! Unit sizes every equality test runs (multiples of 4; 65536 spans several tiles).
const int64_t ITEMS_PER_UNIT[] = {4, 1000, 65536};

std::vector<int64_t> all_ids(const UnitGrid& grid) {
  std::vector<int64_t> ids(static_cast<std::size_t>(num_units(grid)));
  std::iota(ids.begin(), ids.end(), int64_t{0});
  return ids;
}

//! The whole segment-tally array (choice tallies included for multiple choice).
std::size_t tally_size(const SweepSpec& spec) {
  return static_cast<std::size_t>(segment_tally_size(spec));
}

//! The CPU reference: sample_unit_reference for each unit, added with add_unit_tallies.
std::vector<int64_t> reference_tallies(const UnitGrid& grid, const std::vector<int64_t>& ids) {
  std::vector<int64_t> out(tally_size(grid.spec), 0);
  std::vector<ItemTally> per_length(static_cast<std::size_t>(grid.spec.num_lengths));
  for (int64_t id : ids) {
    std::fill(per_length.begin(), per_length.end(), ItemTally{});
    const WorkUnit unit = unit_at(grid, id);
    sample_unit_reference(grid.spec, unit, per_length.data());
    add_unit_tallies(grid.spec, unit, per_length.data(), out.data());
  }
  return out;
}

int64_t total_draws(const UnitGrid& grid, const std::vector<int64_t>& ids) {
  int64_t draws = 0;
  for (int64_t id : ids) draws += unit_draws(grid.spec, unit_at(grid, id));
  return draws;
}

//! Per-length sums of one tile as the kernels compute them (exact matches, sum of k, sum of
//! k^2), before they become tallies.
struct TileSums {
  std::vector<int64_t> exact, correct, correct_sq;
  explicit TileSums(std::size_t k) : exact(k, 0), correct(k, 0), correct_sq(k, 0) {}
};

//! A fast kernel's tile run on the host: each of the BLOCK_THREADS threads runs fast_thread
//! (tiles.h: the interior path with one threshold, the dense walk for lengths 1..K, the
//! per-item path of boundary tiles and of item difficulty) into its own packed sums, which
//! are unpacked as the kernel's reduction does, so the per-thread 32-bit bounds are exercised.
template <int MAX_K, bool DIFFICULTY>
void emulate_fast_tile(const detail::KernelParams& p, const detail::Tile& tile,
                       uint32_t threshold, const std::vector<detail::TokenPrefix>& tokens,
                       TileSums& out) {
  const detail::StreamPrefix stream = detail::stream_prefix(
      p.keys, static_cast<uint32_t>(tile.scale), static_cast<uint32_t>(tile.replicate));
  for (int32_t thread = 0; thread < detail::BLOCK_THREADS; ++thread) {
    detail::PackedSums<MAX_K> sums;
    detail::fast_thread<MAX_K, DIFFICULTY>(p, tile, stream, threshold, tokens.data(), thread,
                                           sums);
    for (int32_t kk = 0; kk < p.fast.count; ++kk) {
      const detail::GroupSums g = detail::unpack_sums(sums.exact[kk], sums.squares[kk]);
      out.exact[kk] += g.exact_match;
      out.correct[kk] += g.correct;
      out.correct_sq[kk] += g.correct_sq;
    }
  }
}

template <bool DIFFICULTY>
void emulate_fast_tile(int fast_lengths, const detail::KernelParams& p, const detail::Tile& tile,
                       uint32_t threshold, const std::vector<detail::TokenPrefix>& tokens,
                       TileSums& out) {
  switch (fast_lengths) {
    case 1:
      return emulate_fast_tile<1, DIFFICULTY>(p, tile, threshold, tokens, out);
    case 2:
      return emulate_fast_tile<2, DIFFICULTY>(p, tile, threshold, tokens, out);
    case 4:
      return emulate_fast_tile<4, DIFFICULTY>(p, tile, threshold, tokens, out);
    default:
      return emulate_fast_tile<8, DIFFICULTY>(p, tile, threshold, tokens, out);
  }
}

//! The general kernel's tile run on the host: its warps walk their lanes' groups together
//! (lanes past the tile's end inactive, threshold 0), each lane runs general_length, and at
//! each length the warp's 32-bit sums are added into the block's sums, the sum of k^2 as two
//! 32-bit words with the kernel's carry rule (low_word_carries).
template <bool DIFFICULTY>
void emulate_general_tile(const detail::KernelParams& p, const detail::Tile& tile,
                          uint32_t threshold, const std::vector<detail::TokenPrefix>& tokens,
                          TileSums& out) {
  const auto K = static_cast<std::size_t>(p.spec.num_lengths);
  const detail::StreamPrefix stream = detail::stream_prefix(
      p.keys, static_cast<uint32_t>(tile.scale), static_cast<uint32_t>(tile.replicate));
  std::vector<uint32_t> sq_low(K, 0u), sq_high(K, 0u);
  const int32_t warps = (tile.num_groups + detail::WARP_THREADS - 1) / detail::WARP_THREADS;
  for (int32_t warp = 0; warp < warps; ++warp) {
    std::vector<detail::GroupSums> warp_sums(K, detail::GroupSums{0u, 0u, 0u});
    for (int32_t lane = 0; lane < detail::WARP_THREADS; ++lane) {
      const int32_t local = warp * detail::WARP_THREADS + lane;
      const bool active = local < tile.num_groups;
      const int64_t group = tile.group_begin + local;
      detail::ItemThresholds t;
      const uint32_t always =
          detail::general_thresholds<DIFFICULTY>(p, tile, group, active, threshold, t);
      const detail::GroupPrefix g =
          detail::group_prefix(p.keys, stream, static_cast<uint32_t>(group));
      detail::GeneralWalk walk;
      for (int32_t kk = 0; kk < p.spec.num_lengths; ++kk) {
        const detail::GroupSums sums =
            detail::general_length<DIFFICULTY>(p, tokens.data(), g, t, always, kk, walk);
        detail::GroupSums& w = warp_sums[static_cast<std::size_t>(kk)];
        w.exact_match += sums.exact_match;
        w.correct += sums.correct;
        w.correct_sq += sums.correct_sq;
      }
    }
    for (std::size_t kk = 0; kk < K; ++kk) {
      out.exact[kk] += warp_sums[kk].exact_match;
      out.correct[kk] += warp_sums[kk].correct;
      const uint32_t c2 = warp_sums[kk].correct_sq;
      const uint32_t old = sq_low[kk];
      sq_low[kk] += c2;
      if (detail::low_word_carries(old, c2)) ++sq_high[kk];
    }
  }
  for (std::size_t kk = 0; kk < K; ++kk) {
    out.correct_sq[kk] += static_cast<int64_t>((uint64_t{sq_high[kk]} << 32) | sq_low[kk]);
  }
}

//! The choice kernel of a multiple-choice tile run on the host: the warp-uniform loop over the
//! tile's groups, lanes past its end included (inactive: they add nothing), each group's
//! outcomes at each length (group_choices, group_choice_sums) added to the tile's cells.
void emulate_tile_choices(const SweepSpec& spec, const detail::Tile& tile,
                          std::vector<int64_t>& out) {
  if (spec.choices <= 0) return;
  const int32_t warps = (tile.num_groups + detail::WARP_THREADS - 1) / detail::WARP_THREADS;
  for (int32_t local = 0; local < warps * detail::WARP_THREADS; ++local) {
    detail::GroupChoices g;
    detail::group_choices(spec, tile, tile.group_begin + local, local < tile.num_groups, g);
    for (int32_t kk = 0; kk < spec.num_lengths; ++kk) {
      const detail::ChoiceSums sums = detail::group_choice_sums(g, spec.length[kk]);
      out[tally_array_index(spec, TALLY_CHOICE_GRADE, tile.scale, kk, tile.segment,
                            tile.replicate)] += sums.grade;
      out[tally_array_index(spec, TALLY_BRIER, tile.scale, kk, tile.segment, tile.replicate)] +=
          static_cast<int64_t>(sums.brier);
      out[tally_array_index(spec, TALLY_BRIER_SQ, tile.scale, kk, tile.segment,
                            tile.replicate)] += static_cast<int64_t>(sums.brier_sq);
    }
  }
}

//! The kernels' per-tile arithmetic run on the host (tiles.h), with the same planning the
//! backend uses (batches of odd sizes, in whole "waves" of 3 tiles) and the kernel
//! choose_kernel picks, without the CUDA reductions: tiles at threshold 0 or 2^32 draw nothing
//! (constant_tile_tallies), the fast kernels' threads and the general kernel's warps run the
//! very functions the kernels call (emulate_fast_tile, emulate_general_tile), and the choice
//! kernel's groups theirs.
std::vector<int64_t> emulate_tiles(const UnitGrid& grid, const std::vector<int64_t>& ids) {
  const SweepSpec& spec = grid.spec;
  std::vector<WorkUnit> units;
  for (int64_t id : ids) units.push_back(unit_at(grid, id));
  const detail::TileSequence sequence(units.data(), static_cast<int64_t>(units.size()));
  detail::BatchCursor cursor(sequence, 0, sequence.size(), max_length(spec));
  detail::BatchLimits limits;
  limits.target_draws = 12345;
  limits.min_tiles = 3;
  limits.max_tiles = 9;
  limits.wave_tiles = 3;
  std::vector<detail::Tile> batch(static_cast<std::size_t>(limits.max_tiles));
  std::vector<int64_t> out(tally_size(spec), 0);
  const detail::KernelChoice choice = detail::choose_kernel(spec);
  const detail::KernelParams params = detail::kernel_params(spec);
  const auto K = static_cast<std::size_t>(spec.num_lengths);
  const bool difficulty = spec.difficulty != DIFFICULTY_NONE;
  std::vector<detail::TokenPrefix> tokens(static_cast<std::size_t>(max_length(spec)));
  int64_t draws = 0, n = 0;
  while ((n = cursor.next(limits, batch.data(), &draws)) > 0) {
    for (int64_t b = 0; b < n; ++b) {
      const detail::Tile& tile = batch[static_cast<std::size_t>(b)];
      emulate_tile_choices(spec, tile, out);
      TileSums sums(K);
      const uint64_t scale_threshold = spec.threshold[tile.scale];
      const detail::TileDraws kind =
          difficulty ? detail::TileDraws::SAMPLED : detail::tile_draws(scale_threshold);
      if (kind != detail::TileDraws::SAMPLED) {
        for (std::size_t kk = 0; kk < K; ++kk) {
          const detail::LengthTallies t = detail::constant_tile_tallies(
              kind, detail::tile_items(tile), spec.length[kk]);
          const auto k32 = static_cast<int32_t>(kk);
          out[tally_array_index(spec, TALLY_EXACT_MATCH, tile.scale, k32, tile.segment,
                                tile.replicate)] += t.exact_match;
          out[tally_array_index(spec, TALLY_TOKEN_ERRORS, tile.scale, k32, tile.segment,
                                tile.replicate)] += t.token_errors;
          out[tally_array_index(spec, TALLY_TOKEN_ERRORS_SQ, tile.scale, k32, tile.segment,
                                tile.replicate)] += t.token_errors_sq;
        }
        continue;
      }
      const uint32_t threshold = difficulty ? 0u : static_cast<uint32_t>(scale_threshold);
      const detail::StreamPrefix stream = detail::stream_prefix(
          params.keys, static_cast<uint32_t>(tile.scale), static_cast<uint32_t>(tile.replicate));
      detail::fill_token_prefixes(params.keys, stream, 0, max_length(spec), 1, tokens.data());
      if (choice.fast_lengths != 0) {
        if (difficulty) {
          emulate_fast_tile<true>(choice.fast_lengths, params, tile, threshold, tokens, sums);
        } else {
          emulate_fast_tile<false>(choice.fast_lengths, params, tile, threshold, tokens, sums);
        }
      } else if (difficulty) {
        emulate_general_tile<true>(params, tile, threshold, tokens, sums);
      } else {
        emulate_general_tile<false>(params, tile, threshold, tokens, sums);
      }
      for (std::size_t kk = 0; kk < K; ++kk) {
        const detail::LengthTallies t =
            detail::length_tallies(detail::tile_items(tile), spec.length[kk], sums.exact[kk],
                                   sums.correct[kk], sums.correct_sq[kk]);
        const auto k32 = static_cast<int32_t>(kk);
        out[tally_array_index(spec, TALLY_EXACT_MATCH, tile.scale, k32, tile.segment,
                              tile.replicate)] += t.exact_match;
        out[tally_array_index(spec, TALLY_TOKEN_ERRORS, tile.scale, k32, tile.segment,
                              tile.replicate)] += t.token_errors;
        out[tally_array_index(spec, TALLY_TOKEN_ERRORS_SQ, tile.scale, k32, tile.segment,
                              tile.replicate)] += t.token_errors_sq;
      }
    }
  }
  return out;
}

//! Checks equality element for element and names the first differing cell.
void expect_same_tallies(const SweepSpec& spec, const std::vector<int64_t>& expected,
                         const std::vector<int64_t>& actual, const std::string& what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  const int64_t cells = tally_cells(spec);
  int64_t differing = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (expected[i] == actual[i]) continue;
    if (differing++ == 0) {
      const int64_t cell = static_cast<int64_t>(i) % cells;
      const int64_t r = cell % spec.num_replicates;
      const int64_t t = cell / spec.num_replicates % spec.num_test_sizes;
      const int64_t k = cell / spec.num_replicates / spec.num_test_sizes % spec.num_lengths;
      const int64_t s = cell / spec.num_replicates / spec.num_test_sizes / spec.num_lengths;
      ADD_FAILURE() << what << ": first difference at tally " << static_cast<int64_t>(i) / cells
                    << " scale " << s << " length " << spec.length[k] << " segment " << t
                    << " replicate " << r << ": expected " << expected[i] << ", got " << actual[i];
    }
  }
  EXPECT_EQ(differing, 0) << what << ": " << differing << " of " << expected.size()
                          << " tallies differ";
}

// ---- Known answers ---------------------------------------------------------------------------

struct KnownToken {
  TokenQuery query;
  uint32_t expected;
};

//! u(seed, r, s, i, j) = mirage::token_uniform, i.e. Philox4x32-10 from Random123 (1.14,
//! librandom123-dev) with the counter layout of mirage/stream.h, computed on the host with
//! that function when this test was written. The first four are Random123's own published
//! known-answer vector for counter 0, key 0 (kat_vectors: 6627e8d5 e169c58d bc57ac4c
//! 9b00dbd8), which is items 0..3, token 0, of seed 0, replicate 0, scale 0.
const KnownToken KNOWN_TOKENS[] = {
    {{0x0000000000000000ull, 0u, 0u, 0ull, 0u}, 0x6627e8d5u},
    {{0x0000000000000000ull, 0u, 0u, 1ull, 0u}, 0xe169c58du},
    {{0x0000000000000000ull, 0u, 0u, 2ull, 0u}, 0xbc57ac4cu},
    {{0x0000000000000000ull, 0u, 0u, 3ull, 0u}, 0x9b00dbd8u},
    {{0x000000000134b42aull, 3u, 17u, 123457ull, 63u}, 0xebadb5fbu},
    {{0x0123456789abcdefull, 99u, 40u, 17179869183ull, 4095u}, 0x864c13bbu},
    {{0x0000000000000001ull, 0u, 0u, 5ull, 1u}, 0xb53e90b6u},
    {{0x000000000000002aull, 1u, 2u, 1000003ull, 16777215u}, 0xf0b02dddu},
    {{0xffffffffffffffffull, 4294967295u, 4294967295u, 17179869183ull, 0u}, 0xcd81a4c4u},
};

struct KnownPhilox {
  PhiloxInput input;
  PhiloxOutput expected;
};

//! Random123's published known-answer vectors for philox4x32 with 10 rounds (kat_vectors in
//! the Random123 distribution): counter words, key words -> output words.
const KnownPhilox KNOWN_PHILOX[] = {
    {{{0u, 0u, 0u, 0u}, {0u, 0u}}, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
    {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}},
     {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
    {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}},
     {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
};

// ---- Tests that run everywhere -----------------------------------------------------------------

TEST(CudaBackendBuild, IsBuilt) {
  EXPECT_TRUE(built());
}

TEST(CudaBackendBuild, ListDevicesExplainsAnEmptyList) {
  std::string why = "unset";
  const std::vector<DeviceInfo> devices = list_devices(&why);
  if (devices.empty()) {
    EXPECT_FALSE(why.empty());
    EXPECT_NE(why, "unset");
  } else {
    EXPECT_TRUE(why.empty());
    for (const DeviceInfo& d : devices) {
      EXPECT_FALSE(d.name.empty());
      EXPECT_GT(d.total_memory, 0u);
      EXPECT_GT(d.multiprocessors, 0);
    }
  }
  EXPECT_EQ(list_devices(nullptr).size(), devices.size());
}

TEST(CudaKnownAnswer, HostTokenUniformsArePinned) {
  for (const KnownToken& k : KNOWN_TOKENS) {
    const TokenQuery& q = k.query;
    EXPECT_EQ(token_uniform(q.seed, q.replicate, q.scale, q.item, q.token), k.expected)
        << "seed " << q.seed << " replicate " << q.replicate << " scale " << q.scale << " item "
        << q.item << " token " << q.token;
  }
  for (const KnownPhilox& k : KNOWN_PHILOX) {
    PhiloxCounter ctr;
    PhiloxKey key;
    for (int w = 0; w < 4; ++w) ctr.v[w] = k.input.counter[w];
    key.v[0] = k.input.key[0];
    key.v[1] = k.input.key[1];
    const PhiloxCounter x = philox4x32_10(ctr, key);
    for (int w = 0; w < 4; ++w) EXPECT_EQ(x.v[w], k.expected.v[w]);
  }
}

TEST(CudaTilePlan, TilesCoverEachUnitOnce) {
  for (const Sweep& sweep : sweeps()) {
    for (int64_t items_per_unit : ITEMS_PER_UNIT) {
      const UnitGrid grid = sweep.grid(items_per_unit);
      std::vector<WorkUnit> units;
      for (int64_t id : all_ids(grid)) units.push_back(unit_at(grid, id));
      const detail::TileSequence sequence(units.data(), static_cast<int64_t>(units.size()));
      int64_t tile_index = 0;
      for (const WorkUnit& unit : units) {
        int64_t next_group = detail::unit_first_group(unit);
        int64_t items = 0;
        for (int64_t t = 0; t < detail::unit_tile_count(unit); ++t, ++tile_index) {
          const detail::Tile tile = detail::unit_tile(unit, t);
          ASSERT_EQ(tile.group_begin, next_group);
          ASSERT_GE(tile.num_groups, 1);
          ASSERT_LE(tile.num_groups, detail::TILE_GROUPS);
          ASSERT_EQ(&sequence.unit(sequence.unit_of(tile_index)), &unit);
          next_group += tile.num_groups;
          items += detail::tile_items(tile);
        }
        ASSERT_EQ(next_group, detail::unit_end_group(unit));
        ASSERT_EQ(items, unit.item_end - unit.item_begin);
      }
      ASSERT_EQ(tile_index, sequence.size());
    }
  }
}

TEST(CudaTilePlan, BatchesHandOutEveryTileInOrderWithinLimits) {
  const Sweep sweep = sweeps()[0];
  const UnitGrid grid = sweep.grid(1000);
  std::vector<WorkUnit> units;
  for (int64_t id : all_ids(grid)) units.push_back(unit_at(grid, id));
  const detail::TileSequence sequence(units.data(), static_cast<int64_t>(units.size()));
  const detail::BatchLimits cases[] = {
      {1, 1, 1}, {1, 0, 5}, {1000000, 3, 10}, {detail::TARGET_BATCH_DRAWS, 1, 1 << 17}};
  for (const detail::BatchLimits& limits : cases) {
    for (int parts : {1, 2, 3, 7}) {
      const std::vector<int64_t> bounds = detail::split_evenly(sequence.size(), parts);
      ASSERT_EQ(bounds.front(), 0);
      ASSERT_EQ(bounds.back(), sequence.size());
      int64_t expected_tile = 0, all_draws = 0;
      for (int p = 0; p < parts; ++p) {
        ASSERT_LE(bounds[p + 1] - bounds[p] - (sequence.size() / parts), 1);
        detail::BatchCursor cursor(sequence, bounds[p], bounds[p + 1], max_length(grid.spec));
        std::vector<detail::Tile> out(static_cast<std::size_t>(limits.max_tiles));
        int64_t draws = 0, n = 0;
        while ((n = cursor.next(limits, out.data(), &draws)) > 0) {
          ASSERT_LE(n, limits.max_tiles);
          int64_t batch_draws = 0;
          for (int64_t b = 0; b < n; ++b, ++expected_tile) {
            const int64_t u = sequence.unit_of(expected_tile);
            const detail::Tile want =
                detail::unit_tile(sequence.unit(u), expected_tile - sequence.first_tile(u));
            const detail::Tile& got = out[static_cast<std::size_t>(b)];
            ASSERT_EQ(got.group_begin, want.group_begin);
            ASSERT_EQ(got.num_groups, want.num_groups);
            ASSERT_EQ(got.item_begin, want.item_begin);
            ASSERT_EQ(got.scale, want.scale);
            ASSERT_EQ(got.replicate, want.replicate);
            ASSERT_EQ(got.segment, want.segment);
            batch_draws += detail::tile_items(got) * max_length(grid.spec);
          }
          ASSERT_EQ(draws, batch_draws);
          all_draws += draws;
        }
        ASSERT_EQ(expected_tile, bounds[p + 1]);
      }
      ASSERT_EQ(all_draws, total_draws(grid, all_ids(grid)));
    }
  }
}

TEST(CudaTilePlan, ChoosesTheKernelByLengths) {
  auto choice = [](std::vector<int32_t> lengths) {
    SweepSpec spec;
    spec.num_lengths = static_cast<int32_t>(lengths.size());
    spec.length = lengths.data();
    return detail::choose_kernel(spec);
  };
  EXPECT_EQ(choice({5}).fast_lengths, 1);
  EXPECT_EQ(choice({1, 2}).fast_lengths, 2);
  EXPECT_EQ(choice({1, 3, 17}).fast_lengths, 4);
  EXPECT_EQ(choice({1, 3, 17, 64}).fast_lengths, 4);
  EXPECT_EQ(choice({1, 2, 3, 4, 5}).fast_lengths, 8);
  EXPECT_EQ(choice({1, 2, 3, 4, 5, 6, 7, detail::FAST_MAX_LENGTH}).fast_lengths, 8);
  EXPECT_EQ(choice({1, detail::FAST_MAX_LENGTH + 1}).fast_lengths, 0);
  EXPECT_EQ(choice(lengths_up_to(9)).fast_lengths, 0);
  const detail::KernelChoice general = choice(lengths_up_to(MAX_LENGTH));
  EXPECT_EQ(general.fast_lengths, 0);
  EXPECT_EQ(general.shared_bytes, detail::general_shared_bytes(MAX_LENGTH, MAX_LENGTH));
  // The token table (8 bytes a token) and the per-length sums (16 bytes a length): within the
  // opt-in limit of sm_80 and sm_90 (163 and 227 KiB) and of sm_86/sm_89 (99 KiB).
  EXPECT_EQ(general.shared_bytes, 96u * 1024u);
  EXPECT_EQ(choice({1, 1000}).shared_bytes, 1000u * 8u + 2u * 16u);
}

TEST(CudaTilePlan, ChoosesTheDifficultyAndChoiceKernels) {
  auto choice = [](std::vector<int32_t> lengths, int32_t difficulty, int32_t choices) {
    SweepSpec spec;
    spec.num_lengths = static_cast<int32_t>(lengths.size());
    spec.length = lengths.data();
    spec.difficulty = difficulty;
    spec.choices = choices;
    return detail::choose_kernel(spec);
  };
  const detail::KernelChoice none = choice({1, 3, 17, 64}, DIFFICULTY_NONE, 0);
  EXPECT_FALSE(none.difficulty);
  EXPECT_FALSE(none.choices);
  EXPECT_EQ(none.shared_bytes, 0u);
  for (int32_t family : {DIFFICULTY_NORMAL, DIFFICULTY_LOGISTIC, DIFFICULTY_KUMARASWAMY}) {
    const detail::KernelChoice fast = choice({1, 3, 17, 64}, family, 4);
    EXPECT_TRUE(fast.difficulty);
    EXPECT_TRUE(fast.choices);
    EXPECT_EQ(fast.fast_lengths, 4);
    EXPECT_EQ(fast.shared_bytes, 0u);  // per-item thresholds need no shared memory
    const detail::KernelChoice general = choice(lengths_up_to(MAX_LENGTH), family, 0);
    EXPECT_EQ(general.fast_lengths, 0);
    EXPECT_FALSE(general.choices);
    EXPECT_EQ(general.shared_bytes, detail::general_shared_bytes(MAX_LENGTH, MAX_LENGTH));
  }
}

// The kernels' per-item thresholds with difficulty are the core's group_thresholds in 32 bits
// (2^32 as 2^32 - 1 plus a bit for set_always_correct), 0 outside the unit and for inactive
// lanes; the choice kernel's per-group inputs are the core's log p and splits, and only the
// items inside the unit count.
TEST(CudaTilePlan, ItemThresholdsAndChoicesFollowTheCore) {
  const Sweep sweep = item_sweeps()[1];  // logistic:20: thresholds 0 and 2^32 in every scale
  const Sweep mc = item_sweeps()[10];    // 64 options, logistic:20
  int64_t always_seen = 0, zero_seen = 0, ordinary_seen = 0;
  // A unit ending inside the tile's last group, and one going on past the tile (the lanes
  // past the tile's end then hold items of the unit, which are not the tile's).
  for (int64_t item_end : {int64_t{597}, int64_t{1001}}) {
    for (const Sweep* which : {&sweep, &mc}) {
      const SweepSpec spec = which->spec();
      for (int32_t scale = 0; scale < spec.num_scales; ++scale) {
        for (int32_t replicate = 0; replicate < 2; ++replicate) {
          detail::Tile tile;
          tile.group_begin = 100;
          tile.num_groups = 50;
          tile.item_begin = 401;     // group 100 starts at item 400
          tile.item_end = item_end;  // 597: group 149 holds 596..599
          tile.scale = scale;
          tile.replicate = replicate;
          for (int32_t local = 0; local < 64; ++local) {
            const int64_t group = tile.group_begin + local;
            const bool active = local < tile.num_groups;
            uint64_t core[ITEMS_PER_GROUP];
            double log_p[ITEMS_PER_GROUP];
            group_item_model(spec, static_cast<uint32_t>(replicate), static_cast<uint32_t>(scale),
                             static_cast<uint32_t>(group), core, log_p);
            uint32_t thresholds[ITEMS_PER_GROUP];
            const uint32_t always =
                detail::item_model_thresholds(spec, tile, group, active, thresholds);
            detail::GroupChoices g;
            detail::group_choices(spec, tile, group, active, g);
            ChoiceSplit split[ITEMS_PER_GROUP];
            group_choice_splits(spec.seed, static_cast<uint32_t>(replicate),
                                static_cast<uint32_t>(group), spec.choices, split);
            for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
              const int64_t item = group * ITEMS_PER_GROUP + w;
              const bool inside = active && item >= tile.item_begin && item < tile.item_end;
              const std::string where = which->name + " scale " + std::to_string(scale) +
                                        " replicate " + std::to_string(replicate) + " item " +
                                        std::to_string(item);
              EXPECT_EQ((g.inside >> w) & 1u, inside ? 1u : 0u) << where;
              EXPECT_EQ(g.log_p[w], log_p[w]) << where;
              EXPECT_EQ(g.split[w].max_share, split[w].max_share) << where;
              EXPECT_EQ(g.split[w].sum_sq_share, split[w].sum_sq_share) << where;
              if (!inside) {
                EXPECT_EQ(thresholds[w], 0u) << where;
                EXPECT_EQ((always >> w) & 1u, 0u) << where;
                continue;
              }
              if (core[w] == THRESHOLD_ONE) {
                ++always_seen;
                EXPECT_EQ(thresholds[w], 0xffffffffu) << where;
                EXPECT_EQ((always >> w) & 1u, 1u) << where;
              } else {
                zero_seen += core[w] == 0 ? 1 : 0;
                ordinary_seen += core[w] != 0 ? 1 : 0;
                EXPECT_EQ(thresholds[w], core[w]) << where;
                EXPECT_EQ((always >> w) & 1u, 0u) << where;
              }
            }
          }
        }
      }
    }
  }
  EXPECT_GT(always_seen, 0);
  EXPECT_GT(zero_seen, 0);
  EXPECT_GT(ordinary_seen, 0);

  // An item counted with 2^32 - 1 gets k = length back; the others keep their counts.
  uint32_t k[ITEMS_PER_GROUP] = {3u, 7u, 0u, 9u};
  detail::set_always_correct(0b0101u, 9, k);
  EXPECT_EQ(k[0], 9u);
  EXPECT_EQ(k[1], 7u);
  EXPECT_EQ(k[2], 9u);
  EXPECT_EQ(k[3], 9u);
}

// The per-tile arithmetic of the kernels (thresholds 0 outside the unit, sums of k and k^2,
// then nL - sum k and nL^2 - 2L sum k + sum k^2) equals the reference on the host.
TEST(CudaTilePlan, HostEmulationOfTheKernelsMatchesTheReference) {
  for (const Sweep& sweep : sweeps()) {
    const std::vector<int64_t> expected =
        reference_tallies(sweep.grid(65536), all_ids(sweep.grid(65536)));
    for (int64_t items_per_unit : ITEMS_PER_UNIT) {
      const UnitGrid grid = sweep.grid(items_per_unit);
      expect_same_tallies(grid.spec, expected, emulate_tiles(grid, all_ids(grid)),
                          sweep.name + ", items_per_unit " + std::to_string(items_per_unit));
    }
  }
}

TEST(CudaTilePlan, HostEmulationMatchesTheReferenceAtTheLastItems) {
  for (bool items : {false, true}) {
    const HighItems high(items);
    const std::vector<int64_t> ids = high.ids();
    ASSERT_EQ(unit_at(high.grid, ids[1]).item_end, int64_t(MAX_ITEMS));
    ASSERT_EQ(unit_at(high.grid, ids[0]).item_end % ITEMS_PER_GROUP, 3);
    expect_same_tallies(high.grid.spec, reference_tallies(high.grid, ids),
                        emulate_tiles(high.grid, ids), high.sweep.name);
  }
}

// The kernels' Philox is the core's philox4x32_10, regrouped (stream, group and token
// prefixes, then philox_finish): the same words for any seed, scale, replicate, group, token.
TEST(CudaTilePlan, TheSplitPhiloxGivesTheCoresWords) {
  std::mt19937_64 rng(20240611);
  const uint32_t edge[] = {0u, 1u, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu};
  for (int i = 0; i < 20000; ++i) {
    const uint64_t seed = i < 36 ? (uint64_t{edge[i % 6]} << 32) | edge[i / 6] : rng();
    const uint32_t scale = i % 7 == 0 ? edge[i % 6] : static_cast<uint32_t>(rng());
    const uint32_t replicate = i % 5 == 0 ? edge[(i / 5) % 6] : static_cast<uint32_t>(rng());
    const uint32_t group = i % 3 == 0 ? edge[(i / 3) % 6] : static_cast<uint32_t>(rng());
    const uint32_t token = i % 4 == 0   ? (i % 8 == 0 ? MAX_TOKEN_INDEX : 0u)
                           : static_cast<uint32_t>(rng() % (MAX_TOKEN_INDEX + 1));
    const detail::RoundKeys keys = detail::round_keys(seed);
    const detail::StreamPrefix stream = detail::stream_prefix(keys, scale, replicate);
    const PhiloxCounter split =
        detail::philox_finish(keys, detail::group_prefix(keys, stream, group),
                              detail::token_prefix(keys, stream, token));
    const PhiloxCounter core = token_words(seed, replicate, scale, group, token);
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
      ASSERT_EQ(split.v[w], core.v[w]) << "seed " << seed << " scale " << scale << " replicate "
                                       << replicate << " group " << group << " token " << token;
    }
  }
}

// The fast kernels' packed counts: one byte per item, and per length the sums of k, of k^2 and
// the exact matches from byte dot products, for every count up to FAST_MAX_LENGTH and a whole
// thread's worth of groups (the packed sums' bounds).
TEST(CudaTilePlan, PackedCountsGiveTheGroupSums) {
  EXPECT_EQ(detail::dot4_s8(0x807f0102u, 0x80ff0304u, 5u),
            static_cast<uint32_t>(5 + 2 * 4 + 1 * 3 + 127 * -1 + -128 * -128));
  std::mt19937_64 rng(7);
  for (int32_t length = 1; length <= detail::FAST_MAX_LENGTH; ++length) {
    SweepSpec spec;
    std::vector<int32_t> lengths = {length};
    spec.num_lengths = 1;
    spec.length = lengths.data();
    const detail::FastLengths f = detail::fast_lengths(spec);
    uint32_t exact = 0u, squares = 0u;
    int64_t want_exact = 0, want_correct = 0, want_sq = 0;
    for (int g = 0; g < detail::GROUPS_PER_THREAD; ++g) {
      uint32_t k[ITEMS_PER_GROUP];
      uint32_t packed = 0u;
      for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
        // Mostly the extremes (all correct: the largest sums), else anything in 0..length.
        k[w] = rng() % 3 == 0 ? static_cast<uint32_t>(rng() % (length + 1))
                              : static_cast<uint32_t>(length);
        packed |= k[w] << (8 * w);
      }
      const detail::GroupSums want = detail::group_sums(k, length);
      want_exact += want.exact_match;
      want_correct += want.correct;
      want_sq += want.correct_sq;
      detail::add_length_packed(packed, f.exact_bias[0], exact, squares);
    }
    const detail::GroupSums got = detail::unpack_sums(exact, squares);
    ASSERT_EQ(got.exact_match, want_exact) << "length " << length;
    ASSERT_EQ(got.correct, want_correct) << "length " << length;
    ASSERT_EQ(got.correct_sq, want_sq) << "length " << length;
  }
  // Items that are always correct get byte L at each length.
  SweepSpec spec;
  std::vector<int32_t> lengths = {1, 2, 3, 4, 5};
  spec.num_lengths = 5;
  spec.length = lengths.data();
  const detail::FastLengths f = detail::fast_lengths(spec);
  EXPECT_EQ(f.dense, 1);
  EXPECT_EQ(f.length_bytes[4], 0x05050505u);
  EXPECT_EQ(f.exact_bias[4], 0x7b7b7b7bu);
  EXPECT_EQ(detail::bits_to_bytes(0b1010u), 0xff00ff00u);
  lengths = {1, 2, 4};
  spec.num_lengths = 3;
  EXPECT_EQ(detail::fast_lengths(spec).dense, 0);
  lengths = {2, 3};
  spec.num_lengths = 2;
  EXPECT_EQ(detail::fast_lengths(spec).dense, 0);
}

// A tile at threshold 0 or 2^32 draws nothing; interior tiles are those whose groups all lie
// in the unit.
TEST(CudaTilePlan, ConstantAndInteriorTiles) {
  EXPECT_EQ(detail::tile_draws(0), detail::TileDraws::NONE_CORRECT);
  EXPECT_EQ(detail::tile_draws(THRESHOLD_ONE), detail::TileDraws::ALL_CORRECT);
  EXPECT_EQ(detail::tile_draws(1), detail::TileDraws::SAMPLED);
  EXPECT_EQ(detail::tile_draws(THRESHOLD_ONE - 1), detail::TileDraws::SAMPLED);
  const detail::LengthTallies none =
      detail::constant_tile_tallies(detail::TileDraws::NONE_CORRECT, 10, 7);
  EXPECT_EQ(none.exact_match, 0);
  EXPECT_EQ(none.token_errors, 70);
  EXPECT_EQ(none.token_errors_sq, 490);
  const detail::LengthTallies all =
      detail::constant_tile_tallies(detail::TileDraws::ALL_CORRECT, 10, 7);
  EXPECT_EQ(all.exact_match, 10);
  EXPECT_EQ(all.token_errors, 0);
  EXPECT_EQ(all.token_errors_sq, 0);
  WorkUnit unit;
  unit.item_begin = 6;
  unit.item_end = 3 * detail::TILE_ITEMS + 5;  // groups 1..12289: tiles of 4096, 4096, 4096, 1
  EXPECT_FALSE(detail::tile_interior(detail::unit_tile(unit, 0)));
  EXPECT_TRUE(detail::tile_interior(detail::unit_tile(unit, 1)));
  EXPECT_TRUE(detail::tile_interior(detail::unit_tile(unit, 2)));
  EXPECT_FALSE(detail::tile_interior(detail::unit_tile(unit, 3)));
  // The 64-bit sum of k^2 kept as two words.
  EXPECT_TRUE(detail::low_word_carries(0xfffffff0u, 0x10u));
  EXPECT_FALSE(detail::low_word_carries(0xfffffff0u, 0x0fu));
}

// Batches come in whole waves of resident blocks (the last one excepted), at least
// MIN_BATCH_TILES_PER_SM per multiprocessor and at most MAX_BATCH_TILES.
TEST(CudaTilePlan, BatchesComeInWholeWaves) {
  // The long-L case: 2112 tiles over 396 resident blocks ran 5.33 waves as 6.
  const detail::BatchLimits h200 = detail::batch_limits(396, 132);
  EXPECT_EQ(h200.wave_tiles, 396);
  EXPECT_EQ(h200.min_tiles, 2376);  // 6 whole waves
  EXPECT_EQ(h200.max_tiles % 396, 0);
  EXPECT_LE(h200.max_tiles, detail::MAX_BATCH_TILES);
  EXPECT_EQ(detail::batch_limits(528, 132).min_tiles, 2112);
  EXPECT_EQ(detail::batch_limits(0, 0).wave_tiles, 1);

  const Sweep sweep = sweeps()[0];
  const UnitGrid grid = sweep.grid(1000);
  std::vector<WorkUnit> units;
  for (int64_t id : all_ids(grid)) units.push_back(unit_at(grid, id));
  const detail::TileSequence sequence(units.data(), static_cast<int64_t>(units.size()));
  for (int64_t wave : {1, 3, 7, 50}) {
    const detail::BatchLimits limits = detail::batch_limits(wave, 2);
    detail::BatchCursor cursor(sequence, 0, sequence.size(), max_length(grid.spec));
    std::vector<detail::Tile> out(static_cast<std::size_t>(limits.max_tiles));
    int64_t draws = 0, n = 0, tiles = 0;
    while ((n = cursor.next(limits, out.data(), &draws)) > 0) {
      tiles += n;
      if (tiles < sequence.size()) EXPECT_EQ(n % wave, 0) << "wave " << wave;
    }
    EXPECT_EQ(tiles, sequence.size());
  }
}

// A CUDA error names the device the thread works on, also when selecting it fails (a new
// thread's current device is 0). Runs everywhere: without a GPU every CUDA call fails.
TEST(CudaBackendErrors, NameTheDeviceThatFailed) {
  std::string message;
  std::thread worker([&] {
    try {
      detail::use_device_on_this_thread(1000);
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
  });
  worker.join();
  EXPECT_NE(message.find("CUDA error on device 1000"), std::string::npos) << message;
  EXPECT_NE(message.find("cudaSetDevice"), std::string::npos) << message;
}

// Argument checks come before any CUDA call, so they run without a device.
TEST(CudaBackendArguments, RejectsBadItemModelArgumentsWithoutADevice) {
  const Sweep sweep = item_sweeps()[10];  // difficulty and 64 options
  const UnitGrid grid = sweep.grid(4);
  std::vector<int64_t> out(tally_size(grid.spec), 0);
  const int64_t good = 0;
  auto rejects = [&](const UnitGrid& bad, const std::string& what, const std::string& word) {
    try {
      sample_units(bad, {0}, &good, 1, out.data(), {});
      ADD_FAILURE() << what << ": not refused";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << what << ": " << e.what();
    }
  };
  UnitGrid bad = grid;
  bad.spec.scale_logit = nullptr;
  rejects(bad, "difficulty without scale_logit", "scale_logit");
  bad = grid;
  bad.spec.scale_log_p = nullptr;
  rejects(bad, "choices without scale_log_p", "scale_log_p");
  bad = grid;
  bad.spec.difficulty = 7;
  rejects(bad, "an unknown family", "family");
  for (int32_t choices : {1, MAX_CHOICES + 1, -3}) {
    bad = grid;
    bad.spec.choices = choices;
    rejects(bad, "choices " + std::to_string(choices), "options");
  }
  bad = grid;
  bad.spec.threshold = nullptr;
  rejects(bad, "no threshold array", "threshold");
  std::vector<uint64_t> too_high = sweep.threshold;
  too_high[2] = THRESHOLD_ONE + 1;
  bad = grid;
  bad.spec.threshold = too_high.data();
  rejects(bad, "a threshold above 2^32", "2^32");
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](int64_t v) { return v == 0; }));
}

// ---- Tests that need a CUDA device -------------------------------------------------------------

class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    const std::vector<DeviceInfo> found = list_devices(&why);
    if (found.empty()) GTEST_SKIP() << "no CUDA device: " << why;
    for (const DeviceInfo& d : found) all_devices_.push_back(d.index);
  }

  //! GPU tallies of `ids`, added into a zeroed array.
  std::vector<int64_t> gpu(const UnitGrid& grid, const std::vector<int64_t>& ids,
                           const std::vector<int>& devices) {
    std::vector<int64_t> out(tally_size(grid.spec), 0);
    sample_units(grid, devices, ids.data(), static_cast<int64_t>(ids.size()), out.data(), {});
    return out;
  }

  std::vector<int> all_devices_;
};

TEST_F(CudaBackendTest, KnownAnswersOnTheDevice) {
  std::vector<TokenQuery> queries;
  for (const KnownToken& k : KNOWN_TOKENS) queries.push_back(k.query);
  const std::vector<uint32_t> device = test::device_token_uniforms(all_devices_[0], queries);
  ASSERT_EQ(device.size(), queries.size());
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const TokenQuery& q = queries[i];
    EXPECT_EQ(device[i], KNOWN_TOKENS[i].expected) << "query " << i;
    EXPECT_EQ(device[i], token_uniform(q.seed, q.replicate, q.scale, q.item, q.token))
        << "query " << i;
  }

  std::vector<PhiloxInput> inputs;
  for (const KnownPhilox& k : KNOWN_PHILOX) inputs.push_back(k.input);
  const std::vector<PhiloxOutput> outputs = test::device_philox(all_devices_[0], inputs);
  ASSERT_EQ(outputs.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    for (int w = 0; w < 4; ++w) {
      EXPECT_EQ(outputs[i].v[w], KNOWN_PHILOX[i].expected.v[w]) << "vector " << i << " word " << w;
    }
  }

  // A block of consecutive tokens and items, against the host.
  std::vector<TokenQuery> block;
  for (uint64_t item = 0; item < 37; ++item) {
    for (uint32_t token = 0; token < 70; token += 3) {
      block.push_back({0x9e3779b97f4a7c15ull, 2u, 5u, item * 1000003u, token});
    }
  }
  const std::vector<uint32_t> block_device = test::device_token_uniforms(all_devices_[0], block);
  for (std::size_t i = 0; i < block.size(); ++i) {
    const TokenQuery& q = block[i];
    ASSERT_EQ(block_device[i], token_uniform(q.seed, q.replicate, q.scale, q.item, q.token));
  }
}

TEST_F(CudaBackendTest, MatchesTheReferenceExactly) {
  for (const Sweep& sweep : sweeps()) {
    const UnitGrid reference_grid = sweep.grid(65536);
    const std::vector<int64_t> expected =
        reference_tallies(reference_grid, all_ids(reference_grid));
    for (int64_t items_per_unit : ITEMS_PER_UNIT) {
      const UnitGrid grid = sweep.grid(items_per_unit);
      expect_same_tallies(grid.spec, expected, gpu(grid, all_ids(grid), {all_devices_[0]}),
                          sweep.name + ", items_per_unit " + std::to_string(items_per_unit));
    }
  }
}

// Repeated attempts (docs/DESIGN.md §3.5): the attempts kernel gives attempt 0's item tallies
// and the histogram of correct attempts of sample_unit_attempts_reference, for any unit size.
TEST_F(CudaBackendTest, AttemptsMatchTheReference) {
  for (const Sweep& sweep : sweeps()) {
    if (sweep.name != "odd_sizes" && sweep.name != "normal" && sweep.name != "one_item") continue;
    for (int64_t items_per_unit : ITEMS_PER_UNIT) {
      UnitGrid grid = sweep.grid(items_per_unit);
      grid.spec.attempts = 5;
      const std::vector<int64_t> ids = all_ids(grid);
      std::vector<int64_t> expected(tally_size(grid.spec), 0);
      std::vector<ItemTally> per_length(static_cast<std::size_t>(grid.spec.num_lengths));
      const int32_t bins = attempt_bins(grid.spec);
      std::vector<int64_t> histogram(per_length.size() * static_cast<std::size_t>(bins));
      for (int64_t id : ids) {
        std::fill(per_length.begin(), per_length.end(), ItemTally{});
        std::fill(histogram.begin(), histogram.end(), int64_t{0});
        const WorkUnit unit = unit_at(grid, id);
        sample_unit_attempts_reference(grid.spec, unit, per_length.data(), histogram.data());
        add_unit_tallies(grid.spec, unit, per_length.data(), expected.data());
        for (int32_t k = 0; k < grid.spec.num_lengths; ++k) {
          for (int32_t c = 0; c < bins; ++c) {
            expected[static_cast<std::size_t>(tally_array_index(
                grid.spec, attempt_tally(grid.spec, c), unit.scale, k, unit.segment,
                unit.replicate))] += histogram[static_cast<std::size_t>(k) * bins + c];
          }
        }
      }
      expect_same_tallies(grid.spec, expected, gpu(grid, ids, {all_devices_[0]}),
                          sweep.name + " with 5 attempts, items_per_unit " +
                              std::to_string(items_per_unit));
    }
  }
}

// Sampling until success (docs/DESIGN.md §3.6): the until kernel gives attempt 0's item
// tallies and the four until tallies of sample_unit_until_reference, for any unit size.
TEST_F(CudaBackendTest, UntilSuccessMatchesTheReference) {
  for (const Sweep& sweep : sweeps()) {
    if (sweep.name != "odd_sizes" && sweep.name != "normal" && sweep.name != "one_item") continue;
    for (int64_t items_per_unit : ITEMS_PER_UNIT) {
      UnitGrid grid = sweep.grid(items_per_unit);
      grid.spec.budget = 40;
      const std::vector<int64_t> ids = all_ids(grid);
      std::vector<int64_t> expected(tally_size(grid.spec), 0);
      std::vector<ItemTally> per_length(static_cast<std::size_t>(grid.spec.num_lengths));
      std::vector<int64_t> until(per_length.size() * NUM_UNTIL_TALLIES);
      for (int64_t id : ids) {
        std::fill(per_length.begin(), per_length.end(), ItemTally{});
        std::fill(until.begin(), until.end(), int64_t{0});
        const WorkUnit unit = unit_at(grid, id);
        sample_unit_until_reference(grid.spec, unit, per_length.data(), until.data());
        add_unit_tallies(grid.spec, unit, per_length.data(), expected.data());
        for (int32_t k = 0; k < grid.spec.num_lengths; ++k) {
          for (int which = 0; which < NUM_UNTIL_TALLIES; ++which) {
            expected[static_cast<std::size_t>(tally_array_index(
                grid.spec, until_tally(grid.spec, which), unit.scale, k, unit.segment,
                unit.replicate))] += until[static_cast<std::size_t>(k) * NUM_UNTIL_TALLIES + which];
          }
        }
      }
      expect_same_tallies(grid.spec, expected, gpu(grid, ids, {all_devices_[0]}),
                          sweep.name + " until success, budget 40, items_per_unit " +
                              std::to_string(items_per_unit));
    }
  }
}

// A few small sweeps, one per kernel path (the fast kernels' dense walk over interior and
// boundary tiles, their sectioned walk, the general kernel, item difficulty, multiple
// choice): what scripts/gpu-check.sh runs under compute-sanitizer (racecheck, synccheck,
// memcheck), where the whole MatchesTheReferenceExactly would take too long.
TEST_F(CudaBackendTest, SmallSweepsMatchTheReference) {
  std::vector<Sweep> small;
  for (const Sweep& sweep : sweeps()) {
    for (const char* name : {"dense_bench", "odd_sizes", "general_fifteen_lengths",
                             "logistic_dense", "choice_4", "kumaraswamy_general"}) {
      if (sweep.name == name) small.push_back(sweep);
    }
  }
  ASSERT_EQ(small.size(), 6u);
  for (const Sweep& sweep : small) {
    const UnitGrid grid = sweep.grid(65536);
    const std::vector<int64_t> ids = all_ids(grid);
    expect_same_tallies(grid.spec, reference_tallies(grid, ids), gpu(grid, ids, all_devices_),
                        sweep.name);
  }
}

TEST_F(CudaBackendTest, MatchesTheReferenceAtTheLastItems) {
  for (bool items : {false, true}) {
    const HighItems high(items);
    const std::vector<int64_t> ids = high.ids();
    expect_same_tallies(high.grid.spec, reference_tallies(high.grid, ids),
                        gpu(high.grid, ids, all_devices_), high.sweep.name);
  }
}

TEST_F(CudaBackendTest, SplitsAndOrderDoNotChangeABit) {
  for (const Sweep& sweep : sweeps()) {
    const UnitGrid grid = sweep.grid(1000);
    const std::vector<int64_t> ids = all_ids(grid);
    const std::vector<int64_t> expected = gpu(grid, ids, {all_devices_[0]});
    expect_same_tallies(grid.spec, reference_tallies(grid, ids), expected, sweep.name);

    // Two calls, one per half, adding into the same array.
    std::vector<int64_t> halves(expected.size(), 0);
    const auto half = static_cast<int64_t>(ids.size() / 2);
    sample_units(grid, {all_devices_[0]}, ids.data(), half, halves.data(), {});
    sample_units(grid, {all_devices_[0]}, ids.data() + half,
                 static_cast<int64_t>(ids.size()) - half, halves.data(), {});
    expect_same_tallies(grid.spec, expected, halves, sweep.name + ", two halves");

    // Shuffled ids.
    std::vector<int64_t> shuffled = ids;
    std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(42));
    expect_same_tallies(grid.spec, expected, gpu(grid, shuffled, {all_devices_[0]}),
                        sweep.name + ", shuffled");

    // Every device, and device 0 three times over (three shares, three host threads).
    expect_same_tallies(grid.spec, expected, gpu(grid, shuffled, all_devices_),
                        sweep.name + ", all devices");
    const int d0 = all_devices_[0];
    expect_same_tallies(grid.spec, expected, gpu(grid, ids, {d0, d0, d0}),
                        sweep.name + ", one device three times");
  }
}

TEST_F(CudaBackendTest, ManySmallLaunchesGiveTheSameTallies) {
  for (const Sweep& sweep : {sweeps()[0], item_sweeps()[10]}) {
    const UnitGrid grid = sweep.grid(1000);
    const std::vector<int64_t> ids = all_ids(grid);
    const std::vector<int64_t> expected = reference_tallies(grid, ids);
    const detail::BatchLimits cases[] = {{1, 1, 1}, {1, 1, 3}, {1 << 20, 2, 50}};
    for (const detail::BatchLimits& limits : cases) {
      std::vector<int64_t> out(expected.size(), 0);
      std::vector<int64_t> reports;
      detail::sample_units_with_limits(
          grid, {all_devices_[0], all_devices_[0]}, ids.data(), static_cast<int64_t>(ids.size()),
          out.data(), [&](int64_t done) { reports.push_back(done); }, &limits);
      expect_same_tallies(grid.spec, expected, out,
                          sweep.name + ", max_tiles " + std::to_string(limits.max_tiles));
      ASSERT_FALSE(reports.empty());
      EXPECT_TRUE(std::is_sorted(reports.begin(), reports.end()));
      EXPECT_EQ(reports.back(), total_draws(grid, ids));
    }
  }
}

TEST_F(CudaBackendTest, AddsIntoTheTalliesAndReportsProgressOnTheCallingThread) {
  const Sweep sweep = sweeps()[4];
  const UnitGrid grid = sweep.grid(1000);
  const std::vector<int64_t> ids = all_ids(grid);
  const std::vector<int64_t> expected = reference_tallies(grid, ids);
  std::vector<int64_t> out(expected.size(), 5);
  std::vector<int64_t> reports;
  const std::thread::id caller = std::this_thread::get_id();
  bool on_caller = true;
  sample_units(grid, all_devices_, ids.data(), static_cast<int64_t>(ids.size()), out.data(),
               [&](int64_t done) {
                 reports.push_back(done);
                 on_caller = on_caller && std::this_thread::get_id() == caller;
               });
  for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], expected[i] + 5) << i;
  ASSERT_FALSE(reports.empty());
  EXPECT_TRUE(on_caller);
  EXPECT_TRUE(std::is_sorted(reports.begin(), reports.end()));
  EXPECT_EQ(reports.back(), total_draws(grid, ids));

  // No units: nothing changes, nothing is reported.
  std::vector<int64_t> untouched(expected.size(), 3);
  bool called = false;
  sample_units(grid, all_devices_, ids.data(), 0, untouched.data(),
               [&](int64_t) { called = true; });
  EXPECT_FALSE(called);
  EXPECT_TRUE(std::all_of(untouched.begin(), untouched.end(), [](int64_t v) { return v == 3; }));
}

TEST_F(CudaBackendTest, AThrowFromProgressLeavesTheTalliesUntouched) {
  const Sweep sweep = sweeps()[0];
  const UnitGrid grid = sweep.grid(4);
  const std::vector<int64_t> ids = all_ids(grid);
  std::vector<int64_t> out(tally_size(grid.spec), 7);
  const detail::BatchLimits limits{1, 1, 2};
  EXPECT_THROW(detail::sample_units_with_limits(
                   grid, {all_devices_[0]}, ids.data(), static_cast<int64_t>(ids.size()),
                   out.data(), [](int64_t) { throw std::runtime_error("interrupted"); }, &limits),
               std::runtime_error);
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](int64_t v) { return v == 7; }));
}

TEST_F(CudaBackendTest, RejectsBadArguments) {
  const Sweep sweep = sweeps()[1];
  const UnitGrid grid = sweep.grid(4);
  std::vector<int64_t> out(tally_size(grid.spec), 0);
  const int64_t good = 0;
  const int64_t too_big = num_units(grid);
  int device_count = static_cast<int>(all_devices_.size());
  EXPECT_THROW(sample_units(grid, {}, &good, 1, out.data(), {}), std::invalid_argument);
  EXPECT_THROW(sample_units(grid, {-1}, &good, 1, out.data(), {}), std::invalid_argument);
  EXPECT_THROW(
      sample_units(grid, {all_devices_.back() + 1000 + device_count}, &good, 1, out.data(), {}),
      std::invalid_argument);
  EXPECT_THROW(sample_units(grid, {all_devices_[0]}, &too_big, 1, out.data(), {}),
               std::invalid_argument);
  UnitGrid bad = grid;
  bad.items_per_unit = 6;
  EXPECT_THROW(sample_units(bad, {all_devices_[0]}, &good, 1, out.data(), {}),
               std::invalid_argument);
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](int64_t v) { return v == 0; }));

  // Difficulty and multiple choice: every per-scale array the item model reads is copied.
  const Sweep hard = item_sweeps()[11];
  const UnitGrid with_items = hard.grid(4);
  std::vector<int64_t> items_out(tally_size(with_items.spec), 0);
  const std::vector<int64_t> all = all_ids(with_items);
  EXPECT_NO_THROW(sample_units(with_items, {all_devices_[0]}, all.data(),
                               static_cast<int64_t>(all.size()), items_out.data(), {}));
  expect_same_tallies(with_items.spec, reference_tallies(with_items, all), items_out,
                      "difficulty and multiple choice");
}

}  // namespace
}  // namespace mirage::cuda
