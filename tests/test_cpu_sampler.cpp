// Copyright (c) Mirage developers.
// The CPU sampler's fast paths (host/run/cpu_backend.cpp, include/mirage/philox_batch.h,
// include/mirage/philox_avx512.h) against
// the references they must equal bit for bit: Random123's philox4x32_R(10, ...) (Random123
// 1.14, the Debian librandom123-dev headers) for the batched Philox, and
// sample_unit_reference() (include/mirage/sampler.h) for the per-unit tallies.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "io/hdf5_file.h"
#include "mirage/model.h"
#include "mirage/philox_avx512.h"
#include "mirage/philox_batch.h"
#include "mirage/sampler.h"
#include "mirage/stream.h"
#include "run/cpu_backend.h"

namespace mirage {
namespace {

// The kernels this CPU runs; AVX2 and AVX-512 are added only where the CPU has them.
std::vector<CpuKernel> runnable_kernels() {
  std::vector<CpuKernel> kernels = {CpuKernel::automatic, CpuKernel::portable};
  if (cpu_kernel_available(CpuKernel::avx2)) kernels.push_back(CpuKernel::avx2);
  if (cpu_kernel_available(CpuKernel::avx512)) kernels.push_back(CpuKernel::avx512);
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

TEST(PhiloxBatch, Avx512SoaEqualsRandom123) {
#if MIRAGE_HAVE_AVX512_PATH
  if (!cpu_has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512F/BW; the AVX-512 path is not run";
  expect_soa_equals_random123(philox4x32_10_soa_avx512);
#else
  GTEST_SKIP() << "this build has no AVX-512 path (not x86-64 with GCC or Clang)";
#endif
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

TEST(PhiloxBatch, Avx512TokenBatchEqualsRandom123) {
#if MIRAGE_HAVE_AVX512_PATH
  if (!cpu_has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512F/BW; the AVX-512 path is not run";
  expect_token_batch_equals_random123(philox_token_batch_avx512);
#else
  GTEST_SKIP() << "this build has no AVX-512 path (not x86-64 with GCC or Clang)";
#endif
}

TEST(CpuKernels, AvailabilityAndNames) {
  EXPECT_TRUE(cpu_kernel_available(CpuKernel::automatic));
  EXPECT_TRUE(cpu_kernel_available(CpuKernel::portable));
  EXPECT_EQ(cpu_kernel_available(CpuKernel::avx2), cpu_has_avx2());
  // Where the CPU has AVX-512, the kernel also passed its start-up self-check.
  EXPECT_EQ(cpu_kernel_available(CpuKernel::avx512), cpu_has_avx512());
  EXPECT_EQ(cpu_kernel_selected(), cpu_has_avx512() ? CpuKernel::avx512
                                   : cpu_has_avx2() ? CpuKernel::avx2
                                                    : CpuKernel::portable);
  EXPECT_STREQ(cpu_kernel_name(CpuKernel::portable), "portable");
  EXPECT_STREQ(cpu_kernel_name(CpuKernel::avx2), "AVX2");
  EXPECT_STREQ(cpu_kernel_name(CpuKernel::avx512), "AVX-512");
  EXPECT_STREQ(cpu_kernel_name(CpuKernel::automatic), cpu_kernel_name(cpu_kernel_selected()));
  const uint64_t threshold = 1u << 31;
  const int32_t lengths[] = {1};
  const int64_t sizes[] = {8};
  SweepSpec spec;
  spec.num_scales = spec.num_lengths = spec.num_test_sizes = spec.num_replicates = 1;
  spec.threshold = &threshold;
  spec.length = lengths;
  spec.test_size = sizes;
  for (CpuKernel kernel : {CpuKernel::avx2, CpuKernel::avx512}) {
    if (cpu_kernel_available(kernel)) continue;
    ItemTally tally;
    EXPECT_THROW(sample_unit_cpu(spec, WorkUnit{0, 0, 0, 0, 8}, &tally, kernel),
                 std::invalid_argument)
        << cpu_kernel_name(kernel);
    EXPECT_THROW(force_cpu_kernel(kernel), std::invalid_argument) << cpu_kernel_name(kernel);
  }
}

// --cpu-kernel's names, and forcing a kernel: CpuKernel::automatic (what the CPU backend runs
// and names) follows force_cpu_kernel until it is given automatic again.
TEST(CpuKernels, ParseAndForce) {
  EXPECT_EQ(parse_cpu_kernel("--cpu-kernel", "auto"), CpuKernel::automatic);
  EXPECT_EQ(parse_cpu_kernel("--cpu-kernel", "portable"), CpuKernel::portable);
  EXPECT_EQ(parse_cpu_kernel("--cpu-kernel", "avx2"), CpuKernel::avx2);
  EXPECT_EQ(parse_cpu_kernel("--cpu-kernel", "avx512"), CpuKernel::avx512);
  for (const char* bad : {"", "AVX2", "avx-512", "sse4", "native"}) {
    try {
      parse_cpu_kernel("--cpu-kernel", bad);
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("--cpu-kernel: unknown CPU kernel"), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("allowed: auto, portable, avx2, avx512"),
                std::string::npos)
          << e.what();
    }
  }
  const CpuKernel fastest = cpu_kernel_selected();
  for (CpuKernel kernel : runnable_kernels()) {
    force_cpu_kernel(kernel);
    const CpuKernel expected = kernel == CpuKernel::automatic ? fastest : kernel;
    EXPECT_EQ(cpu_kernel_selected(), expected);
    EXPECT_STREQ(cpu_kernel_name(CpuKernel::automatic), cpu_kernel_name(expected));
  }
  force_cpu_kernel(CpuKernel::automatic);
  EXPECT_EQ(cpu_kernel_selected(), fastest);
  if (!cpu_kernel_available(CpuKernel::avx512)) {
    try {
      force_cpu_kernel(CpuKernel::avx512);
      ADD_FAILURE() << "avx512 was forced on a CPU without it";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("--cpu-kernel: value 'avx512' is not allowed here"),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(cpu_kernel_selected(), fastest);
  }
}

// The start-up self-check passes for every kernel that runs here, and sees a corrupted tally.
TEST(CpuKernels, SelfCheckPassesAndSeesCorruption) {
  for (CpuKernel kernel : runnable_kernels()) {
    EXPECT_EQ(cpu_kernel_self_check(kernel), "") << cpu_kernel_name(kernel);
    const std::string difference = cpu_kernel_self_check(kernel, true);
    EXPECT_NE(difference.find("reference"), std::string::npos)
        << cpu_kernel_name(kernel) << ": '" << difference << "'";
  }
}

// The fallback: when the AVX-512 kernel's start-up self-check sees a difference (here made by
// the test hook MIRAGE_TEST_CORRUPT_SELF_CHECK), the process runs the AVX2 kernel, refuses
// to force avx512, and says so on stderr exactly once. It runs in a fresh process (a
// "threadsafe" death test re-executes this test binary), since the self-check runs once per
// process.
TEST(CpuKernels, Avx512FallsBackToAvx2WhenSelfCheckFails) {
  if (!cpu_has_avx512())
    GTEST_SKIP() << "this CPU has no AVX-512F/BW: there is nothing to fall back from";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("MIRAGE_TEST_CORRUPT_SELF_CHECK", "1", 1);
        testing::internal::CaptureStderr();
        const bool available = cpu_kernel_available(CpuKernel::avx512);
        const CpuKernel selected = cpu_kernel_selected();
        bool refused = false;
        try {
          force_cpu_kernel(CpuKernel::avx512);
        } catch (const std::invalid_argument& e) {
          refused = std::string(e.what()).find("self-check") != std::string::npos;
        }
        const std::string name = cpu_kernel_name(CpuKernel::automatic);
        const std::string err = testing::internal::GetCapturedStderr();
        const std::string warning = "the AVX-512 CPU kernel failed its start-up self-check";
        const size_t first = err.find(warning);
        const bool once =
            first != std::string::npos && err.find(warning, first + 1) == std::string::npos;
        const bool says_avx2 = err.find("using the AVX2 kernel instead") != std::string::npos;
        const bool ok = !available && selected == CpuKernel::avx2 && refused && name == "AVX2" &&
                        once && says_avx2;
        if (!ok) {
          std::cerr << "available " << available << ", selected " << cpu_kernel_name(selected)
                    << ", refused " << refused << ", named " << name << ", stderr: " << err;
        }
        std::exit(ok ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
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
                                  Items items = {},
                                  const std::vector<CpuKernel>& kernels = runnable_kernels(),
                                  const std::vector<int32_t>& scales = {}) {
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
  std::vector<int32_t> all_scales;
  for (int32_t scale = 0; scale < spec.num_scales; ++scale) all_scales.push_back(scale);
  for (int32_t scale : scales.empty() ? all_scales : scales) {
    for (const UnitRange& range : units) {
      const WorkUnit unit{replicate, scale, 0, range.begin, range.end};
      std::vector<ItemTally> reference(lengths.size());
      sample_unit_reference(spec, unit, reference.data());
      for (CpuKernel kernel : kernels) {
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

// Every unit [b, e) with 0 <= b < 40 and 1 <= e - b <= 80: every way a unit can start and end
// inside a group, and leave 0..7 whole groups after its blocks, which the vector kernels sample
// as one AVX2 block with the items past the unit's end masked out of the sums.
TEST(CpuSampler, EqualsReferenceOnEveryShortUnit) {
  std::vector<UnitRange> units;
  for (int64_t b = 0; b < 40; ++b) {
    for (int64_t e = b + 1; e <= b + 80; ++e) units.push_back({b, e});
  }
  expect_unit_equals_reference({1, 2, 5}, 99, units, 2);
  // Counter words near the top: a block may not run past group 2^32 - 1.
  std::vector<UnitRange> top;
  for (int64_t back = 1; back <= 40; ++back) top.push_back({(int64_t{1} << 34) - back, int64_t{1} << 34});
  expect_unit_equals_reference({1, 3}, 5, top, 0);
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

// The AVX-512 kernel alone, on units cut to its blocks of AVX512_SETS = 6 sets of eight groups
// (192 items): shorter than a block, one block exactly, a block with one item more or less,
// partial groups at both ends around several blocks, and blocks with 1..47 whole groups left
// over (which run as AVX-512 blocks of one set of eight groups, then one masked AVX2 block or
// the reference). At every threshold of THRESHOLDS (0 and 2^32 included) and with the extreme
// logistic:20 difficulty, where blocks mix items of threshold 0 and 2^32 with ordinary ones.
const UnitRange AVX512_UNITS[] = {
    {0, 191},
    {0, 192},
    {1, 193},
    {0, 193},
    {3, 2 * 192 + 3},
    {5, 197},
    {2, 3 * 192 + 4 * 47 + 1},
    {64, 64 + 192 * 4 + 4},
    {191, 192 * 5 + 2},
    {7, 1000},
    {0, 4096},
    {(int64_t{1} << 34) - 192 * 3 - 5, int64_t{1} << 34},
};

TEST(CpuSamplerAvx512, EqualsReferenceOnBlockEdges) {
  if (!cpu_kernel_available(CpuKernel::avx512)) {
    GTEST_SKIP() << "this CPU has no AVX-512F/BW; the AVX-512 kernel is not run";
  }
  const std::vector<UnitRange> units(std::begin(AVX512_UNITS), std::end(AVX512_UNITS));
  expect_unit_equals_reference({1, 2, 3, 4, 5}, 2023, units, 0, {}, {CpuKernel::avx512});
  expect_unit_equals_reference({2, 7, 33}, 18364758544493064720ull, units, 5, {},
                               {CpuKernel::avx512});
  expect_unit_equals_reference({1, 3, 17, 64}, 7, units, 1, {DIFFICULTY_LOGISTIC, 20.0, 0.0},
                               {CpuKernel::avx512});
  expect_unit_equals_reference({1, 2, 5}, 42, units, 3, {DIFFICULTY_NORMAL, 1.5, 0.0},
                               {CpuKernel::avx512});
}

// Long targets on the AVX-512 kernel: its 32-bit lane sums are flushed every
// floor((2^32 - 1) / (2 * 6 * L^2)) blocks of 192 items (21 at L = 4096); 45 blocks cross two
// flushes, with and without per-item thresholds (logistic:20).
TEST(CpuSamplerAvx512, EqualsReferenceAcrossLaneSumFlushes) {
  if (!cpu_kernel_available(CpuKernel::avx512)) {
    GTEST_SKIP() << "this CPU has no AVX-512F/BW; the AVX-512 kernel is not run";
  }
  const std::vector<UnitRange> units = {{3, 45 * 192 + 9}};
  // Scales 3 and 4: the toy model at 3.5e8 and 2e11 parameters (p = 0.0916, 0.9048).
  expect_unit_equals_reference({1, 100, MAX_LENGTH}, 77, units, 0, {}, {CpuKernel::avx512}, {3, 4});
  expect_unit_equals_reference({1, 100, MAX_LENGTH}, 77, units, 0, {DIFFICULTY_LOGISTIC, 20.0, 0.0},
                               {CpuKernel::avx512}, {3});
}

// `--cpu-kernel` end to end (the mirage executable): an unknown name and a kernel this CPU
// lacks are refused with exit code 2 and a message naming the option, leaving no file; each
// available kernel runs, is named in the result file's `devices` attribute and in `mirage
// bench`'s output and JSON, and gives the same counts as every other.
class CpuKernelOption : public ::testing::Test {
 protected:
  struct Outcome {
    int code;
    std::string output;  // stdout and stderr together
  };
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("mirage_cpu_kernel_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Outcome mirage(const std::string& args) const {
    const std::string log = out("log.txt");
    const std::string command = std::string(MIRAGE_BINARY) + " " + args + " > " + log + " 2>&1";
    const int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read(log)};
  }
  std::string out(const std::string& name) const { return (dir_ / name).string(); }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  std::filesystem::path dir_;
};

TEST_F(CpuKernelOption, RefusedUnlessKnownAndAvailable) {
  Outcome o = mirage("run --cpu-kernel sse4 -q -o " + out("bad.h5"));
  EXPECT_EQ(o.code, 2) << o.output;
  EXPECT_NE(o.output.find("mirage: error: --cpu-kernel: unknown CPU kernel 'sse4'; allowed: auto, "
                          "portable, avx2, avx512"),
            std::string::npos)
      << o.output;
  EXPECT_FALSE(std::filesystem::exists(out("bad.h5")));
  o = mirage("bench --cpu-kernel AVX2 -q --draws 1e6");
  EXPECT_EQ(o.code, 2) << o.output;
  EXPECT_NE(o.output.find("--cpu-kernel: unknown CPU kernel 'AVX2'"), std::string::npos)
      << o.output;
  for (const char* name : {"avx2", "avx512"}) {
    if (cpu_kernel_available(parse_cpu_kernel("--cpu-kernel", name))) continue;
    o = mirage(std::string("run --cpu-kernel ") + name + " -q -o " + out("bad.h5"));
    EXPECT_EQ(o.code, 2) << o.output;
    EXPECT_NE(o.output.find(std::string("mirage: error: --cpu-kernel: value '") + name +
                            "' is not allowed here"),
              std::string::npos)
        << o.output;
    EXPECT_FALSE(std::filesystem::exists(out("bad.h5")));
    o = mirage(std::string("bench --cpu-kernel ") + name + " -q --draws 1e6");
    EXPECT_EQ(o.code, 2) << o.output;
  }
}

TEST_F(CpuKernelOption, NamedInResultsAndBenchWithTheSameCounts) {
  std::vector<int64_t> first;
  for (const char* name : {"auto", "portable", "avx2", "avx512"}) {
    const CpuKernel kernel = parse_cpu_kernel("--cpu-kernel", name);
    if (!cpu_kernel_available(kernel)) continue;
    const std::string expected_name =
        std::string(
            cpu_kernel_name(kernel == CpuKernel::automatic ? cpu_kernel_selected() : kernel)) +
        " kernel";
    const std::string file = out(std::string(name) + ".h5");
    Outcome o = mirage(std::string("run --cpu-kernel ") + name +
                       " --scales 1e8:1e12:5 --lengths 1,3,5 --test-sizes 10,1000,5000 "
                       "--replicates 3 --difficulty logistic:3 --backend cpu -q -o " +
                       file);
    ASSERT_EQ(o.code, 0) << name << "\n" << o.output;
    const h5::File h5 = h5::File::open_read(file);
    EXPECT_NE(h5.attr_string("/", "devices").find(expected_name), std::string::npos)
        << name << ": " << h5.attr_string("/", "devices");
    std::vector<int64_t> counts;
    for (const char* tally : {"exact_match", "token_errors", "token_errors_sq"}) {
      const std::vector<int64_t> c = h5.read_int64(std::string("/counts/") + tally);
      counts.insert(counts.end(), c.begin(), c.end());
    }
    if (first.empty()) first = counts;
    EXPECT_EQ(counts, first) << name;

    const std::string json = out(std::string(name) + ".json");
    o = mirage(std::string("bench --cpu-kernel ") + name + " --threads 1 --draws 1e6 -q --json " +
               json);
    ASSERT_EQ(o.code, 0) << name << "\n" << o.output;
    EXPECT_NE(o.output.find("(OpenMP, 1 thread, " + expected_name + ")"), std::string::npos)
        << name << "\n"
        << o.output;
    EXPECT_NE(read(json).find("\"device\": \"OpenMP, 1 thread, " + expected_name + "\""),
              std::string::npos)
        << name << "\n"
        << read(json);
  }
}

}  // namespace
}  // namespace mirage
