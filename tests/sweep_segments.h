// Copyright (c) Mirage developers.
//! \file sweep_segments.h
//! Sampling a sweep's work units on the CPU backend into segment tallies, for the tests that
//! compare the tallies of different splits of the same work.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "config/config.h"
#include "run/backend.h"
#include "run/simulation.h"

namespace mirage::testing_sweep {

//! The segment tallies of `config`'s work units (all of them, or `ids`) sampled with `threads`
//! CPU threads.
inline std::vector<int64_t> run_segments(const Config& config, int32_t threads,
                                         const std::vector<int64_t>* ids = nullptr) {
  Sweep sweep(config);
  std::vector<int64_t> segment = sweep.zero_tallies();
  auto backend = make_cpu_backend(threads);
  sample_units(*backend, sweep.grid(), ids ? *ids : all_unit_ids(sweep.grid()), segment, false);
  return segment;
}

//! The tallies of `config` do not depend on how its work is split: 1 or 2 threads, three shards
//! of units id mod 3 summed, or work units of 4, 12 or 65536 items. Returns them.
inline std::vector<int64_t> expect_same_tallies_for_any_split(const Config& config) {
  const std::vector<int64_t> base = run_segments(config, 1);
  EXPECT_EQ(run_segments(config, 2), base);
  Sweep sweep(config);
  const int64_t units = num_units(sweep.grid());
  std::vector<int64_t> sum(base.size(), 0);
  for (int64_t shard = 0; shard < 3; ++shard) {
    std::vector<int64_t> ids;
    for (int64_t id = shard; id < units; id += 3) ids.push_back(id);
    const std::vector<int64_t> part = run_segments(config, 2, &ids);
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += part[i];
  }
  EXPECT_EQ(sum, base);
  for (int64_t per_unit : {4, 12, 65536}) {
    Config other = config;
    other.items_per_unit = per_unit;
    EXPECT_EQ(run_segments(other, 2), base) << per_unit << " items per unit";
  }
  return base;
}

//! The item tallies (exact match, E, E2) of `segment`, sampled with `config`, equal those of
//! `plain` sampled on its own: what attempts and sampling until success must leave unchanged.
inline void expect_same_item_tallies(const Config& config, const std::vector<int64_t>& segment,
                                     const Config& plain) {
  const Counts with = nested_counts(Sweep(config).spec(), segment);
  const Counts without = nested_counts(Sweep(plain).spec(), run_segments(plain, 2));
  EXPECT_EQ(with.exact_match, without.exact_match);
  EXPECT_EQ(with.token_errors, without.token_errors);
  EXPECT_EQ(with.token_errors_sq, without.token_errors_sq);
}

}  // namespace mirage::testing_sweep
