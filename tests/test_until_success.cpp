// Copyright (c) Mirage developers.
// Sampling until success (PassUntil; docs/DESIGN.md §2.2, §3.6, §4.1, §5.3): the extended
// attempt streams, the four tallies against a brute-force loop over the stream's definition,
// the token draws used, bit-identity across threads, units and shards, the pooled estimator
// against the exact truth without difficulty (and its interval's coverage), its bias with
// difficulty against an independent quadrature, and the refusals.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
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

TEST(UntilStream, AttemptsBeyond4095UseStreams5To7) {
  // Below 2^12 the words of --attempts are unchanged; beyond, stream 4 + (a >> 12).
  EXPECT_EQ(attempt_token_word(7, 0), 7u);
  EXPECT_EQ(attempt_token_word(7, 1), 7u | (1u << 12) | (4u << 24));
  EXPECT_EQ(attempt_token_word(4095, 4095), 0x04ffffffu);
  EXPECT_EQ(attempt_token_word(0, 4096), 5u << 24);
  EXPECT_EQ(attempt_token_word(3, 4097), 3u | (1u << 12) | (5u << 24));
  EXPECT_EQ(attempt_token_word(4095, MAX_EXTENDED_ATTEMPT_INDEX), 0x07ffffffu);
  EXPECT_EQ(MAX_EXTENDED_ATTEMPT_INDEX + 1, uint32_t(MAX_BUDGET));
  // Attempt 4096 is not attempt 0, nor 1.
  EXPECT_NE(attempt_uniform(9, 0, 0, 5, 4096, 0), attempt_uniform(9, 0, 0, 5, 0, 0));
  EXPECT_NE(attempt_uniform(9, 0, 0, 5, 4096, 0), attempt_uniform(9, 0, 0, 5, 1, 0));
}

Config until_config() {
  Config c = default_config();
  c.scales = {3e8, 1e9, 1e10, 1e17};  // the last has p = 1
  c.lengths = {1, 3, 5};
  c.test_sizes = {10, 101, 203};
  c.replicates = 2;
  c.seed = 91;
  c.items_per_unit = 32;
  c.until_success = true;
  c.budget = 60;
  c.quiet = true;
  return c;
}

// The tallies counted item by item and attempt by attempt from attempt_uniform (not the
// sampler), with the item's threshold from the item model; and the token draws used.
void expect_brute_force(const Config& c) {
  const Sweep sweep(c);
  const SweepSpec& spec = sweep.spec();
  const std::vector<int64_t> segment = run_segments(c, 2);
  const Counts counts = nested_counts(spec, segment);
  const int32_t K = spec.num_lengths, T = spec.num_test_sizes;
  int64_t draws = 0;
  for (int32_t s = 0; s < spec.num_scales; ++s) {
    for (int32_t r = 0; r < spec.num_replicates; ++r) {
      std::vector<int64_t> sums(size_t(K) * NUM_UNTIL_TALLIES, 0);
      std::vector<int64_t> exact(size_t(K), 0);
      int64_t i = 0;
      for (int32_t t = 0; t < T; ++t) {
        for (; i < c.test_sizes[size_t(t)]; ++i) {
          uint64_t thresholds[ITEMS_PER_GROUP];
          group_thresholds(spec, uint32_t(r), uint32_t(s), uint32_t(i / 4), thresholds);
          const uint64_t threshold = thresholds[i % 4];
          for (int32_t k = 0; k < K; ++k) {
            int64_t used = c.budget, solved = 0;
            for (int32_t a = 0; a < c.budget; ++a) {
              bool all = true;
              for (int32_t j = 0; j < spec.length[k]; ++j) {
                all = all && attempt_uniform(c.seed, r, s, uint64_t(i), a, j) < threshold;
              }
              if (a == 0) exact[size_t(k)] += all ? 1 : 0;
              if (all) {
                used = a + 1;
                solved = 1;
                break;
              }
            }
            int64_t* cell = &sums[size_t(k) * NUM_UNTIL_TALLIES];
            cell[UNTIL_SOLVED] += solved;
            cell[UNTIL_ATTEMPTS] += used;
            cell[UNTIL_ATTEMPTS_SQ] += used * used;
            cell[UNTIL_SOLVED_ATTEMPTS] += solved * used;
            if (k == K - 1) draws += used * spec.length[K - 1];
          }
        }
        for (int32_t k = 0; k < K; ++k) {
          const size_t cell = size_t(tally_index(spec, s, k, t, r));
          const int64_t* want = &sums[size_t(k) * NUM_UNTIL_TALLIES];
          EXPECT_EQ(counts.until_solved[cell], want[UNTIL_SOLVED]) << s << " " << k << " " << t;
          EXPECT_EQ(counts.until_attempts[cell], want[UNTIL_ATTEMPTS]);
          EXPECT_EQ(counts.until_attempts_sq[cell], want[UNTIL_ATTEMPTS_SQ]);
          EXPECT_EQ(counts.until_solved_attempts[cell], want[UNTIL_SOLVED_ATTEMPTS]);
          EXPECT_EQ(counts.exact_match[cell], exact[size_t(k)]);
        }
      }
    }
  }
  EXPECT_EQ(until_draws(spec, segment), draws);
}

