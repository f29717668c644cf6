// Copyright (c) Mirage developers.
//! \file philox_batch.h
//! Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) for
//! the CPU backend, written for many counters at once: a structure-of-arrays batch, and the
//! token-stream split that the CPU sampler runs in its hot loop. Every function here returns
//! exactly the words of Random123's philox4x32_R(10, ctr, key) (stream.h); tests/
//! test_cpu_sampler.cpp checks that bit for bit, for the portable and the AVX2 paths.
//!
//! CPU only: plain C++17 plus, on x86-64 with GCC or Clang, AVX2 intrinsics in functions
//! marked __attribute__((target("avx2"))), so the file builds without -mavx2 and the caller
//! picks a path at run time (cpu_has_avx2()). Not for nvcc; the GPU uses stream.h directly.
//!
//! The token-stream split. In the counter layout of stream.h, {group, token | stream << 24,
//! scale, replicate}, only word 0 (the item group) and word 1 (the token) vary inside a
//! work unit, and the first rounds of Philox mix them only slowly: round 1 multiplies the
//! group word and the (constant) scale word, round 2 multiplies one value that depends on the
//! token only and one that depends on the group only, and round 3 multiplies one value that
//! depends on the group only. So 5 of the 20 32x32-bit products of a call can be computed
//! once per group or once per token (PhiloxGroupPrefix, PhiloxTokenPrefix) and the hot loop
//! does the rest of round 3 and rounds 4..10 (15 products) per call. This is the same
//! function, only regrouped; a round maps {x0, x1, x2, x3} under key {k0, k1} to
//! {hi(M1 x2) ^ x1 ^ k0, lo(M1 x2), hi(M0 x0) ^ x3 ^ k1, lo(M0 x0)}.
#pragma once

#include <cstdint>

#include "mirage/stream.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MIRAGE_HAVE_AVX2_PATH 1
#else
#define MIRAGE_HAVE_AVX2_PATH 0
#endif

