// Copyright (c) Mirage developers.
// Tests of include/mirage/portable_math_avx2.h and include/mirage/item_model_avx2.h: every
// AVX2 function returns, lane by lane, exactly the bits of its scalar twin (portable_math.h,
// item_model.h), over millions of inputs per function (dense sweeps of the whole domain, the
// reduction boundaries and branch points, random doubles of every kind, the special values and
// the exact grids the samplers feed), each input set run both in order and shuffled, so that
// the lanes of a vector take different paths. Then the CPU backend's AVX2 paths (per-item
// thresholds, multiple choice) against the reference sampler.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mirage/item_model.h"
#include "mirage/item_model_avx2.h"
#include "mirage/model.h"
#include "mirage/philox_batch.h"
#include "mirage/portable_math.h"
#include "mirage/portable_math_avx2.h"
#include "mirage/sampler.h"
#include "mirage/sweep.h"
#include "run/backend.h"
#include "run/cpu_backend.h"

#if MIRAGE_HAVE_AVX2_PATH

namespace mirage {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMax = std::numeric_limits<double>::max();
constexpr double kMinNormal = std::numeric_limits<double>::min();
constexpr double kMinSub = std::numeric_limits<double>::denorm_min();
constexpr double kLn2 = 0x1.62e42fefa39efp-1;

#define SKIP_WITHOUT_AVX2() \
  if (!cpu_has_avx2()) GTEST_SKIP() << "this CPU has no AVX2; the AVX2 math is not used here"

uint64_t bits(double x) {
  return pm::to_bits(x);
}

//! Deterministic random source (std::mt19937_64 with our own conversions).
struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  uint64_t word() { return gen(); }
  double unit() { return static_cast<double>(word() >> 11) * 0x1p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * unit(); }
  //! |x| log-uniform between 2^lo_exp and 2^hi_exp with random low bits.
  double log_uniform(int lo_exp, int hi_exp) {
    const double x = std::exp2(uniform(lo_exp, hi_exp));
    return std::max(kMinSub, x * (1.0 + 0x1p-30 * unit()));
  }
  //! Any double: a uniformly random bit pattern (NaNs, infinities, subnormals included).
  double any() { return pm::from_bits(word()); }
};

void linspace(std::vector<double>& v, double lo, double hi, int count) {
  for (int i = 0; i < count; ++i) v.push_back(lo + (hi - lo) * i / (count - 1));
}

//! x and its `steps` neighbours on each side.
void around(std::vector<double>& v, double x, int steps) {
  v.push_back(x);
  double up = x, down = x;
  for (int i = 0; i < steps; ++i) {
    up = std::nextafter(up, kInf);
    down = std::nextafter(down, -kInf);
    v.push_back(up);
    v.push_back(down);
  }
}

//! Special values every function sees: zeros, infinities, NaNs of several kinds (positive,
//! negative, signalling, with payloads), the extremes of the normal and subnormal ranges.
void specials(std::vector<double>& v) {
  for (double x : {0.0, -0.0, kInf, -kInf, kMax, -kMax, kMinNormal, -kMinNormal, kMinSub, -kMinSub,
                   1.0, -1.0, 0.5, -0.5, 2.0, -2.0}) {
    v.push_back(x);
  }
  for (uint64_t b : {0x7ff8000000000000ull, 0xfff8000000000000ull, 0x7ff0000000000001ull,
                     0xfff0000000000001ull, 0x7ff4000000000000ull, 0x7fffffffffffffffull,
                     0xffffffffffffffffull, 0x7ff8000000000123ull}) {
    v.push_back(pm::from_bits(b));
  }
}

//! Common random inputs of every unary function: 600000 random bit patterns and 400000
//! log-uniform magnitudes of both signs.
void random_doubles(std::vector<double>& v, uint64_t seed) {
  Rng rng(seed);
  for (int i = 0; i < 600000; ++i) v.push_back(rng.any());
  for (int i = 0; i < 200000; ++i) {
    const double x = rng.log_uniform(-1074, 1023);
    v.push_back(x);
    v.push_back(-x);
  }
}

//! xs followed by a fixed shuffle of xs: sorted sweeps fill each vector with neighbours that
//! take the same path; shuffled, the four lanes of a vector mix paths.
std::vector<double> with_shuffled(std::vector<double> xs, uint64_t seed) {
  std::vector<double> s = xs;
  std::mt19937_64 gen(seed);
  for (size_t i = s.size(); i > 1; --i) std::swap(s[i - 1], s[gen() % i]);
  xs.insert(xs.end(), s.begin(), s.end());
  while (xs.size() % 4 != 0) xs.push_back(0.5);
  return xs;
}

// AVX2 batch drivers: the AVX2 functions are always inlined, so they need AVX2 callers.
#define MIRAGE_AVX2_BATCH(name, fn)                                                        \
  __attribute__((target("avx2"))) void name(const double* x, double* y, size_t n) {        \
    for (size_t i = 0; i < n; i += 4) _mm256_storeu_pd(y + i, fn(_mm256_loadu_pd(x + i))); \
  }
MIRAGE_AVX2_BATCH(batch_exp, pm::avx2::exp)
MIRAGE_AVX2_BATCH(batch_expm1, pm::avx2::expm1)
MIRAGE_AVX2_BATCH(batch_log, pm::avx2::log)
MIRAGE_AVX2_BATCH(batch_log1p, pm::avx2::log1p)
MIRAGE_AVX2_BATCH(batch_sigmoid, pm::avx2::sigmoid)
MIRAGE_AVX2_BATCH(batch_log_sigmoid, pm::avx2::log_sigmoid)
MIRAGE_AVX2_BATCH(batch_log1m_sigmoid, pm::avx2::log1m_sigmoid)
#undef MIRAGE_AVX2_BATCH