TEST(UntilSampling, TalliesEqualBruteForce) {
  Config c = until_config();
  expect_brute_force(c);
  c.difficulty = to_string(parse_difficulty("--difficulty", "normal:1.5"));
  expect_brute_force(c);
}

// Attempts beyond 4095 (streams 5..7): a rate of about 1e-4 with a budget of 9000.
TEST(UntilSampling, TalliesEqualBruteForceBeyond4096Attempts) {
  Config c = until_config();
  c.scales = {1.2e9};  // p = 0.25: p^6 = 2.4e-4
  c.lengths = {6};
  c.test_sizes = {6};
  c.replicates = 1;
  c.budget = 9000;
  expect_brute_force(c);
  const Counts counts = nested_counts(Sweep(c).spec(), run_segments(c, 1));
  // At least one item went past attempt 4096 (else the test would not test the new streams).
  EXPECT_GT(counts.until_attempts_sq[0], int64_t{4096} * 4096);
}

TEST(UntilSampling, BitIdenticalAcrossThreadsUnitsAndShards) {
  Config c = until_config();
  c.difficulty = to_string(parse_difficulty("--difficulty", "logistic:1"));
  const std::vector<int64_t> base = testing_sweep::expect_same_tallies_for_any_split(c);
  // The item tallies are attempt 0's: those of the plain sweep.
  Config plain = c;
  plain.until_success = false;
  plain.budget = 0;
  testing_sweep::expect_same_item_tallies(c, base, plain);
}

TEST(UntilEstimator, IntervalEnds) {
  // No success: estimate 0, lower end exactly 0, upper end Wilson's on the attempts.
  UntilSuccess v = until_success(10, 0, 1000, 100000, 0, 0.95);
  EXPECT_EQ(v.estimate, 0.0);
  EXPECT_EQ(v.interval.low, 0.0);
  const Interval w = proportion_interval(IntervalMethod::WILSON, 0, 1000, 0.95);
  EXPECT_NEAR(v.interval.high, w.high, 1e-12);
  // Every item right at once: estimate 1, upper end exactly 1.
  v = until_success(10, 10, 10, 10, 10, 0.95);
  EXPECT_EQ(v.estimate, 1.0);
  EXPECT_EQ(v.interval.high, 1.0);
  // Four items, three solved at attempt 10 and one censored at B = 10: q = 3 / 40.
  v = until_success(4, 3, 40, 400, 30, 0.95);
  EXPECT_DOUBLE_EQ(v.estimate, 0.075);
  EXPECT_GT(v.effective_attempts, 0.0);
  EXPECT_LE(v.interval.low, v.estimate);
  EXPECT_GE(v.interval.high, v.estimate);
}