namespace mirage {

//! Philox4x32 round multipliers and Weyl key increments (Random123's PHILOX_M4x32_0/1 and
//! PHILOX_W32_0/1).
constexpr uint32_t PHILOX_MUL0 = 0xD2511F53u;
constexpr uint32_t PHILOX_MUL1 = 0xCD9E8D57u;
constexpr uint32_t PHILOX_WEYL0 = 0x9E3779B9u;
constexpr uint32_t PHILOX_WEYL1 = 0xBB67AE85u;
//! Rounds of Philox4x32-10.
constexpr int PHILOX_ROUNDS = 10;

//! The round keys of Philox4x32-10. Rounds are numbered 1..10 in the comments of this file;
//! round r uses {k0[r - 1], k1[r - 1]}, the seed key plus r - 1 times the Weyl increments
//! (mod 2^32).
struct PhiloxKeySchedule {
  uint32_t k0[PHILOX_ROUNDS];
  uint32_t k1[PHILOX_ROUNDS];
};

//! The round keys of `key`.
inline PhiloxKeySchedule philox_key_schedule(PhiloxKey key) {
  PhiloxKeySchedule s;
  for (int r = 0; r < PHILOX_ROUNDS; ++r) {
    s.k0[r] = key.v[0] + static_cast<uint32_t>(r) * PHILOX_WEYL0;
    s.k1[r] = key.v[1] + static_cast<uint32_t>(r) * PHILOX_WEYL1;
  }
  return s;
}

//! Philox4x32-10 of the n counters {c0[i], c1[i], c2[i], c3[i]}, i in [0, n), under one key,
//! in place: on return c_w[i] is word w of philox4x32_R(10, counter i, key). Portable C++;
//! the lane loop is written so that compilers can vectorize it.
inline void philox4x32_10_soa(PhiloxKey key, int64_t n, uint32_t* MIRAGE_RESTRICT c0,
                              uint32_t* MIRAGE_RESTRICT c1, uint32_t* MIRAGE_RESTRICT c2,
                              uint32_t* MIRAGE_RESTRICT c3) {
  const PhiloxKeySchedule ks = philox_key_schedule(key);
  for (int64_t i = 0; i < n; ++i) {
    uint32_t x0 = c0[i], x1 = c1[i], x2 = c2[i], x3 = c3[i];
    for (int r = 0; r < PHILOX_ROUNDS; ++r) {
      const uint64_t p0 = static_cast<uint64_t>(PHILOX_MUL0) * x0;
      const uint64_t p1 = static_cast<uint64_t>(PHILOX_MUL1) * x2;
      x0 = static_cast<uint32_t>(p1 >> 32) ^ x1 ^ ks.k0[r];
      x1 = static_cast<uint32_t>(p1);
      x2 = static_cast<uint32_t>(p0 >> 32) ^ x3 ^ ks.k1[r];
      x3 = static_cast<uint32_t>(p0);
    }
    c0[i] = x0;
    c1[i] = x1;
    c2[i] = x2;
    c3[i] = x3;
  }
}

//! What stays fixed along one token stream: the key, counter word 2 and counter word 3 (in
//! stream.h's layout, the scale and the replicate).
struct PhiloxStreamPrefix {
  uint32_t a_base;  //!< hi(M1 * c2) ^ k0[0]: round-1 word 0 is a_base ^ c1
  uint32_t b_base;  //!< c3 ^ k1[0]: round-1 word 2 is hi(M0 * c0) ^ b_base
  uint32_t c_base;  //!< lo(M1 * c2) ^ k0[1]: round-2 word 0 is hi(M1 * b) ^ c_base
  PhiloxKeySchedule keys;
};

//! What depends on counter word 0 only (in stream.h's layout, the item group).
struct PhiloxGroupPrefix {
  uint32_t lo_a;    //!< lo(M0 * c0), round-1 word 3
  uint32_t d_key;   //!< round-2 word 1 ^ k0[2]
  uint32_t hd_key;  //!< hi(M0 * round-2 word 0) ^ k1[2]
  uint32_t lo_d;    //!< lo(M0 * round-2 word 0), round-3 word 3
};

//! What depends on counter word 1 only (in stream.h's layout, the token and stream id).
struct PhiloxTokenPrefix {
  uint32_t hb_key;  //!< hi(M0 * round-1 word 0) ^ k1[1]
  uint32_t lo_b;    //!< lo(M0 * round-1 word 0), round-2 word 3
};

//! The fixed part of the counters {*, *, c2, c3} under `key`.
inline PhiloxStreamPrefix philox_stream_prefix(PhiloxKey key, uint32_t c2, uint32_t c3) {
  const PhiloxKeySchedule ks = philox_key_schedule(key);
  const uint64_t s = static_cast<uint64_t>(PHILOX_MUL1) * c2;
  PhiloxStreamPrefix p;
  p.a_base = static_cast<uint32_t>(s >> 32) ^ ks.k0[0];
  p.b_base = c3 ^ ks.k1[0];
  p.c_base = static_cast<uint32_t>(s) ^ ks.k0[1];
  p.keys = ks;
  return p;
}

//! The part of the counters {c0, *, c2, c3} that depends on c0 only.
inline PhiloxGroupPrefix philox_group_prefix(const PhiloxStreamPrefix& p, uint32_t c0) {
  const uint64_t a = static_cast<uint64_t>(PHILOX_MUL0) * c0;
  const uint32_t b = static_cast<uint32_t>(a >> 32) ^ p.b_base;
  const uint64_t bc = static_cast<uint64_t>(PHILOX_MUL1) * b;
  const uint32_t c = static_cast<uint32_t>(bc >> 32) ^ p.c_base;
  const uint64_t d = static_cast<uint64_t>(PHILOX_MUL0) * c;
  PhiloxGroupPrefix g;
  g.lo_a = static_cast<uint32_t>(a);
  g.d_key = static_cast<uint32_t>(bc) ^ p.keys.k0[2];
  g.hd_key = static_cast<uint32_t>(d >> 32) ^ p.keys.k1[2];
  g.lo_d = static_cast<uint32_t>(d);
  return g;
}

//! The part of the counters {*, c1, c2, c3} that depends on c1 only.
inline PhiloxTokenPrefix philox_token_prefix(const PhiloxStreamPrefix& p, uint32_t c1) {
  const uint64_t b = static_cast<uint64_t>(PHILOX_MUL0) * (p.a_base ^ c1);
  PhiloxTokenPrefix t;
  t.hb_key = static_cast<uint32_t>(b >> 32) ^ p.keys.k1[1];
  t.lo_b = static_cast<uint32_t>(b);
  return t;
}

//! philox4x32_R(10, {c0, c1, c2, c3}, key) from the three prefixes of that counter: the rest
//! of round 3 and rounds 4..10, with 15 of the 20 products.
inline PhiloxCounter philox_finish(const PhiloxStreamPrefix& p, const PhiloxGroupPrefix& g,
                                   const PhiloxTokenPrefix& t) {
  const uint64_t e = static_cast<uint64_t>(PHILOX_MUL1) * (t.hb_key ^ g.lo_a);
  uint32_t x0 = static_cast<uint32_t>(e >> 32) ^ g.d_key;
  uint32_t x1 = static_cast<uint32_t>(e);
  uint32_t x2 = g.hd_key ^ t.lo_b;
  uint32_t x3 = g.lo_d;
  for (int r = 3; r < PHILOX_ROUNDS; ++r) {  // rounds 4..10
    const uint64_t p0 = static_cast<uint64_t>(PHILOX_MUL0) * x0;
    const uint64_t p1 = static_cast<uint64_t>(PHILOX_MUL1) * x2;
    x0 = static_cast<uint32_t>(p1 >> 32) ^ x1 ^ p.keys.k0[r];
    x1 = static_cast<uint32_t>(p1);
    x2 = static_cast<uint32_t>(p0 >> 32) ^ x3 ^ p.keys.k1[r];
    x3 = static_cast<uint32_t>(p0);
  }
  PhiloxCounter out;
  out.v[0] = x0;
  out.v[1] = x1;
  out.v[2] = x2;
  out.v[3] = x3;
  return out;
}

//! Words of the n counters {c0_first + i, c1, c2, c3}, i in [0, n) (c0_first + n <= 2^32),
//! with c2, c3 and the key those of `p`: out_w[i] is word w of philox4x32_R(10, counter i,
//! key). In stream.h's layout this is token c1 of the item groups c0_first.. of one scale and
//! replicate. Portable C++.
inline void philox_token_batch(const PhiloxStreamPrefix& p, uint32_t c0_first, int64_t n,
                               uint32_t c1, uint32_t* MIRAGE_RESTRICT out0,
                               uint32_t* MIRAGE_RESTRICT out1, uint32_t* MIRAGE_RESTRICT out2,
                               uint32_t* MIRAGE_RESTRICT out3) {
  const PhiloxTokenPrefix t = philox_token_prefix(p, c1);
  for (int64_t i = 0; i < n; ++i) {
    const PhiloxCounter x =
        philox_finish(p, philox_group_prefix(p, c0_first + static_cast<uint32_t>(i)), t);
    out0[i] = x.v[0];
    out1[i] = x.v[1];
    out2[i] = x.v[2];
    out3[i] = x.v[3];
  }
}

#if MIRAGE_HAVE_AVX2_PATH

//! Whether this CPU runs AVX2 (checked at run time, once per call site that caches it).
inline bool cpu_has_avx2() {
  return __builtin_cpu_supports("avx2") != 0;
}

//! Four Philox counters or outputs, word w in x<w>: each 32-bit word sits in the low half of a
//! 64-bit lane, which is what vpmuludq multiplies. The high halves hold garbage that no later
//! step reads (products and xors only ever look at the low halves), so no masking is needed.
struct Philox4Lanes {
  __m256i x0, x1, x2, x3;
};

namespace detail {

// One Philox round on four lanes: {hi(M1 x2) ^ x1 ^ k0, lo(M1 x2), hi(M0 x0) ^ x3 ^ k1,
// lo(M0 x0)}; m0, m1 hold the multipliers, k0, k1 the round key, each broadcast. The key is
// xored into x1 and x3 first, off the multiply-shift-xor chain that links the rounds.
__attribute__((target("avx2"), always_inline)) inline void philox_round_avx2(Philox4Lanes& x,
                                                                             __m256i m0, __m256i m1,
                                                                             __m256i k0,
                                                                             __m256i k1) {
  const __m256i p0 = _mm256_mul_epu32(x.x0, m0);
  const __m256i p1 = _mm256_mul_epu32(x.x2, m1);
  x.x0 = _mm256_xor_si256(_mm256_srli_epi64(p1, 32), _mm256_xor_si256(x.x1, k0));
  x.x1 = p1;
  x.x2 = _mm256_xor_si256(_mm256_srli_epi64(p0, 32), _mm256_xor_si256(x.x3, k1));
  x.x3 = p0;
}

// Eight consecutive 32-bit words as two sets of four lanes: the even-indexed words in the low
// halves of `even`, the odd-indexed ones in the low halves of `odd` (high halves garbage).
__attribute__((target("avx2"), always_inline)) inline void load8_avx2(const uint32_t* p,
                                                                      __m256i& even, __m256i& odd) {
  even = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  odd = _mm256_srli_epi64(even, 32);
}

// The inverse of load8_avx2: the low halves of even and odd, interleaved back in order.
__attribute__((target("avx2"), always_inline)) inline void store8_avx2(uint32_t* p, __m256i even,
                                                                       __m256i odd) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                      _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA));
}

}  // namespace detail

