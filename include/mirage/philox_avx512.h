// Copyright (c) Mirage developers.
//! \file philox_avx512.h
//! The AVX-512 twins of philox_batch.h's AVX2 functions: Philox4x32-10 on eight 64-bit lanes
//! per zmm register, with the token-stream split of philox_batch.h. Every function returns
//! exactly the words of Random123's philox4x32_R(10, ctr, key); tests/test_cpu_sampler.cpp
//! checks that bit for bit.
//!
//! CPU only, x86-64 with GCC or Clang: the functions are marked
//! __attribute__((target("avx512f"))), so the file builds without -mavx512f and the caller
//! picks a path at run time (cpu_has_avx512()). AVX-512F alone is used here (no DQ or VL).
//!
//! A round is the AVX2 round of philox_batch.h on twice the lanes, with the two three-way
//! xors each fused into one vpternlogq: {hi(M1 x2) ^ x1 ^ k0, lo(M1 x2), hi(M0 x0) ^ x3 ^ k1,
//! lo(M0 x0)} is 2 vpmuludq, 2 vpsrlq and 2 vpternlogq on eight lanes (AVX2: 4, 4 and 8
//! instructions for the same eight lanes). The last round can also give its words *paired*
//! (philox_finish_paired_avx512): word 1 and word 0 of a call in the low and high 32-bit half
//! of one 64-bit lane, words 3 and 2 likewise, with no more instructions than a plain round:
//! lo(M1 x2) is already the low half of the product M1 x2, and hi(M1 x2) ^ x1 ^ k0 is formed in
//! its high half by xoring x1 << 32 and k0 << 32 into the product (a shift of x1 replaces the
//! shift of the product). So the sixteen 32-bit lanes of a register are sixteen clean outputs
//! that one unsigned compare (vpcmpud) tests at once.
#pragma once

#include <cstdint>

#include "mirage/philox_batch.h"

#if MIRAGE_HAVE_AVX2_PATH && defined(__x86_64__)
#define MIRAGE_HAVE_AVX512_PATH 1
#else
#define MIRAGE_HAVE_AVX512_PATH 0
#endif

#if MIRAGE_HAVE_AVX512_PATH && defined(__GNUC__) && !defined(__clang__)
// GCC 12's avx512fintrin.h starts some intrinsics (_mm512_mul_epu32, _mm512_srli_epi64) from
// a deliberately uninitialized register, which its -W(maybe-)uninitialized then reports
// wherever they are inlined (GCC bug 105593, fixed in GCC 13). Nothing here reads it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace mirage {

#if MIRAGE_HAVE_AVX512_PATH

//! Whether this CPU (and the operating system, which must save the zmm and mask registers)
//! runs AVX-512F and AVX-512BW (GCC's and Clang's __builtin_cpu_supports check both). The
//! functions here need F only; the CPU sampler's AVX-512 kernel also uses BW's 16-bit lanes,
//! which every AVX-512 CPU but the Xeon Phi has.
inline bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512bw") != 0;
}

//! Eight Philox counters or outputs, word w in x<w>, each 32-bit word in the low half of a
//! 64-bit lane (vpmuludq's operand); the high halves hold garbage that no later step reads.
struct Philox8Lanes {
  __m512i x0, x1, x2, x3;
};

//! A PhiloxStreamPrefix broadcast to every 64-bit lane, for the AVX-512 functions.
struct PhiloxStreamAvx512 {
  __m512i m0, m1;                                //!< PHILOX_MUL0, PHILOX_MUL1
  __m512i b_base, c_base;                        //!< as in PhiloxStreamPrefix
  __m512i k0[PHILOX_ROUNDS], k1[PHILOX_ROUNDS];  //!< round keys (low halves)
  //! The last round's keys in the high halves (k << 32), for philox_finish_paired_avx512.
  __m512i k0_high, k1_high;
};

//! Eight groups' PhiloxGroupPrefix, one group per 64-bit lane (value in the low half).
struct PhiloxGroups8 {
  __m512i lo_a, d_key, hd_key, lo_d;
};

