// Copyright (c) Mirage developers.
//! \file sample_kernels.cuh
//! The sampling kernels' launchers (the kernels are in sample_kernels.cu; their parameters,
//! KernelParams, and their per-group arithmetic are in tiles.h).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "mirage/sweep.h"
#include "tiles.h"

namespace mirage::cuda::detail {

//! Prepares the kernels on the current device, once per device and process (later calls
//! return at once): opts every token kernel that uses dynamic shared memory into the device's
//! largest per-block amount, so that no launch needs to change the attribute again (two
//! concurrent calls with different needs cannot undercut each other).
void prepare_kernels();

//! Throws std::runtime_error naming the device unless the current device offers the
//! `choice`'s dynamic shared memory per block.
void check_shared_memory(const KernelChoice& choice);

//! Blocks of the token kernel of `choice` that one multiprocessor of the current device holds
//! at once (cudaOccupancyMaxActiveBlocksPerMultiprocessor), at least 1.
int resident_blocks_per_multiprocessor(const KernelChoice& choice);

//! Samples tiles params.tiles[0..num_tiles) (1 <= num_tiles <= MAX_BATCH_TILES) with the
//! chosen token kernel and, for multiple choice, the choice kernel on `stream`, adding into
//! params.tallies; one block per tile. Checks the launch (errors during execution surface at
//! the next synchronizing call).
void launch_sample_tiles(const KernelChoice& choice, const KernelParams& params, int64_t num_tiles,
                         cudaStream_t stream);

//! cudaSuccess when the sampling kernels can run on the current device (this build holds
//! machine code or PTX for it); otherwise the error that loading them gives.
cudaError_t probe_kernel_image();

}  // namespace mirage::cuda::detail