//! The AVX2 twin of philox4x32_10_soa(): the same words, eight counters per loop (two sets
//! of four 64-bit lanes, whose rounds interleave). Only call it where cpu_has_avx2() is true.
__attribute__((target("avx2"))) inline void philox4x32_10_soa_avx2(PhiloxKey key, int64_t n,
                                                                   uint32_t* MIRAGE_RESTRICT c0,
                                                                   uint32_t* MIRAGE_RESTRICT c1,
                                                                   uint32_t* MIRAGE_RESTRICT c2,
                                                                   uint32_t* MIRAGE_RESTRICT c3) {
  const PhiloxKeySchedule ks = philox_key_schedule(key);
  const __m256i m0 = _mm256_set1_epi64x(PHILOX_MUL0);
  const __m256i m1 = _mm256_set1_epi64x(PHILOX_MUL1);
  __m256i k0[PHILOX_ROUNDS], k1[PHILOX_ROUNDS];
  for (int r = 0; r < PHILOX_ROUNDS; ++r) {
    k0[r] = _mm256_set1_epi64x(ks.k0[r]);
    k1[r] = _mm256_set1_epi64x(ks.k1[r]);
  }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    Philox4Lanes x[2];
    detail::load8_avx2(c0 + i, x[0].x0, x[1].x0);
    detail::load8_avx2(c1 + i, x[0].x1, x[1].x1);
    detail::load8_avx2(c2 + i, x[0].x2, x[1].x2);
    detail::load8_avx2(c3 + i, x[0].x3, x[1].x3);
    for (int r = 0; r < PHILOX_ROUNDS; ++r) {
      detail::philox_round_avx2(x[0], m0, m1, k0[r], k1[r]);
      detail::philox_round_avx2(x[1], m0, m1, k0[r], k1[r]);
    }
    detail::store8_avx2(c0 + i, x[0].x0, x[1].x0);
    detail::store8_avx2(c1 + i, x[0].x1, x[1].x1);
    detail::store8_avx2(c2 + i, x[0].x2, x[1].x2);
    detail::store8_avx2(c3 + i, x[0].x3, x[1].x3);
  }
  philox4x32_10_soa(key, n - i, c0 + i, c1 + i, c2 + i, c3 + i);
}