__attribute__((target("avx2"))) void batch_sigmoid_pair(const double* x, double* s, double* ls,
                                                        size_t n) {
  for (size_t i = 0; i < n; i += 4) {
    __m256d vs, vls;
    pm::avx2::sigmoid_and_log_sigmoid(_mm256_loadu_pd(x + i), vs, vls);
    _mm256_storeu_pd(s + i, vs);
    _mm256_storeu_pd(ls + i, vls);
  }
}

__attribute__((target("avx2"))) void batch_exp_expm1(const double* x, double* e, double* em1,
                                                     size_t n) {
  for (size_t i = 0; i < n; i += 4) {
    __m256d ve, vem1;
    pm::avx2::exp_and_expm1(_mm256_loadu_pd(x + i), ve, vem1);
    _mm256_storeu_pd(e + i, ve);
    _mm256_storeu_pd(em1 + i, vem1);
  }
}

__attribute__((target("avx2"))) void batch_log1p_or_log(const double* which, const double* a,
                                                        const double* b, double* y, size_t n) {
  for (size_t i = 0; i < n; i += 4) {
    const __m256d use_log1p =
        _mm256_cmp_pd(_mm256_loadu_pd(which + i), _mm256_setzero_pd(), _CMP_NEQ_OQ);
    _mm256_storeu_pd(
        y + i, pm::avx2::log1p_or_log(use_log1p, _mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i)));
  }
}

__attribute__((target("avx2"))) void batch_quantile(const double* p, const double* pc, double* y,
                                                    size_t n) {
  for (size_t i = 0; i < n; i += 4) {
    _mm256_storeu_pd(y + i,
                     pm::avx2::normal_quantile(_mm256_loadu_pd(p + i), _mm256_loadu_pd(pc + i)));
  }
}

//! Asserts bits(vector result) == bits(scalar f) for every input; returns the count checked.
template <class F>
size_t expect_bits_equal(const char* name, const std::vector<double>& xs,
                         const std::vector<double>& got, F scalar) {
  size_t bad = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double want = scalar(xs[i]);
    if (bits(got[i]) != bits(want)) {
      if (++bad <= 10) {
        ADD_FAILURE() << name << "(" << std::hexfloat << xs[i] << "): AVX2 " << got[i] << " (0x"
                      << std::hex << bits(got[i]) << "), scalar " << std::hexfloat << want << " (0x"
                      << std::hex << bits(want) << ")";
      }
    }
  }
  EXPECT_EQ(bad, 0u) << name << ": mismatches among " << xs.size() << " inputs";
  std::printf("  %-28s %zu inputs, bit-identical: %s\n", name, xs.size(), bad ? "NO" : "yes");
  return xs.size();
}

template <class Batch, class F>
void check_unary(const char* name, const std::vector<double>& inputs, uint64_t seed, Batch batch,
                 F scalar) {
  const std::vector<double> xs = with_shuffled(inputs, seed);
  std::vector<double> got(xs.size());
  batch(xs.data(), got.data(), xs.size());
  expect_bits_equal(name, xs, got, scalar);
}

// ---------------------------------------------------------------------------------------------
// Input sets.

std::vector<double> exp_inputs() {
  std::vector<double> v;
  const double lo = pm::detail::EXP_MIN_ARG, hi = pm::detail::EXP_MAX_ARG;
  linspace(v, -800.0, 800.0, 400001);
  linspace(v, lo, -700.0, 200001);  // subnormal results (scalar fallback) and their edge
  linspace(v, 700.0, hi, 20001);    // k = 1024 near the overflow threshold
  linspace(v, -2.0, 2.0, 100001);
  for (int k = -1076; k <= 1025; ++k) {
    around(v, (k + 0.5) * kLn2, 2);
    around(v, k * kLn2, 1);
  }
  for (int e = -1074; e <= 10; ++e) {
    for (double m : {1.0, 1.3, 1.7}) {
      v.push_back(std::ldexp(m, e));
      v.push_back(-std::ldexp(m, e));
    }
  }
  around(v, hi, 50);
  around(v, lo, 50);
  around(v, -0x1.6232bdd7abcd2p+9, 50);  // k = -1021 / -1022 boundary (x ~ -708.40)
  Rng rng(0xa0001);
  for (int i = 0; i < 600000; ++i) v.push_back(rng.uniform(-750.0, 750.0));
  random_doubles(v, 0xa0002);
  specials(v);
  return v;
}

std::vector<double> expm1_inputs() {
  std::vector<double> v;
  const double hi = pm::detail::EXP_MAX_ARG;
  linspace(v, -50.0, hi + 1.0, 400001);
  linspace(v, -2.0, 2.0, 200001);
  linspace(v, 709.0, hi, 20001);  // k = 1024
  for (int k = -60; k <= 1025; ++k) {
    around(v, (k + 0.5) * kLn2, 2);
    around(v, k * kLn2, 1);
  }
  for (int e = -1074; e <= 10; ++e) {
    for (double m : {1.0, 1.3, 1.7}) {
      v.push_back(std::ldexp(m, e));
      v.push_back(-std::ldexp(m, e));
    }
  }
  around(v, 0x1p-54, 3);
  around(v, -0x1p-54, 3);
  around(v, hi, 20);
  around(v, -40.0, 20);
  around(v, 1024 * kLn2, 20);
  Rng rng(0xa0003);
  for (int i = 0; i < 400000; ++i) v.push_back(rng.uniform(-45.0, 720.0));
  for (int i = 0; i < 200000; ++i) v.push_back(rng.uniform(-1.0, 1.0));
  random_doubles(v, 0xa0004);
  specials(v);
  return v;
}