// Without difficulty every item has the same rate q = p^L: the pooled estimate is within 4
// standard errors (sqrt(q^2 (1 - q) / n), the censored geometric's) of p^L in every cell, and
// the intervals cover p^L near 95 % of the time.
TEST(UntilEstimator, MatchesTheTruthAndCoversWithoutDifficulty) {
  Config c = default_config();
  c.scales = {1e9, 3e9, 1e10};
  c.lengths = {2, 4};
  c.test_sizes = {50};
  c.replicates = 400;
  c.seed = 2024;
  c.until_success = true;
  c.budget = 10000;
  c.quiet = true;
  const Results r = simulate(c, "test", nullptr);
  const MetricResult* m = r.metric("until_success");
  ASSERT_NE(m, nullptr);
  int64_t cells = 0, covered = 0;
  double worst = 0;
  for (int32_t s = 0; s < 3; ++s) {
    for (int32_t k = 0; k < 2; ++k) {
      const double q = std::pow(r.model.p_token[size_t(s)], c.lengths[size_t(k)]);
      EXPECT_NEAR(m->expected[size_t(s) * 2 + k], q, 1e-12 * q);
      // B q >> 1 here, so censoring is negligible and the pooled limit is q itself.
      EXPECT_NEAR(m->pooled_limit[size_t(s) * 2 + k], q, 1e-9 * q);
      const double se = std::sqrt(q * q * (1 - q) / 50);
      double sum = 0;
      for (int32_t rep = 0; rep < c.replicates; ++rep) {
        const size_t cell = (size_t(s) * 2 + k) * c.replicates + rep;
        const double z = std::fabs(m->estimate[cell] - q) / se;
        worst = std::max(worst, z);
        EXPECT_LT(z, 5.0) << s << " " << k << " " << rep;  // 2400 cells: allow 5 per cell
        sum += m->estimate[cell];
        ++cells;
        covered += m->ci_low[cell] <= q && q <= m->ci_high[cell] ? 1 : 0;
      }
      const double mean = sum / c.replicates;
      EXPECT_LT(std::fabs(mean - q) / (se / std::sqrt(double(c.replicates))), 4.0)
          << "mean " << mean << " truth " << q;
    }
  }
  const double coverage = double(covered) / cells;
  const double z = (coverage - 0.95) / std::sqrt(0.95 * 0.05 / cells);
  std::cout << "no difficulty: coverage " << coverage << " over " << cells
            << " cells (z = " << z << "), largest per-cell |z| " << worst << ", draws "
            << r.info.draws << "\n";
  EXPECT_LT(std::fabs(z), 4.0);
}

// E[f(q_i)] over d ~ N(0, sigma), q_i = sigmoid(logit p + d)^L, by the trapezoid rule on
// [-12 sigma, 12 sigma], written here independently of model/truth.cpp.
template <class F>
double over_items(double p, double sigma, F f) {
  const int steps = 40000;
  const double lo = -12 * sigma, h = 24 * sigma / steps;
  double sum = 0;
  for (int i = 0; i <= steps; ++i) {
    const double d = lo + i * h;
    const double x = std::log(p) - std::log1p(-p) + d;
    const double pi = 1.0 / (1.0 + std::exp(-x));
    const double w = (i == 0 || i == steps) ? 0.5 : 1.0;
    sum += w * f(pi) * std::exp(-0.5 * d * d / (sigma * sigma));
  }
  return sum * h / (sigma * std::sqrt(2 * M_PI));
}

// With difficulty the pooled estimate s / sum t converges to E[1 - (1 - q_i)^B] / E[t_i], a
// weighted mean that weighs every item by its attempts, so the hard items count most: below
// the truth E[q_i]. The mean over replicates is within 4 standard errors of that limit (an
// independent quadrature) and many standard errors below the truth.
TEST(UntilEstimator, BiasWithDifficultyIsThePooledLimit) {
  Config c = default_config();
  c.scales = {3e9};
  c.lengths = {2};
  c.test_sizes = {2000};
  c.replicates = 24;
  c.seed = 7;
  c.until_success = true;
  c.budget = 1000;
  c.difficulty = to_string(parse_difficulty("--difficulty", "normal:1"));
  c.quiet = true;
  const Results r = simulate(c, "test", nullptr);
  const MetricResult* m = r.metric("until_success");
  ASSERT_NE(m, nullptr);
  const double p = r.model.p_token[0];
  const int L = 2, B = c.budget;
  const double truth = over_items(p, 1.0, [&](double pi) { return std::pow(pi, L); });
  const double solved =
      over_items(p, 1.0, [&](double pi) { return 1.0 - std::pow(1.0 - std::pow(pi, L), B); });
  const double attempts = over_items(p, 1.0, [&](double pi) {
    const double q = std::pow(pi, L);
    return (1.0 - std::pow(1.0 - q, B)) / q;
  });
  const double limit = solved / attempts;
  EXPECT_NEAR(m->expected[0], truth, 1e-7 * truth);
  EXPECT_NEAR(m->pooled_limit[0], limit, 1e-7 * limit);
  double sum = 0, sum_sq = 0;
  for (int32_t rep = 0; rep < c.replicates; ++rep) {
    sum += m->estimate[size_t(rep)];
    sum_sq += m->estimate[size_t(rep)] * m->estimate[size_t(rep)];
  }
  const double mean = sum / c.replicates;
  int64_t covers_limit = 0;
  for (int32_t rep = 0; rep < c.replicates; ++rep) {
    covers_limit += m->ci_low[size_t(rep)] <= limit && limit <= m->ci_high[size_t(rep)] ? 1 : 0;
  }
  const double sd = std::sqrt((sum_sq - sum * sum / c.replicates) / (c.replicates - 1));
  const double se = sd / std::sqrt(double(c.replicates));
  std::cout << "difficulty normal:1, p " << p << ", L 2, B 1000, n 2000: truth E[q] " << truth
            << ", pooled limit " << limit << " (bias " << limit - truth << ", "
            << (limit - truth) / truth * 100 << " %), mean estimate " << mean << " +- " << se
            << ", coverage of the truth " << m->summary.coverage[0] << ", of the limit "
            << double(covers_limit) / c.replicates << "\n";
  EXPECT_LT(std::fabs(mean - limit) / se, 4.0);
  EXPECT_GT((truth - mean) / se, 10.0);
}