//! A PhiloxStreamPrefix broadcast to every 64-bit lane, for the AVX2 token-stream functions.
struct PhiloxStreamAvx2 {
  __m256i m0, m1;                                //!< PHILOX_MUL0, PHILOX_MUL1
  __m256i b_base, c_base;                        //!< as in PhiloxStreamPrefix
  __m256i k0[PHILOX_ROUNDS], k1[PHILOX_ROUNDS];  //!< round keys
};

//! Four groups' PhiloxGroupPrefix, one group per 64-bit lane (value in the low half).
struct PhiloxGroups4 {
  __m256i lo_a, d_key, hd_key, lo_d;
};

//! `p` broadcast for the AVX2 functions.
__attribute__((target("avx2"))) inline PhiloxStreamAvx2 philox_stream_avx2(
    const PhiloxStreamPrefix& p) {
  PhiloxStreamAvx2 v;
  v.m0 = _mm256_set1_epi64x(PHILOX_MUL0);
  v.m1 = _mm256_set1_epi64x(PHILOX_MUL1);
  v.b_base = _mm256_set1_epi64x(p.b_base);
  v.c_base = _mm256_set1_epi64x(p.c_base);
  for (int r = 0; r < PHILOX_ROUNDS; ++r) {
    v.k0[r] = _mm256_set1_epi64x(p.keys.k0[r]);
    v.k1[r] = _mm256_set1_epi64x(p.keys.k1[r]);
  }
  return v;
}