std::vector<double> log_inputs() {
  std::vector<double> v;
  for (int i = 0; i <= 400000; ++i)
    v.push_back(std::exp2(-1074.0 + (1024.0 + 1074.0) * i / 400000));
  for (int e = -1074; e <= 1023; ++e) {
    v.push_back(std::ldexp(1.0, e));
    if (e < 1023) {
      around(v, std::ldexp(0x1.6a09e667f3bcdp+0, e), 2);
      v.push_back(std::nextafter(std::ldexp(1.0, e + 1), 0.0));
    }
  }
  around(v, 1.0, 2000);
  for (int e = 1; e <= 60; ++e) {
    v.push_back(1.0 + std::ldexp(1.0, -e));
    v.push_back(1.0 - std::ldexp(1.0, -e));
  }
  linspace(v, 0.5, 2.0, 200001);
  around(v, kMax, 5);
  around(v, kMinNormal, 5);
  around(v, kMinSub, 3);
  Rng rng(0xa0005);
  for (int i = 0; i < 600000; ++i)
    v.push_back(pm::from_bits(1 + rng.word() % 0x7fefffffffffffffull));
  for (int i = 0; i < 200000; ++i) v.push_back(rng.uniform(0.0, 2.0));
  // Exact grids the samplers take logs of: (2w + 1) / 2^33 and (2m + 1) / 2^53 and 1 - those.
  for (uint64_t w = 0; w < 65536; ++w) {
    v.push_back(static_cast<double>(2 * w + 1) * 0x1p-33);
    v.push_back(static_cast<double>(2 * (0xffffffffull - w) + 1) * 0x1p-33);
  }
  for (int i = 0; i < 200000; ++i) {
    const OpenUniform u =
        open_uniform(static_cast<uint32_t>(rng.word()), static_cast<uint32_t>(rng.word()));
    v.push_back(u.u);
    v.push_back(u.complement);
  }
  random_doubles(v, 0xa0006);
  specials(v);
  return v;
}

std::vector<double> log1p_inputs() {
  std::vector<double> v;
  for (int e = -1074; e <= 1023; ++e) {
    for (double m : {1.0, 1.3, 1.7}) {
      const double x = std::ldexp(m, e);
      if (x < kInf) v.push_back(x);
      if (x < 1.0) v.push_back(-x);
    }
  }
  linspace(v, -1.0, 3.0, 400001);
  linspace(v, -0.3, 0.42, 200001);
  for (int e = 1; e <= 53; ++e) {
    v.push_back(-1.0 + std::ldexp(1.0, -e));
    if (e <= 51) v.push_back(-1.0 + std::ldexp(3.0, -e - 2));
  }
  around(v, -1.0, 5);
  around(v, -1.0 + 0x1p-53, 3);
  around(v, 0x1.a827999fcef32p-2, 20);
  around(v, -0x1.2bec333018867p-2, 20);
  around(v, 0x1p-54, 3);
  around(v, -0x1p-54, 3);
  around(v, kMax, 3);
  Rng rng(0xa0007);
  for (int i = 0; i < 400000; ++i) v.push_back(rng.uniform(-1.0, 1.0));
  for (int i = 0; i < 200000; ++i) v.push_back(rng.log_uniform(0, 1023));
  random_doubles(v, 0xa0008);
  specials(v);
  return v;
}

std::vector<double> logistic_inputs() {
  std::vector<double> v;
  linspace(v, -800.0, 800.0, 400001);
  linspace(v, -40.0, 40.0, 400001);
  linspace(v, -760.0, -700.0, 100001);  // e^x with subnormal results
  linspace(v, 700.0, 760.0, 100001);
  for (int e = -1074; e <= 10; ++e) {
    v.push_back(std::ldexp(1.0, e));
    v.push_back(-std::ldexp(1.3, e));
  }
  around(v, 0.0, 5);
  Rng rng(0xa0009);
  for (int i = 0; i < 400000; ++i) v.push_back(rng.uniform(-750.0, 750.0));
  random_doubles(v, 0xa000a);
  specials(v);
  return v;
}

