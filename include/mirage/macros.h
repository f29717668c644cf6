// Copyright (c) Mirage developers.
//! \file macros.h
//! The one host/device qualifier macro. Everything in include/mirage/ is compiled by both a
//! plain C++17 compiler (CPU backend, tests) and nvcc (CUDA backend); under a plain compiler
//! the qualifier is empty.
#pragma once

#if defined(__CUDACC__)
#define MIRAGE_HD __host__ __device__
#define MIRAGE_DEVICE_CODE 1
#else
#define MIRAGE_HD
#define MIRAGE_DEVICE_CODE 0
#endif

#if defined(__CUDACC__) || defined(__GNUC__)
#define MIRAGE_RESTRICT __restrict__
#else
#define MIRAGE_RESTRICT
#endif
