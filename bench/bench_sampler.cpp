// Copyright (c) Mirage developers.
// Micro-benchmarks of the CPU sampling path, in token draws per second (one draw = one 32-bit
// uniform = one token of one item; a Philox4x32-10 call gives four). docs/BENCHMARKS.md
// lists the figures and the commands.
//   BM_Philox*     the random stream alone: Random123's scalar call, the SoA batch and the
//                  token-stream batch of philox_batch.h (portable and AVX2) and
//                  philox_avx512.h (AVX-512)
//   BM_SampleUnit  one 65536-item work unit (the default unit size) through the per-item
//                  sampler: the reference (sample_unit_reference) and the kernels of
//                  sample_unit_cpu, for longest target lengths L = 1, 5 and 32
//   BM_CpuBackend  the CPU backend on the sweep of `mirage bench` (8 scales, lengths 1..5,
//                  4 replicates), wall-clock time, 1 and 2 threads, with each vector kernel
//   BM_Probe*      the machine: clock rate and AVX2 / AVX-512 instruction throughputs (x86-64)
// Counters are rates: "draws" in token draws per second (per CPU-second of the benchmark
// thread for the single-thread benchmarks, per wall-clock second for BM_CpuBackend), "Gadd"
// in 1e9 dependent adds per second (the clock in GHz), "Gymm" / "Gzmm" in 1e9 ymm / zmm
// instructions per second.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "config/config.h"
#include "mirage/item_model.h"
#include "mirage/item_model_avx2.h"
#include "mirage/model.h"
#include "mirage/philox_avx512.h"
#include "mirage/philox_batch.h"
#include "mirage/sampler.h"
#include "mirage/stream.h"
#include "run/backend.h"
#include "run/cpu_backend.h"
#include "run/simulation.h"