//! Quantile inputs (p, pc), mostly exact pairs p + pc = 1 in both orders, plus pairs that
//! break the precondition and invalid values (the functions must still agree bit for bit).
void quantile_inputs(std::vector<double>& ps, std::vector<double>& pcs) {
  const auto pair = [&](double p, double pc) {
    ps.push_back(p);
    pcs.push_back(pc);
  };
  const auto both = [&](double p) {
    const double pc = 1.0 - p;
    pair(p, pc);
    pair(pc, p);
  };
  // The samplers' forms: (w + 1/2) / 2^32 (both ends densely) and (2m + 1) / 2^53.
  for (uint64_t w = 0; w < 200000; ++w) both((w + 0.5) * 0x1p-32);
  Rng rng(0xa000b);
  for (int i = 0; i < 400000; ++i) both(((rng.word() >> 32) + 0.5) * 0x1p-32);
  for (int i = 0; i < 400000; ++i) {
    const OpenUniform u =
        open_uniform(static_cast<uint32_t>(rng.word()), static_cast<uint32_t>(rng.word()));
    pair(u.u, u.complement);
  }
  for (uint64_t m = 0; m < 100000; ++m) {  // the far tails of the 53-bit form, r > 5
    const OpenUniform u = open_uniform(0u, static_cast<uint32_t>(m << 12));
    pair(u.u, u.complement);
    pair(u.complement, u.u);
  }
  // Around 1/2 and the branch points |q| = 0.425 and r = 5 (p = e^-25).
  for (int i = 1; i <= 20000; ++i) both(0.5 - i * 0x1p-24);
  for (int e = 2; e <= 60; ++e) both(0.5 - std::ldexp(1.0, -e));
  for (int i = -20000; i <= 20000; ++i) both(0.075 + i * 0x1p-40);
  for (int i = -20000; i <= 20000; ++i) both(std::exp(-25.0) + i * 0x1p-80);
  // Log-uniform lower tail down to the smallest subnormal.
  for (int i = 0; i < 200000; ++i) {
    const double p = rng.log_uniform(-1074, -1);
    pair(p, 1.0 - p);
    if (p >= 0x1p-53) pair(1.0 - p, p);
  }
  for (int e = -1074; e <= -1; ++e) pair(std::ldexp(1.0, e), 1.0 - std::ldexp(1.0, e));
  // Special and invalid arguments, combined with each other.
  std::vector<double> sp = {0.0,  -0.0,   1.0,     0.5,      0.25,
                            0.75, 1e-300, kMinSub, -kMinSub, std::nextafter(1.0, 2.0),
                            2.0,  -1.0,   kInf,    -kInf};
  specials(sp);
  for (double p : sp) {
    for (double pc : sp) pair(p, pc);
  }
  // Random bit patterns in either argument.
  for (int i = 0; i < 200000; ++i) pair(rng.any(), rng.any());
  for (int i = 0; i < 100000; ++i) {
    const double p = rng.unit();
    pair(p, rng.any());
    pair(rng.any(), p);
  }
}

// ---------------------------------------------------------------------------------------------
// The math functions.

TEST(PortableMathAvx2, ExpBitIdentical) {
  SKIP_WITHOUT_AVX2();
  check_unary("exp", exp_inputs(), 1, batch_exp, [](double x) { return pm::exp(x); });
}

TEST(PortableMathAvx2, Expm1BitIdentical) {
  SKIP_WITHOUT_AVX2();
  check_unary("expm1", expm1_inputs(), 2, batch_expm1, [](double x) { return pm::expm1(x); });
}

TEST(PortableMathAvx2, ExpAndExpm1BitIdentical) {
  SKIP_WITHOUT_AVX2();
  // exp's inputs (the whole range of both) plus expm1's own thresholds.
  std::vector<double> in = exp_inputs();
  around(in, 0x1p-54, 3);
  around(in, -0x1p-54, 3);
  around(in, -40.0, 20);
  around(in, 1024 * kLn2, 20);
  linspace(in, -45.0, 5.0, 100001);
  const std::vector<double> xs = with_shuffled(in, 10);
  std::vector<double> e(xs.size()), em1(xs.size());
  batch_exp_expm1(xs.data(), e.data(), em1.data(), xs.size());
  expect_bits_equal("exp_and_expm1 (exp)", xs, e, [](double x) { return pm::exp(x); });
  expect_bits_equal("exp_and_expm1 (expm1)", xs, em1, [](double x) { return pm::expm1(x); });
}

TEST(PortableMathAvx2, LogBitIdentical) {
  SKIP_WITHOUT_AVX2();
  check_unary("log", log_inputs(), 3, batch_log, [](double x) { return pm::log(x); });
}

TEST(PortableMathAvx2, Log1pBitIdentical) {
  SKIP_WITHOUT_AVX2();
  check_unary("log1p", log1p_inputs(), 4, batch_log1p, [](double x) { return pm::log1p(x); });
}

// log1p_or_log: log1p of one argument or log of the other per lane, lanes chosen at random
// (or all alike, in runs), arguments from both input sets.
TEST(PortableMathAvx2, Log1pOrLogBitIdentical) {
  SKIP_WITHOUT_AVX2();
  const std::vector<double> a = with_shuffled(log1p_inputs(), 11);
  const std::vector<double> b = with_shuffled(log_inputs(), 12);
  const size_t n = std::max(a.size(), b.size());
  std::vector<double> which(n), aa(n), bb(n), got(n);
  Rng rng(0xa000e);
  for (size_t i = 0; i < n; ++i) {
    const size_t run = (i / 4096) % 3;  // runs of mixed, all-log1p and all-log vectors
    which[i] = run == 0 ? static_cast<double>(rng.word() & 1) : run == 1 ? 1.0 : 0.0;
    aa[i] = a[i % a.size()];
    bb[i] = b[i % b.size()];
  }
  batch_log1p_or_log(which.data(), aa.data(), bb.data(), got.data(), n);
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const double want = which[i] != 0.0 ? pm::log1p(aa[i]) : pm::log(bb[i]);
    if (bits(got[i]) != bits(want) && ++bad <= 10) {
      ADD_FAILURE() << (which[i] != 0.0 ? "log1p(" : "log(") << std::hexfloat
                    << (which[i] != 0.0 ? aa[i] : bb[i]) << "): AVX2 " << got[i] << ", scalar "
                    << want;
    }
  }
  EXPECT_EQ(bad, 0u);
  std::printf("  %-28s %zu inputs, bit-identical: %s\n", "log1p_or_log", n, bad ? "NO" : "yes");
}

