// Copyright (c) Mirage developers.
// mirage forecast (docs/DESIGN.md §5.10): the fitting engine (links, existence, Newton, profile
// likelihood) on hand-derived cases and synthetic tallies from known parameters, and the
// command end to end: coverage of the token-level and joint intervals on 400 replicates of
// the real sampler, bit-identical output for any thread count and for merged shards,
// difficulty, loss tables, multiple choice, and refusals of bad input.
#include <gtest/gtest.h>
#include <hdf5_hl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/math/distributions/chi_squared.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "h5_scales.h"
#include "cli_fixture.h"
#include "forecast/fit.h"
#include "forecast/forecast.h"
#include "io/hdf5_file.h"
#include "model/difficulty.h"
#include "model/truth.h"

namespace mirage {
namespace {

using testing_h5::attached_scales;

namespace fs = std::filesystem;
using forecast::BinomialPoints;
using forecast::Link;
using forecast::LineFit;

double chi2_critical(double confidence) {
  return boost::math::quantile(boost::math::chi_squared_distribution<double>(1.0), confidence);
}

// ---- links ---------------------------------------------------------------------------------

void expect_derivatives(const Link& link, double eta) {
  const double h = 1e-5;
  const forecast::LinkValue v = link.at(eta), up = link.at(eta + h), down = link.at(eta - h);
  auto close = [](double a, double b) { return std::fabs(a - b) <= 1e-6 * (1.0 + std::fabs(b)); };
  EXPECT_TRUE(close(v.d_log_mu, (up.log_mu - down.log_mu) / (2 * h))) << eta;
  EXPECT_TRUE(close(v.d_log_1m, (up.log_1m - down.log_1m) / (2 * h))) << eta;
  EXPECT_TRUE(close(v.h_log_mu, (up.d_log_mu - down.d_log_mu) / (2 * h))) << eta;
  EXPECT_TRUE(close(v.h_log_1m, (up.d_log_1m - down.d_log_1m) / (2 * h))) << eta;
  // mu + (1 - mu) = 1 and the inverse.
  EXPECT_NEAR(std::exp(v.log_mu) + std::exp(v.log_1m), 1.0, 1e-9) << eta;
  const double mu = link.mean(eta);
  if (mu > 1e-12 && mu < 1 - 1e-12) EXPECT_NEAR(link.inverse(mu), eta, 1e-6) << eta;
}

TEST(ForecastLink, DerivativesMatchFiniteDifferences) {
  const Link table = forecast::difficulty_token_link(parse_difficulty("t", "normal:1"));
  for (double eta : {-8.0, -3.0, -1.0, -0.2, 0.0, 0.5, 1.5, 2.5}) {
    expect_derivatives(Link::logit(), eta);
    expect_derivatives(Link::cloglog(), eta);
    expect_derivatives(table, eta);
  }
}

// The tabulated link of the token method under difficulty reproduces the quadrature truth
// (the mean token error E[1 - p_i] for the model's p = exp(-exp(eta))) between its knots.
TEST(ForecastLink, DifficultyTableMatchesTheTruth) {
  for (const char* spec : {"normal:1.5", "logistic:0.7", "kumaraswamy:0.5:2"}) {
    const DifficultyModel model = parse_difficulty("t", spec);
    const Link link = forecast::difficulty_token_link(model);
    for (double eta = -7.013; eta < 3.0; eta += 0.731) {
      const MetricTruth truth = metric_truth(std::exp(-std::exp(eta)), 1, model, 0);
      EXPECT_NEAR(link.mean(eta) / truth.token_edit_distance, 1.0, 1e-7) << spec << " " << eta;
      EXPECT_NEAR(std::exp(link.at(eta).log_1m) / truth.token_accuracy, 1.0, 1e-7)
          << spec << " " << eta;
    }
  }
}

// ---- existence and the MLE -----------------------------------------------------------------

BinomialPoints points(const std::vector<double>& x, const std::vector<double>& y, double t) {
  BinomialPoints p;
  for (size_t i = 0; i < x.size(); ++i) p.add(x[i], y[i], t);
  return p;
}

TEST(ForecastFit, ExistenceIsDecidedExactly) {
  using namespace forecast;
  EXPECT_EQ(existence(points({1, 2, 3}, {0, 0, 0}, 10)), FIT_ALL_ZERO);
  EXPECT_EQ(existence(points({1, 2, 3}, {10, 10, 10}, 10)), FIT_ALL_FULL);
  EXPECT_EQ(existence(points({1, 2, 3}, {0, 0, 10}, 10)), FIT_SEPARATED);
  EXPECT_EQ(existence(points({1, 2, 3}, {0, 0, 4}, 10)), FIT_SEPARATED);  // quasi-complete
  EXPECT_EQ(existence(points({1, 2, 3}, {10, 3, 0}, 10)), FIT_SEPARATED);  // decreasing
  EXPECT_EQ(existence(points({1, 2, 3}, {0, 3, 7}, 10)), FIT_OK);
  EXPECT_EQ(existence(points({1, 2, 3}, {1, 0, 0}, 10)), FIT_SEPARATED);
  EXPECT_EQ(existence(points({1}, {3}, 10)), FIT_TOO_FEW_POINTS);
  EXPECT_EQ(existence(points({2, 2}, {3, 4}, 10)), FIT_TOO_FEW_POINTS);
  // A fit of a degenerate set reports it, with NaN parameters and intervals.
  const BinomialPoints zero = points({1, 2, 3}, {0, 0, 0}, 10);
  const LineFit fit = fit_line(zero, Link::logit());
  EXPECT_EQ(fit.status, FIT_ALL_ZERO);
  EXPECT_TRUE(std::isnan(fit.a) && std::isnan(fit.b));
  const EtaInterval iv = profile_interval(zero, Link::logit(), fit, 4.0, 3.84);
  EXPECT_TRUE(std::isnan(iv.estimate) && std::isnan(iv.low) && std::isnan(iv.high));
}

// Hand-derived: two points with 0 < y < t are fitted exactly (the model is saturated), so the
// line passes through both empirical link values: b = (eta_2 - eta_1) / (x_2 - x_1).
TEST(ForecastFit, TwoPointsAreInterpolatedExactly) {
  for (const Link& link : {Link::logit(), Link::cloglog()}) {
    const BinomialPoints p = points({std::log(1e8), std::log(1e9)}, {37, 412}, 1000);
    const LineFit fit = fit_line(p, link);
    ASSERT_EQ(fit.status, forecast::FIT_OK);
    const double e1 = link.inverse(0.037), e2 = link.inverse(0.412);
    EXPECT_NEAR(fit.eta(p.x[0]), e1, 1e-10);
    EXPECT_NEAR(fit.eta(p.x[1]), e2, 1e-10);
    EXPECT_NEAR(fit.b, (e2 - e1) / (p.x[1] - p.x[0]), 1e-10);
    // Zero degrees of freedom: the profile interval at a data point is the likelihood-ratio
    // interval of that point's proportion alone, {mu: 2 (l(mu_hat) - l(mu)) <= z^2} (the other
    // point is fitted exactly by the slope).
    const forecast::EtaInterval iv = profile_interval(p, link, fit, p.x[1], chi2_critical(0.95));
    auto dev = [&](double mu) {
      const double y = 412, t = 1000, m = y / t;
      return 2 * (y * std::log(m / mu) + (t - y) * std::log((1 - m) / (1 - mu)));
    };
    EXPECT_NEAR(dev(link.mean(iv.low)), chi2_critical(0.95), 1e-7);
    EXPECT_NEAR(dev(link.mean(iv.high)), chi2_critical(0.95), 1e-7);
  }
}

// The interval ends satisfy the definition: the profile deviance, maximised over the slope by
// an independent golden-section search, equals the critical value there and is below it inside.
TEST(ForecastFit, ProfileEndsSolveTheDefinition) {
  const BinomialPoints p = points({18.4, 19.1, 19.8, 20.5, 21.2, 21.9},
                                  {480, 455, 401, 355, 290, 231}, 500);
  const Link link = Link::cloglog();
  const LineFit fit = fit_line(p, link);
  ASSERT_EQ(fit.status, forecast::FIT_OK);
  auto profile_deviance = [&](double x_star, double eta_star) {
    // l(eta_star + b (x - x_star)) is concave in b: golden section on a wide bracket.
    double lo = fit.b - 5.0, hi = fit.b + 5.0;
    const double g = (std::sqrt(5.0) - 1) / 2;
    auto f = [&](double b) { return forecast::log_likelihood(p, link, x_star, eta_star, b); };
    for (int i = 0; i < 200; ++i) {
      const double m1 = hi - g * (hi - lo), m2 = lo + g * (hi - lo);
      (f(m1) < f(m2) ? lo : hi) = f(m1) < f(m2) ? m1 : m2;
    }
    return 2 * (fit.loglik - f(0.5 * (lo + hi)));
  };
  const double crit = chi2_critical(0.9);
  for (double x_star : {19.5, 23.0, 26.0}) {
    const forecast::EtaInterval iv = profile_interval(p, link, fit, x_star, crit);
    EXPECT_LT(iv.low, iv.estimate);
    EXPECT_GT(iv.high, iv.estimate);
    EXPECT_NEAR(profile_deviance(x_star, iv.low), crit, 1e-6) << x_star;
    EXPECT_NEAR(profile_deviance(x_star, iv.high), crit, 1e-6) << x_star;
    EXPECT_LT(profile_deviance(x_star, 0.5 * (iv.low + iv.estimate)), crit);
    EXPECT_NEAR(profile_deviance(x_star, iv.estimate), 0.0, 1e-8);
  }
}

// Synthetic token errors E_s ~ Binomial(nL, 1 - p(N_s)) from known (c, alpha): the fitted
// parameters are consistent, their error shrinking like 1/sqrt(n) (16x the items, 1/4 the
// error), and their bias is small against the spread.
TEST(ForecastFit, LossLawEstimatesAreRootNConsistent) {
  const double c = 2e9, alpha = -0.5;
  const int L = 5, R = 300;
  std::vector<double> x;
  for (int i = 0; i < 12; ++i) x.push_back(std::log(1e8) + i * (std::log(1e10) - std::log(1e8)) / 11);
  std::mt19937_64 rng(20231);
  std::vector<double> rmse_alpha, rmse_logc;
  for (int64_t n : {100, 1600, 25600}) {
    double se_alpha = 0, se_logc = 0, bias_alpha = 0;
    for (int r = 0; r < R; ++r) {
      BinomialPoints p;
      for (double xi : x) {
        const double loss = std::pow(std::exp(xi) / c, alpha);
        std::binomial_distribution<int64_t> draw(n * L, -std::expm1(-loss));
        p.add(xi, double(draw(rng)), double(n * L));
      }
      const LineFit fit = fit_line(p, Link::cloglog());
      ASSERT_EQ(fit.status, forecast::FIT_OK);
      const double a_hat = fit.b, logc_hat = fit.x0 - fit.a / fit.b;
      se_alpha += (a_hat - alpha) * (a_hat - alpha);
      se_logc += (logc_hat - std::log(c)) * (logc_hat - std::log(c));
      bias_alpha += a_hat - alpha;
    }
    rmse_alpha.push_back(std::sqrt(se_alpha / R));
    rmse_logc.push_back(std::sqrt(se_logc / R));
    EXPECT_LT(std::fabs(bias_alpha / R), 0.25 * rmse_alpha.back()) << n;
  }
  for (size_t i = 0; i + 1 < rmse_alpha.size(); ++i) {
    EXPECT_GT(rmse_alpha[i] / rmse_alpha[i + 1], 3.3) << i;
    EXPECT_LT(rmse_alpha[i] / rmse_alpha[i + 1], 4.8) << i;
    EXPECT_GT(rmse_logc[i] / rmse_logc[i + 1], 3.3) << i;
    EXPECT_LT(rmse_logc[i] / rmse_logc[i + 1], 4.8) << i;
  }
  EXPECT_LT(rmse_alpha.back(), 0.005);
}

// ---- the command ---------------------------------------------------------------------------

using testing_cli::Outcome;

class ForecastCli : public testing_cli::MirageCli {
 protected:
  void ok(const std::string& args) const {
    const Outcome o = mirage(args);
    ASSERT_EQ(o.code, 0) << args << "\n" << o.output;
  }
  // `args` plus -o refused.h5 must be refused.
  void expect_refused(const std::string& args, std::initializer_list<const char*> fragments) {
    expect_refused_writing(args + " -o " + out("refused.h5"), out("refused.h5"), fragments);
  }
};

// Coverage of the analytic truth by the token-level and joint 95 % intervals, on 400
// replicates of the real sampler: within 4 Monte Carlo standard errors (0.044) of 0.95 at
// every forecast scale, length and test size. The naive logistic fit to exact match misses
// the truth at n = 1000 (a misspecified curve, biased past the cutoff).
TEST_F(ForecastCli, TokenAndJointCoverageIsNominal) {
  ok("run --scales 1e8:5e9:10,2e10,2e11 --lengths 1,3 --test-sizes 100,1000 --replicates 400 "
     "--seed 11 -q -o " + out("r.h5"));
  ok("forecast " + out("r.h5") + " --fit-below 1e10 --metric exact_match,token_accuracy -q -o " +
     out("f.h5"));
  const h5::File f = h5::File::open_read(out("f.h5"));
  const std::vector<double> scale = f.read_double("/forecast/scale");
  const size_t S = scale.size(), K = 2, T = 2;
  const double se = std::sqrt(0.95 * 0.05 / 400);
  for (const char* method : {"token", "joint"}) {
    for (const char* metric : {"exact_match", "token_accuracy"}) {
      const std::vector<double> cov =
          f.read_double(std::string("/forecast/") + method + "/" + metric + "/coverage");
      ASSERT_EQ(cov.size(), S * K * T);
      for (size_t s = 10; s < S; ++s) {
        for (size_t k = 0; k < K; ++k) {
          for (size_t t = 0; t < T; ++t) {
            EXPECT_NEAR(cov[(s * K + k) * T + t], 0.95, 4 * se)
                << method << " " << metric << " scale " << scale[s] << " k " << k << " t " << t;
          }
        }
      }
    }
  }
  const std::vector<double> naive = f.read_double("/forecast/naive/exact_match/coverage");
  EXPECT_LT(naive[((S - 1) * K + 1) * T + 1], 0.5);
  // The joint fit uses the longest length: its intervals at L = 3 are the token method's.
  const std::vector<double> jl = f.read_double("/forecast/joint/exact_match/low"),
                            tl = f.read_double("/forecast/token/exact_match/low");
  const size_t R = 400;
  for (size_t i = 0; i < jl.size(); ++i) {
    const size_t k = (i / (T * R)) % K;
    if (k == 1) ASSERT_EQ(std::memcmp(&jl[i], &tl[i], sizeof(double)), 0) << i;
  }
}


// Every axis of every dataset of a forecast file is a named netCDF-4 dimension (docs/FORMAT.md
// §1, §8): cutoff, scale, length, test_size, replicate; /forecast/cutoff, scale, length and
// test_size are the coordinates of /forecast themselves, and every other group holds its own
// copies, attached, with the same values, units and a description.
TEST_F(ForecastCli, EveryAxisIsANamedDimension) {
  ok("run --scales 1e8:1e12:7 --lengths 1,3 --test-sizes 20,200 --replicates 5 --seed 2 -q -o " +
     out("r.h5"));
  ok("forecast " + out("r.h5") + " --fit-below 3e9,2e10 --metric exact_match,token_accuracy -q "
     "-o " + out("f.h5"));
  const h5::File f = h5::File::open_read(out("f.h5"));
  using Scales = std::vector<std::pair<std::string, std::string>>;
  const std::string g = "/forecast/";
  for (const char* axis : {"cutoff", "scale", "length", "test_size"}) {
    const hid_t dataset = H5Dopen2(f.id(), (g + axis).c_str(), H5P_DEFAULT);
    EXPECT_GT(H5DSis_scale(dataset), 0) << axis;
    H5Dclose(dataset);
    EXPECT_FALSE(f.attr_string(g + axis, "units").empty()) << axis;
    EXPECT_FALSE(f.attr_string(g + axis, "description").empty()) << axis;
  }
  EXPECT_EQ(f.attr_string(g + "cutoff", "units"), "parameters");
  EXPECT_EQ(f.attr_string(g + "length", "units"), "tokens");
  EXPECT_EQ(f.attr_int64(g + "test_size", "replicates"), 5);
  EXPECT_EQ(attached_scales(f.id(), g + "fitted"),
            (Scales{{g + "cutoff", "cutoff"}, {g + "scale", "scale"}}));
  EXPECT_EQ(attached_scales(f.id(), g + "visible_scale_truth"),
            (Scales{{g + "length", "length"}, {g + "test_size", "test_size"}}));
  EXPECT_EQ(attached_scales(f.id(), g + "expected/exact_match"),
            (Scales{{g + "expected/scale", "scale"}, {g + "expected/length", "length"}}));
  const std::string o = g + "observed/";
  EXPECT_EQ(attached_scales(f.id(), o + "token_accuracy"),
            (Scales{{o + "scale", "scale"}, {o + "length", "length"},
                    {o + "test_size", "test_size"}, {o + "replicate", "replicate"}}));
  const std::string p = g + "token/exact_match/";
  EXPECT_EQ(attached_scales(f.id(), p + "point"),
            (Scales{{p + "cutoff", "cutoff"}, {p + "scale", "scale"}, {p + "length", "length"},
                    {p + "test_size", "test_size"}, {p + "replicate", "replicate"}}));
  EXPECT_EQ(attached_scales(f.id(), p + "coverage"),
            (Scales{{p + "cutoff", "cutoff"}, {p + "scale", "scale"}, {p + "length", "length"},
                    {p + "test_size", "test_size"}}));
  EXPECT_EQ(attached_scales(f.id(), p + "visible_scale_median"),
            (Scales{{p + "cutoff", "cutoff"}, {p + "length", "length"},
                    {p + "test_size", "test_size"}}));
  EXPECT_EQ(attached_scales(f.id(), g + "naive/token_accuracy/status"),
            (Scales{{g + "naive/token_accuracy/cutoff", "cutoff"},
                    {g + "naive/token_accuracy/length", "length"},
                    {g + "naive/token_accuracy/test_size", "test_size"},
                    {g + "naive/token_accuracy/replicate", "replicate"}}));

  // Every other dataset: each axis has a scale of its own group whose values are the axis's.
  std::vector<std::string> datasets;
  H5Ovisit(
      f.id(), H5_INDEX_NAME, H5_ITER_INC,
      [](hid_t, const char* name, const H5O_info_t* info, void* data) -> herr_t {
        if (info->type == H5O_TYPE_DATASET) {
          static_cast<std::vector<std::string>*>(data)->push_back("/" + std::string(name));
        }
        return 0;
      },
      &datasets);
  const std::map<std::string, std::vector<double>> values = {
      {"cutoff", f.read_double(g + "cutoff")},
      {"scale", f.read_double(g + "scale")},
      {"length", [&] {
         std::vector<double> v;
         for (int32_t x : f.read_int32(g + "length")) v.push_back(x);
         return v;
       }()},
      {"test_size", {20, 200}},
      {"replicate", {0, 1, 2, 3, 4}}};
  EXPECT_EQ(values.at("cutoff"), (std::vector<double>{3e9, 2e10}));
  EXPECT_EQ(values.at("length"), (std::vector<double>{1, 3}));
  size_t checked = 0;
  for (const std::string& path : datasets) {
    const hid_t dataset = H5Dopen2(f.id(), path.c_str(), H5P_DEFAULT);
    const bool is_scale = H5DSis_scale(dataset) > 0;
    H5Dclose(dataset);
    const std::string group = path.substr(0, path.rfind('/'));
    const std::string leaf = path.substr(path.rfind('/') + 1);
    if (is_scale) {
      ASSERT_TRUE(values.count(leaf)) << path;
      if (leaf == "length") {
        std::vector<double> v;
        for (int32_t x : f.read_int32(path)) v.push_back(x);
        EXPECT_EQ(v, values.at(leaf)) << path;
      } else if (leaf == "test_size" || leaf == "replicate") {
        std::vector<double> v;
        for (int64_t x : f.read_int64(path)) v.push_back(double(x));
        EXPECT_EQ(v, values.at(leaf)) << path;
      } else {
        EXPECT_EQ(f.read_double(path), values.at(leaf)) << path;
      }
      EXPECT_TRUE(f.has_attr(path, "units") && f.has_attr(path, "description")) << path;
      continue;
    }
    const std::vector<hsize_t> shape = f.dims(path);
    const auto scales = attached_scales(f.id(), path);
    ASSERT_EQ(scales.size(), shape.size()) << path;
    for (size_t axis = 0; axis < scales.size(); ++axis) {
      const auto& [scale, name] = scales[axis];
      ASSERT_TRUE(values.count(name)) << path << " axis " << axis << " '" << name << "'";
      EXPECT_EQ(scale, group + "/" + name) << path;  // netCDF-4: in the dataset's own group
      EXPECT_EQ(shape[axis], values.at(name).size()) << path << " axis " << axis;
    }
    ++checked;
  }
  EXPECT_GT(checked, 60u);
}

// Every dataset of the forecast: 1 and 2 threads, and a file merged from shards, give the
// same bits.
TEST_F(ForecastCli, SameBitsForAnyThreadCountAndForMergedShards) {
  const std::string sweep = "run --scales 1e8:1e12:9 --lengths 1,4 --test-sizes 30,300 "
                            "--replicates 6 --seed 5 -q ";
  ok(sweep + "-o " + out("r.h5"));
  ok(sweep + "--shard 0/2 -o " + out("p0.h5"));
  ok(sweep + "--shard 1/2 -o " + out("p1.h5"));
  ok("merge " + out("p0.h5") + " " + out("p1.h5") + " -q -o " + out("m.h5"));
  ok("forecast " + out("r.h5") + " --fit-below 3e9,2e10 --threads 1 -q -o " + out("f1.h5"));
  ok("forecast " + out("r.h5") + " --fit-below 3e9,2e10 --threads 2 -q -o " + out("f2.h5"));
  ok("forecast " + out("m.h5") + " --fit-below 3e9,2e10 -q -o " + out("fm.h5") + " --csv " +
     out("fm.csv"));
  const h5::File a = h5::File::open_read(out("f1.h5")), b = h5::File::open_read(out("f2.h5")),
                 m = h5::File::open_read(out("fm.h5"));
  EXPECT_EQ(a.attr_string("/", "filetype"), "mirage-forecast");
  size_t compared = 0;
  for (const std::string& method : forecast::method_names()) {
    for (const char* metric : {"exact_match", "token_edit_distance", "token_accuracy"}) {
      const std::string g = "/forecast/" + method + "/" + metric + "/";
      for (const char* name : {"point", "low", "high", "fit_scale", "fit_slope", "coverage",
                               "median_abs_log_error", "mean_width", "point_q500",
                               "fraction_defined"}) {
        const std::vector<double> x = a.read_double(g + name), y = b.read_double(g + name),
                                  z = m.read_double(g + name);
        ASSERT_EQ(x.size(), y.size());
        ASSERT_EQ(x.size(), z.size());
        EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(double)), 0) << g << name;
        EXPECT_EQ(std::memcmp(x.data(), z.data(), x.size() * sizeof(double)), 0) << g << name;
        ++compared;
      }
      EXPECT_EQ(a.read_uint8(g + "status"), m.read_uint8(g + "status"));
    }
  }
  EXPECT_EQ(compared, 90u);
  std::ifstream csv(out("fm.csv"));
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("cutoff,method,metric,kind,length,test_size,scale,expected,coverage,", 0),
            0u);
}

