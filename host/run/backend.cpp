// Copyright (c) Mirage developers.
#include "run/backend.h"

#include <sstream>
#include <stdexcept>

#include "config/config.h"
#include "cuda_backend.h"

namespace mirage {
namespace {

class CudaBackend final : public Backend {
 public:
  CudaBackend(std::vector<int> devices, std::string description)
      : devices_(std::move(devices)), description_(std::move(description)) {}

  std::string name() const override { return "cuda"; }
  std::string devices() const override { return description_; }

  void sample(const UnitGrid& grid, const int64_t* unit_ids, int64_t count,
              int64_t* segment_tallies, const ProgressFn& progress) override {
    // The CUDA backend reports cumulative draws; ProgressFn takes increments.
    int64_t reported = 0;
    cuda::sample_units(grid, devices_, unit_ids, count, segment_tallies, [&](int64_t cumulative) {
      if (progress) progress(cumulative - reported);
      reported = cumulative;
    });
  }

 private:
  std::vector<int> devices_;
  std::string description_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const std::vector<int32_t>& requested) {
  std::string why;
  const std::vector<cuda::DeviceInfo> available = cuda::list_devices(&why);
  if (available.empty()) {
    throw std::invalid_argument("--backend: 'cuda' is not available: " + why +
                                "; use --backend cpu or auto");
  }
  std::vector<int> chosen;
  std::ostringstream description;
  auto describe = [&](const cuda::DeviceInfo& d) {
    if (!chosen.empty()) description << ", ";
    chosen.push_back(d.index);
    description << d.index << ": " << d.name << " (sm_" << d.major << d.minor << ")";
  };
  if (requested.empty()) {
    for (const auto& d : available) describe(d);
  } else {
    for (int32_t index : requested) {
      bool found = false;
      for (const auto& d : available) {
        if (d.index == index) {
          describe(d);
          found = true;
        }
      }
      if (!found) {
        throw std::invalid_argument("--devices: CUDA device " + std::to_string(index) +
                                    " does not exist; this machine has " +
                                    std::to_string(available.size()) + " usable device(s)");
      }
    }
  }
  return std::make_unique<CudaBackend>(std::move(chosen), description.str());
}

std::unique_ptr<Backend> make_backend(const Config& config, std::string* note) {
  if (config.backend == "cpu") {
    if (note) *note = "backend: cpu (requested)";
    return make_cpu_backend(config.threads);
  }
  if (config.backend == "cuda") {
    auto backend = make_cuda_backend(config.devices);
    if (note) *note = "backend: cuda (requested) on " + backend->devices();
    return backend;
  }
  std::string why;
  if (!cuda::list_devices(&why).empty()) {
    auto backend = make_cuda_backend(config.devices);
    if (note) *note = "backend: cuda (auto: a CUDA device is present) on " + backend->devices();
    return backend;
  }
  if (note) *note = "backend: cpu (auto: no usable CUDA device: " + why + ")";
  return make_cpu_backend(config.threads);
}

}  // namespace mirage