using testing_cli::Outcome;

// Refusals are checked on a small sweep that would write bad.h5.
class UntilCli : public testing_cli::MirageCli {
 protected:
  void expect_refused(const std::string& args, std::initializer_list<const char*> fragments) {
    expect_refused_writing(
        "run --scales 1e9,1e10 --lengths 1,2 --test-sizes 10 --replicates 2 -q -o " +
            out("bad.h5") + " " + args,
        out("bad.h5"), fragments);
  }
};

TEST_F(UntilCli, Refusals) {
  expect_refused("--until-success", {"--budget", "value 0", "1 to 16384"});
  expect_refused("--until-success --budget 0", {"--budget", "value 0", "1 to 16384"});
  expect_refused("--until-success --budget 20000", {"--budget", "20000", "1 to 16384"});
  expect_refused("--budget 100", {"--budget", "100", "without --until-success"});
  expect_refused("--until-success --budget 100 --task multiple-choice",
                 {"--until-success", "multiple-choice", "free-form"});
  expect_refused("--until-success --budget 100 --attempts 4",
                 {"--until-success", "--attempts 4"});
}

// A result file holds the four tallies and the metric; shards merge to the same file, the
// token draws are the draws used (equal across shards), and the stored configuration repeats
// the run.
TEST_F(UntilCli, ResultFileShardsAndConfig) {
  const std::string sweep =
      "run --scales 1e9:1e11:3 --lengths 1,3 --test-sizes 10,100 --replicates 3 --seed 5 "
      "--items-per-unit 8 --until-success --budget 500 -q ";
  const Outcome plain_run = mirage(sweep + "-o " + out("plain.h5"));
  ASSERT_EQ(plain_run.code, 0) << plain_run.output;
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
  for (const char* name : {"/counts/until_solved", "/counts/until_attempts",
                           "/counts/until_attempts_sq", "/counts/until_solved_attempts"}) {
    const std::vector<int64_t> v = plain.read_int64(name);
    EXPECT_EQ(v.size(), size_t(3 * 2 * 2 * 3)) << name;
    EXPECT_EQ(other.read_int64(name), v) << name;
  }
  EXPECT_EQ(other.read_double("/metrics/until_success/estimate"),
            plain.read_double("/metrics/until_success/estimate"));
  EXPECT_EQ(plain.read_double("/metrics/until_success/pooled_limit").size(), size_t(3 * 2));
  EXPECT_EQ(plain.attr_int64("/metrics/until_success", "budget"), 500);
  EXPECT_EQ(plain.read_double("/summary/until_success/coverage").size(), size_t(3 * 2 * 2));
  EXPECT_TRUE(plain.exists("/emergence/until_success"));
  EXPECT_TRUE(plain.exists("/jumps/until_success"));
  // The frontier of sampling until success: per (length, test size), the first scale whose
  // replicates read 0 at most half the time, recomputed here from the estimates themselves.
  {
    const std::vector<double> estimate = plain.read_double("/metrics/until_success/estimate");
    const std::vector<double> frontier = plain.read_double("/frontier/until_success_scale");
    const std::vector<double> scales = plain.read_double("/model/scale");
    ASSERT_EQ(frontier.size(), size_t(2 * 2));
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
            << "L index " << k << ", n index " << t << ": " << got << " vs " << expected;
      }
    }
  }
  // The draws used: L_max x the attempts at the longest length over every test set's items.
  const std::vector<int64_t> attempts = plain.read_int64("/counts/until_attempts");
  int64_t used = 0;
  for (int32_t s = 0; s < 3; ++s) {
    for (int32_t r = 0; r < 3; ++r) used += attempts[((size_t(s) * 2 + 1) * 2 + 1) * 3 + r];
  }
  EXPECT_EQ(plain.attr_int64("/", "token_draws"), used * 3);
  EXPECT_EQ(other.attr_int64("/", "token_draws"), used * 3);
  {
    std::ofstream toml(out("run.toml"));
    toml << plain.attr_string("/config", "config_toml");
  }
  ASSERT_EQ(mirage("run --config " + out("run.toml") + " -q -o " + out("again.h5")).code, 0);
  const h5::File again = h5::File::open_read(out("again.h5"));
  EXPECT_EQ(again.read_int64("/counts/until_attempts"), attempts);
  // The table line.
  const Outcome table = mirage("run --scales 1e9:1e11:3 --lengths 1,3 --test-sizes 100 "
                               "--replicates 3 --until-success --budget 100 -o " +
                               out("table.h5"));
  ASSERT_EQ(table.code, 0) << table.output;
  EXPECT_NE(table.output.find("Sampling until success"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("frontier"), std::string::npos) << table.output;
}