TEST(PortableMathAvx2, LogisticBitIdentical) {
  SKIP_WITHOUT_AVX2();
  const std::vector<double> in = logistic_inputs();
  check_unary("sigmoid", in, 5, batch_sigmoid, [](double x) { return pm::sigmoid(x); });
  check_unary("log_sigmoid", in, 6, batch_log_sigmoid, [](double x) { return pm::log_sigmoid(x); });
  check_unary("log1m_sigmoid", in, 7, batch_log1m_sigmoid,
              [](double x) { return pm::log1m_sigmoid(x); });
  const std::vector<double> xs = with_shuffled(in, 8);
  std::vector<double> s(xs.size()), ls(xs.size());
  batch_sigmoid_pair(xs.data(), s.data(), ls.data(), xs.size());
  expect_bits_equal("sigmoid_and_log_sigmoid (s)", xs, s, [](double x) { return pm::sigmoid(x); });
  expect_bits_equal("sigmoid_and_log_sigmoid (ls)", xs, ls,
                    [](double x) { return pm::log_sigmoid(x); });
}

TEST(PortableMathAvx2, NormalQuantileBitIdentical) {
  SKIP_WITHOUT_AVX2();
  std::vector<double> p, pc;
  quantile_inputs(p, pc);
  // In order, then shuffled (the same permutation for both arguments).
  std::vector<size_t> order(p.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 gen(9);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen() % i]);
  const size_t n = p.size();
  for (size_t i = 0; i < n; ++i) {
    p.push_back(p[order[i]]);
    pc.push_back(pc[order[i]]);
  }
  while (p.size() % 4 != 0) {
    p.push_back(0.5);
    pc.push_back(0.5);
  }
  std::vector<double> got(p.size());
  batch_quantile(p.data(), pc.data(), got.data(), p.size());
  size_t bad = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double want = pm::normal_quantile(p[i], pc[i]);
    if (bits(got[i]) != bits(want) && ++bad <= 10) {
      ADD_FAILURE() << "normal_quantile(" << std::hexfloat << p[i] << ", " << pc[i] << "): AVX2 "
                    << got[i] << ", scalar " << want;
    }
  }
  EXPECT_EQ(bad, 0u);
  std::printf("  %-28s %zu inputs, bit-identical: %s\n", "normal_quantile(p, pc)", p.size(),
              bad ? "NO" : "yes");
}

// ---------------------------------------------------------------------------------------------
// The item model.

struct Family {
  int32_t family;
  double a, b;
  const char* name;
};

const Family kFamilies[] = {
    {DIFFICULTY_NORMAL, 1.5, 0.0, "normal:1.5"},
    {DIFFICULTY_NORMAL, 0.05, 0.0, "normal:0.05"},
    {DIFFICULTY_NORMAL, 40.0, 0.0, "normal:40"},
    {DIFFICULTY_LOGISTIC, 1.0, 0.0, "logistic:1"},
    {DIFFICULTY_LOGISTIC, 20.0, 0.0, "logistic:20"},
    {DIFFICULTY_KUMARASWAMY, 0.3, 1.0, "kumaraswamy:0.3:1"},
    {DIFFICULTY_KUMARASWAMY, 0.2, 2.0, "kumaraswamy:0.2:2"},
    {DIFFICULTY_KUMARASWAMY, 0.01, 100.0, "kumaraswamy:0.01:100"},
    {DIFFICULTY_KUMARASWAMY, 100.0, 0.01, "kumaraswamy:100:0.01"},
    {DIFFICULTY_KUMARASWAMY, 1.0, 1.0, "kumaraswamy:1:1"},
};

// Scale logits, +-inf included (p = 0 or 1).
const double kScaleLogits[] = {-kInf, -800.0, -30.0, -4.0, -0.3, 0.0, 0.7, 5.0, 36.0, 750.0, kInf};
constexpr int kNumScales = sizeof(kScaleLogits) / sizeof(kScaleLogits[0]);

SweepSpec family_spec(const Family& f, uint64_t seed) {
  SweepSpec spec;
  spec.seed = seed;
  spec.difficulty = f.family;
  spec.difficulty_a = f.a;
  spec.difficulty_b = f.b;
  spec.scale_logit = kScaleLogits;
  spec.num_scales = kNumScales;
  return spec;
}

// Word vector w of a set (lane l: item 4 l + w) into [scale][item 0..15].
__attribute__((target("avx2"))) void put(__m256i t, __m256d l, int scale, int w, uint64_t* to,
                                         double* lo) {
  alignas(32) uint64_t tt[4];
  alignas(32) double ll[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(tt), t);
  _mm256_store_pd(ll, l);
  for (int lane = 0; lane < 4; ++lane) {
    to[scale * 16 + lane * 4 + w] = tt[lane];
    if (lo != nullptr) lo[scale * 16 + lane * 4 + w] = ll[lane];
  }
}