namespace detail {

// x ^ y ^ z in one vpternlogq (truth table 0x96: the three-way xor).
__attribute__((target("avx512f"), always_inline)) inline __m512i xor3_avx512(__m512i x, __m512i y,
                                                                             __m512i z) {
  return _mm512_ternarylogic_epi64(x, y, z, 0x96);
}

// One Philox round on eight lanes (see philox_round_avx2 in philox_batch.h).
__attribute__((target("avx512f"), always_inline)) inline void philox_round_avx512(
    Philox8Lanes& x, __m512i m0, __m512i m1, __m512i k0, __m512i k1) {
  const __m512i p0 = _mm512_mul_epu32(x.x0, m0);
  const __m512i p1 = _mm512_mul_epu32(x.x2, m1);
  x.x0 = xor3_avx512(_mm512_srli_epi64(p1, 32), x.x1, k0);
  x.x1 = p1;
  x.x2 = xor3_avx512(_mm512_srli_epi64(p0, 32), x.x3, k1);
  x.x3 = p0;
}

// Eight consecutive 32-bit words, one per 64-bit lane (zero-extended).
__attribute__((target("avx512f"), always_inline)) inline __m512i load8_avx512(const uint32_t* p) {
  return _mm512_cvtepu32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// The low halves of the eight 64-bit lanes, stored as eight consecutive 32-bit words.
__attribute__((target("avx512f"), always_inline)) inline void store8_avx512(uint32_t* p,
                                                                            __m512i x) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi64_epi32(x));
}

}  // namespace detail

//! The AVX-512 twin of philox4x32_10_soa(): the same words, eight counters per loop. Only call
//! it where cpu_has_avx512() is true.
__attribute__((target("avx512f"))) inline void philox4x32_10_soa_avx512(
    PhiloxKey key, int64_t n, uint32_t* MIRAGE_RESTRICT c0, uint32_t* MIRAGE_RESTRICT c1,
    uint32_t* MIRAGE_RESTRICT c2, uint32_t* MIRAGE_RESTRICT c3) {
  const PhiloxKeySchedule ks = philox_key_schedule(key);
  const __m512i m0 = _mm512_set1_epi64(PHILOX_MUL0);
  const __m512i m1 = _mm512_set1_epi64(PHILOX_MUL1);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    Philox8Lanes x;
    x.x0 = detail::load8_avx512(c0 + i);
    x.x1 = detail::load8_avx512(c1 + i);
    x.x2 = detail::load8_avx512(c2 + i);
    x.x3 = detail::load8_avx512(c3 + i);
    for (int r = 0; r < PHILOX_ROUNDS; ++r) {
      detail::philox_round_avx512(x, m0, m1, _mm512_set1_epi64(ks.k0[r]),
                                  _mm512_set1_epi64(ks.k1[r]));
    }
    detail::store8_avx512(c0 + i, x.x0);
    detail::store8_avx512(c1 + i, x.x1);
    detail::store8_avx512(c2 + i, x.x2);
    detail::store8_avx512(c3 + i, x.x3);
  }
  philox4x32_10_soa(key, n - i, c0 + i, c1 + i, c2 + i, c3 + i);
}

//! `p` broadcast for the AVX-512 functions.
__attribute__((target("avx512f"))) inline PhiloxStreamAvx512 philox_stream_avx512(
    const PhiloxStreamPrefix& p) {
  PhiloxStreamAvx512 v;
  v.m0 = _mm512_set1_epi64(PHILOX_MUL0);
  v.m1 = _mm512_set1_epi64(PHILOX_MUL1);
  v.b_base = _mm512_set1_epi64(p.b_base);
  v.c_base = _mm512_set1_epi64(p.c_base);
  for (int r = 0; r < PHILOX_ROUNDS; ++r) {
    v.k0[r] = _mm512_set1_epi64(p.keys.k0[r]);
    v.k1[r] = _mm512_set1_epi64(p.keys.k1[r]);
  }
  v.k0_high = _mm512_set1_epi64(static_cast<int64_t>(uint64_t{p.keys.k0[PHILOX_ROUNDS - 1]} << 32));
  v.k1_high = _mm512_set1_epi64(static_cast<int64_t>(uint64_t{p.keys.k1[PHILOX_ROUNDS - 1]} << 32));
  return v;
}

//! philox_group_prefix() of eight counter words c0, one per 64-bit lane (low halves).
__attribute__((target("avx512f"), always_inline)) inline PhiloxGroups8 philox_group_prefix_avx512(
    const PhiloxStreamAvx512& v, __m512i c0) {
  const __m512i a = _mm512_mul_epu32(c0, v.m0);
  const __m512i b = _mm512_xor_si512(_mm512_srli_epi64(a, 32), v.b_base);
  const __m512i bc = _mm512_mul_epu32(b, v.m1);
  const __m512i c = _mm512_xor_si512(_mm512_srli_epi64(bc, 32), v.c_base);
  const __m512i d = _mm512_mul_epu32(c, v.m0);
  PhiloxGroups8 g;
  g.lo_a = a;
  g.d_key = _mm512_xor_si512(bc, v.k0[2]);
  g.hd_key = _mm512_xor_si512(_mm512_srli_epi64(d, 32), v.k1[2]);
  g.lo_d = d;
  return g;
}

