// Copyright (c) Mirage developers.
// The CPU sampler's fast paths (host/run/cpu_backend.cpp, include/mirage/philox_batch.h) against
// the references they must equal bit for bit: Random123's philox4x32_R(10, ...) (Random123
// 1.14, the Debian librandom123-dev headers) for the batched Philox, and
// sample_unit_reference() (include/mirage/sampler.h) for the per-unit tallies.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "run/cpu_backend.h"
#include "mirage/model.h"
#include "mirage/philox_batch.h"
#include "mirage/sampler.h"
#include "mirage/stream.h"

namespace mirage {
namespace {

// The kernels this CPU runs; AVX2 is added only where the CPU has it.
std::vector<CpuKernel> runnable_kernels() {
  std::vector<CpuKernel> kernels = {CpuKernel::automatic, CpuKernel::portable};
  if (cpu_kernel_available(CpuKernel::avx2)) kernels.push_back(CpuKernel::avx2);
  return kernels;
}

// Counters and keys that random draws rarely hit: all-zero and all-one words and the edges of
// the 2^31 sign boundary that the AVX2 comparison offsets around.
const uint32_t EDGE_WORDS[] = {0u, 1u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFEu, 0xFFFFFFFFu};

using SoaFunction = void (*)(PhiloxKey, int64_t, uint32_t*, uint32_t*, uint32_t*, uint32_t*);

// Runs `soa` on batches of random counters (every word varying, lengths 0..40 so that the
// vector loops and their scalar tails both run) and compares each lane with Random123.
void expect_soa_equals_random123(SoaFunction soa) {
  std::mt19937_64 rng(20231101);
  for (int batch = 0; batch < 600; ++batch) {
    PhiloxKey key;
    key.v[0] = static_cast<uint32_t>(rng());
    key.v[1] = static_cast<uint32_t>(rng());
    if (batch < 36) {
      key.v[0] = EDGE_WORDS[batch % 6];
      key.v[1] = EDGE_WORDS[batch / 6];
    }
    const int n = batch % 41;
    std::vector<uint32_t> c[4];
    for (auto& words : c) {
      words.resize(static_cast<size_t>(n));
      for (auto& w : words) w = static_cast<uint32_t>(rng());
    }
    if (n > 0 && batch < 36) {
      for (auto& words : c) words[0] = EDGE_WORDS[batch % 6];
    }
    std::vector<uint32_t> out[4] = {c[0], c[1], c[2], c[3]};
    soa(key, n, out[0].data(), out[1].data(), out[2].data(), out[3].data());
    for (int i = 0; i < n; ++i) {
      PhiloxCounter ctr;
      for (int w = 0; w < 4; ++w) ctr.v[w] = c[w][static_cast<size_t>(i)];
      const PhiloxCounter expected = philox4x32_R(10, ctr, key);
      for (int w = 0; w < 4; ++w) {
        ASSERT_EQ(out[w][static_cast<size_t>(i)], expected.v[w])
            << "batch " << batch << " lane " << i << " word " << w;
      }
    }
  }
}

TEST(PhiloxBatch, PortableSoaEqualsRandom123) {
  expect_soa_equals_random123(philox4x32_10_soa);
}

TEST(PhiloxBatch, Avx2SoaEqualsRandom123) {
#if MIRAGE_HAVE_AVX2_PATH
  if (!cpu_has_avx2()) GTEST_SKIP() << "this CPU has no AVX2; only the portable path runs here";
  expect_soa_equals_random123(philox4x32_10_soa_avx2);
#else
  GTEST_SKIP() << "this build has no AVX2 path (not x86 with GCC or Clang)";
#endif
}

// The token-stream split (stream, group and token prefixes, then rounds 3..10) is Philox
// itself, for any counter and key.
TEST(PhiloxBatch, TokenStreamSplitEqualsRandom123) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    PhiloxKey key;
    PhiloxCounter ctr;
    key.v[0] = static_cast<uint32_t>(rng());
    key.v[1] = static_cast<uint32_t>(rng());
    for (auto& w : ctr.v) w = static_cast<uint32_t>(rng());
    if (i < 6 * 6) {
      ctr.v[i % 4] = EDGE_WORDS[i % 6];
      key.v[i % 2] = EDGE_WORDS[i / 6];
    }
    const PhiloxStreamPrefix p = philox_stream_prefix(key, ctr.v[2], ctr.v[3]);
    const PhiloxCounter x =
        philox_finish(p, philox_group_prefix(p, ctr.v[0]), philox_token_prefix(p, ctr.v[1]));
    const PhiloxCounter expected = philox4x32_R(10, ctr, key);
    for (int w = 0; w < 4; ++w) ASSERT_EQ(x.v[w], expected.v[w]) << "case " << i << " word " << w;
  }
}