// `mirage bench --until-success`: the draws it counts are those a run of the same sweep records
// (token_draws: what the outcomes used, not the budget's worth), and its options are checked.
TEST_F(UntilCli, BenchCountsTheDrawsARunRecords) {
  const std::string json = out("bench.json");
  testing_cli::Outcome o =
      mirage("bench --until-success --budget 8 --threads 2 --draws 2e7 -q --json " + json);
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("until success (budget 8)"), std::string::npos) << o.output;
  std::ifstream in(json);
  std::stringstream text;
  text << in.rdbuf();
  auto number = [&](const std::string& key) {
    const std::string s = text.str();
    const size_t at = s.find("\"" + key + "\": ");
    EXPECT_NE(at, std::string::npos) << key << " in " << s;
    return at == std::string::npos ? -1.0 : std::stod(s.substr(at + key.size() + 4));
  };
  const int64_t items = int64_t(number("items"));
  const double draws = number("draws");
  EXPECT_EQ(number("budget"), 8.0);
  ASSERT_GT(items, 10);
  // The bench sweep: 8 scales 1e8..1e13, lengths 1..5, 4 replicates, test sizes by decades up
  // to `items`, units of 2^20 items, the default seed.
  std::string sizes;
  for (int64_t n = 10; n < items; n *= 10) sizes += std::to_string(n) + ",";
  sizes += std::to_string(items);
  o = mirage("run --scales 1e8:1e13:8 --replicates 4 --test-sizes " + sizes +
             " --items-per-unit 1048576 --until-success --budget 8 --backend cpu -q -o " +
             out("r.h5"));
  ASSERT_EQ(o.code, 0) << o.output;
  const h5::File f = h5::File::open_read(out("r.h5"));
  EXPECT_EQ(double(f.attr_int64("/", "token_draws")), draws);
  // Fewer draws than the budget allows (most items at large scales succeed at once), more than
  // one attempt's worth.
  const double one_attempt = 8.0 * 4 * double(items) * 5;
  EXPECT_GT(draws, one_attempt);
  EXPECT_LT(draws, 8 * one_attempt);

  expect_refused_writing("bench --budget 8 -q", out("none"), {"--budget", "--until-success"});
  expect_refused_writing("bench --until-success -q", out("none"), {"--until-success", "--budget"});
  expect_refused_writing("bench --until-success --budget 0 -q", out("none"),
                         {"--budget", "1 to 16384"});
  expect_refused_writing("bench --until-success --budget 4 --attempts 3 -q", out("none"),
                         {"--until-success", "--attempts"});
}

}  // namespace
}  // namespace mirage