namespace mirage {
namespace {

constexpr int64_t PHILOX_BATCH = 1024;  // counters per benchmark iteration

void set_draws(benchmark::State& state, int64_t draws_per_iteration) {
  state.counters["draws"] = benchmark::Counter(
      static_cast<double>(draws_per_iteration) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

// Random123's philox4x32_R(10, ...) one call at a time, over the token stream of one
// scale and replicate (what sample_group does).
void BM_PhiloxRandom123(benchmark::State& state) {
  const PhiloxKey key = philox_key(2023);
  uint32_t group = 0;
  for (auto _ : state) {
    uint32_t acc = 0;
    for (int64_t i = 0; i < PHILOX_BATCH; ++i) {
      const PhiloxCounter x = philox4x32_10(philox_counter(group++, 3, STREAM_TOKEN, 5, 1), key);
      acc ^= x.v[0] ^ x.v[1] ^ x.v[2] ^ x.v[3];
    }
    benchmark::DoNotOptimize(acc);
  }
  set_draws(state, 4 * PHILOX_BATCH);
}
BENCHMARK(BM_PhiloxRandom123);

bool skip_without_avx2(benchmark::State& state, CpuKernel kernel) {
  if (kernel == CpuKernel::avx2 && !cpu_kernel_available(CpuKernel::avx2)) {
    state.SkipWithError("this CPU has no AVX2");
    return true;
  }
  if (kernel == CpuKernel::avx512 && !cpu_kernel_available(CpuKernel::avx512)) {
    state.SkipWithError("this CPU has no AVX-512F (or the kernel failed its self-check)");
    return true;
  }
  return false;
}

// philox4x32_10_soa / _avx2: counters with all four words varying (general batch).
void BM_PhiloxSoa(benchmark::State& state) {
  const auto kernel = static_cast<CpuKernel>(state.range(0));
  if (skip_without_avx2(state, kernel)) return;
  const PhiloxKey key = philox_key(2023);
  std::vector<uint32_t> c[4];
  for (auto& words : c) words.assign(PHILOX_BATCH, 0u);
  uint32_t next = 0;
  for (auto _ : state) {
    for (int64_t i = 0; i < PHILOX_BATCH; ++i) {
      c[0][size_t(i)] = next++;
      c[1][size_t(i)] = 3;
      c[2][size_t(i)] = 5;
      c[3][size_t(i)] = 1;
    }
#if MIRAGE_HAVE_AVX512_PATH
    if (kernel == CpuKernel::avx512) {
      philox4x32_10_soa_avx512(key, PHILOX_BATCH, c[0].data(), c[1].data(), c[2].data(),
                               c[3].data());
    } else if (kernel == CpuKernel::avx2) {
      philox4x32_10_soa_avx2(key, PHILOX_BATCH, c[0].data(), c[1].data(), c[2].data(), c[3].data());
    } else {
      philox4x32_10_soa(key, PHILOX_BATCH, c[0].data(), c[1].data(), c[2].data(), c[3].data());
    }
#elif MIRAGE_HAVE_AVX2_PATH
    if (kernel == CpuKernel::avx2) {
      philox4x32_10_soa_avx2(key, PHILOX_BATCH, c[0].data(), c[1].data(), c[2].data(), c[3].data());
    } else {
      philox4x32_10_soa(key, PHILOX_BATCH, c[0].data(), c[1].data(), c[2].data(), c[3].data());
    }
#else
    philox4x32_10_soa(key, PHILOX_BATCH, c[0].data(), c[1].data(), c[2].data(), c[3].data());
#endif
    benchmark::DoNotOptimize(c[0].data());
    benchmark::ClobberMemory();
  }
  set_draws(state, 4 * PHILOX_BATCH);
}
BENCHMARK(BM_PhiloxSoa)
    ->ArgName("kernel")
    ->Arg(static_cast<int>(CpuKernel::portable))
    ->Arg(static_cast<int>(CpuKernel::avx2))
    ->Arg(static_cast<int>(CpuKernel::avx512));

// philox_token_batch / _avx2: token j of PHILOX_BATCH consecutive item groups, through the
// token-stream split (group prefixes recomputed every call, as for a length-1 target).
void BM_PhiloxTokenBatch(benchmark::State& state) {
  const auto kernel = static_cast<CpuKernel>(state.range(0));
  if (skip_without_avx2(state, kernel)) return;
  const PhiloxStreamPrefix prefix = philox_stream_prefix(philox_key(2023), 5, 1);
  std::vector<uint32_t> out[4];
  for (auto& words : out) words.assign(PHILOX_BATCH, 0u);
  uint32_t group = 0;
  for (auto _ : state) {
#if MIRAGE_HAVE_AVX512_PATH
    if (kernel == CpuKernel::avx512) {
      philox_token_batch_avx512(prefix, group, PHILOX_BATCH, 3, out[0].data(), out[1].data(),
                                out[2].data(), out[3].data());
    } else if (kernel == CpuKernel::avx2) {
      philox_token_batch_avx2(prefix, group, PHILOX_BATCH, 3, out[0].data(), out[1].data(),
                              out[2].data(), out[3].data());
    } else {
      philox_token_batch(prefix, group, PHILOX_BATCH, 3, out[0].data(), out[1].data(),
                         out[2].data(), out[3].data());
    }
#elif MIRAGE_HAVE_AVX2_PATH
    if (kernel == CpuKernel::avx2) {
      philox_token_batch_avx2(prefix, group, PHILOX_BATCH, 3, out[0].data(), out[1].data(),
                              out[2].data(), out[3].data());
    } else {
      philox_token_batch(prefix, group, PHILOX_BATCH, 3, out[0].data(), out[1].data(),
                         out[2].data(), out[3].data());
    }
#else
    philox_token_batch(prefix, group, PHILOX_BATCH, 3, out[0].data(), out[1].data(), out[2].data(),
                       out[3].data());
#endif
    group += PHILOX_BATCH;
    benchmark::DoNotOptimize(out[0].data());
    benchmark::ClobberMemory();
  }
  set_draws(state, 4 * PHILOX_BATCH);
}
BENCHMARK(BM_PhiloxTokenBatch)
    ->ArgName("kernel")
    ->Arg(static_cast<int>(CpuKernel::portable))
    ->Arg(static_cast<int>(CpuKernel::avx2))
    ->Arg(static_cast<int>(CpuKernel::avx512));

// One work unit of 65536 items at p = 0.5791 (the paper's toy model at 6.7e9 parameters).
// Args: sampler (-1 = sample_unit_reference, else a CpuKernel), longest length L, and
// nested (1: lengths 1..L, a tally at every token, as in the default sweep; 0: the single
// length L).
void BM_SampleUnit(benchmark::State& state) {
  const int sampler = static_cast<int>(state.range(0));
  const auto max_len = static_cast<int32_t>(state.range(1));
  const bool nested = state.range(2) != 0;
  if (sampler >= 0 && skip_without_avx2(state, static_cast<CpuKernel>(sampler))) return;
  const uint64_t threshold = token_threshold(0.5791);
  std::vector<int32_t> lengths;
  if (nested) {
    for (int32_t L = 1; L <= max_len; ++L) lengths.push_back(L);
  } else {
    lengths.push_back(max_len);
  }
  const int64_t items = 65536;
  const int64_t test_size = int64_t{1} << 30;
  SweepSpec spec;
  spec.seed = 2023;
  spec.num_scales = spec.num_test_sizes = spec.num_replicates = 1;
  spec.num_lengths = static_cast<int32_t>(lengths.size());
  spec.threshold = &threshold;
  spec.length = lengths.data();
  spec.test_size = &test_size;
  std::vector<ItemTally> tallies(lengths.size());
  int64_t begin = 0;
  for (auto _ : state) {
    const WorkUnit unit{0, 0, 0, begin, begin + items};
    if (sampler < 0) {
      sample_unit_reference(spec, unit, tallies.data());
    } else {
      sample_unit_cpu(spec, unit, tallies.data(), static_cast<CpuKernel>(sampler));
    }
    begin = (begin + items) % (test_size - items);
    benchmark::DoNotOptimize(tallies.data());
    benchmark::ClobberMemory();
  }
  set_draws(state, items * max_len);
}
void sample_unit_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"sampler", "L", "nested"});
  for (int sampler : {-1, static_cast<int>(CpuKernel::portable), static_cast<int>(CpuKernel::avx2),
                      static_cast<int>(CpuKernel::avx512)}) {
    for (int64_t L : {1, 5, 32}) b->Args({sampler, L, 0});
    b->Args({sampler, 5, 1});
    b->Args({sampler, 32, 1});
  }
}
BENCHMARK(BM_SampleUnit)->Apply(sample_unit_args);

// The CPU backend on the sweep of `mirage bench` (host/cli/commands.cpp: 8 scales 1e8..1e13,
// lengths 1..5, 4 replicates, nested test sizes by decades, units of 2^20 items), scaled to
// 2e8 draws per iteration. Args: threads, kernel (CpuKernel, run as `--cpu-kernel` does it:
// force_cpu_kernel). Wall-clock rate.
void BM_CpuBackend(benchmark::State& state) {
  const auto threads = static_cast<int32_t>(state.range(0));
  const auto kernel = static_cast<CpuKernel>(state.range(1));
  if (skip_without_avx2(state, kernel)) return;
  force_cpu_kernel(kernel);
  Config config = default_config();
  config.scales = parse_scales("--scales", {"1e8:1e13:8"});
  config.replicates = 4;
  const double draws = 2e8;
  const double per_item = double(config.scales.size()) * config.replicates * 5;
  const auto n_max = static_cast<int64_t>(std::llround(draws / per_item));
  config.test_sizes.clear();
  for (int64_t n = 10; n < n_max; n *= 10) config.test_sizes.push_back(n);
  config.test_sizes.push_back(n_max);
  config.items_per_unit = 1 << 20;
  Sweep sweep(config);
  const UnitGrid grid = sweep.grid();
  const std::vector<int64_t> ids = all_unit_ids(grid);
  int64_t sweep_draws = 0;
  for (int64_t id : ids) sweep_draws += unit_draws(grid.spec, unit_at(grid, id));
  auto backend = make_cpu_backend(threads);
  std::vector<int64_t> segment(size_t(NUM_TALLIES) * size_t(tally_cells(sweep.spec())), 0);
  for (auto _ : state) {
    backend->sample(grid, ids.data(), static_cast<int64_t>(ids.size()), segment.data(), nullptr);
    benchmark::ClobberMemory();
  }
  set_draws(state, sweep_draws);
  state.counters["draws_per_thread"] = benchmark::Counter(
      static_cast<double>(sweep_draws) * static_cast<double>(state.iterations()) / threads,
      benchmark::Counter::kIsRate);
  force_cpu_kernel(CpuKernel::automatic);
}
BENCHMARK(BM_CpuBackend)
    ->ArgNames({"threads", "kernel"})
    ->ArgsProduct({{1, 2},
                   {static_cast<int>(CpuKernel::avx2), static_cast<int>(CpuKernel::avx512)}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The per-item model of continuous difficulty (item_model.h): the token thresholds of 1024
// items (256 groups) at one scale, as the CPU sampler's blocks need them. Args: family
// (DIFFICULTY_NORMAL 1.5, _LOGISTIC 1, _KUMARASWAMY 0.3:1) and kernel: portable =
// group_item_model per group (scalar), AVX2 = item_model_avx2.h on sets of four groups
// (Philox four calls at a time, the math of portable_math_avx2.h). Counter "items" per second.
#if MIRAGE_HAVE_AVX2_PATH
__attribute__((target("avx2"))) uint64_t item_model_sets_avx2(const SweepSpec& spec,
                                                              uint32_t group0, int64_t groups) {
  const ItemStreamsAvx2 s = item_streams_avx2(spec.seed, 1u);
  const ItemShiftParams m =
      item_shift_params(spec.difficulty, spec.difficulty_a, spec.difficulty_b);
  __m256i acc = _mm256_setzero_si256();
  for (int64_t g = 0; g < groups; g += 4) {
    OpenUniform4 u[ITEMS_PER_GROUP];
    set_difficulty_uniforms_avx2(s, item_groups_avx2(s, group0 + static_cast<uint32_t>(g)), u);
    __m256i t[ITEMS_PER_GROUP];
    item_model4_avx2(m, spec.scale_logit[0], u, t, nullptr);
    for (const __m256i& tw : t) acc = _mm256_add_epi64(acc, tw);
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

void BM_ItemModel(benchmark::State& state) {
  const auto family = static_cast<int32_t>(state.range(0));
  const auto kernel = static_cast<CpuKernel>(state.range(1));
  if (skip_without_avx2(state, kernel)) return;
  const double logit = -0.3;
  SweepSpec spec;
  spec.seed = 2023;
  spec.difficulty = family;
  spec.difficulty_a = family == DIFFICULTY_NORMAL ? 1.5 : family == DIFFICULTY_LOGISTIC ? 1.0 : 0.3;
  spec.difficulty_b = 1.0;
  spec.scale_logit = &logit;
  constexpr int64_t GROUPS = 256;
  uint32_t group0 = 0;
  for (auto _ : state) {
    uint64_t sum = 0;
#if MIRAGE_HAVE_AVX2_PATH
    if (kernel == CpuKernel::avx2) sum = item_model_sets_avx2(spec, group0, GROUPS);
#endif
    if (kernel == CpuKernel::portable) {
      for (int64_t g = 0; g < GROUPS; ++g) {
        uint64_t t[ITEMS_PER_GROUP];
        group_item_model(spec, 1u, 0u, group0 + static_cast<uint32_t>(g), t, nullptr);
        sum += t[0] + t[1] + t[2] + t[3];
      }
    }
    benchmark::DoNotOptimize(sum);
    group0 += GROUPS;
  }
  state.counters["items"] = benchmark::Counter(
      static_cast<double>(GROUPS * ITEMS_PER_GROUP) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ItemModel)
    ->ArgNames({"family", "kernel"})
    ->ArgsProduct({{DIFFICULTY_NORMAL, DIFFICULTY_LOGISTIC, DIFFICULTY_KUMARASWAMY},
                   {static_cast<int>(CpuKernel::portable), static_cast<int>(CpuKernel::avx2)}});

#if MIRAGE_HAVE_AVX2_PATH && defined(__x86_64__)
// Probes of the machine itself, to put the figures above in cycles (docs/BENCHMARKS.md):
// the clock (a chain of dependent 64-bit adds runs one add per cycle on any x86-64 core)
// and the AVX2 instruction throughputs that bound the Philox kernel, each as eight
// independent chains so that latency does not limit them. Rates are per CPU-second.
void BM_ProbeClock(benchmark::State& state) {
  uint64_t x = 0;
  for (auto _ : state) {
    for (int i = 0; i < 256; ++i) {
      asm volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
    }
  }
  state.counters["Gadd"] = benchmark::Counter(1024e-9 * static_cast<double>(state.iterations()),
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ProbeClock);

#define MIRAGE_PROBE_8(op)                                                          \
  asm volatile(op " %%ymm8, %%ymm0, %%ymm0\n\t" op " %%ymm8, %%ymm1, %%ymm1\n\t" op \
                  " %%ymm8, %%ymm2, %%ymm2\n\t" op " %%ymm8, %%ymm3, %%ymm3\n\t" op \
                  " %%ymm8, %%ymm4, %%ymm4\n\t" op " %%ymm8, %%ymm5, %%ymm5\n\t" op \
                  " %%ymm8, %%ymm6, %%ymm6\n\t" op " %%ymm8, %%ymm7, %%ymm7" ::     \
                      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7")

// Arg 0: vpmuludq, 1: vpxor, 2: vpsrlq, 3: the instruction mix of one Philox round on two
// sets of lanes (2 vpmuludq, 2 vpsrlq, 4 vpxor).
void BM_ProbeAvx2(benchmark::State& state) {
  if (!cpu_has_avx2()) {
    state.SkipWithError("this CPU has no AVX2");
    return;
  }
  const int64_t which = state.range(0);
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i) {
      switch (which) {
        case 0:
          MIRAGE_PROBE_8("vpmuludq");
          break;
        case 1:
          MIRAGE_PROBE_8("vpxor");
          break;
        case 2:
          asm volatile(
              "vpsrlq $1, %%ymm0, %%ymm0\n\tvpsrlq $1, %%ymm1, %%ymm1\n\t"
              "vpsrlq $1, %%ymm2, %%ymm2\n\tvpsrlq $1, %%ymm3, %%ymm3\n\t"
              "vpsrlq $1, %%ymm4, %%ymm4\n\tvpsrlq $1, %%ymm5, %%ymm5\n\t"
              "vpsrlq $1, %%ymm6, %%ymm6\n\tvpsrlq $1, %%ymm7, %%ymm7" ::
                  : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
          break;
        default:
          asm volatile(
              "vpmuludq %%ymm8, %%ymm0, %%ymm0\n\tvpmuludq %%ymm8, %%ymm1, %%ymm1\n\t"
              "vpsrlq $1, %%ymm2, %%ymm2\n\tvpsrlq $1, %%ymm3, %%ymm3\n\t"
              "vpxor %%ymm8, %%ymm4, %%ymm4\n\tvpxor %%ymm8, %%ymm5, %%ymm5\n\t"
              "vpxor %%ymm8, %%ymm6, %%ymm6\n\tvpxor %%ymm8, %%ymm7, %%ymm7" ::
                  : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
          break;
      }
    }
  }
  state.counters["Gymm"] = benchmark::Counter(512e-9 * static_cast<double>(state.iterations()),
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ProbeAvx2)->ArgName("op")->DenseRange(0, 3);
#undef MIRAGE_PROBE_8

// The same for zmm registers (AVX-512F). Arg 0: vpmuludq, 1: vpternlogq, 2: vpsrlq, 3: the
// instruction mix of one round of philox_avx512.h on two sets of lanes (2 vpmuludq, 2 vpsrlq,
// 2 vpternlogq on each: 4, 4, 4), 4: vpxorq.
#define MIRAGE_PROBE_Z8(op)                                                         \
  asm volatile(op " %%zmm8, %%zmm0, %%zmm0\n\t" op " %%zmm8, %%zmm1, %%zmm1\n\t" op \
                  " %%zmm8, %%zmm2, %%zmm2\n\t" op " %%zmm8, %%zmm3, %%zmm3\n\t" op \
                  " %%zmm8, %%zmm4, %%zmm4\n\t" op " %%zmm8, %%zmm5, %%zmm5\n\t" op \
                  " %%zmm8, %%zmm6, %%zmm6\n\t" op " %%zmm8, %%zmm7, %%zmm7" ::     \
                      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7")

void BM_ProbeAvx512(benchmark::State& state) {
  if (!cpu_has_avx512()) {
    state.SkipWithError("this CPU has no AVX-512F");
    return;
  }
  const int64_t which = state.range(0);
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i) {
      switch (which) {
        case 0:
          MIRAGE_PROBE_Z8("vpmuludq");
          break;
        case 1:
          MIRAGE_PROBE_Z8("vpternlogq $0x96,");
          break;
        case 2:
          asm volatile(
              "vpsrlq $1, %%zmm0, %%zmm0\n\tvpsrlq $1, %%zmm1, %%zmm1\n\t"
              "vpsrlq $1, %%zmm2, %%zmm2\n\tvpsrlq $1, %%zmm3, %%zmm3\n\t"
              "vpsrlq $1, %%zmm4, %%zmm4\n\tvpsrlq $1, %%zmm5, %%zmm5\n\t"
              "vpsrlq $1, %%zmm6, %%zmm6\n\tvpsrlq $1, %%zmm7, %%zmm7" ::
                  : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
          break;
        case 3:
          asm volatile(
              "vpmuludq %%zmm8, %%zmm0, %%zmm0\n\tvpmuludq %%zmm8, %%zmm1, %%zmm1\n\t"
              "vpsrlq $1, %%zmm2, %%zmm2\n\tvpsrlq $1, %%zmm3, %%zmm3\n\t"
              "vpternlogq $0x96, %%zmm8, %%zmm8, %%zmm4\n\t"
              "vpternlogq $0x96, %%zmm8, %%zmm8, %%zmm5\n\t"
              "vpmuludq %%zmm8, %%zmm6, %%zmm6\n\tvpmuludq %%zmm8, %%zmm7, %%zmm7\n\t"
              "vpsrlq $1, %%zmm9, %%zmm9\n\tvpsrlq $1, %%zmm10, %%zmm10\n\t"
              "vpternlogq $0x96, %%zmm8, %%zmm8, %%zmm11\n\t"
              "vpternlogq $0x96, %%zmm8, %%zmm8, %%zmm12" ::
                  : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm9", "xmm10",
                    "xmm11", "xmm12");
          break;
        default:
          MIRAGE_PROBE_Z8("vpxorq");
          break;
      }
    }
  }
  const double per_loop = which == 3 ? 768e-9 : 512e-9;
  state.counters["Gzmm"] = benchmark::Counter(per_loop * static_cast<double>(state.iterations()),
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ProbeAvx512)->ArgName("op")->DenseRange(0, 4);
#undef MIRAGE_PROBE_Z8
#endif

}  // namespace
}  // namespace mirage
