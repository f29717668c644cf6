// Copyright (c) Mirage developers.
//! \file sample_kernels.cuh
//! The sampling kernels' parameters and launchers (the kernels are in sample_kernels.cu).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "mirage/sweep.h"
#include "tiles.h"

namespace mirage::cuda::detail {

//! Everything a sampling launch reads, passed by value (it lives in the kernel's constant
//! parameter space, so the fast kernels read their lengths without a memory load).
struct KernelParams {
  //! length, threshold and (with difficulty) scale_logit, and (for multiple choice)
  //! scale_log_p point to device copies; the kernels never read test_size.
  SweepSpec spec;
  const Tile* tiles = nullptr;  //!< [num_tiles] device tile descriptors
  //! [segment_tally_size(spec)] device segment tallies (choice tallies included)
  unsigned long long* tallies = nullptr;
  int32_t fast_length[FAST_MAX_LENGTHS] = {};  //!< spec.length[0..min(K, 8)) for fast kernels
};

//! Prepares `choice` on the current device and returns the choice to launch: opts the token
//! kernel into the dynamic shared memory it needs beyond the default 48 KiB. Throws
//! std::runtime_error if the device cannot give that much.
KernelChoice prepare_kernel(const KernelChoice& choice);

//! Samples tiles params.tiles[0..num_tiles) (1 <= num_tiles <= MAX_BATCH_TILES) with the
//! chosen token kernel and, for multiple choice, the choice kernel on `stream`, adding into
//! params.tallies; one block per tile. Checks the
//! launch (errors during execution surface at the next synchronizing call).
void launch_sample_tiles(const KernelChoice& choice, const KernelParams& params, int64_t num_tiles,
                         cudaStream_t stream);

//! cudaSuccess when the sampling kernels can run on the current device (this build holds
//! machine code or PTX for it); otherwise the error that loading them gives.
cudaError_t probe_kernel_image();

}  // namespace mirage::cuda::detail
