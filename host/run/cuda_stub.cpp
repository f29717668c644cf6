// Copyright (c) Mirage developers.
//! \file cuda_stub.cpp
//! The CUDA backend's API (cuda/cuda_backend.h) for builds without CUDA: it says the backend
//! is missing instead of failing to link. Built into mirage_host when MIRAGE_HAVE_CUDA is OFF.

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_backend.h"

namespace mirage::cuda {
namespace {

constexpr const char* NO_CUDA_BACKEND =
    "this build of mirage has no CUDA backend (nvcc was not found at configure time)";

}  // namespace

bool built() {
  return false;
}

std::vector<DeviceInfo> list_devices(std::string* why_none) {
  if (why_none != nullptr) *why_none = NO_CUDA_BACKEND;
  return {};
}

void sample_units(const UnitGrid& /*grid*/, const std::vector<int>& /*devices*/,
                  const int64_t* /*unit_ids*/, int64_t /*count*/, int64_t* /*segment_tallies*/,
                  const std::function<void(int64_t)>& /*progress*/) {
  throw std::runtime_error(NO_CUDA_BACKEND);
}

}  // namespace mirage::cuda
