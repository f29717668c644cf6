// Copyright (c) Mirage developers.
//! \file stream.h
//! The random-stream addressing of Mirage: the one place where the bit layout of the
//! Philox4x32-10 counter and key is fixed (docs/DESIGN.md §2).
//!
//! Every uniform is `u(seed, r, s, i, j)`, a pure function of the seed, replicate r, scale s,
//! item i and token j. One Philox call serves token j of the four consecutive items
//! 4q..4q+3 (q = i / 4): output word w belongs to item 4q + w, so every word is used and the
//! CPU loop vectorizes across item groups.
//!
//!   key     = { seed bits 0..31, seed bits 32..63 }
//!   counter = { q (item group, i >> 2),
//!               j | (stream << 24)   (token index in bits 0..23, stream id in bits 24..31),
//!               s (scale index),
//!               r (replicate index) }
//!
//! Stream 0 holds the token draws; other stream ids are reserved for per-item draws (item
//! difficulty uses stream 1, the options of a multiple-choice item stream 2), so adding them
//! never changes the token stream.
//! Changing anything in this file is a format break: the known-answer tests in
//! tests/test_stream.cpp pin it (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
//! SC'11, for Philox itself).
#pragma once

#include <cstdint>

// Device code: have Random123 do Philox's 32x32->64 multiply with __umulhi rather than a
// 64-bit product (the compiler otherwise emits an extra add per multiply: 63 -> ~48
// instructions per call). The values are identical; the device known-answer test checks it.
#if defined(__CUDA_ARCH__)
#define R123_USE_64BIT 0
#define R123_USE_MULHILO32_MULHI_INTRIN 1
#define R123_MULHILO32_MULHI_INTRIN __umulhi
#endif
#include <Random123/philox.h>

#include "mirage/macros.h"

