// Copyright (c) Mirage developers.
// The per-item sampler and the CPU backend: agreement with the reference, invariance to
// threads and to the split into work units, seeds, and the distribution of k.
#include <gtest/gtest.h>

#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/chi_squared.hpp>
#include <vector>

#include "run/backend.h"
#include "config/config.h"
#include "run/cpu_backend.h"
#include "mirage/sampler.h"
#include "run/simulation.h"
#include "sweep_segments.h"

namespace mirage {
namespace {

Config small_config() {
  Config c = default_config();
  c.scales = parse_scales("--scales", {"1e8:1e12:9"});
  c.lengths = {1, 2, 5, 9};
  c.test_sizes = {1, 7, 10, 333, 1001};
  c.replicates = 3;
  c.seed = 99;
  c.items_per_unit = 64;
  return c;
}

using testing_sweep::run_segments;

Counts run_counts(const Config& config, int32_t threads) {
  Sweep sweep(config);
  return nested_counts(sweep.spec(), run_segments(config, threads));
}

TEST(CpuSampler, EqualsReferenceOnUnalignedUnits) {
  const Config config = small_config();
  Sweep sweep(config);
  const SweepSpec& spec = sweep.spec();
  const WorkUnit units[] = {{0, 0, 0, 0, 1},      {1, 3, 2, 7, 10},  {2, 8, 3, 10, 333},
                            {0, 4, 4, 333, 1001}, {1, 5, 3, 13, 14}, {2, 2, 3, 11, 17}};
  for (const WorkUnit& unit : units) {
    std::vector<ItemTally> fast(spec.num_lengths), reference(spec.num_lengths);
    sample_unit_cpu(spec, unit, fast.data());
    sample_unit_reference(spec, unit, reference.data());
    for (int k = 0; k < spec.num_lengths; ++k) {
      EXPECT_EQ(fast[k].exact_match, reference[k].exact_match);
      EXPECT_EQ(fast[k].token_errors, reference[k].token_errors);
      EXPECT_EQ(fast[k].token_errors_sq, reference[k].token_errors_sq);
    }
  }
}

// A Sweep's grid finds units by binary search over its segments' first chunks; a plain grid
// walks the segments. Both name the same unit for every id, on uneven segments.
TEST(UnitGrid, BinarySearchFindsTheSameUnitsAsTheWalk) {
  Config c = default_config();
  c.scales = {1e8, 1e10};
  c.test_sizes = {1, 4, 64, 65, 200, 1000, 1001, 5000};
  c.replicates = 3;
  c.items_per_unit = 64;
  const Sweep sweep(c);
  const UnitGrid fast = sweep.grid();
  ASSERT_NE(fast.chunk_start, nullptr);
  const UnitGrid walk{sweep.spec(), c.items_per_unit};
  ASSERT_EQ(num_units(fast), num_units(walk));
  for (int64_t id = 0; id < num_units(walk); ++id) {
    const WorkUnit a = unit_at(fast, id), b = unit_at(walk, id);
    EXPECT_EQ(a.replicate, b.replicate) << id;
    EXPECT_EQ(a.scale, b.scale) << id;
    EXPECT_EQ(a.segment, b.segment) << id;
    EXPECT_EQ(a.item_begin, b.item_begin) << id;
    EXPECT_EQ(a.item_end, b.item_end) << id;
  }
}

TEST(CpuBackend, CountsIdenticalFor1And2And7Threads) {
  const Config config = small_config();
  const std::vector<int64_t> one = run_segments(config, 1);
  EXPECT_EQ(run_segments(config, 2), one);
  EXPECT_EQ(run_segments(config, 7), one);
}

TEST(CpuBackend, CountsIdenticalForAnySplitIntoUnits) {
  Config config = small_config();
  config.items_per_unit = 4;
  const Counts base = run_counts(config, 2);
  for (int64_t items : {8, 12, 1000, 65536}) {
    config.items_per_unit = items;
    const Counts other = run_counts(config, 2);
    EXPECT_EQ(other.exact_match, base.exact_match) << items;
    EXPECT_EQ(other.token_errors, base.token_errors) << items;
    EXPECT_EQ(other.token_errors_sq, base.token_errors_sq) << items;
  }
}

TEST(CpuBackend, UnitOrderDoesNotMatter) {
  const Config config = small_config();
  Sweep sweep(config);
  std::vector<int64_t> ids = all_unit_ids(sweep.grid());
  std::vector<int64_t> forward = sweep.zero_tallies();
  std::vector<int64_t> backward = forward;
  auto backend = make_cpu_backend(2);
  sample_units(*backend, sweep.grid(), ids, forward, false);
  std::reverse(ids.begin(), ids.end());
  // Two halves, in reverse order.
  const std::vector<int64_t> first(ids.begin(), ids.begin() + ids.size() / 2);
  const std::vector<int64_t> second(ids.begin() + ids.size() / 2, ids.end());
  sample_units(*backend, sweep.grid(), second, backward, false);
  sample_units(*backend, sweep.grid(), first, backward, false);
  EXPECT_EQ(forward, backward);
}

TEST(CpuBackend, SameSeedSameCountsOtherSeedOtherCounts) {
  Config config = small_config();
  const Counts a = run_counts(config, 2);
  const Counts b = run_counts(config, 2);
  EXPECT_EQ(a.exact_match, b.exact_match);
  EXPECT_EQ(a.token_errors_sq, b.token_errors_sq);
  config.seed = 100;
  const Counts c = run_counts(config, 2);
  EXPECT_NE(a.token_errors, c.token_errors);
}

TEST(CpuBackend, NestedCountsGrowWithTestSize) {
  const Config config = small_config();
  Sweep sweep(config);
  const SweepSpec& spec = sweep.spec();
  const Counts counts = run_counts(config, 2);
  for (int32_t s = 0; s < spec.num_scales; ++s) {
    for (int32_t k = 0; k < spec.num_lengths; ++k) {
      for (int32_t r = 0; r < spec.num_replicates; ++r) {
        for (int32_t t = 1; t < spec.num_test_sizes; ++t) {
          EXPECT_GE(counts.exact_match[tally_index(spec, s, k, t, r)],
                    counts.exact_match[tally_index(spec, s, k, t - 1, r)]);
          // Every item adds L - k >= 0 errors and at most L.
          const int64_t added = counts.token_errors[tally_index(spec, s, k, t, r)] -
                                counts.token_errors[tally_index(spec, s, k, t - 1, r)];
          EXPECT_GE(added, 0);
          EXPECT_LE(added,
                    int64_t(config.lengths[k]) * (config.test_sizes[t] - config.test_sizes[t - 1]));
        }
      }
    }
  }
}

TEST(CpuBackend, ProbabilityZeroAndOneAreExact) {
  // Thresholds 0 (p = 0) and 2^32 (p = 1), which the power law never reaches exactly.
  const std::vector<uint64_t> thresholds = {0, THRESHOLD_ONE};
  const std::vector<int32_t> lengths = {1, 2, 5, 9};
  const std::vector<int64_t> test_sizes = {1, 7, 10, 333};
  SweepSpec spec;
  spec.seed = 5;
  spec.num_scales = 2;
  spec.num_lengths = 4;
  spec.num_test_sizes = 4;
  spec.num_replicates = 2;
  spec.threshold = thresholds.data();
  spec.length = lengths.data();
  spec.test_size = test_sizes.data();
  const UnitGrid grid{spec, 64};
  std::vector<int64_t> segment(size_t(segment_tally_size(spec)), 0);
  auto backend = make_cpu_backend(2);
  sample_units(*backend, grid, all_unit_ids(grid), segment, false);
  const Counts counts = nested_counts(spec, segment);
  for (int32_t k = 0; k < spec.num_lengths; ++k) {
    for (int32_t t = 0; t < spec.num_test_sizes; ++t) {
      for (int32_t r = 0; r < spec.num_replicates; ++r) {
        const int64_t n = test_sizes[t], L = lengths[k];
        EXPECT_EQ(counts.exact_match[tally_index(spec, 0, k, t, r)], 0);
        EXPECT_EQ(counts.token_errors[tally_index(spec, 0, k, t, r)], n * L);
        EXPECT_EQ(counts.token_errors_sq[tally_index(spec, 0, k, t, r)], n * L * L);
        EXPECT_EQ(counts.exact_match[tally_index(spec, 1, k, t, r)], n);
        EXPECT_EQ(counts.token_errors[tally_index(spec, 1, k, t, r)], 0);
        EXPECT_EQ(counts.token_errors_sq[tally_index(spec, 1, k, t, r)], 0);
      }
    }
  }
}

// Per-item k at a fixed scale follows Binomial(L, p): Pearson chi-square goodness of fit over
// 200000 items, L = 8, p = 0.3 (fixed seed); critical value at 1 - 1e-4 from Boost.Math.
TEST(Sampler, CorrectTokensPerItemFollowBinomial) {
  const int32_t lengths[] = {8};
  const double p = 0.3;
  const uint64_t threshold = token_threshold(p);
  const double p_sampled = threshold_probability(threshold);
  std::vector<int64_t> histogram(9, 0);
  const uint32_t groups = 50000;
  for (uint32_t g = 0; g < groups; ++g) {
    sample_group(12345, 0, 0, g, threshold, lengths, 1, [&](int32_t, int32_t, const uint32_t* k) {
      for (int w = 0; w < 4; ++w) ++histogram[k[w]];
    });
  }
  const double items = 4.0 * groups;
  const boost::math::binomial_distribution<double> binomial(8, p_sampled);
  double chi2 = 0;
  for (int k = 0; k <= 8; ++k) {
    const double expected = items * boost::math::pdf(binomial, k);
    chi2 += (histogram[k] - expected) * (histogram[k] - expected) / expected;
  }
  const double critical =
      boost::math::quantile(boost::math::chi_squared_distribution<double>(8), 1.0 - 1e-4);
  EXPECT_LT(chi2, critical);
  // And the test has power: the histogram of p = 0.3 is far from Binomial(8, 0.31).
  const boost::math::binomial_distribution<double> wrong(8, 0.31);
  double chi2_wrong = 0;
  for (int k = 0; k <= 8; ++k) {
    const double expected = items * boost::math::pdf(wrong, k);
    chi2_wrong += (histogram[k] - expected) * (histogram[k] - expected) / expected;
  }
  EXPECT_GT(chi2_wrong, critical);
}

}  // namespace
}  // namespace mirage