// The set API (four groups at once) for groups g0..g0+3 at every scale: thresholds and log p
// into [scale][item 0..15] in item order, through item_model4_avx2 with log p (thresholds,
// log_p), item_model4_avx2 without (thresholds_only) and item_model_avx2 per word vector
// (thresholds1, log_p1).
__attribute__((target("avx2"))) void set_model(const SweepSpec& spec, uint32_t replicate,
                                               uint32_t g0, uint64_t* thresholds, double* log_p,
                                               uint64_t* thresholds_only, uint64_t* thresholds1,
                                               double* log_p1) {
  const ItemStreamsAvx2 s = item_streams_avx2(spec.seed, replicate);
  const ItemShiftParams m =
      item_shift_params(spec.difficulty, spec.difficulty_a, spec.difficulty_b);
  const PhiloxGroups4 g = item_groups_avx2(s, g0);
  OpenUniform4 u[ITEMS_PER_GROUP];
  set_difficulty_uniforms_avx2(s, g, u);
  for (int scale = 0; scale < spec.num_scales; ++scale) {
    __m256i t4[ITEMS_PER_GROUP], t4_only[ITEMS_PER_GROUP];
    __m256d l4[ITEMS_PER_GROUP];
    item_model4_avx2(m, spec.scale_logit[scale], u, t4, l4);
    item_model4_avx2(m, spec.scale_logit[scale], u, t4_only, nullptr);
    for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
      __m256d lp;
      const __m256i t1 = item_model_avx2(m, spec.scale_logit[scale], u[w], &lp);
      put(t4[w], l4[w], scale, w, thresholds, log_p);
      put(t4_only[w], l4[w], scale, w, thresholds_only, nullptr);
      put(t1, lp, scale, w, thresholds1, log_p1);
    }
  }
}

TEST(ItemModelAvx2, GroupModelBitIdenticalForEveryFamily) {
  SKIP_WITHOUT_AVX2();
  for (const Family& f : kFamilies) {
    const SweepSpec spec = family_spec(f, 0x5eed0000u + static_cast<uint64_t>(f.family));
    size_t items = 0, bad = 0;
    // Sets of four groups at the start, in the middle and at the top of the 32-bit group range;
    // two replicates.
    const uint32_t starts[] = {0u, 123456788u, 0xffffffffu - 4095u};
    for (uint32_t replicate : {0u, 7u}) {
      for (uint32_t start : starts) {
        for (uint32_t g0 = start; g0 - start < 4096u; g0 += 4) {
          uint64_t vt[kNumScales * 16], vt_only[kNumScales * 16], vt1[kNumScales * 16];
          double vl[kNumScales * 16], vl1[kNumScales * 16];
          set_model(spec, replicate, g0, vt, vl, vt_only, vt1, vl1);
          for (uint32_t scale = 0; scale < kNumScales; ++scale) {
            for (uint32_t q = 0; q < 4; ++q) {
              uint64_t st[ITEMS_PER_GROUP], gt[ITEMS_PER_GROUP];
              double sl[ITEMS_PER_GROUP], gl[ITEMS_PER_GROUP];
              group_item_model(spec, replicate, scale, g0 + q, st, sl);
              group_item_model_avx2(spec, replicate, scale, g0 + q, gt, gl);
              uint64_t gt_only[ITEMS_PER_GROUP];
              group_item_model_avx2(spec, replicate, scale, g0 + q, gt_only, nullptr);
              for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
                const size_t i = scale * 16 + q * 4 + static_cast<uint32_t>(w);
                const bool ok = vt[i] == st[w] && bits(vl[i]) == bits(sl[w]) &&
                                vt_only[i] == st[w] && vt1[i] == st[w] &&
                                bits(vl1[i]) == bits(sl[w]) && gt[w] == st[w] &&
                                bits(gl[w]) == bits(sl[w]) && gt_only[w] == st[w];
                ++items;
                if (!ok && ++bad <= 10) {
                  ADD_FAILURE() << f.name << " replicate " << replicate << " group " << g0 + q
                                << " item " << w << " logit " << kScaleLogits[scale]
                                << ": threshold " << st[w] << " / set " << vt[i] << " / group "
                                << gt[w] << ", log p " << std::hexfloat << sl[w] << " / set "
                                << vl[i] << " / group " << gl[w];
                }
              }
            }
          }
        }
      }
    }
    EXPECT_EQ(bad, 0u) << f.name;
    EXPECT_GE(items, 1000000u);
    std::printf("  %-28s %zu items x (threshold, log p), bit-identical: %s\n", f.name, items,
                bad ? "NO" : "yes");
  }
}

// Every difficulty uniform of the sampled grids, and the extreme uniforms (m = 0 and
// m = 2^52 - 1, i.e. u = 2^-53 and 1 - 2^-53, and their neighbours), through the shift.
__attribute__((target("avx2"))) void shift4(const ItemShiftParams& m, const double* u,
                                            const double* uc, double* d) {
  OpenUniform4 v;
  v.u = _mm256_loadu_pd(u);
  v.complement = _mm256_loadu_pd(uc);
  _mm256_storeu_pd(d, item_logit_shift_avx2(m, v));
}

__attribute__((target("avx2"))) void open4(const uint32_t* hi, const uint32_t* lo, double* u,
                                           double* uc) {
  const OpenUniform4 v = open_uniform_avx2(
      _mm256_setr_epi64x(int64_t{hi[0]} | (int64_t{0x1234} << 32), hi[1], hi[2], hi[3]),
      _mm256_setr_epi64x(lo[0], int64_t{lo[1]} | (int64_t{0x7777} << 32), lo[2], lo[3]));
  _mm256_storeu_pd(u, v.u);
  _mm256_storeu_pd(uc, v.complement);
}