using TokenBatchFunction = void (*)(const PhiloxStreamPrefix&, uint32_t, int64_t, uint32_t,
                                    uint32_t*, uint32_t*, uint32_t*, uint32_t*);

// A token batch: counters {c0_first + i, c1, c2, c3}, as the CPU sampler draws them.
void expect_token_batch_equals_random123(TokenBatchFunction batch) {
  std::mt19937_64 rng(99);
  for (int b = 0; b < 400; ++b) {
    PhiloxKey key;
    key.v[0] = static_cast<uint32_t>(rng());
    key.v[1] = static_cast<uint32_t>(rng());
    const int n = b % 37;
    // The last groups that the 32-bit counter word can address, and random ones.
    const uint32_t c0_first = b % 5 == 0 ? 0xFFFFFFFFu - static_cast<uint32_t>(n) + 1u
                                         : static_cast<uint32_t>(rng() >> 33);
    const uint32_t c1 = static_cast<uint32_t>(rng());
    const uint32_t c2 = static_cast<uint32_t>(rng());
    const uint32_t c3 = static_cast<uint32_t>(rng());
    const PhiloxStreamPrefix p = philox_stream_prefix(key, c2, c3);
    std::vector<uint32_t> out[4];
    for (auto& words : out) words.assign(static_cast<size_t>(n), 0u);
    batch(p, c0_first, n, c1, out[0].data(), out[1].data(), out[2].data(), out[3].data());
    for (int i = 0; i < n; ++i) {
      PhiloxCounter ctr;
      ctr.v[0] = c0_first + static_cast<uint32_t>(i);
      ctr.v[1] = c1;
      ctr.v[2] = c2;
      ctr.v[3] = c3;
      const PhiloxCounter expected = philox4x32_R(10, ctr, key);
      for (int w = 0; w < 4; ++w) {
        ASSERT_EQ(out[w][static_cast<size_t>(i)], expected.v[w])
            << "batch " << b << " lane " << i << " word " << w;
      }
    }
  }
}

TEST(PhiloxBatch, PortableTokenBatchEqualsRandom123) {
  expect_token_batch_equals_random123(philox_token_batch);
}

TEST(PhiloxBatch, Avx2TokenBatchEqualsRandom123) {
#if MIRAGE_HAVE_AVX2_PATH
  if (!cpu_has_avx2()) GTEST_SKIP() << "this CPU has no AVX2; only the portable path runs here";
  expect_token_batch_equals_random123(philox_token_batch_avx2);
#else
  GTEST_SKIP() << "this build has no AVX2 path (not x86 with GCC or Clang)";
#endif
}

TEST(CpuKernels, AvailabilityAndNames) {
  EXPECT_TRUE(cpu_kernel_available(CpuKernel::automatic));
  EXPECT_TRUE(cpu_kernel_available(CpuKernel::portable));
  EXPECT_EQ(cpu_kernel_available(CpuKernel::avx2), cpu_has_avx2());
  EXPECT_EQ(cpu_kernel_selected(), cpu_has_avx2() ? CpuKernel::avx2 : CpuKernel::portable);
  EXPECT_STREQ(cpu_kernel_name(CpuKernel::portable), "portable");
  EXPECT_STREQ(cpu_kernel_name(CpuKernel::avx2), "AVX2");
  EXPECT_STREQ(cpu_kernel_name(CpuKernel::automatic), cpu_kernel_name(cpu_kernel_selected()));
  if (!cpu_kernel_available(CpuKernel::avx2)) {
    const uint64_t threshold = 1u << 31;
    const int32_t lengths[] = {1};
    const int64_t sizes[] = {8};
    SweepSpec spec;
    spec.num_scales = spec.num_lengths = spec.num_test_sizes = spec.num_replicates = 1;
    spec.threshold = &threshold;
    spec.length = lengths;
    spec.test_size = sizes;
    ItemTally tally;
    EXPECT_THROW(sample_unit_cpu(spec, WorkUnit{0, 0, 0, 0, 8}, &tally, CpuKernel::avx2),
                 std::invalid_argument);
  }
}

// One scale per threshold under test.
const std::vector<uint64_t> THRESHOLDS = {
    0u,                       // p = 0: no token correct
    1u,                       // only u = 0 is correct
    uint64_t{1} << 31,        // p = 1/2, the AVX2 sign-offset boundary
    token_threshold(0.0916),  // the paper's toy model at 3.5e8 parameters
    token_threshold(0.9048),  // ... and at 2e11
    0xFFFFFFFFu,              // only u = 2^32 - 1 is wrong
    THRESHOLD_ONE,            // p = 1: every token correct
};

