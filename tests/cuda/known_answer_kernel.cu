// Copyright (c) Mirage developers.
//! \file known_answer_kernel.cu
//! Kernels that evaluate the core's stream functions (mirage/stream.h) on the device, for the
//! known-answer tests in test_cuda_backend.cpp. The functions are the same MIRAGE_HD code the
//! host runs; these kernels pin that nvcc's device build of them agrees bit for bit.

// First: it configures Random123 for the device pass.

#include <cuda_runtime.h>

#include <cstddef>
#include <vector>

#include "cuda_check.cuh"
#include "known_answer_kernel.h"
#include "mirage/stream.h"

namespace mirage::cuda::test {
namespace {

__global__ void token_uniform_kernel(const TokenQuery* queries, int count, uint32_t* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const TokenQuery q = queries[i];
  out[i] = token_uniform(q.seed, q.replicate, q.scale, q.item, q.token);
}

__global__ void philox_kernel(const PhiloxInput* inputs, int count, PhiloxOutput* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= count) return;
  PhiloxCounter ctr;
  PhiloxKey key;
  for (int w = 0; w < 4; ++w) ctr.v[w] = inputs[i].counter[w];
  key.v[0] = inputs[i].key[0];
  key.v[1] = inputs[i].key[1];
  const PhiloxCounter x = philox4x32_10(ctr, key);
  for (int w = 0; w < 4; ++w) out[i].v[w] = x.v[w];
}

//! Runs `kernel` over inputs and returns its outputs.
template <class In, class Out, class Kernel>
std::vector<Out> run(int device, Kernel kernel, const std::vector<In>& inputs) {
  std::vector<Out> outputs(inputs.size());
  if (inputs.empty()) return outputs;
  MIRAGE_CUDA_CHECK(cudaSetDevice(device));
  const int count = static_cast<int>(inputs.size());
  detail::DeviceBuffer<In> d_in(inputs.size());
  detail::DeviceBuffer<Out> d_out(inputs.size());
  MIRAGE_CUDA_CHECK(
      cudaMemcpy(d_in.get(), inputs.data(), sizeof(In) * inputs.size(), cudaMemcpyHostToDevice));
  const int threads = 128;
  kernel<<<(count + threads - 1) / threads, threads>>>(d_in.get(), count, d_out.get());
  MIRAGE_CUDA_CHECK(cudaGetLastError());
  MIRAGE_CUDA_CHECK(cudaMemcpy(outputs.data(), d_out.get(), sizeof(Out) * outputs.size(),
                               cudaMemcpyDeviceToHost));
  return outputs;
}

}  // namespace

std::vector<uint32_t> device_token_uniforms(int device, const std::vector<TokenQuery>& queries) {
  return run<TokenQuery, uint32_t>(device, token_uniform_kernel, queries);
}

std::vector<PhiloxOutput> device_philox(int device, const std::vector<PhiloxInput>& inputs) {
  return run<PhiloxInput, PhiloxOutput>(device, philox_kernel, inputs);
}

}  // namespace mirage::cuda::test