namespace mirage {

//! Items per Philox call: one output word per item.
constexpr int ITEMS_PER_GROUP = 4;
//! Token indices occupy the low 24 bits of counter word 1.
constexpr uint32_t TOKEN_BITS = 24;
//! Largest target length the counter layout can address (tokens 0..MAX_TOKEN_INDEX).
constexpr uint32_t MAX_TOKEN_INDEX = (1u << TOKEN_BITS) - 1u;
//! Largest item count the counter layout can address: 2^32 groups of 4 items.
constexpr uint64_t MAX_ITEMS = uint64_t{1} << 34;

//! Stream ids (counter word 1, bits 24..31).
enum StreamId : uint32_t {
  STREAM_TOKEN = 0,       //!< per-token correctness draws
  STREAM_DIFFICULTY = 1,  //!< per-item difficulty draws (two words per item: token indices 0, 1)
  STREAM_CHOICE = 2,      //!< per-item multiple-choice draws (token index j: distractor j)
  STREAM_META = 3,        //!< mirage meta: task parameters and sweep seeds (host only)
  STREAM_ATTEMPT = 4,     //!< per-token draws of repeated attempts 1..A-1 (attempt 0 is stream 0)
  //! Attempts 4096..MAX_BUDGET-1 of sampling until success (--until-success): attempt a
  //! lives in stream STREAM_ATTEMPT + (a >> 12), so streams 4..7 are all attempt draws.
  STREAM_ATTEMPT_LAST = 7,
};

//! In the attempt stream, counter word 1 holds the token j in bits 0..11 (j < 2^12: target
//! lengths are at most MAX_LENGTH = 4096) and the attempt a in bits 12..23.
constexpr uint32_t ATTEMPT_SHIFT = 12;
//! Largest attempt index of one attempt stream (attempts 0..MAX_ATTEMPT_INDEX in stream 4).
constexpr uint32_t MAX_ATTEMPT_INDEX = (1u << (TOKEN_BITS - ATTEMPT_SHIFT)) - 1u;
//! Largest attempt index of all the attempt streams 4..7 (attempt_token_word): 2^14 - 1.
constexpr uint32_t MAX_EXTENDED_ATTEMPT_INDEX =
    ((STREAM_ATTEMPT_LAST - STREAM_ATTEMPT + 1u) << (TOKEN_BITS - ATTEMPT_SHIFT)) - 1u;

using PhiloxCounter = r123array4x32;
using PhiloxKey = r123array2x32;

//! The Philox key for a 64-bit seed.
MIRAGE_HD inline PhiloxKey philox_key(uint64_t seed) {
  PhiloxKey key;
  key.v[0] = static_cast<uint32_t>(seed);
  key.v[1] = static_cast<uint32_t>(seed >> 32);
  return key;
}

//! Counter word 1: token j (< 2^24) in bits 0..23, stream id in bits 24..31.
MIRAGE_HD inline uint32_t counter_token_word(uint32_t token, uint32_t stream) {
  return token | (stream << TOKEN_BITS);
}

//! Counter word 1 of token j of attempt a (docs/DESIGN.md §2.2): attempt 0 is the token stream
//! itself (word j, stream 0), so a sweep with one attempt draws exactly what it always drew;
//! attempt a >= 1 (<= MAX_ATTEMPT_INDEX) is j | a << 12 in stream 4 (j < 2^12). Sampling until
//! success goes further: attempt a (<= MAX_EXTENDED_ATTEMPT_INDEX) is j | (a mod 2^12) << 12 in
//! stream 4 + (a >> 12), which is the same word as before for every a < 2^12.
MIRAGE_HD inline uint32_t attempt_token_word(uint32_t token, uint32_t attempt) {
  return attempt == 0u
             ? counter_token_word(token, STREAM_TOKEN)
             : counter_token_word(token | ((attempt & MAX_ATTEMPT_INDEX) << ATTEMPT_SHIFT),
                                  STREAM_ATTEMPT + (attempt >> (TOKEN_BITS - ATTEMPT_SHIFT)));
}

//! The Philox counter for item group q (items 4q..4q+3), token j (< 2^24), stream, scale s and
//! replicate r.
MIRAGE_HD inline PhiloxCounter philox_counter(uint32_t group, uint32_t token, uint32_t stream,
                                              uint32_t scale, uint32_t replicate) {
  PhiloxCounter ctr;
  ctr.v[0] = group;
  ctr.v[1] = counter_token_word(token, stream);
  ctr.v[2] = scale;
  ctr.v[3] = replicate;
  return ctr;
}

//! Philox4x32 with 10 rounds (Random123's reference implementation).
MIRAGE_HD inline PhiloxCounter philox4x32_10(PhiloxCounter ctr, PhiloxKey key) {
  return philox4x32_R(10, ctr, key);
}

//! The four token uniforms (items 4q..4q+3, token j) of replicate r at scale s; each word is
//! a uniform integer in [0, 2^32).
MIRAGE_HD inline PhiloxCounter token_words(uint64_t seed, uint32_t replicate, uint32_t scale,
                                           uint32_t group, uint32_t token) {
  return philox4x32_10(philox_counter(group, token, STREAM_TOKEN, scale, replicate),
                       philox_key(seed));
}

//! u(seed, r, s, i, j): the uniform in [0, 2^32) that decides whether token j of item i is
//! correct in replicate r at scale s. Preconditions: i < MAX_ITEMS, j <= MAX_TOKEN_INDEX.
MIRAGE_HD inline uint32_t token_uniform(uint64_t seed, uint32_t replicate, uint32_t scale,
                                        uint64_t item, uint32_t token) {
  const PhiloxCounter x =
      token_words(seed, replicate, scale, static_cast<uint32_t>(item >> 2), token);
  return x.v[item & 3u];
}

//! u(seed, r, s, i, a, j): the uniform of token j (< 2^12) of attempt a of item i; attempt 0 is
//! token_uniform.
MIRAGE_HD inline uint32_t attempt_uniform(uint64_t seed, uint32_t replicate, uint32_t scale,
                                          uint64_t item, uint32_t attempt, uint32_t token) {
  PhiloxCounter ctr = philox_counter(static_cast<uint32_t>(item >> 2), 0u, 0u, scale, replicate);
  ctr.v[1] = attempt_token_word(token, attempt);
  return philox4x32_10(ctr, philox_key(seed)).v[item & 3u];
}

//! The per-item word of a reserved stream (stream != STREAM_TOKEN) for item i of replicate r.
//! Such draws describe the item itself, so they do not depend on the scale.
MIRAGE_HD inline uint32_t item_uniform(uint64_t seed, uint32_t stream, uint32_t replicate,
                                       uint64_t item) {
  const PhiloxCounter x =
      philox4x32_10(philox_counter(static_cast<uint32_t>(item >> 2), 0u, stream, 0u, replicate),
                    philox_key(seed));
  return x.v[item & 3u];
}

}  // namespace mirage