// Units as the grid can make them and beyond: tiny ones, unaligned begins and ends, sizes
// that are and are not multiples of a kernel block (8 groups, 32 items), blocks with a tail,
// and the last items that the 32-bit group counter can address.
struct UnitRange {
  int64_t begin, end;
};
const UnitRange UNITS[] = {
    {0, 1},
    {5, 6},
    {3, 4},
    {0, 4},
    {1, 3},
    {0, 32},
    {0, 31},
    {1, 33},
    {2, 35},
    {3, 64},
    {4, 36},
    {7, 200},
    {32, 64},
    {13, 1000},
    {0, 1024},
    {1023, 2049},
    {100, 101},
    {0, 256 + 4 + 3},
    {(int64_t{1} << 34) - 101, int64_t{1} << 34},
    {(int64_t{1} << 34) - 64, int64_t{1} << 34},
};

// Item difficulty for expect_unit_equals_reference: a family and its parameters.
struct Items {
  int32_t family = DIFFICULTY_NONE;
  double a = 0.0, b = 0.0;
};

// logit(p) of each of THRESHOLDS (p = T / 2^32; +/-inf at the ends).
std::vector<double> threshold_logits() {
  std::vector<double> out;
  for (uint64_t t : THRESHOLDS) {
    const double p = threshold_probability(t);
    const double inf = std::numeric_limits<double>::infinity();
    out.push_back(p == 0.0 ? -inf : p == 1.0 ? inf : std::log(p) - std::log1p(-p));
  }
  return out;
}

void expect_unit_equals_reference(const std::vector<int32_t>& lengths, uint64_t seed,
                                  const std::vector<UnitRange>& units, int32_t replicate,
                                  Items items = {}) {
  const int64_t sizes[] = {int64_t{1} << 34};
  const std::vector<double> logits = threshold_logits();
  SweepSpec spec;
  spec.difficulty = items.family;
  spec.difficulty_a = items.a;
  spec.difficulty_b = items.b;
  spec.scale_logit = logits.data();
  spec.seed = seed;
  spec.num_scales = static_cast<int32_t>(THRESHOLDS.size());
  spec.num_lengths = static_cast<int32_t>(lengths.size());
  spec.num_test_sizes = 1;
  spec.num_replicates = replicate + 1;
  spec.threshold = THRESHOLDS.data();
  spec.length = lengths.data();
  spec.test_size = sizes;
  for (int32_t scale = 0; scale < spec.num_scales; ++scale) {
    for (const UnitRange& range : units) {
      const WorkUnit unit{replicate, scale, 0, range.begin, range.end};
      std::vector<ItemTally> reference(lengths.size());
      sample_unit_reference(spec, unit, reference.data());
      for (CpuKernel kernel : runnable_kernels()) {
        std::vector<ItemTally> fast(lengths.size());
        sample_unit_cpu(spec, unit, fast.data(), kernel);
        for (size_t k = 0; k < lengths.size(); ++k) {
          const std::string where = std::string("kernel ") + cpu_kernel_name(kernel) +
                                    ", difficulty " + std::to_string(items.family) +
                                    ", threshold " + std::to_string(THRESHOLDS[size_t(scale)]) +
                                    ", items [" + std::to_string(range.begin) + ", " +
                                    std::to_string(range.end) + "), length " +
                                    std::to_string(lengths[k]);
          ASSERT_EQ(fast[k].exact_match, reference[k].exact_match) << where;
          ASSERT_EQ(fast[k].token_errors, reference[k].token_errors) << where;
          ASSERT_EQ(fast[k].token_errors_sq, reference[k].token_errors_sq) << where;
        }
      }
    }
  }
}

TEST(CpuSampler, EqualsReferenceLength1) {
  expect_unit_equals_reference({1}, 2023, {std::begin(UNITS), std::end(UNITS)}, 0);
}

TEST(CpuSampler, EqualsReferenceLengths1_2_5) {
  expect_unit_equals_reference({1, 2, 5}, 42, {std::begin(UNITS), std::end(UNITS)}, 3);
}

TEST(CpuSampler, EqualsReferenceLengths3_17_64) {
  expect_unit_equals_reference({3, 17, 64}, 18364758544493064720ull,
                               {std::begin(UNITS), std::end(UNITS)}, 1);
}

TEST(CpuSampler, EqualsReferenceDefaultLengths) {
  expect_unit_equals_reference({1, 2, 3, 4, 5}, 0, {std::begin(UNITS), std::end(UNITS)}, 99);
}