// Degenerate input: exact match 0 at every fitted scale gives the naive fit status all_zero
// and NaN forecasts (documented), while the token-level fit still forecasts.
TEST_F(ForecastCli, AllZeroExactMatchIsADocumentedNaN) {
  ok("run --scales 1e8:1e9:4,1e12 --lengths 8 --test-sizes 10 --replicates 3 -q -o " +
     out("r.h5"));
  const Outcome o = mirage("forecast " + out("r.h5") + " --fit-below 2e9 -o " + out("f.h5"));
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("fitted in 0 % of replicates"), std::string::npos) << o.output;
  const h5::File f = h5::File::open_read(out("f.h5"));
  for (uint8_t status : f.read_uint8("/forecast/naive/exact_match/status")) {
    EXPECT_EQ(status, forecast::FIT_ALL_ZERO);
  }
  for (double v : f.read_double("/forecast/naive/exact_match/point")) EXPECT_TRUE(std::isnan(v));
  for (double v : f.read_double("/forecast/naive/exact_match/coverage")) EXPECT_TRUE(std::isnan(v));
  for (uint8_t status : f.read_uint8("/forecast/token/exact_match/status")) {
    EXPECT_EQ(status, forecast::FIT_OK);
  }
  EXPECT_NE(f.attr_string("/forecast/naive/exact_match/status", "names").find("1 all_zero"),
            std::string::npos);
}