TEST(ItemModelAvx2, ShiftBitIdenticalAtExtremeUniforms) {
  SKIP_WITHOUT_AVX2();
  std::vector<uint32_t> hi, lo;
  for (uint32_t k = 0; k < 4096; ++k) {
    hi.push_back(0u);
    lo.push_back(k << 12);
    hi.push_back(0xffffffffu);
    lo.push_back(0xffffffffu - (k << 12));
  }
  Rng rng(0xa000c);
  for (int i = 0; i < 8192; ++i) {
    hi.push_back(static_cast<uint32_t>(rng.word()));
    lo.push_back(static_cast<uint32_t>(rng.word()));
  }
  size_t checked = 0;
  for (const Family& f : kFamilies) {
    const ItemShiftParams m = item_shift_params(f.family, f.a, f.b);
    size_t bad = 0;
    for (size_t i = 0; i < hi.size(); i += 4) {
      double u[4], uc[4], d[4];
      open4(&hi[i], &lo[i], u, uc);
      shift4(m, u, uc, d);
      for (int l = 0; l < 4; ++l) {
        const OpenUniform s = open_uniform(hi[i + l], lo[i + l]);
        ASSERT_EQ(bits(u[l]), bits(s.u));
        ASSERT_EQ(bits(uc[l]), bits(s.complement));
        const double want = item_logit_shift(f.family, f.a, f.b, s);
        if (bits(d[l]) != bits(want) && ++bad <= 10) {
          ADD_FAILURE() << f.name << " u " << std::hexfloat << s.u << ": AVX2 " << d[l]
                        << ", scalar " << want;
        }
        ++checked;
      }
    }
    EXPECT_EQ(bad, 0u) << f.name;
  }
  std::printf("  %-28s %zu (family, u), bit-identical\n", "item_logit_shift", checked);
}

// ---------------------------------------------------------------------------------------------
// Multiple choice.

__attribute__((target("avx2"))) void set_splits(uint64_t seed, uint32_t replicate, uint32_t g0,
                                                int32_t choices, double* max_share,
                                                double* sum_sq_share) {
  const ItemStreamsAvx2 s = item_streams_avx2(seed, replicate);
  ChoiceSplit4 split[ITEMS_PER_GROUP];
  set_choice_splits_avx2(s, item_groups_avx2(s, g0), choices, split);
  for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
    alignas(32) double a[4], b[4];
    _mm256_store_pd(a, split[w].max_share);
    _mm256_store_pd(b, split[w].sum_sq_share);
    for (int l = 0; l < 4; ++l) {
      max_share[l * 4 + w] = a[l];
      sum_sq_share[l * 4 + w] = b[l];
    }
  }
}