//! philox_group_prefix() of four counter words c0, one per 64-bit lane (low halves).
__attribute__((target("avx2"), always_inline)) inline PhiloxGroups4 philox_group_prefix_avx2(
    const PhiloxStreamAvx2& v, __m256i c0) {
  const __m256i a = _mm256_mul_epu32(c0, v.m0);
  const __m256i b = _mm256_xor_si256(_mm256_srli_epi64(a, 32), v.b_base);
  const __m256i bc = _mm256_mul_epu32(b, v.m1);
  const __m256i c = _mm256_xor_si256(_mm256_srli_epi64(bc, 32), v.c_base);
  const __m256i d = _mm256_mul_epu32(c, v.m0);
  PhiloxGroups4 g;
  g.lo_a = a;
  g.d_key = _mm256_xor_si256(bc, v.k0[2]);
  g.hd_key = _mm256_xor_si256(_mm256_srli_epi64(d, 32), v.k1[2]);
  g.lo_d = d;
  return g;
}

//! philox_finish() for N sets of four groups and one token (hb_key, lo_b: the
//! PhiloxTokenPrefix broadcast): word w of lane l of set q in the low half of lane l of
//! x[q].x<w>; the high halves are garbage. The sets are independent chains of 8 rounds, which
//! are interleaved round by round so that the core overlaps their multiply latencies.
template <int N>
__attribute__((target("avx2"), always_inline)) inline void philox_finish_avx2(
    const PhiloxStreamAvx2& v, const PhiloxGroups4 (&g)[N], __m256i hb_key, __m256i lo_b,
    Philox4Lanes (&x)[N]) {
  for (int q = 0; q < N; ++q) {
    const __m256i e = _mm256_mul_epu32(_mm256_xor_si256(hb_key, g[q].lo_a), v.m1);
    x[q].x0 = _mm256_xor_si256(_mm256_srli_epi64(e, 32), g[q].d_key);
    x[q].x1 = e;
    x[q].x2 = _mm256_xor_si256(g[q].hd_key, lo_b);
    x[q].x3 = g[q].lo_d;
  }
  for (int r = 3; r < PHILOX_ROUNDS; ++r) {  // rounds 4..10
    for (int q = 0; q < N; ++q) detail::philox_round_avx2(x[q], v.m0, v.m1, v.k0[r], v.k1[r]);
  }
}

//! The AVX2 twin of philox_token_batch(): the same words, eight counters per loop. Only call
//! it where cpu_has_avx2() is true.
__attribute__((target("avx2"))) inline void philox_token_batch_avx2(
    const PhiloxStreamPrefix& p, uint32_t c0_first, int64_t n, uint32_t c1,
    uint32_t* MIRAGE_RESTRICT out0, uint32_t* MIRAGE_RESTRICT out1, uint32_t* MIRAGE_RESTRICT out2,
    uint32_t* MIRAGE_RESTRICT out3) {
  const PhiloxStreamAvx2 v = philox_stream_avx2(p);
  const PhiloxTokenPrefix t = philox_token_prefix(p, c1);
  const __m256i hb_key = _mm256_set1_epi64x(t.hb_key);
  const __m256i lo_b = _mm256_set1_epi64x(t.lo_b);
  const __m256i even_lanes = _mm256_setr_epi64x(0, 2, 4, 6);
  const __m256i odd_lanes = _mm256_setr_epi64x(1, 3, 5, 7);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    // c0_first + i + 7 < 2^32, so 64-bit adds give the counter words exactly.
    const __m256i first = _mm256_set1_epi64x(int64_t{c0_first} + i);
    const PhiloxGroups4 g[2] = {philox_group_prefix_avx2(v, _mm256_add_epi64(first, even_lanes)),
                                philox_group_prefix_avx2(v, _mm256_add_epi64(first, odd_lanes))};
    Philox4Lanes x[2];
    philox_finish_avx2(v, g, hb_key, lo_b, x);
    detail::store8_avx2(out0 + i, x[0].x0, x[1].x0);
    detail::store8_avx2(out1 + i, x[0].x1, x[1].x1);
    detail::store8_avx2(out2 + i, x[0].x2, x[1].x2);
    detail::store8_avx2(out3 + i, x[0].x3, x[1].x3);
  }
  philox_token_batch(p, c0_first + static_cast<uint32_t>(i), n - i, c1, out0 + i, out1 + i,
                     out2 + i, out3 + i);
}

#else

inline bool cpu_has_avx2() {
  return false;
}

#endif  // MIRAGE_HAVE_AVX2_PATH

}  // namespace mirage