TEST_F(ForecastCli, BadInputIsRefused) {
  ok("run --scales 1e8:1e12:5 --lengths 1,3 --test-sizes 10,100 --replicates 3 -q -o " +
     out("r.h5"));
  ok("run --scales 1e9 --lengths 2 --test-sizes 10 --replicates 2 -q -o " + out("one.h5"));
  const std::string r = out("r.h5");
  expect_refused("forecast " + r + " --fit-below 2e8", {"--fit-below", "2e8", "1 of the file's 5 scales", "at least 2"});
  expect_refused("forecast " + r + " --fit-below 1e7", {"--fit-below", "leaves 0"});
  expect_refused("forecast " + r + " --fit-below 1e13", {"--fit-below", "0 at or above"});
  expect_refused("forecast " + out("one.h5") + " --fit-below 1e10", {"--fit-below", "1 scales"});
  expect_refused("forecast " + r + " --fit-below -5", {"--fit-below", "-5", "> 0"});
  expect_refused("forecast " + r + " --fit-below 1e10,1e9", {"--fit-below", "strictly increasing"});
  expect_refused("forecast " + r + " --fit-below 1e10 --confidence 1.5", {"--confidence", "1.5", "(0, 1)"});
  expect_refused("forecast " + r + " --fit-below 1e10 --method bayes", {"--method", "bayes", "naive, token, joint"});
  expect_refused("forecast " + r + " --fit-below 1e10 --metric brier_score",
                 {"--metric", "brier_score", "exact_match"});
  expect_refused("forecast " + r + " --fit-below 1e10 --threads -1", {"--threads", "-1"});
  expect_refused("forecast " + out("missing.h5") + " --fit-below 1e10", {"forecast", "missing.h5"});
  {
    std::ofstream text(out("text.h5"));
    text << "not hdf5\n";
  }
  expect_refused("forecast " + out("text.h5") + " --fit-below 1e10", {"forecast", "text.h5"});
  ok("forecast " + r + " --fit-below 1e10 -q -o " + out("f.h5"));
  expect_refused("forecast " + out("f.h5") + " --fit-below 1e10",
                 {"not a Mirage result file", "mirage-forecast"});
  const Outcome same = mirage("forecast " + r + " --fit-below 1e10 -q -o " + r);
  EXPECT_EQ(same.code, 2) << same.output;
  EXPECT_NE(same.output.find("is the input file"), std::string::npos) << same.output;
  EXPECT_TRUE(fs::exists(r));
}