TEST(ItemModelAvx2, ChoiceSplitsBitIdentical) {
  SKIP_WITHOUT_AVX2();
  size_t items = 0, bad = 0;
  for (int32_t choices : {2, 3, 4, 5, 11, 64}) {
    const uint32_t sets = choices <= 5 ? 8192u : 1024u;
    for (uint32_t g0 : {0u, 0xffffffffu - 4 * sets + 1}) {
      for (uint32_t set = 0; set < sets; ++set) {
        const uint32_t g = g0 + 4 * set;
        double ms[16], ss[16];
        set_splits(42, 3, g, choices, ms, ss);
        for (uint32_t q = 0; q < 4; ++q) {
          ChoiceSplit split[ITEMS_PER_GROUP];
          group_choice_splits(42, 3, g + q, choices, split);
          for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
            ++items;
            if ((bits(ms[q * 4 + w]) != bits(split[w].max_share) ||
                 bits(ss[q * 4 + w]) != bits(split[w].sum_sq_share)) &&
                ++bad <= 10) {
              ADD_FAILURE() << "choices " << choices << " group " << g + q << " item " << w;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(bad, 0u);
  std::printf("  %-28s %zu items, bit-identical: %s\n", "group_choice_splits", items,
              bad ? "NO" : "yes");
}

__attribute__((target("avx2"))) void outcome4(const double* log_p, int32_t length,
                                              const double* max_share, const double* sum_sq,
                                              ChoiceOutcome* out) {
  const ChoiceSplit4 split{_mm256_loadu_pd(max_share), _mm256_loadu_pd(sum_sq)};
  const ChoiceOutcome4 o = choice_outcome_avx2(_mm256_loadu_pd(log_p), length, split);
  alignas(32) int64_t g[4], b[4], bs[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(g), o.grade);
  _mm256_store_si256(reinterpret_cast<__m256i*>(b), o.brier);
  _mm256_store_si256(reinterpret_cast<__m256i*>(bs), o.brier_sq);
  for (int l = 0; l < 4; ++l) {
    out[l].grade = static_cast<uint32_t>(g[l]);
    out[l].brier = b[l];
    out[l].brier_sq = bs[l];
  }
}

TEST(ItemModelAvx2, ChoiceOutcomeBitIdentical) {
  SKIP_WITHOUT_AVX2();
  // log p: real item models' values, a dense sweep, and special ones (0, -0, -inf, around the
  // thresholds where exp(L log p) turns subnormal and zero).
  std::vector<double> log_p;
  Rng rng(0xa000d);
  for (int i = 0; i < 100000; ++i) log_p.push_back(-rng.log_uniform(-60, 10));
  for (int i = 0; i < 50000; ++i) log_p.push_back(rng.uniform(-3.0, 0.0));
  linspace(log_p, -800.0, 0.0, 50001);
  for (double x : {0.0, -0.0, -kInf, -kMinSub, -1e-300, -708.4, -745.2, -40.0, -0x1p-54}) {
    around(log_p, x, 3);
  }
  log_p.erase(std::remove_if(log_p.begin(), log_p.end(), [](double x) { return !(x <= 0.0); }),
              log_p.end());
  while (log_p.size() % 4 != 0) log_p.push_back(-1.0);
  std::vector<double> max_share(log_p.size()), sum_sq(log_p.size());
  for (size_t i = 0; i < log_p.size(); ++i) {
    const double a = rng.unit(), b = rng.unit();
    max_share[i] = i % 7 == 0 ? 1.0 : std::max(a, 1e-3);
    sum_sq[i] = i % 7 == 0 ? 1.0 : std::min(1.0, b * b + 0.01);
  }
  size_t checked = 0, bad = 0;
  for (int32_t length : {1, 2, 5, 17, 100, 4096}) {
    for (size_t i = 0; i < log_p.size(); i += 4) {
      ChoiceOutcome got[4];
      outcome4(&log_p[i], length, &max_share[i], &sum_sq[i], got);
      for (int l = 0; l < 4; ++l) {
        const ChoiceOutcome want =
            choice_outcome(log_p[i + l], length, ChoiceSplit{max_share[i + l], sum_sq[i + l]});
        ++checked;
        if ((got[l].grade != want.grade || got[l].brier != want.brier ||
             got[l].brier_sq != want.brier_sq) &&
            ++bad <= 10) {
          ADD_FAILURE() << "choice_outcome(" << std::hexfloat << log_p[i + l] << ", " << length
                        << "): grade " << got[l].grade << "/" << want.grade << " brier "
                        << got[l].brier << "/" << want.brier << " brier_sq " << got[l].brier_sq
                        << "/" << want.brier_sq;
        }
      }
    }
  }
  EXPECT_EQ(bad, 0u);
  std::printf("  %-28s %zu (log p, L), bit-identical: %s\n", "choice_outcome", checked,
              bad ? "NO" : "yes");
}

// ---------------------------------------------------------------------------------------------
// The CPU backend (AVX2 item thresholds and multiple choice) against the reference sampler, on
// units whose bounds cut groups and sets of four groups anywhere.

void expect_backend_equals_reference(const Family& f, int32_t choices) {
  const std::vector<double> p = {0.0, 1e-9, 0.03, 0.5, 0.9048, 0.999999, 1.0};
  std::vector<uint64_t> thresholds;
  std::vector<double> logits, log_p;
  for (double x : p) {
    thresholds.push_back(token_threshold(x));
    logits.push_back(x == 0.0 ? -kInf : x == 1.0 ? kInf : std::log(x) - std::log1p(-x));
    log_p.push_back(std::log(x));
  }
  const std::vector<int32_t> lengths = {1, 2, 5, 9};
  const std::vector<int64_t> sizes = {3, 41, 130, 1001, 2051};
  SweepSpec spec;
  spec.seed = 77;
  spec.num_scales = static_cast<int32_t>(p.size());
  spec.num_lengths = static_cast<int32_t>(lengths.size());
  spec.num_test_sizes = static_cast<int32_t>(sizes.size());
  spec.num_replicates = 2;
  spec.threshold = thresholds.data();
  spec.length = lengths.data();
  spec.test_size = sizes.data();
  spec.difficulty = f.family;
  spec.difficulty_a = f.a;
  spec.difficulty_b = f.b;
  spec.scale_logit = logits.data();
  spec.choices = choices;
  spec.scale_log_p = log_p.data();
  for (int64_t per_unit : {int64_t{12}, int64_t{100}, int64_t{1024}}) {
    UnitGrid grid;
    grid.spec = spec;
    grid.items_per_unit = per_unit;
    const int64_t n = num_units(grid);
    std::vector<int64_t> ids(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = i;
    std::vector<int64_t> fast(static_cast<size_t>(segment_tally_size(spec)), 0);
    std::vector<int64_t> reference = fast;
    make_cpu_backend(1)->sample(grid, ids.data(), n, fast.data(), nullptr);
    for (int64_t i = 0; i < n; ++i) {
      const WorkUnit unit = unit_at(grid, i);
      std::vector<ItemTally> tally(lengths.size());
      sample_unit_reference(spec, unit, tally.data());
      add_unit_tallies(spec, unit, tally.data(), reference.data());
    }
    ASSERT_EQ(fast, reference) << f.name << ", " << choices << " choices, " << per_unit
                               << " items per unit";
  }
}

TEST(CpuBackendAvx2, EqualsReferenceWithDifficultyAndMultipleChoice) {
  SKIP_WITHOUT_AVX2();
  const Family none{DIFFICULTY_NONE, 0.0, 0.0, "none"};
  for (int32_t choices : {0, 2, 4, 7}) {
    expect_backend_equals_reference(none, choices);
    for (const Family& f : kFamilies) expect_backend_equals_reference(f, choices);
  }
}

}  // namespace
}  // namespace mirage

#else  // !MIRAGE_HAVE_AVX2_PATH

TEST(PortableMathAvx2, NotBuilt) {
  GTEST_SKIP() << "this build has no AVX2 path (not x86 with GCC or Clang)";
}

#endif  // MIRAGE_HAVE_AVX2_PATH
