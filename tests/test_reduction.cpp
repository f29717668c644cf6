// Copyright (c) Mirage developers.
//! \file test_reduction.cpp
//! The reduction (tallies to metrics, intervals, summaries, analyses, file) pinned bit for bit:
//! for a fixed set of sweeps, a hash of every dataset of the result file, with 1 and with 2
//! threads, against values recorded from the implementation of commit 1673d9a (before the
//! reduction was made faster). A faster reduction must give exactly these bytes.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "config/config.h"
#include "io/hdf5_file.h"
#include "io/output.h"
#include "stats/metric_cells.h"
#include "stats/parallel_arrays.h"
#include "stats/statistics.h"

namespace mirage {
namespace {

uint64_t fnv1a(const void* data, size_t bytes, uint64_t hash) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) {
    hash ^= p[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

struct Visit {
  std::map<std::string, uint64_t> hashes;  // dataset path -> hash of its bytes
};

// Every dataset's raw bytes (doubles with every NaN as the one quiet NaN, since the sign bit
// of a NaN says nothing) hashed with its name.
herr_t visit_dataset(hid_t root, const char* name, const H5O_info_t* info, void* data) {
  if (info->type != H5O_TYPE_DATASET) return 0;
  // Format 1.2 copies the coordinates (scale, length, ...) into every group that uses them
  // (docs/FORMAT.md §1); they repeat the configuration, postdate the pinned hashes, and are
  // left out by name. The originals (/model/scale, /task/length, /task/test_size) still count.
  const std::string path = name, leaf = path.substr(path.rfind('/') + 1);
  for (const char* coordinate :
       {"scale", "length", "test_size", "replicate", "scale_pair", "quantile_probability"}) {
    if (leaf == coordinate && path != "model/scale" && path != "task/length" &&
        path != "task/test_size") {
      return 0;
    }
  }
  Visit* visit = static_cast<Visit*>(data);
  const hid_t set = H5Dopen2(root, name, H5P_DEFAULT);
  const hid_t type = H5Dget_type(set);
  const hid_t space = H5Dget_space(set);
  const hssize_t count = H5Sget_simple_extent_npoints(space);
  const size_t size = H5Tget_size(type);
  const bool is_double = H5Tget_class(type) == H5T_FLOAT && size == 8;
  const hid_t memory = H5Tget_native_type(type, H5T_DIR_ASCEND);
  std::vector<unsigned char> bytes(size_t(count) * size);
  if (count > 0) H5Dread(set, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data());
  if (is_double) {
    for (hssize_t i = 0; i < count; ++i) {
      double v;
      std::memcpy(&v, bytes.data() + size_t(i) * 8, 8);
      if (std::isnan(v)) {
        v = std::numeric_limits<double>::quiet_NaN();
        std::memcpy(bytes.data() + size_t(i) * 8, &v, 8);
      }
    }
  }
  visit->hashes[name] = fnv1a(bytes.data(), bytes.size(), 14695981039346656037ull);
  H5Tclose(memory);
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(set);
  return 0;
}

// The hash of the whole file's datasets (names and contents, in name order).
uint64_t file_hash(const std::string& path, std::map<std::string, uint64_t>* each = nullptr) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  Visit visit;
  H5Ovisit(file, H5_INDEX_NAME, H5_ITER_INC, visit_dataset, &visit);
  H5Fclose(file);
  uint64_t hash = 14695981039346656037ull;
  for (const auto& [name, h] : visit.hashes) {
    hash = fnv1a(name.data(), name.size(), hash);
    hash = fnv1a(&h, sizeof h, hash);
  }
  if (each) *each = visit.hashes;
  return hash;
}

struct Pinned {
  const char* name;
  uint64_t hash;
};

// The sweeps: plain (default methods), other methods and confidence, n = 1, difficulty and
// multiple choice.
Config sweep(const std::string& name) {
  Config c = default_config();
  c.backend = "cpu";
  c.quiet = true;
  c.scales = parse_scales("--scales", {"1e8:1e13:9"});
  c.lengths = {1, 2, 5};
  c.test_sizes = {1, 10, 100};
  c.replicates = 50;
  c.seed = 17;
  if (name == "methods") {
    c.interval = "clopper-pearson";
    c.mean_interval = "student-t";
    c.confidence = 0.9;
  } else if (name == "exact-methods") {
    c.interval = "blaker";
    c.mean_interval = "clopper-pearson-deff";
    c.test_sizes = {7, 300};
  } else if (name == "choice") {
    c.task = "multiple-choice";
    c.choices = 4;
    c.difficulty = "normal:1";
    c.scales = parse_scales("--scales", {"1e8:1e12:6"});
    c.lengths = {1, 3};
    c.test_sizes = {5, 50};
    c.replicates = 30;
  }
  return c;
}

class Reduction : public ::testing::TestWithParam<int> {};

TEST_P(Reduction, EveryDatasetIsPinned) {
  // Recorded from commit 1673d9a with this test's file_hash.
  const Pinned pinned[] = {
      {"plain", 0x812bfdbac2b5a625ull},
      {"methods", 0x02972af436fca57eull},
      {"exact-methods", 0x05668541c96ba143ull},
      {"choice", 0x23c6367d7adb1f41ull},
  };
  for (const Pinned& p : pinned) {
    Config c = sweep(p.name);
    c.threads = GetParam();
    const std::string path = ::testing::TempDir() + "/mirage_reduction_" + p.name + ".h5";
    write_hdf5(simulate(c, "test", nullptr), path);
    std::map<std::string, uint64_t> each;
    const uint64_t hash = file_hash(path, &each);
    EXPECT_EQ(hash, p.hash) << p.name << " with " << GetParam() << " threads: 0x" << std::hex
                            << hash;
    EXPECT_GT(each.size(), 40u) << p.name;
    std::remove(path.c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, Reduction, ::testing::Values(1, 2));

// `mirage run` writes its file while the analyses run (OverlappedResultWrite, one thread
// writing the head as the reduction goes on): the file must be the pinned one all the same.
TEST(Reduction, TheRunCommandWritesThePinnedFileWhileItReduces) {
  const std::string path = ::testing::TempDir() + "/mirage_reduction_cli_plain.h5";
  for (const char* threads : {"1", "2"}) {
    const std::string command = std::string(MIRAGE_BINARY) +
                                " run --scales 1e8:1e13:9 --lengths 1,2,5 --test-sizes 1,10,100 "
                                "--replicates 50 --seed 17 --backend cpu -q --threads " +
                                threads + " -o " + path;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    EXPECT_EQ(file_hash(path, nullptr), 0x812bfdbac2b5a625ull) << threads << " threads";
    std::remove(path.c_str());
  }
}

// Every dataset of a file: its shape and its bytes (NaN normalized as in visit_dataset).
struct Dataset {
  std::vector<hsize_t> dims;
  size_t element = 0;
  std::vector<unsigned char> bytes;
};

herr_t read_dataset(hid_t root, const char* name, const H5O_info_t* info, void* data) {
  if (info->type != H5O_TYPE_DATASET) return 0;
  auto* out = static_cast<std::map<std::string, Dataset>*>(data);
  const hid_t set = H5Dopen2(root, name, H5P_DEFAULT);
  const hid_t type = H5Dget_type(set);
  const hid_t space = H5Dget_space(set);
  Dataset d;
  d.dims.resize(size_t(H5Sget_simple_extent_ndims(space)));
  H5Sget_simple_extent_dims(space, d.dims.data(), nullptr);
  const hssize_t count = H5Sget_simple_extent_npoints(space);
  d.element = H5Tget_size(type);
  const bool is_double = H5Tget_class(type) == H5T_FLOAT && d.element == 8;
  const hid_t memory = H5Tget_native_type(type, H5T_DIR_ASCEND);
  d.bytes.resize(size_t(count) * d.element);
  if (count > 0) H5Dread(set, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, d.bytes.data());
  for (hssize_t i = 0; is_double && i < count; ++i) {
    double v;
    std::memcpy(&v, d.bytes.data() + size_t(i) * 8, 8);
    if (std::isnan(v)) {
      v = std::numeric_limits<double>::quiet_NaN();
      std::memcpy(d.bytes.data() + size_t(i) * 8, &v, 8);
    }
  }
  (*out)[name] = std::move(d);
  H5Tclose(memory);
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(set);
  return 0;
}

std::map<std::string, Dataset> read_datasets(const std::string& path) {
  std::map<std::string, Dataset> out;
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  H5Ovisit(file, H5_INDEX_NAME, H5_ITER_INC, read_dataset, &out);
  H5Fclose(file);
  return out;
}

// --keep-replicates N: the file holds the same datasets as the run that keeps every replicate,
// those with a replicate axis cut to its first N entries (the rest of their bytes equal), and
// every other one - summaries, coverage, comparisons, fractions of significant jumps, emergence
// quantiles, frontier - equal to the bit: they still use all R replicates. Sweeps with every
// kind of per-replicate dataset and every way of computing a metric again for the replicates
// the arrays do not keep: other interval methods, multiple choice (the Brier score), attempts
// (pass@k; the histogram's bins follow the replicate axis), sampling until success and
// adaptive test-set sizes; 1 and 2 threads.
TEST(Reduction, KeptReplicatesAreTheFirstOnesOfTheFullFile) {
  for (const char* name : {"plain", "methods", "choice", "attempts", "until", "adaptive"}) {
    const std::string kind = name;
    Config c = sweep(kind == "choice" || kind == "methods" ? kind : "plain");
    c.replicates = 9;
    c.threads = kind == "choice" || kind == "until" ? 2 : 1;
    if (kind == "attempts") {
      c.attempts = 4;
      c.pass_at = {1, 4};
    } else if (kind == "until") {
      c.until_success = true;
      c.budget = 6;
    } else if (kind == "adaptive") {
      c.target_relative_width = 0.5;
      c.max_items = 80;
      c.test_sizes = adaptive_steps(c.max_items);
    }
    const std::string full = ::testing::TempDir() + "/mirage_kept_full.h5";
    const std::string kept = ::testing::TempDir() + "/mirage_kept_4.h5";
    write_hdf5(simulate(c, "test", nullptr), full);
    c.keep_replicates = 4;
    write_hdf5(simulate(c, "test", nullptr), kept);
    const std::map<std::string, Dataset> a = read_datasets(full), b = read_datasets(kept);
    ASSERT_EQ(a.size(), b.size()) << name;
    size_t cut = 0;
    for (const auto& [path, x] : a) {
      ASSERT_EQ(b.count(path), 1u) << name << ": " << path;
      const Dataset& y = b.at(path);
      ASSERT_EQ(x.dims.size(), y.dims.size()) << name << ": " << path;
      size_t axis = x.dims.size();
      for (size_t i = 0; i < x.dims.size(); ++i) {
        if (x.dims[i] != y.dims[i]) {
          EXPECT_EQ(axis, x.dims.size()) << name << ": " << path << " differs on two axes";
          EXPECT_EQ(x.dims[i], 9u) << name << ": " << path;
          EXPECT_EQ(y.dims[i], 4u) << name << ": " << path;
          axis = i;
        }
      }
      if (axis == x.dims.size()) {
        EXPECT_TRUE(x.bytes == y.bytes) << name << ": " << path << " differs";
        continue;
      }
      ++cut;
      size_t outer = 1, inner = x.element;
      for (size_t i = 0; i < axis; ++i) outer *= x.dims[i];
      for (size_t i = axis + 1; i < x.dims.size(); ++i) inner *= x.dims[i];
      bool same = y.bytes.size() == outer * 4 * inner;
      for (size_t o = 0; same && o < outer; ++o) {
        same = std::memcmp(x.bytes.data() + o * 9 * inner, y.bytes.data() + o * 4 * inner,
                           4 * inner) == 0;
      }
      EXPECT_TRUE(same) << name << ": " << path
                        << " is not the first 4 replicates of the full file";
    }
    // Counts, estimates and intervals, jumps and emergence scores of every metric (and their
    // replicate coordinates) at least.
    EXPECT_GE(cut, 30u) << name;
    const h5::File f = h5::File::open_read(kept);
    EXPECT_EQ(f.attr_int64("/task/test_size", "replicates"), 9);
    EXPECT_EQ(f.attr_int64("/task/test_size", "replicates_stored"), 4);
    EXPECT_EQ(h5::File::open_read(full).attr_int64("/task/test_size", "replicates_stored"), 9);
    std::remove(full.c_str());
    std::remove(kept.c_str());
  }
}

template <class T>
double bytes_of(const std::vector<T>& v) {
  return double(v.size() * sizeof(T));
}

// Bytes of every array a reduction leaves in Results, and the segment tallies beside them (as
// many as the nested counts): what is held when the reduction ends.
double held_bytes(const Results& r) {
  double b = 0;
  const Counts& c = r.counts;
  for (const std::vector<int64_t>* v :
       {&c.exact_match, &c.token_errors, &c.token_errors_sq, &c.choice_grade, &c.brier,
        &c.brier_sq, &c.attempt_histogram, &c.until_solved, &c.until_attempts,
        &c.until_attempts_sq, &c.until_solved_attempts}) {
    b += 2 * bytes_of(*v);
  }
  for (const MetricResult& m : r.metrics) {
    b += bytes_of(m.estimate) + bytes_of(m.ci_low) + bytes_of(m.ci_high) + bytes_of(m.expected) +
         bytes_of(m.pooled_limit);
    const SummaryArrays& s = m.summary;
    for (const std::vector<double>* v :
         {&s.mean, &s.sd, &s.q025, &s.q500, &s.q975, &s.p_zero, &s.coverage, &s.mean_ci_width}) {
      b += bytes_of(*v);
    }
  }
  for (const IntervalComparison& i : r.interval_comparison) {
    b += bytes_of(i.coverage) + bytes_of(i.mean_ci_width) + bytes_of(i.exact_coverage);
  }
  for (const Jumps& j : r.jumps) {
    b += bytes_of(j.low) + bytes_of(j.high) + bytes_of(j.significant) +
         bytes_of(j.fraction_significant) + bytes_of(j.coverage) + bytes_of(j.expected);
  }
  for (const Emergence& e : r.emergence) b += bytes_of(e.score);
  const Adaptive& a = r.adaptive;
  b += bytes_of(a.items_used) + bytes_of(a.draws_used) + bytes_of(a.stopped) +
       bytes_of(a.estimate) + bytes_of(a.ci_low) + bytes_of(a.ci_high);
  return b;
}

// The memory check (validate) refuses a sweep by result_bytes: that figure must cover every
// array the reduction makes - jumps, multiple choice, attempts, until-success and adaptive runs
// included - and not overstate it by more than the small per-(scale, length, test size)
// arrays it approximates.
TEST(Reduction, MemoryEstimateCoversEveryArray) {
  for (const char* name : {"plain", "choice", "attempts", "until", "adaptive", "kept"}) {
    Config c = sweep(name == std::string("choice") ? "choice" : "plain");
    c.replicates = 200;
    if (name == std::string("kept")) c.keep_replicates = 3;  // jump intervals for 3 only
    if (name == std::string("attempts")) {
      c.attempts = 6;
      c.pass_at = {1, 3, 6};
    } else if (name == std::string("until")) {
      c.until_success = true;
      c.budget = 8;
    } else if (name == std::string("adaptive")) {
      c.target_relative_width = 0.5;
      c.max_items = 80;
      c.test_sizes = adaptive_steps(c.max_items);
    }
    validate(c);
    const double held = held_bytes(simulate(c, "test", nullptr));
    const double estimate = double(result_bytes(c));
    EXPECT_GE(estimate, held) << name << ": the estimate misses arrays";
    EXPECT_LE(estimate, 1.05 * held) << name << ": the estimate overstates by " << estimate / held;
  }
}

// The summary's quantiles (selected, not sorted) equal quantile_sorted on a sorted copy, to the
// bit, for every size from 1 to 60 and a few large ones, with ties, infinities and NaN
// estimates (left out of the quantiles) mixed in.
// MetricCells' fill and fill_estimates against at() cell by cell, bit for bit, for every metric
// of a free-form and a multiple-choice sweep: with tables of the estimates by tally (test sizes
// whose n L_max + 1 tallies are at most the scales' replicates) and without (n = 2000).
TEST(Reduction, MetricCellsFillsAreTheirCells) {
  auto bits = [](double v) {
    uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    return b;
  };
  for (const char* name : {"plain", "choice"}) {
    Config c = sweep(name);
    c.test_sizes = {3, 10, 2000};
    c.replicates = 40;
    const Results results = simulate(c, "test", nullptr);
    const int32_t S = results.num_scales(), K = results.num_lengths(), T = results.num_test_sizes(),
                  R = results.num_replicates();
    for (const MetricResult& m : results.metrics) {
      MetricCells cells(results, m.name, m.k), reference(results, m.name, m.k);
      const size_t replicates = static_cast<size_t>(R);
      std::vector<double> estimate(replicates), low(replicates), high(replicates), alone(replicates);
      size_t differ = 0;
      for (int32_t s = 0; s < S; ++s) {
        for (int32_t k = 0; k < K; ++k) {
          for (int32_t t = 0; t < T; ++t) {
            const size_t first = ((size_t(s) * K + k) * T + t) * R;
            cells.fill(first, R, k, t, estimate.data(), low.data(), high.data());
            cells.fill_estimates(first, R, k, t, alone.data());
            for (int32_t r = 0; r < R; ++r) {
              const CellValue v = reference.at(first + size_t(r));
              differ += bits(v.estimate) != bits(estimate[size_t(r)]) ||
                        bits(v.estimate) != bits(alone[size_t(r)]) ||
                        bits(v.interval.low) != bits(low[size_t(r)]) ||
                        bits(v.interval.high) != bits(high[size_t(r)]);
            }
          }
        }
      }
      EXPECT_EQ(differ, 0u) << name << ", " << m.name;
    }
  }
}

// ParallelArrays' arrays hold assign()'s values, whatever their size and earlier contents.
TEST(Reduction, ParallelArraysHoldTheAssignedValues) {
  std::vector<int64_t> small, large, reused(size_t{3} << 20, 5);
  std::vector<double> nan_filled;
  ParallelArrays arrays;
  arrays.assign(&small, 1000, int64_t{-3});
  arrays.assign(&large, (size_t{9} << 20) + 3, int64_t{7});
  arrays.assign(&reused, size_t{2} << 20, int64_t{0});  // smaller than it was
  arrays.assign(&nan_filled, size_t{1} << 20, std::nan(""));
  arrays.run();
  ASSERT_EQ(small.size(), 1000u);
  ASSERT_EQ(large.size(), (size_t{9} << 20) + 3);
  ASSERT_EQ(reused.size(), size_t{2} << 20);
  ASSERT_EQ(nan_filled.size(), size_t{1} << 20);
  EXPECT_TRUE(std::all_of(small.begin(), small.end(), [](int64_t v) { return v == -3; }));
  EXPECT_TRUE(std::all_of(large.begin(), large.end(), [](int64_t v) { return v == 7; }));
  EXPECT_TRUE(std::all_of(reused.begin(), reused.end(), [](int64_t v) { return v == 0; }));
  EXPECT_TRUE(std::all_of(nan_filled.begin(), nan_filled.end(), [](double v) { return std::isnan(v); }));
}

TEST(Reduction, SummaryQuantilesEqualThoseOfASortedCopy) {
  std::mt19937_64 random(2023);
  const double INF = std::numeric_limits<double>::infinity();
  std::vector<size_t> sizes;
  for (size_t n = 1; n <= 60; ++n) sizes.push_back(n);
  for (size_t n : {999, 1000, 20000, 20001}) sizes.push_back(n);
  for (size_t n : sizes) {
    for (int variant = 0; variant < 4; ++variant) {
      std::vector<double> estimate(n), low(n, 0.0), high(n, 1.0);
      for (double& v : estimate) {
        const uint64_t r = random();
        v = variant == 0 ? double(r % 7) / 7.0                   // many ties
            : variant == 1 ? std::ldexp(double(r >> 11), -53)  // distinct
            : variant == 2 ? (r % 13 == 0 ? INF : r % 11 == 0 ? -INF : double(r % 5))
                           : (r % 3 == 0 ? std::nan("") : double(r % 100) / 3.0);
      }
      std::vector<double> sorted;
      for (double v : estimate) {
        if (!std::isnan(v)) sorted.push_back(v);
      }
      std::sort(sorted.begin(), sorted.end());
      const ReplicateSummary summary =
          summarize_replicates(estimate.data(), low.data(), high.data(), n, 0.5);
      if (sorted.empty()) {
        EXPECT_TRUE(std::isnan(summary.q500));
        continue;
      }
      const double expected[3] = {quantile_sorted(sorted.data(), sorted.size(), 0.025),
                                  quantile_sorted(sorted.data(), sorted.size(), 0.5),
                                  quantile_sorted(sorted.data(), sorted.size(), 0.975)};
      const double got[3] = {summary.q025, summary.q500, summary.q975};
      for (int q = 0; q < 3; ++q) {
        EXPECT_EQ(std::memcmp(&expected[q], &got[q], sizeof(double)), 0)
            << "n " << n << " variant " << variant << " quantile " << q << ": " << got[q]
            << " vs " << expected[q];
      }
    }
  }
}

}  // namespace
}  // namespace mirage