// Item difficulty: joint says it does not apply; the token method fits the mean token error
// through the known law, and its exact-match forecast E[p_i^L] covers the truth. A loss table
// is fitted by a power law and the file says so. Multiple choice: the naive method does not
// apply to the Brier score, the token method forecasts both choice metrics.
TEST_F(ForecastCli, DifficultyLossTablesAndMultipleChoice) {
  ok("run --scales 1e8:5e9:8,2e11 --lengths 4 --test-sizes 300 --replicates 60 --seed 3 "
     "--difficulty normal:1 -q -o " + out("d.h5"));
  ok("forecast " + out("d.h5") + " --fit-below 1e10 --metric exact_match -q -o " + out("fd.h5"));
  {
    const h5::File f = h5::File::open_read(out("fd.h5"));
    EXPECT_EQ(f.attr_string("/forecast/joint", "applicable"), "no");
    EXPECT_NE(f.attr_string("/forecast/joint", "note").find("not applicable"), std::string::npos);
    for (uint8_t s : f.read_uint8("/forecast/joint/exact_match/status")) {
      EXPECT_EQ(s, forecast::FIT_NOT_APPLICABLE);
    }
    EXPECT_EQ(f.attr_string("/forecast/token", "applicable"), "yes");
    const std::vector<double> cov = f.read_double("/forecast/token/exact_match/coverage");
    const std::vector<double> err =
        f.read_double("/forecast/token/exact_match/median_abs_log_error");
    EXPECT_GE(cov.back(), 0.85);  // 60 replicates: nominal 0.95
    EXPECT_LT(err.back(), 0.05);
  }
  ok("run --loss-table " + std::string(MIRAGE_SOURCE_DIR) +
     "/examples/chinchilla_loss.csv --scales 7e7:7e10:8 --lengths 1 --test-sizes 1000 "
     "--replicates 4 -q -o " + out("t.h5"));
  ok("forecast " + out("t.h5") + " --fit-below 2e9 -q -o " + out("ft.h5"));
  {
    const h5::File f = h5::File::open_read(out("ft.h5"));
    EXPECT_NE(f.attr_string("/forecast", "loss_law").find("loss table"), std::string::npos);
    EXPECT_NE(f.attr_string("/forecast/token", "assumes").find("loss table"), std::string::npos);
  }
  ok("run --scales 1e8:2e10:8,2e11 --task multiple-choice --choices 4 --lengths 1 "
     "--test-sizes 200 --replicates 4 -q -o " + out("mc.h5"));
  ok("forecast " + out("mc.h5") + " --fit-below 3e10 -q -o " + out("fmc.h5"));
  {
    const h5::File f = h5::File::open_read(out("fmc.h5"));
    EXPECT_EQ(f.attr_string("/forecast/naive/brier_score", "applicable"), "no");
    EXPECT_EQ(f.attr_string("/forecast/token/brier_score", "applicable"), "yes");
    const std::vector<double> point = f.read_double("/forecast/token/multiple_choice_grade/point");
    const std::vector<double> brier = f.read_double("/forecast/token/brier_score/point");
    EXPECT_TRUE(std::isfinite(point.back()) && point.back() > 0.5);
    EXPECT_TRUE(std::isfinite(brier.back()) && brier.back() < 0.5);
  }
}

}  // namespace
}  // namespace mirage
