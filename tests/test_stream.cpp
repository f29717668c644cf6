// Copyright (c) Mirage developers.
// Known-answer tests that pin the random stream (include/mirage/stream.h). Changing any value
// here is a format break: every result file ever written would stop being reproducible.
#include <gtest/gtest.h>

#include "mirage/model.h"
#include "mirage/item_model.h"
#include "mirage/sampler.h"
#include "mirage/stream.h"

namespace mirage {
namespace {

// Philox4x32-10 known-answer vectors published with Random123 (kat_vectors, Salmon et al.,
// SC'11): counter, key, expected output.
TEST(Philox, MatchesRandom123PublishedVectors) {
  struct Case {
    PhiloxCounter ctr;
    PhiloxKey key;
    uint32_t expected[4];
  };
  const Case cases[] = {
      {{{0u, 0u, 0u, 0u}}, {{0u, 0u}}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
       {{0xffffffffu, 0xffffffffu}},
       {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
       {{0xa4093822u, 0x299f31d0u}},
       {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
  };
  for (const Case& c : cases) {
    const PhiloxCounter x = philox4x32_10(c.ctr, c.key);
    for (int w = 0; w < 4; ++w) EXPECT_EQ(x.v[w], c.expected[w]) << "word " << w;
  }
}

// u(seed, r, s, i, j) for a handful of addresses, recorded from mirage 0.1.0 (Philox4x32-10
// via Random123 1.14, counter layout of stream.h). These pin the layout itself.
TEST(TokenStream, KnownAnswers) {
  struct Case {
    uint64_t seed;
    uint32_t replicate, scale;
    uint64_t item;
    uint32_t token;
    uint32_t expected;
  };
  const Case cases[] = {
      {0ull, 0, 0, 0ull, 0, 0x6627e8d5u},
      {2023ull, 0, 0, 0ull, 0, 0xcfdf6589u},
      {2023ull, 0, 0, 1ull, 0, 0x9525a786u},
      {2023ull, 0, 0, 3ull, 4, 0x2903df31u},
      {2023ull, 7, 40, 99999ull, 4, 0x29bf9a8eu},
      {2023ull, 99, 12, 12345ull, 2, 0x9cbf17e3u},
      {18364758544493064720ull, 3, 1, 17179869183ull, 4095, 0x3b4d8d1bu},
      {42ull, 1, 2, 5ull, 1, 0xfbffaf83u},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(token_uniform(c.seed, c.replicate, c.scale, c.item, c.token), c.expected)
        << "seed " << c.seed << " r " << c.replicate << " s " << c.scale << " i " << c.item << " j "
        << c.token;
  }
}

TEST(TokenStream, ItemStreamKnownAnswers) {
  EXPECT_EQ(item_uniform(2023, STREAM_DIFFICULTY, 0, 0), 0x0667aa6eu);
  EXPECT_EQ(item_uniform(2023, STREAM_DIFFICULTY, 5, 17), 0x07a94a20u);
  // An item's difficulty uniform takes its high 32 bits from token index 0 of the difficulty
  // stream (item_uniform above) and its low bits from token index 1: u = (2m + 1) / 2^53 with
  // m the top 52 bits. Item 17 is word 1 of group 4 of replicate 5.
  OpenUniform u[ITEMS_PER_GROUP];
  group_difficulty_uniforms(2023, 5, 4, u);
  const PhiloxCounter low =
      philox4x32_10(philox_counter(4, 1, STREAM_DIFFICULTY, 0, 5), philox_key(2023));
  const uint64_t m = (uint64_t{0x07a94a20u} << 20) | (low.v[1] >> 12);
  EXPECT_EQ(u[1].u, (2.0 * static_cast<double>(m) + 1.0) / 9007199254740992.0);
  EXPECT_EQ(u[1].u + u[1].complement, 1.0);
  // The ends of the open interval, exactly.
  EXPECT_EQ(open_uniform(0u, 0u).u, 0x1p-53);
  EXPECT_EQ(open_uniform(0u, 0u).complement, 1.0 - 0x1p-53);
  EXPECT_EQ(open_uniform(0xffffffffu, 0xffffffffu).complement, 0x1p-53);
  EXPECT_EQ(open_uniform(0xffffffffu, 0xffffffffu).u, 1.0 - 0x1p-53);
  // The multiple-choice stream is a third stream: distractor j of item i is word i % 4 of
  // token index j.
  EXPECT_NE(item_uniform(2023, STREAM_CHOICE, 0, 0), item_uniform(2023, STREAM_DIFFICULTY, 0, 0));
}

// One Philox call serves token j of four consecutive items: word w is item 4q + w.
TEST(TokenStream, OneCallServesFourItems) {
  const PhiloxCounter x = token_words(2023, 3, 5, 10, 2);
  for (uint32_t w = 0; w < 4; ++w) EXPECT_EQ(token_uniform(2023, 3, 5, 40 + w, 2), x.v[w]);
}

TEST(TokenStream, EveryCoordinateChangesTheDraw) {
  const uint32_t base = token_uniform(7, 1, 2, 8, 3);
  EXPECT_NE(token_uniform(8, 1, 2, 8, 3), base);
  EXPECT_NE(token_uniform(7, 2, 2, 8, 3), base);
  EXPECT_NE(token_uniform(7, 1, 3, 8, 3), base);
  EXPECT_NE(token_uniform(7, 1, 2, 12, 3), base);
  EXPECT_NE(token_uniform(7, 1, 2, 8, 4), base);
  // The high half of the seed is part of the key.
  EXPECT_NE(token_uniform(7 + (uint64_t{1} << 32), 1, 2, 8, 3), base);
}

// The reserved difficulty stream never coincides with the token stream of token 0.
TEST(TokenStream, ReservedStreamIsDistinct) {
  int equal = 0;
  for (uint64_t i = 0; i < 1000; ++i) {
    equal += item_uniform(11, STREAM_DIFFICULTY, 0, i) == token_uniform(11, 0, 0, i, 0);
  }
  EXPECT_LT(equal, 2);
}

TEST(Threshold, ExactEnds) {
  EXPECT_EQ(token_threshold(0.0), 0u);
  EXPECT_EQ(token_threshold(1.0), THRESHOLD_ONE);
  EXPECT_EQ(token_threshold(0.5), uint64_t{1} << 31);
  // The largest double below 1 must not round up to "always correct".
  EXPECT_EQ(token_threshold(0.99999999999999989), THRESHOLD_ONE - 1);
  EXPECT_EQ(token_correct(0xffffffffu, THRESHOLD_ONE), 1u);
  EXPECT_EQ(token_correct(0u, 0), 0u);
  EXPECT_EQ(token_correct(99u, 100), 1u);
  EXPECT_EQ(token_correct(100u, 100), 0u);
}

// The paper's toy model at the four GPT-3-family sizes (docs/DESIGN.md §1).
TEST(Model, PaperToyModelProbabilities) {
  const double scales[] = {3.5e8, 1.3e9, 6.7e9, 2e11};
  const double expected[] = {0.0916, 0.2893, 0.5791, 0.9048};
  for (int i = 0; i < 4; ++i) {
    const double p =
        token_probability(power_law_loss(scales[i], DEFAULT_LOSS_SCALE, DEFAULT_LOSS_EXPONENT));
    EXPECT_NEAR(p, expected[i], 5e-5) << "scale " << scales[i];
  }
}

}  // namespace
}  // namespace mirage
