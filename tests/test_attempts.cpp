// Copyright (c) Mirage developers.
// Repeated attempts and pass@k (docs/DESIGN.md §2.2, §3.5, §4.1): the attempt stream, the
// unbiased estimator, the histogram of correct attempts, pass@k against an independent truth,
// one attempt leaving every tally as it was, bit-identity across threads, units and shards,
// and the refusals.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <limits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_fixture.h"
#include "sweep_segments.h"
#include "cli/commands.h"
#include "config/config.h"
#include "io/hdf5_file.h"
#include "mirage/sampler.h"
#include "mirage/stream.h"
#include "model/difficulty.h"
#include "model/truth.h"
#include "run/cpu_backend.h"
#include "run/simulation.h"
#include "stats/reduction.h"
#include "stats/statistics.h"

namespace mirage {
namespace {

using testing_sweep::run_segments;

namespace fs = std::filesystem;

double choose(int n, int k) {
  if (k < 0 || k > n) return 0.0;
  double c = 1.0;
  for (int i = 1; i <= k; ++i) c = c * (n - k + i) / i;
  return c;
}

// Every outcome of A attempts (bit a set: attempt a right) and every k-subset of attempts: the
// fraction of subsets with a right attempt, averaged over outcomes with their probability,
// is pass@k = 1 - (1 - q)^k; and for each outcome that fraction is the estimator at its c.
TEST(PassAtK, EstimatorIsUnbiasedByEnumeration) {
  for (int32_t attempts : {1, 2, 3, 5}) {
    for (int32_t k = 1; k <= attempts; ++k) {
      for (uint32_t outcome = 0; outcome < (1u << attempts); ++outcome) {
        int hit = 0, subsets = 0;
        for (uint32_t subset = 0; subset < (1u << attempts); ++subset) {
          if (__builtin_popcount(subset) != k) continue;
          ++subsets;
          hit += (subset & outcome) != 0 ? 1 : 0;
        }
        const int32_t c = __builtin_popcount(outcome);
        EXPECT_NEAR(pass_at_k_estimator(attempts, c, k), double(hit) / subsets, 1e-15)
            << "A " << attempts << " k " << k << " c " << c;
      }
      for (double q : {0.0, 1e-3, 0.1, 0.5, 0.93, 1.0}) {
        long double mean = 0;
        for (int32_t c = 0; c <= attempts; ++c) {
          mean += choose(attempts, c) * std::pow(q, c) * std::pow(1 - q, attempts - c) *
                  pass_at_k_estimator(attempts, c, k);
        }
        EXPECT_NEAR(double(mean), 1.0 - std::pow(1.0 - q, k), 1e-14)
            << "A " << attempts << " k " << k << " q " << q;
      }
    }
  }
  // A = 3 by hand: 1 - C(3 - c, k) / C(3, k).
  EXPECT_DOUBLE_EQ(pass_at_k_estimator(3, 1, 1), 1.0 / 3);
  EXPECT_DOUBLE_EQ(pass_at_k_estimator(3, 1, 2), 2.0 / 3);
  EXPECT_EQ(pass_at_k_estimator(3, 2, 2), 1.0);
  EXPECT_EQ(pass_at_k_estimator(3, 0, 3), 0.0);
  EXPECT_EQ(pass_at_k_estimator(3, 1, 3), 1.0);
  // Large A stays in [0, 1] and matches the log-gamma form.
  const double v = pass_at_k_estimator(1000, 3, 100);
  const double ref = 1.0 - std::exp(std::lgamma(998.0) - std::lgamma(898.0) - std::lgamma(1001.0) +
                                    std::lgamma(901.0));
  EXPECT_NEAR(v, ref, 1e-12);
  EXPECT_THROW(pass_at_k_estimator(3, 4, 1), std::invalid_argument);
  EXPECT_THROW(pass_at_k_estimator(3, 1, 4), std::invalid_argument);
  EXPECT_THROW(pass_at_k_estimator(3, 1, 0), std::invalid_argument);
}

TEST(PassAtK, IntervalEnds) {
  // All items fail: estimate 0, lower end exactly 0; all succeed: upper end exactly 1; k = A
  // makes the per-item values 0/1, where the interval is Wilson's on n items.
  const int64_t none[] = {50, 0, 0, 0};
  PassAtK v = pass_at_k(none, 4, 2, 0.95);
  EXPECT_EQ(v.estimate, 0.0);
  EXPECT_EQ(v.interval.low, 0.0);
  EXPECT_GT(v.interval.high, 0.0);
  const int64_t all[] = {0, 0, 0, 50};
  v = pass_at_k(all, 4, 1, 0.95);
  EXPECT_EQ(v.estimate, 1.0);
  EXPECT_EQ(v.interval.high, 1.0);
  const int64_t mixed[] = {30, 5, 5, 10};
  v = pass_at_k(mixed, 4, 3, 0.95);
  const Interval wilson = proportion_interval(IntervalMethod::WILSON, 20, 50, 0.95);
  EXPECT_DOUBLE_EQ(v.estimate, 0.4);
  EXPECT_NEAR(v.interval.low, wilson.low, 1e-12);
  EXPECT_NEAR(v.interval.high, wilson.high, 1e-12);
}

TEST(AttemptStream, LayoutAndAttemptZero) {
  // Attempt 0 is the token stream; attempt a > 0 is j | a << 12 in stream 4.
  EXPECT_EQ(attempt_token_word(7, 0), 7u);
  EXPECT_EQ(attempt_token_word(7, 1), 7u | (1u << 12) | (4u << 24));
  EXPECT_EQ(attempt_token_word(4095, MAX_ATTEMPT_INDEX), 0x04ffffffu);
  EXPECT_GE(MAX_ATTEMPT_INDEX + 1, uint32_t(MAX_ATTEMPTS));
  for (uint64_t item : {0ull, 5ull, 1234567ull}) {
    for (uint32_t j : {0u, 3u, 4095u}) {
      EXPECT_EQ(attempt_uniform(42, 3, 2, item, 0, j), token_uniform(42, 3, 2, item, j));
      EXPECT_NE(attempt_uniform(42, 3, 2, item, 1, j), attempt_uniform(42, 3, 2, item, 2, j));
      EXPECT_NE(attempt_uniform(42, 3, 2, item, 1, j), token_uniform(42, 3, 2, item, j));
    }
  }
}

Config attempts_config() {
  Config c = default_config();
  c.scales = parse_scales("--scales", {"1e9:1e11:3"});
  c.lengths = {1, 3, 5};
  c.test_sizes = {10, 333, 1001};
  c.replicates = 3;
  c.seed = 77;
  c.items_per_unit = 64;
  c.attempts = 7;
  c.pass_at = {1, 3, 7};
  c.quiet = true;
  return c;
}

// The histogram is counted from the stream's definition, item by item and attempt by attempt
// with attempt_uniform (not sample_group), and attempt 0's tallies are the item tallies.
TEST(AttemptSampling, HistogramEqualsDirectCount) {
  Config c = attempts_config();
  const Sweep sweep(c);
  const SweepSpec& spec = sweep.spec();
  const Counts counts = nested_counts(spec, run_segments(c, 2));
  const int32_t bins = c.attempts + 1;
  for (int32_t s = 0; s < spec.num_scales; ++s) {
    for (int32_t r = 0; r < spec.num_replicates; ++r) {
      std::vector<int64_t> hist(size_t(spec.num_lengths) * bins, 0);
      std::vector<int64_t> exact(spec.num_lengths, 0);
      const int64_t n = c.test_sizes[1];
      for (int64_t i = 0; i < n; ++i) {
        for (int32_t k = 0; k < spec.num_lengths; ++k) {
          int32_t right = 0;
          for (int32_t a = 0; a < c.attempts; ++a) {
            bool all = true;
            for (int32_t j = 0; j < spec.length[k]; ++j) {
              all = all && attempt_uniform(c.seed, r, s, uint64_t(i), a, j) < spec.threshold[s];
            }
            right += all ? 1 : 0;
            if (a == 0) exact[k] += all ? 1 : 0;
          }
          ++hist[size_t(k) * bins + right];
        }
      }
      for (int32_t k = 0; k < spec.num_lengths; ++k) {
        const int64_t cell = tally_index(spec, s, k, 1, r);
        EXPECT_EQ(counts.exact_match[cell], exact[k]);
        for (int32_t b = 0; b < bins; ++b) {
          EXPECT_EQ(counts.attempt_histogram[size_t(cell) * bins + b], hist[size_t(k) * bins + b])
              << "s " << s << " r " << r << " L " << spec.length[k] << " c " << b;
        }
      }
    }
  }
}

// One attempt is the sweep of before: the pinned sums of DifficultySampling
// .NoDifficultyReproducesThePinnedTallies; with more attempts the item tallies (attempt 0)
// are the same numbers, so every existing metric is unchanged.
TEST(AttemptSampling, OneAttemptAndAttemptZeroKeepThePinnedTallies) {
  for (int32_t attempts : {1, 3}) {
    Config c = default_config();
    c.scales = parse_scales("--scales", {"1e8:1e12:9"});
    c.lengths = {1, 3, 5};
    c.test_sizes = {2000};
    c.replicates = 20;
    c.seed = 8080;
    c.attempts = attempts;
    c.pass_at = attempts > 1 ? std::vector<int32_t>{1} : std::vector<int32_t>{};
    c.quiet = true;
    const Results r = simulate(c, "test", nullptr);
    int64_t exact = 0, errors = 0, errors_sq = 0;
    for (size_t i = 0; i < r.counts.exact_match.size(); ++i) {
      exact += r.counts.exact_match[i];
      errors += r.counts.token_errors[i];
      errors_sq += r.counts.token_errors_sq[i];
    }
    EXPECT_EQ(exact, 419320) << attempts;
    EXPECT_EQ(errors, 1457024) << attempts;
    EXPECT_EQ(errors_sq, 4472522) << attempts;
    EXPECT_EQ(r.counts.attempt_histogram.empty(), attempts == 1);
    EXPECT_EQ(r.metric("pass_at_1") != nullptr, attempts > 1);
  }
}

// The CPU's attempts kernel (blocks of 32 items, the token-stream split) against
// sample_unit_attempts_reference, unit by unit: odd unit bounds, several blocks, item
// difficulty (per-item thresholds), p = 0 and p = 1.
TEST(AttemptSampling, CpuKernelEqualsTheReference) {
  for (const char* difficulty : {"none", "logistic:3"}) {
    Config c = attempts_config();
    c.scales = {1e3, 1e9, 1e10, 1e17};  // p = 0 (threshold 0) and p = 1 at the ends
    c.difficulty = to_string(parse_difficulty("--difficulty", difficulty));
    c.test_sizes = {3, 70, 333, 1001};
    c.items_per_unit = 132;
    const Sweep sweep(c);
    const SweepSpec& spec = sweep.spec();
    const UnitGrid grid = sweep.grid();
    std::vector<int64_t> expected = sweep.zero_tallies();
    const int32_t bins = attempt_bins(spec);
    for (int64_t id = 0; id < num_units(grid); ++id) {
      const WorkUnit unit = unit_at(grid, id);
      std::vector<ItemTally> per_length(spec.num_lengths);
      std::vector<int64_t> histogram(size_t(spec.num_lengths) * bins, 0);
      sample_unit_attempts_reference(spec, unit, per_length.data(), histogram.data());
      add_unit_tallies(spec, unit, per_length.data(), expected.data());
      for (int32_t k = 0; k < spec.num_lengths; ++k) {
        for (int32_t b = 0; b < bins; ++b) {
          expected[size_t(tally_array_index(spec, attempt_tally(spec, b), unit.scale, k,
                                            unit.segment, unit.replicate))] +=
              histogram[size_t(k) * bins + b];
        }
      }
    }
    EXPECT_EQ(run_segments(c, 2), expected) << difficulty;
  }
}

TEST(AttemptSampling, BitIdenticalAcrossThreadsUnitsAndShards) {
  const Config c = attempts_config();
  const std::vector<int64_t> base = testing_sweep::expect_same_tallies_for_any_split(c);
  // Every kernel gives attempt 0's item tallies as the plain sweep does.
  Config plain = c;
  plain.attempts = 1;
  plain.pass_at.clear();
  testing_sweep::expect_same_item_tallies(c, base, plain);
}

// E[1 - (1 - p_i^L)^k] by the trapezoid rule over d ~ N(0, sigma) on [-12 sigma, 12 sigma]
// (sigma = 0: no difficulty), written here independently of model/truth.cpp.
double independent_truth(double p, int32_t L, int32_t k, double sigma) {
  auto value = [&](double d) {
    const double x = std::log(p) - std::log1p(-p) + d;
    const double pi = 1.0 / (1.0 + std::exp(-x));
    return 1.0 - std::pow(1.0 - std::pow(pi, L), k);
  };
  if (sigma == 0.0) return value(0.0);
  const int steps = 20000;
  const double lo = -12 * sigma, h = 24 * sigma / steps;
  double sum = 0;
  for (int i = 0; i <= steps; ++i) {
    const double d = lo + i * h;
    const double w = (i == 0 || i == steps) ? 0.5 : 1.0;
    sum += w * value(d) * std::exp(-0.5 * d * d / (sigma * sigma));
  }
  return sum * h / (sigma * std::sqrt(2 * M_PI));
}

// pass@k across k, scales and lengths, with and without difficulty: the truth agrees with the
// independent integration, and every estimate lies within 4 standard errors of it.
TEST(PassAtK, EstimatesMatchTheTruth) {
  for (double sigma : {0.0, 1.5}) {
    Config c = default_config();
    c.scales = {1e9, 6e9, 3e10};
    c.lengths = {1, 4};
    c.test_sizes = {4000};
    c.replicates = 2;
    c.seed = 31;
    c.attempts = 20;
    c.pass_at = {1, 5, 20};
    c.difficulty = sigma > 0 ? "normal:" + std::to_string(sigma) : "none";
    c.difficulty = to_string(parse_difficulty("--difficulty", c.difficulty));
    c.quiet = true;
    const Results r = simulate(c, "test", nullptr);
    const int32_t bins = c.attempts + 1;
    double worst = 0;
    for (int32_t k : c.pass_at) {
      const MetricResult* m = r.metric(pass_at_name(k));
      ASSERT_NE(m, nullptr);
      EXPECT_EQ(m->k, k);
      for (int32_t s = 0; s < 3; ++s) {
        for (int32_t l = 0; l < 2; ++l) {
          const double truth =
              independent_truth(r.model.p_token[s], c.lengths[l], k, sigma);
          const double expected = m->expected[size_t(s) * 2 + l];
          EXPECT_NEAR(expected, truth, 1e-8 + 1e-7 * truth) << sigma << " " << k << " " << s;
          for (int32_t rep = 0; rep < c.replicates; ++rep) {
            const size_t cell = (size_t(s) * 2 + l) * c.replicates + rep;
            // The standard error from the per-item values.
            const int64_t* h = &r.counts.attempt_histogram[cell * bins];
            double n = 0, sum = 0, sum_sq = 0;
            for (int32_t b = 0; b < bins; ++b) {
              const double v = pass_at_k_estimator(c.attempts, b, k);
              n += h[b];
              sum += h[b] * v;
              sum_sq += h[b] * v * v;
            }
            ASSERT_EQ(n, 4000);
            EXPECT_DOUBLE_EQ(m->estimate[cell], sum / n);
            const double var = (sum_sq - sum * sum / n) / (n - 1);
            const double se = std::sqrt(std::max(var, 1e-300) / n);
            const double z = var > 0 ? std::fabs(m->estimate[cell] - truth) / se : 0.0;
            worst = std::max(worst, z);
            EXPECT_LT(z, 4.0) << "sigma " << sigma << " k " << k << " s " << s << " L "
                              << c.lengths[l] << " estimate " << m->estimate[cell]
                              << " truth " << truth;
            EXPECT_LE(m->ci_low[cell], m->estimate[cell]);
            EXPECT_GE(m->ci_high[cell], m->estimate[cell]);
          }
        }
      }
    }
    std::cout << "sigma " << sigma << ": largest |z| = " << worst << "\n";
  }
}

using testing_cli::Outcome;

// Refusals are checked on a small sweep that would write bad.h5.
class AttemptsCli : public testing_cli::MirageCli {
 protected:
  void expect_refused(const std::string& args, std::initializer_list<const char*> fragments) {
    expect_refused_writing(
        "run --scales 1e9,1e10 --lengths 1,2 --test-sizes 10 --replicates 2 -q -o " +
            out("bad.h5") + " " + args,
        out("bad.h5"), fragments);
  }
};

TEST_F(AttemptsCli, Refusals) {
  expect_refused("--attempts 3 --pass-at 1,4", {"--pass-at", "4", "--attempts (3)"});
  expect_refused("--attempts 4 --task multiple-choice", {"--attempts", "multiple-choice"});
  expect_refused("--attempts 0", {"--attempts", "value 0", "1 to 1024"});
  expect_refused("--attempts 2000", {"--attempts", "2000", "1 to 1024"});
  expect_refused("--pass-at 1", {"--pass-at", "--attempts"});
  expect_refused("--attempts 5 --pass-at 3,2", {"--pass-at", "strictly increasing"});
  expect_refused("--attempts 5 --pass-at 0", {"--pass-at", "value 0"});
}

// A result file holds the histogram and one metric group per k; shards merge to the same
// histogram as the plain run, and a configuration file's attempts and pass-at are honoured.
TEST_F(AttemptsCli, ResultFileShardsAndConfig) {
  const std::string sweep =
      "run --scales 1e9:1e11:3 --lengths 1,3 --test-sizes 10,100 --replicates 3 --seed 5 "
      "--items-per-unit 8 --attempts 10 --pass-at 1,10 -q ";
  ASSERT_EQ(mirage(sweep + "-o " + out("plain.h5")).code, 0);
  for (int k = 0; k < 2; ++k) {
    const Outcome o = mirage(sweep + "--threads 1 --shard " + std::to_string(k) + "/2 -o " +
                             out("part" + std::to_string(k) + ".h5"));
    ASSERT_EQ(o.code, 0) << o.output;
  }
  const Outcome merged =
      mirage("merge " + out("part1.h5") + " " + out("part0.h5") + " -q -o " + out("merged.h5"));
  ASSERT_EQ(merged.code, 0) << merged.output;
  const h5::File plain = h5::File::open_read(out("plain.h5"));
  const h5::File other = h5::File::open_read(out("merged.h5"));
  const std::vector<int64_t> hist = plain.read_int64("/counts/attempt_histogram");
  EXPECT_EQ(hist.size(), size_t(3 * 2 * 2 * 3 * 11));
  EXPECT_EQ(other.read_int64("/counts/attempt_histogram"), hist);
  EXPECT_EQ(other.read_double("/metrics/pass_at_10/estimate"),
            plain.read_double("/metrics/pass_at_10/estimate"));
  EXPECT_EQ(plain.attr_int64("/metrics/pass_at_10", "k"), 10);
  EXPECT_EQ(plain.read_double("/summary/pass_at_1/coverage").size(), size_t(3 * 2 * 2));
  EXPECT_TRUE(plain.exists("/emergence/pass_at_10"));
  EXPECT_TRUE(plain.exists("/jumps/pass_at_1"));
  // The frontier of each pass@k: per (length, test size), the first scale whose replicates
  // read 0 at most half the time, recomputed here from the estimates themselves.
  const std::vector<double> scales = plain.read_double("/model/scale");
  for (const char* name : {"pass_at_1", "pass_at_10"}) {
    const std::vector<double> estimate =
        plain.read_double(std::string("/metrics/") + name + "/estimate");
    const std::vector<double> frontier =
        plain.read_double(std::string("/frontier/") + name + "_scale");
    ASSERT_EQ(frontier.size(), size_t(2 * 2)) << name;
    EXPECT_EQ(other.read_double(std::string("/frontier/") + name + "_scale"), frontier) << name;
    for (int32_t k = 0; k < 2; ++k) {
      for (int32_t t = 0; t < 2; ++t) {
        double expected = std::numeric_limits<double>::quiet_NaN();
        for (int32_t s = 0; s < 3 && std::isnan(expected); ++s) {
          int zeros = 0;
          for (int32_t r = 0; r < 3; ++r) {
            zeros += estimate[((size_t(s) * 2 + k) * 2 + t) * 3 + r] == 0.0;
          }
          if (2 * zeros <= 3) expected = scales[size_t(s)];
        }
        const double got = frontier[size_t(k) * 2 + t];
        EXPECT_TRUE(got == expected || (std::isnan(got) && std::isnan(expected)))
            << name << " L index " << k << ", n index " << t << ": " << got << " vs " << expected;
      }
    }
  }
  // The stored configuration repeats the run.
  {
    std::ofstream toml(out("run.toml"));
    toml << plain.attr_string("/config", "config_toml");
  }
  ASSERT_EQ(mirage("run --config " + out("run.toml") + " -q -o " + out("again.h5")).code, 0);
  const h5::File again = h5::File::open_read(out("again.h5"));
  EXPECT_EQ(again.read_int64("/counts/attempt_histogram"), hist);
  EXPECT_EQ(again.read_double("/metrics/pass_at_1/estimate"),
            plain.read_double("/metrics/pass_at_1/estimate"));
}

}  // namespace
}  // namespace mirage
