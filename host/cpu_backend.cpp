// Copyright (c) Mirage developers.
#include "cpu_backend.h"

#include <omp.h>

#include <sstream>
#include <vector>

#include "backend.h"

namespace mirage {

void sample_unit_cpu(const SweepSpec& spec, const WorkUnit& unit, ItemTally* per_length) {
  const uint64_t threshold = spec.threshold[unit.scale];
  const auto replicate = static_cast<uint32_t>(unit.replicate);
  const auto scale = static_cast<uint32_t>(unit.scale);
  const int64_t first_group = unit.item_begin / ITEMS_PER_GROUP;
  const int64_t end_group = (unit.item_end + ITEMS_PER_GROUP - 1) / ITEMS_PER_GROUP;
  // Groups wholly inside the unit need no per-item mask.
  const int64_t full_begin = (unit.item_begin + ITEMS_PER_GROUP - 1) / ITEMS_PER_GROUP;
  const int64_t full_end = unit.item_end / ITEMS_PER_GROUP;
  for (int64_t g = first_group; g < end_group; ++g) {
    const bool full = g >= full_begin && g < full_end;
    const int64_t item0 = g * ITEMS_PER_GROUP;
    sample_group(spec.seed, replicate, scale, static_cast<uint32_t>(g), threshold, spec.length,
                 spec.num_lengths, [&](int32_t index, int32_t length, const uint32_t* k) {
                   ItemTally& tally = per_length[index];
                   for (int w = 0; w < ITEMS_PER_GROUP; ++w) {
                     const int64_t item = item0 + w;
                     if (full || (item >= unit.item_begin && item < unit.item_end)) {
                       tally.add(length, k[w]);
                     }
                   }
                 });
  }
}

namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int32_t threads) : threads_(threads > 0 ? threads : omp_get_max_threads()) {}

  std::string name() const override { return "cpu"; }

  std::string devices() const override {
    std::ostringstream out;
    out << "OpenMP, " << threads_ << (threads_ == 1 ? " thread" : " threads");
    return out.str();
  }

  void sample(const UnitGrid& grid, const int64_t* unit_ids, int64_t count,
              int64_t* segment_tallies, const ProgressFn& progress) override {
    const SweepSpec& spec = grid.spec;
#pragma omp parallel num_threads(threads_)
    {
      std::vector<ItemTally> per_length(static_cast<size_t>(spec.num_lengths));
      // Dynamic scheduling: units differ in size (segments of nested test sets).
#pragma omp for schedule(dynamic, 1)
      for (int64_t u = 0; u < count; ++u) {
        const WorkUnit unit = unit_at(grid, unit_ids[u]);
        for (ItemTally& t : per_length) t = ItemTally{};
        sample_unit_cpu(spec, unit, per_length.data());
        for (int32_t k = 0; k < spec.num_lengths; ++k) {
          const int64_t values[NUM_TALLIES] = {per_length[k].exact_match, per_length[k].token_errors,
                                               per_length[k].token_errors_sq};
          for (int tally = 0; tally < NUM_TALLIES; ++tally) {
            int64_t& cell = segment_tallies[tally_array_index(spec, tally, unit.scale, k, unit.segment,
                                                              unit.replicate)];
#pragma omp atomic
            cell += values[tally];
          }
        }
        if (progress) progress(unit_draws(spec, unit));
      }
    }
  }

 private:
  int32_t threads_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int32_t threads) {
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace mirage
