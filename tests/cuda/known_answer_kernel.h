// Copyright (c) Mirage developers.
//! \file known_answer_kernel.h
//! Device side of the known-answer tests (known_answer_kernel.cu): the core's stream
//! functions evaluated by a kernel, so the tests can compare them with the same functions on
//! the host and with pinned literal values. Plain C++: no CUDA headers.
#pragma once

#include <cstdint>
#include <vector>

namespace mirage::cuda::test {

//! The arguments of mirage::token_uniform(seed, replicate, scale, item, token).
struct TokenQuery {
  uint64_t seed;
  uint32_t replicate;
  uint32_t scale;
  uint64_t item;
  uint32_t token;
};

//! A raw Philox4x32-10 input.
struct PhiloxInput {
  uint32_t counter[4];
  uint32_t key[2];
};

//! A raw Philox4x32-10 output.
struct PhiloxOutput {
  uint32_t v[4];
};

//! mirage::token_uniform for each query, computed by a kernel on CUDA device `device`.
//! Throws std::runtime_error on a CUDA error.
std::vector<uint32_t> device_token_uniforms(int device, const std::vector<TokenQuery>& queries);

//! mirage::philox4x32_10 for each input, computed by a kernel on CUDA device `device`.
std::vector<PhiloxOutput> device_philox(int device, const std::vector<PhiloxInput>& inputs);

}  // namespace mirage::cuda::test