namespace detail {

// The rest of round 3 and rounds 4..9 of philox_finish() for N sets of eight groups and one
// token (hb_key, lo_b: the PhiloxTokenPrefix broadcast); the sets' independent chains are
// interleaved round by round.
template <int N>
__attribute__((target("avx512f"), always_inline)) inline void philox_rounds_to_9_avx512(
    const PhiloxStreamAvx512& v, const PhiloxGroups8 (&g)[N], __m512i hb_key, __m512i lo_b,
    Philox8Lanes (&x)[N]) {
  for (int q = 0; q < N; ++q) {
    const __m512i e = _mm512_mul_epu32(_mm512_xor_si512(hb_key, g[q].lo_a), v.m1);
    x[q].x0 = _mm512_xor_si512(_mm512_srli_epi64(e, 32), g[q].d_key);
    x[q].x1 = e;
    x[q].x2 = _mm512_xor_si512(g[q].hd_key, lo_b);
    x[q].x3 = g[q].lo_d;
  }
  for (int r = 3; r < PHILOX_ROUNDS - 1; ++r) {  // rounds 4..9
    for (int q = 0; q < N; ++q) philox_round_avx512(x[q], v.m0, v.m1, v.k0[r], v.k1[r]);
  }
}

}  // namespace detail

//! philox_finish() for N sets of eight groups and one token, the words paired: the 32-bit
//! lanes 2l and 2l + 1 of w10[q] hold words 1 and 0 of group l of set q, those of w32[q] words
//! 3 and 2. Every 32-bit lane is a clean output word.
template <int N>
__attribute__((target("avx512f"), always_inline)) inline void philox_finish_paired_avx512(
    const PhiloxStreamAvx512& v, const PhiloxGroups8 (&g)[N], __m512i hb_key, __m512i lo_b,
    __m512i (&w10)[N], __m512i (&w32)[N]) {
  Philox8Lanes x[N];
  detail::philox_rounds_to_9_avx512(v, g, hb_key, lo_b, x);
  for (int q = 0; q < N; ++q) {  // round 10
    const __m512i p0 = _mm512_mul_epu32(x[q].x0, v.m0);
    const __m512i p1 = _mm512_mul_epu32(x[q].x2, v.m1);
    // Low half: lo(M1 x2) (the shifted x1 and key are zero there); high half: hi(M1 x2) ^ x1 ^
    // k0. Likewise for words 3 and 2.
    w10[q] = detail::xor3_avx512(p1, _mm512_slli_epi64(x[q].x1, 32), v.k0_high);
    w32[q] = detail::xor3_avx512(p0, _mm512_slli_epi64(x[q].x3, 32), v.k1_high);
  }
}

//! The AVX-512 twin of philox_token_batch(): the same words, sixteen counters per loop
//! (through philox_finish_paired_avx512, then unpaired for the stores). Only call it where
//! cpu_has_avx512() is true.
__attribute__((target("avx512f"))) inline void philox_token_batch_avx512(
    const PhiloxStreamPrefix& p, uint32_t c0_first, int64_t n, uint32_t c1,
    uint32_t* MIRAGE_RESTRICT out0, uint32_t* MIRAGE_RESTRICT out1, uint32_t* MIRAGE_RESTRICT out2,
    uint32_t* MIRAGE_RESTRICT out3) {
  const PhiloxStreamAvx512 v = philox_stream_avx512(p);
  const PhiloxTokenPrefix t = philox_token_prefix(p, c1);
  const __m512i hb_key = _mm512_set1_epi64(t.hb_key);
  const __m512i lo_b = _mm512_set1_epi64(t.lo_b);
  const __m512i lanes = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    // c0_first + i + 15 < 2^32, so 64-bit adds give the counter words exactly.
    const PhiloxGroups8 g[2] = {
        philox_group_prefix_avx512(
            v, _mm512_add_epi64(_mm512_set1_epi64(int64_t{c0_first} + i), lanes)),
        philox_group_prefix_avx512(
            v, _mm512_add_epi64(_mm512_set1_epi64(int64_t{c0_first} + i + 8), lanes))};
    __m512i w10[2], w32[2];
    philox_finish_paired_avx512(v, g, hb_key, lo_b, w10, w32);
    for (int q = 0; q < 2; ++q) {
      detail::store8_avx512(out0 + i + 8 * q, _mm512_srli_epi64(w10[q], 32));
      detail::store8_avx512(out1 + i + 8 * q, w10[q]);
      detail::store8_avx512(out2 + i + 8 * q, _mm512_srli_epi64(w32[q], 32));
      detail::store8_avx512(out3 + i + 8 * q, w32[q]);
    }
  }
  philox_token_batch(p, c0_first + static_cast<uint32_t>(i), n - i, c1, out0 + i, out1 + i,
                     out2 + i, out3 + i);
}

#else

inline bool cpu_has_avx512() {
  return false;
}

#endif  // MIRAGE_HAVE_AVX512_PATH

}  // namespace mirage

#if MIRAGE_HAVE_AVX512_PATH && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