// Thresholds equal to uniforms that the unit itself draws, so that one token sits exactly on
// the boundary (u = T is wrong, u = T - 1 right): a kernel that compared u <= T, or offset
// the signed comparison wrongly, would count it. Items are picked in the kernel blocks and in
// the scalar edges of the unit.
TEST(CpuSampler, EqualsReferenceWithThresholdsOnDrawnUniforms) {
  const uint64_t seed = 31337;
  const int32_t replicate = 2;
  const std::vector<int32_t> lengths = {1, 3, 6};
  const WorkUnit base{replicate, 0, 0, 5, 5 + 64 * 3 + 11};
  const int64_t items[] = {5, 6, 8, 9, 40, 77, 100, 150, 195, 200, 207};
  std::vector<uint64_t> thresholds;
  for (int64_t item : items) {
    for (uint32_t token : {0u, 2u, 5u}) {
      const auto scale = static_cast<uint32_t>(thresholds.size());
      const uint32_t u = token_uniform(seed, replicate, scale, static_cast<uint64_t>(item), token);
      thresholds.push_back(u);
    }
  }
  const int64_t sizes[] = {1000};
  SweepSpec spec;
  spec.seed = seed;
  spec.num_scales = static_cast<int32_t>(thresholds.size());
  spec.num_lengths = static_cast<int32_t>(lengths.size());
  spec.num_test_sizes = 1;
  spec.num_replicates = replicate + 1;
  spec.threshold = thresholds.data();
  spec.length = lengths.data();
  spec.test_size = sizes;
  for (int32_t scale = 0; scale < spec.num_scales; ++scale) {
    WorkUnit unit = base;
    unit.scale = scale;
    std::vector<ItemTally> reference(lengths.size());
    sample_unit_reference(spec, unit, reference.data());
    for (CpuKernel kernel : runnable_kernels()) {
      std::vector<ItemTally> fast(lengths.size());
      sample_unit_cpu(spec, unit, fast.data(), kernel);
      for (size_t k = 0; k < lengths.size(); ++k) {
        ASSERT_EQ(fast[k].exact_match, reference[k].exact_match)
            << cpu_kernel_name(kernel) << " scale " << scale << " length " << lengths[k];
        ASSERT_EQ(fast[k].token_errors, reference[k].token_errors)
            << cpu_kernel_name(kernel) << " scale " << scale << " length " << lengths[k];
        ASSERT_EQ(fast[k].token_errors_sq, reference[k].token_errors_sq)
            << cpu_kernel_name(kernel) << " scale " << scale << " length " << lengths[k];
      }
    }
  }
}

// Long targets: the AVX2 kernel's 32-bit lane sums are flushed into 64-bit sums every
// floor((2^32 - 1) / (4 L^2)) blocks of 32 items (63 at L = 4096); 140 blocks cross two
// flushes. A kernel that flushed too rarely would overflow the k^2 lane sums.
TEST(CpuSampler, EqualsReferenceAcrossLaneSumFlushes) {
  expect_unit_equals_reference({1, 100, MAX_LENGTH}, 77, {{3, 140 * 32 + 9}}, 0);
  expect_unit_equals_reference({1, 100, MAX_LENGTH}, 77, {{3, 140 * 32 + 9}}, 0,
                               {DIFFICULTY_LOGISTIC, 20.0, 0.0});
}

// Continuous item difficulty: every item its own threshold (item_model.h), on the block
// kernels (portable and AVX2, per-item threshold registers and the always-correct mask) and on
// the scalar edges. logistic:20 puts items with threshold 0 and 2^32 beside ordinary ones in
// every block, at every scale.
TEST(CpuSampler, EqualsReferenceWithNormalDifficulty) {
  expect_unit_equals_reference({1, 2, 5}, 42, {std::begin(UNITS), std::end(UNITS)}, 3,
                               {DIFFICULTY_NORMAL, 1.5, 0.0});
}

TEST(CpuSampler, EqualsReferenceWithExtremeLogisticDifficulty) {
  expect_unit_equals_reference({1, 3, 17, 64}, 7, {std::begin(UNITS), std::end(UNITS)}, 1,
                               {DIFFICULTY_LOGISTIC, 20.0, 0.0});
}

TEST(CpuSampler, EqualsReferenceWithKumaraswamyDifficulty) {
  expect_unit_equals_reference({1, 2, 3, 4, 5}, 99, {std::begin(UNITS), std::end(UNITS)}, 0,
                               {DIFFICULTY_KUMARASWAMY, 0.2, 2.0});
}

}  // namespace
}  // namespace mirage
