// Copyright (c) Mirage developers.
//! \file test_meta.cpp
//! `mirage meta`, the synthetic BIG-bench (host/meta), and the model-family presets: the task
//! laws, the scores recomputed from the stored curves by an implementation written here from
//! BIG-bench's definition, the fractions as counts over those scores, bit-identical results for
//! any number of threads, MPI ranks and shards, and every refusal of a bad configuration.
#include <gtest/gtest.h>
#include <hdf5_hl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/presets.h"
#include "io/hdf5_file.h"
#include "meta/distribution.h"
#include "meta/meta.h"
#include "model/truth.h"

namespace mirage {
namespace {

namespace fs = std::filesystem;

// ---- Presets -------------------------------------------------------------------------------

// The sizes of the named families, pinned (sources in config/presets.cpp and the README).
TEST(Presets, SizesArePinned) {
  const struct {
    const char* name;
    std::vector<double> scales;
  } expected[] = {
      {"gpt3", {3.5e8, 1.3e9, 6.7e9, 2e11}},
      {"gpt3-full", {1.25e8, 3.5e8, 7.6e8, 1.3e9, 2.7e9, 6.7e9, 1.3e10, 1.75e11}},
      {"lamda", {2e9, 8e9, 1.37e11}},
      {"big-g", {2e6, 1.6e7, 5.3e7, 1.25e8, 2.44e8, 4.22e8, 1e9, 2e9, 4e9, 8e9, 2.7e10, 1.28e11}},
      {"palm", {8e9, 6.2e10, 5.4e11}},
  };
  ASSERT_EQ(model_families().size(), std::size(expected));
  for (const auto& e : expected) {
    const ModelFamily* f = find_family(e.name);
    ASSERT_NE(f, nullptr) << e.name;
    EXPECT_EQ(f->scales, e.scales) << e.name;
    EXPECT_FALSE(f->source.empty());
    EXPECT_TRUE(std::is_sorted(f->scales.begin(), f->scales.end()));
  }
  EXPECT_EQ(find_family("gpt4"), nullptr);
  Config c = default_config();
  c.output = ::testing::TempDir() + "/mirage_presets.h5";
  c.preset = "gpt4";
  EXPECT_THROW(validate(c), std::invalid_argument);
}

// ---- Task laws -----------------------------------------------------------------------------

TEST(Distributions, DrawWithinTheirLaws) {
  const Distribution u = parse_distribution("--x", "uniform:-0.8:-0.3", false);
  const Distribution lu = parse_distribution("--x", "loguniform:1e8:1e10", false);
  const Distribution i = parse_distribution("--x", "int:1:8", true);
  const Distribution il = parse_distribution("--x", "int-log:100:1000", true);
  const Distribution c = parse_distribution("--x", "choice:0,0,4", true);
  std::vector<int> counts(9, 0);
  for (int k = 0; k < 100000; ++k) {
    const double x = (k + 0.5) / 100000.0;  // an even grid of uniforms
    EXPECT_GE(u.draw(x), -0.8);
    EXPECT_LE(u.draw(x), -0.3);
    EXPECT_GE(lu.draw(x), 1e8);
    EXPECT_LE(lu.draw(x), 1e10);
    const double v = i.draw(x);
    ASSERT_EQ(v, std::floor(v));
    ASSERT_GE(v, 1);
    ASSERT_LE(v, 8);
    ++counts[size_t(v)];
    EXPECT_GE(il.draw(x), 100);
    EXPECT_LE(il.draw(x), 1000);
    const double ch = c.draw(x);
    EXPECT_TRUE(ch == 0 || ch == 4);
  }
  // An even grid of u gives each integer of int:1:8 its share exactly.
  for (int v = 1; v <= 8; ++v) EXPECT_EQ(counts[size_t(v)], 12500) << v;
  // Log-uniform: the median of the grid is the geometric mean.
  EXPECT_NEAR(lu.draw(0.5), 1e9, 1e9 * 1e-12);
}

TEST(Distributions, RefuseMalformedLaws) {
  for (const char* bad : {"uniform:1", "uniform:2:1", "loguniform:0:5", "int:1.5:3", "int-log:0:9",
                          "gauss:0:1", "choice:", "uniform:a:b", "12", "uniform:1:inf"}) {
    EXPECT_THROW(parse_distribution("--x", bad, false), std::invalid_argument) << bad;
  }
  EXPECT_THROW(parse_distribution("--x", "uniform:0:1", true), std::invalid_argument);
  EXPECT_THROW(parse_name_distribution("--x", "choice:none,beta", {"none", "normal"}),
               std::invalid_argument);
  EXPECT_NO_THROW(parse_name_distribution("--x", "const:normal", {"none", "normal"}));
}

// The population is a function of the seed alone, the same in every process.
TEST(MetaTasks, PopulationIsAFunctionOfTheSeed) {
  MetaConfig c;
  c.tasks = 50;
  const std::vector<MetaTask> a = draw_tasks(c), b = draw_tasks(c);
  ASSERT_EQ(a.size(), 50u);
  int choice = 0, difficulty = 0;
  for (size_t t = 0; t < a.size(); ++t) {
    EXPECT_EQ(a[t].length, b[t].length);
    EXPECT_EQ(a[t].loss_scale, b[t].loss_scale);
    EXPECT_EQ(a[t].difficulty, b[t].difficulty);
    EXPECT_GE(a[t].length, 1);
    EXPECT_LE(a[t].length, 8);
    EXPECT_GE(a[t].test_size, 100);
    EXPECT_LE(a[t].test_size, 1000);
    EXPECT_LT(a[t].loss_exponent, -0.3 + 1e-12);
    choice += a[t].choices > 0;
    difficulty += a[t].difficulty != "none";
  }
  // Both kinds of task and of difficulty occur (1/3 choice tasks, 2/3 with difficulty).
  EXPECT_GT(choice, 5);
  EXPECT_GT(difficulty, 20);
  c.seed = 2024;
  const std::vector<MetaTask> other = draw_tasks(c);
  int same = 0;
  for (size_t t = 0; t < a.size(); ++t) same += a[t].loss_scale == other[t].loss_scale;
  EXPECT_EQ(same, 0);
  // Each (task, family) sweep has its own seed.
  EXPECT_NE(task_seed(2023, 0, 0), task_seed(2023, 0, 1));
  EXPECT_NE(task_seed(2023, 0, 0), task_seed(2023, 1, 0));
}

// ---- mirage meta end to end ------------------------------------------------------------------

// BIG-bench's emergence score ("breakthroughness", Srivastava et al. 2022), written here from
// its definition as an independent check of the stored scores: sign(argmax - argmin) times
// (max - min) over the root of the median of squared steps; a constant curve 0, a moving
// curve with zero median step +/-inf.
double reference_score(const std::vector<double>& y) {
  size_t imax = 0, imin = 0;
  for (size_t i = 1; i < y.size(); ++i) {
    if (y[i] > y[imax]) imax = i;
    if (y[i] < y[imin]) imin = i;
  }
  const double range = y[imax] - y[imin];
  if (range == 0.0) return 0.0;
  std::vector<double> sq;
  for (size_t i = 1; i < y.size(); ++i) sq.push_back((y[i] - y[i - 1]) * (y[i] - y[i - 1]));
  std::sort(sq.begin(), sq.end());
  const size_t m = sq.size();
  const double median = m % 2 ? sq[m / 2] : 0.5 * (sq[m / 2 - 1] + sq[m / 2]);
  const double sign = imax > imin ? 1.0 : -1.0;
  if (median == 0.0) return sign * INFINITY;
  return sign * range / std::sqrt(median);
}

class MetaRun : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("mirage_meta_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string out(const std::string& name) const { return (dir_ / name).string(); }
  int mirage(const std::string& args, std::string* text = nullptr) const {
    const std::string log = out("log.txt");
    const int status = std::system(
        (std::string(MIRAGE_BINARY) + " " + args + " > " + log + " 2>&1").c_str());
    if (text) {
      std::ifstream in(log);
      std::stringstream s;
      s << in.rdbuf();
      *text = s.str();
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  static std::string population(int seed = 11) {
    return "--tasks 24 --replicates 3 --families gpt3,big-g --seed " + std::to_string(seed) +
           " --backend cpu -q";
  }
  void expect_same_meta(const std::string& a, const std::string& b) const {
    const h5::File fa = h5::File::open_read(a), fb = h5::File::open_read(b);
    for (const std::string m : {"exact_match", "token_edit_distance", "multiple_choice_grade"}) {
      for (const char* family : {"gpt3", "big-g"}) {
        const std::string d = "/meta/curve/" + m + "/" + family;
        const std::vector<double> x = fa.read_double(d), y = fb.read_double(d);
        ASSERT_EQ(x.size(), y.size()) << d;
        for (size_t i = 0; i < x.size(); ++i) {
          // Bit for bit (NaN where the metric does not apply, on both sides).
          ASSERT_TRUE(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i]))) << d << " " << i;
        }
      }
      EXPECT_EQ(fa.read_double("/meta/fraction/" + m), fb.read_double("/meta/fraction/" + m));
    }
  }
  fs::path dir_;
};

// The stored scores are BIG-bench's score of the stored curves (negated for the lower-is-better
// metrics), and the fractions are counts over them; the noise-free curves are the exact truth
// (p^L for tasks without difficulty).
TEST_F(MetaRun, ScoresAndFractionsFollowFromTheCurves) {
  std::string text;
  ASSERT_EQ(mirage("meta " + population() + " --threshold 4 -o " + out("m.h5"), &text), 0) << text;
  const h5::File f = h5::File::open_read(out("m.h5"));
  EXPECT_EQ(f.attr_string("/", "filetype"), "mirage-meta");
  const int64_t T = f.attr_int64("/meta", "tasks"), R = f.attr_int64("/meta", "replicates");
  ASSERT_EQ(T, 24);
  ASSERT_EQ(R, 3);
  const double threshold = f.attr_double("/meta", "threshold");
  const double relative = f.attr_double("/meta", "relative_threshold");
  EXPECT_EQ(threshold, 4.0);
  const std::vector<int32_t> choices = f.read_int32("/meta/task/choices");
  const std::vector<int32_t> length = f.read_int32("/meta/task/length");
  const std::vector<int32_t> difficulty = f.read_int32("/meta/task/difficulty_family");
  const std::vector<double> loss_scale = f.read_double("/meta/task/loss_scale");
  const std::vector<double> loss_exponent = f.read_double("/meta/task/loss_exponent");
  const std::vector<std::string> families = {"gpt3", "big-g"};
  const size_t F = families.size();
  int checked = 0, infinite = 0;
  for (const std::string m : {"exact_match", "token_edit_distance", "token_accuracy",
                              "multiple_choice_grade", "brier_score"}) {
    const double sign = m == "token_edit_distance" || m == "brier_score" ? -1.0 : 1.0;
    const bool choice_metric = m == "multiple_choice_grade" || m == "brier_score";
    const std::vector<double> score = f.read_double("/meta/score/" + m);
    const std::vector<double> fraction = f.read_double("/meta/fraction/" + m);
    const std::vector<double> fraction_rel = f.read_double("/meta/fraction_relative/" + m);
    ASSERT_EQ(score.size(), size_t(T) * F * R);
    for (size_t fi = 0; fi < F; ++fi) {
      const std::vector<double> scales = f.read_double("/meta/family/" + families[fi] + "/scale");
      const size_t S = scales.size();
      const std::vector<double> curve = f.read_double("/meta/curve/" + m + "/" + families[fi]);
      const std::vector<double> expected =
          f.read_double("/meta/expected/" + m + "/" + families[fi]);
      ASSERT_EQ(curve.size(), size_t(T) * R * S);
      int64_t applicable = 0, above = 0, above_rel = 0;
      for (int64_t t = 0; t < T; ++t) {
        const bool applies = !choice_metric || choices[size_t(t)] > 0;
        if (applies) ++applicable;
        for (int64_t r = 0; r < R; ++r) {
          const double stored = score[(size_t(t) * F + fi) * R + size_t(r)];
          if (!applies) {
            EXPECT_TRUE(std::isnan(stored)) << m << " task " << t;
            continue;
          }
          std::vector<double> y(S);
          for (size_t s = 0; s < S; ++s) y[s] = sign * curve[(size_t(t) * R + size_t(r)) * S + s];
          const double ref = reference_score(y);
          if (std::isinf(ref)) {
            EXPECT_EQ(stored, ref) << m << " " << families[fi] << " task " << t;
            ++infinite;
          } else {
            EXPECT_NEAR(stored, ref, 1e-12 * std::max(1.0, std::fabs(ref)))
                << m << " " << families[fi] << " task " << t;
          }
          above += stored > threshold;
          above_rel += stored > relative * double(S - 1);
          ++checked;
        }
        // The noise-free exact match of a task without difficulty is p(N)^L.
        if (m == "exact_match" && difficulty[size_t(t)] == 0) {
          for (size_t s = 0; s < S; ++s) {
            const double p =
                std::exp(-std::pow(scales[s] / loss_scale[size_t(t)], loss_exponent[size_t(t)]));
            EXPECT_NEAR(expected[size_t(t) * S + s], std::pow(p, length[size_t(t)]), 1e-15);
          }
        }
      }
      ASSERT_GT(applicable, 0) << m;
      EXPECT_DOUBLE_EQ(fraction[fi], double(above) / double(applicable * R)) << m;
      EXPECT_DOUBLE_EQ(fraction_rel[fi], double(above_rel) / double(applicable * R)) << m;
    }
  }
  EXPECT_GT(checked, 300);
  EXPECT_GT(infinite, 0);  // small test sets make flat-then-jump exact-match curves
}

// The same results for 1 and 2 threads, for 3 shards merged, and for 2 MPI ranks.
TEST_F(MetaRun, ThreadsShardsAndRanksGiveTheSameBits) {
  std::string text;
  ASSERT_EQ(mirage("meta " + population() + " --threads 1 -o " + out("one.h5"), &text), 0) << text;
  ASSERT_EQ(mirage("meta " + population() + " --threads 2 -o " + out("two.h5"), &text), 0) << text;
  expect_same_meta(out("one.h5"), out("two.h5"));
  for (int k = 0; k < 3; ++k) {
    ASSERT_EQ(mirage("meta " + population() + " --shard " + std::to_string(k) + "/3 -o " +
                         out("part" + std::to_string(k) + ".h5"),
                     &text),
              0)
        << text;
  }
  ASSERT_EQ(mirage("merge " + out("part2.h5") + " " + out("part0.h5") + " " + out("part1.h5") +
                       " -q -o " + out("merged.h5"),
                   &text),
            0)
      << text;
  expect_same_meta(out("one.h5"), out("merged.h5"));
  // A missing shard, a duplicate and a shard of another population are refused.
  EXPECT_EQ(mirage("merge " + out("part0.h5") + " " + out("part1.h5") + " -q -o " + out("x.h5"),
                   &text),
            2);
  EXPECT_NE(text.find("missing meta shard(s) 2/3"), std::string::npos) << text;
  EXPECT_EQ(mirage("merge " + out("part0.h5") + " " + out("part0.h5") + " " + out("part1.h5") +
                       " -q -o " + out("x.h5"),
                   &text),
            2);
  EXPECT_NE(text.find("given twice"), std::string::npos) << text;
  ASSERT_EQ(mirage("meta " + population(12) + " --shard 2/3 -o " + out("foreign.h5"), &text),
            0);
  EXPECT_EQ(mirage("merge " + out("part0.h5") + " " + out("part1.h5") + " " + out("foreign.h5") +
                       " -q -o " + out("x.h5"),
                   &text),
            2);
  EXPECT_NE(text.find("different meta-analysis"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(out("x.h5")));
  const std::string mpirun = MIRAGE_MPIRUN;
  if (mpirun.empty()) {
    std::cout << "[ INFO     ] built without MPI: the 2-rank meta run is not part of this test\n";
    return;
  }
  ASSERT_EQ(std::system((mpirun + " -np 2 " + MIRAGE_BINARY + " meta " + population() +
                         " --threads 1 -o " + out("mpi.h5") + " > " + out("mpi.txt") + " 2>&1")
                            .c_str()),
            0);
  expect_same_meta(out("one.h5"), out("mpi.h5"));
}

// A [meta] table in a config file sets the same keys as the flags, and the file stores it.
TEST_F(MetaRun, ConfigFileAndStoredConfiguration) {
  {
    std::ofstream cfg(out("meta.toml"));
    cfg << "[meta]\ntasks = 6\nreplicates = 2\nfamilies = [\"gpt3\"]\nlength = \"const:3\"\n"
           "choices = \"const:0\"\ndifficulty-family = \"const:none\"\nseed = 5\n";
  }
  std::string text;
  ASSERT_EQ(mirage("meta --config " + out("meta.toml") + " --backend cpu -q -o " + out("c.h5"),
                   &text),
            0)
      << text;
  const h5::File f = h5::File::open_read(out("c.h5"));
  const std::vector<int32_t> length = f.read_int32("/meta/task/length");
  ASSERT_EQ(length.size(), 6u);
  for (int32_t L : length) EXPECT_EQ(L, 3);
  const MetaConfig stored = meta_config_from_toml(f.attr_string("/config", "config_toml"), "test");
  EXPECT_EQ(stored.tasks, 6);
  EXPECT_EQ(stored.seed, 5u);
  EXPECT_EQ(stored.families, std::vector<std::string>{"gpt3"});
  EXPECT_EQ(stored.length, "const:3");
}

// Bad configurations exit with 2 and one line naming the option and what is allowed, before
// anything is computed or written.
TEST_F(MetaRun, RefusesBadConfigurations) {
  const struct {
    const char* args;
    const char* fragment;
  } cases[] = {
      {"--tasks 0", "--tasks"},
      {"--replicates -3", "--replicates"},
      {"--families gpt3,gpt5", "unknown family 'gpt5'"},
      {"--families gpt3,gpt3", "given twice"},
      {"--length int:0:5", "--length"},
      {"--length uniform:1:3", "integer"},
      {"--loss-scale loguniform:5:1", "empty range"},
      {"--loss-exponent uniform:-0.5:0.1", "alpha must be < 0"},
      {"--test-size int:-10:100", "--test-size"},
      {"--test-size int-log:0:100", "1 <= A"},
      {"--choices choice:0,1", "--choices"},
      {"--choices choice:0,65", "--choices"},
      {"--difficulty-family choice:none,beta", "'beta'"},
      {"--difficulty-family const:kumaraswamy --difficulty-a uniform:0:1", "--difficulty-a"},
      {"--threshold nan", "--threshold"},
      {"--relative-threshold 0", "--relative-threshold"},
      {"--shard 3/3", "--shard"},
  };
  for (const auto& c : cases) {
    std::string text;
    EXPECT_EQ(mirage("meta --tasks 2 --backend cpu " + std::string(c.args) + " -o " + out("bad.h5"),
                     &text),
              2)
        << c.args << ": " << text;
    EXPECT_NE(text.find(c.fragment), std::string::npos) << c.args << ": " << text;
    EXPECT_NE(text.find("mirage: error:"), std::string::npos) << text;
    EXPECT_FALSE(fs::exists(out("bad.h5"))) << c.args;
  }
}

// The names of the dimension scales attached to the axes of `path`, read with the HDF5 API
// ("" for an axis without one).
std::vector<std::string> dimension_names(const h5::File& f, const std::string& path) {
  const hid_t dataset = H5Dopen2(f.id(), path.c_str(), H5P_DEFAULT);
  EXPECT_GE(dataset, 0) << path;
  const hid_t space = H5Dget_space(dataset);
  std::vector<std::string> names(size_t(std::max(H5Sget_simple_extent_ndims(space), 0)));
  H5Sclose(space);
  for (unsigned axis = 0; axis < names.size(); ++axis) {
    if (H5DSget_num_scales(dataset, axis) < 1) continue;
    H5DSiterate_scales(
        dataset, axis, nullptr,
        [](hid_t, unsigned, hid_t scale, void* name) -> herr_t {
          char buffer[256] = {0};
          H5DSget_scale_name(scale, buffer, sizeof(buffer));
          *static_cast<std::string*>(name) = buffer;
          return 1;
        },
        &names[axis]);
  }
  H5Dclose(dataset);
  return names;
}

// Format 1.2: every axis of a meta file is a named dimension with its coordinate in the
// dataset's own group (docs/FORMAT.md §4.3), in a file written at once and in one merged from
// shards.
TEST_F(MetaRun, DatasetsHaveNamedDimensions) {
  std::string text;
  ASSERT_EQ(mirage("meta " + population() + " -o " + out("m.h5"), &text), 0) << text;
  for (int k = 0; k < 2; ++k) {
    const std::string part = out("part" + std::to_string(k) + ".h5");
    ASSERT_EQ(mirage("meta " + population() + " --shard " + std::to_string(k) + "/2 -o " + part,
                     &text),
              0)
        << text;
  }
  ASSERT_EQ(mirage("merge " + out("part0.h5") + " " + out("part1.h5") + " -q -o " +
                       out("merged.h5"),
                   &text),
            0)
      << text;
  using Names = std::vector<std::string>;
  for (const char* name : {"m.h5", "merged.h5"}) {
    const h5::File f = h5::File::open_read(out(name));
    EXPECT_EQ(f.attr_int32s("/", "format_version"), (std::vector<int32_t>{1, 6})) << name;
    EXPECT_EQ(dimension_names(f, "/meta/score/exact_match"),
              (Names{"task", "family", "replicate"}));
    EXPECT_EQ(dimension_names(f, "/meta/score_expected/brier_score"), (Names{"task", "family"}));
    EXPECT_EQ(dimension_names(f, "/meta/fraction_replicate/token_accuracy"),
              (Names{"family", "replicate"}));
    EXPECT_EQ(dimension_names(f, "/meta/curve/exact_match/big-g"),
              (Names{"task", "replicate", "scale_big-g"}));
    EXPECT_EQ(dimension_names(f, "/meta/expected/exact_match/gpt3"),
              (Names{"task", "scale_gpt3"}));
    EXPECT_EQ(dimension_names(f, "/meta/family/gpt3/scale"), (Names{"scale_gpt3"}));
    EXPECT_EQ(dimension_names(f, "/meta/task/length"), (Names{"task"}));
    std::vector<int64_t> tasks(24);
    for (size_t t = 0; t < tasks.size(); ++t) tasks[t] = int64_t(t);
    EXPECT_EQ(f.read_int64("/meta/score/task"), tasks);
    EXPECT_EQ(f.read_int64("/meta/score/replicate"), (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(f.read_double("/meta/curve/exact_match/scale_big-g"),
              f.read_double("/meta/family/big-g/scale"));
    EXPECT_EQ(f.attr_string("/meta/curve/exact_match/scale_big-g", "units"), "parameters");
    EXPECT_EQ(f.attr_string("/meta/score/replicate", "units"), "1");
    EXPECT_FALSE(f.has_attr("/meta/score/family", "units"));  // a string coordinate
    EXPECT_FALSE(f.attr_string("/meta/score/family", "description").empty());
    // The family coordinate holds the names, as variable-length strings.
    const hid_t dataset = H5Dopen2(f.id(), "/meta/score/family", H5P_DEFAULT);
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    char* names[2] = {nullptr, nullptr};
    ASSERT_GE(H5Dread(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, names), 0);
    EXPECT_STREQ(names[0], "gpt3");
    EXPECT_STREQ(names[1], "big-g");
    for (char* n : names) H5free_memory(n);
    H5Tclose(type);
    H5Dclose(dataset);
  }
}

}  // namespace
}  // namespace mirage
