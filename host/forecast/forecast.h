// Copyright (c) Mirage developers.
//! \file forecast.h
//! `mirage forecast` (docs/DESIGN.md §5.10): from an existing result file, fit every replicate's
//! tallies at the scales below a cutoff and predict every metric at every scale, with a
//! point forecast and a profile-likelihood interval for the metric's analytic value (the
//! model's true ability, `/metrics/<metric>/expected`); then, across replicates, how often
//! the intervals hold the truth, how far the point forecasts are from it, and at which scale
//! each method predicts exact match to become visible. Three methods:
//!
//!   naive  a logistic curve in log N fitted to each proportion metric's own tallies
//!          (exact match X of n, the grade G of n, correct tokens nL - E of nL), one length at
//!          a time: what someone who looks only at that metric would do;
//!   token  the loss law fitted to one length's token errors E ~ Binomial(nL, 1 - p(N)),
//!          p = exp(-(N/c)^alpha): a binomial GLM with a complementary log-log link in log N;
//!          every metric of that length is then predicted from p(N) (exact match p^L);
//!   joint  the exact likelihood of all tallies of all lengths under the plain model, which by
//!          sufficiency is that of the longest length's token errors; one fit for all lengths.
//!
//! Writes a `mirage-forecast` HDF5 file (docs/FORMAT.md §8) and optionally a tidy CSV.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "forecast/fit.h"
#include "model/difficulty.h"

namespace CLI {
class App;
}

namespace mirage {

//! The command line of `mirage forecast`, as text (parsed and checked by forecast_command).
struct ForecastArgs {
  std::string file;
  std::vector<std::string> fit_below, metrics, methods, show_scales;
  std::string confidence, threads;
  std::string output = "results/forecast.h5";
  std::string csv;
  bool quiet = false;
};

//! Adds the options of `mirage forecast` to its CLI11 subcommand.
void add_forecast_options(CLI::App& app, ForecastArgs& args);

//! `mirage forecast`: parses and checks `args` (std::invalid_argument naming the option, the
//! value and what is allowed), computes the forecast, writes the file(s) and prints the
//! summary. Returns the exit code.
int forecast_command(const ForecastArgs& args, const std::string& command_line);

namespace forecast {

constexpr const char* FORECAST_FILETYPE = "mirage-forecast";

//! The three methods, in file order.
const std::vector<std::string>& method_names();

//! Checked options.
struct Options {
  std::string input;
  std::vector<double> cutoffs;        //!< strictly increasing; fit scales N < cutoff
  std::vector<std::string> metrics;   //!< empty: every metric in the file
  std::vector<std::string> methods;   //!< empty: all three
  double confidence = 0.95;
  std::vector<double> show_scales;    //!< columns of the printed table; empty: up to 5
  std::string output = "results/forecast.h5";
  std::string csv;
  bool quiet = false;
  std::string command_line;
};

//! What the forecast needs from a result file.
struct Source {
  std::string path, config_toml, created_utc, git_sha, loss_law;
  std::vector<double> scale;                   //!< [S]
  std::vector<int32_t> lengths;                //!< [K]
  std::vector<int64_t> sizes;                  //!< [T]
  int64_t replicates = 0;                      //!< R
  std::vector<int64_t> exact_match, token_errors, token_errors_sq, grade;  //!< [S][K][T][R]
  DifficultyModel difficulty;
  int32_t choices = 0;                         //!< 0: free-form
  bool loss_table = false;                     //!< the truth is a measured loss table
  std::vector<std::string> metrics;            //!< in the file
  std::vector<std::vector<double>> expected;   //!< per metric: [S][K]
  std::vector<std::vector<double>> observed;   //!< per metric: estimate [S][K][T][R]
  std::vector<double> frontier_exact;          //!< [K][T], NaN if absent
  size_t S() const { return scale.size(); }
  size_t K() const { return lengths.size(); }
  size_t T() const { return sizes.size(); }
  size_t R() const { return size_t(replicates); }
  int metric_index(const std::string& name) const;
};

//! Reads a Mirage result file, refusing anything else (std::invalid_argument naming `option`).
Source read_source(const std::string& option, const std::string& path);

//! The forecast of one method for one metric, over every cutoff C, scale S, length K, test
//! size T and replicate R.
struct MetricForecast {
  std::string metric, kind;
  bool applicable = true;
  std::string note;                       //!< why not applicable, or what the fit assumes
  std::vector<double> point, low, high;   //!< [C][S][K][T][R]
  std::vector<uint8_t> status;            //!< [C][K][T][R] (FitStatus)
  std::vector<double> fit_scale, fit_slope;  //!< [C][K][T][R]
  std::vector<double> visible_scale;      //!< [C][K][T][R]; exact match only (else empty)
  // Across replicates, [C][S][K][T]:
  std::vector<double> coverage, median_abs_log_error, mean_width, point_q025, point_q500,
      point_q975;
  std::vector<double> fraction_defined;        //!< [C][K][T]
  std::vector<double> visible_scale_median;    //!< [C][K][T]; exact match only
};

struct MethodForecast {
  std::string method, definition, likelihood, assumes, fit_parameters;
  bool applicable = true;
  std::string note;
  std::vector<MetricForecast> metrics;
};

struct Result {
  Options options;
  Source source;
  std::vector<uint8_t> fitted;  //!< [C][S]: 1 where scale < cutoff
  std::vector<MethodForecast> methods;
  double elapsed_s = 0;
};

//! Runs every method on every (cutoff, test size, replicate), OpenMP over those triples; each
//! triple's computation is independent, so the result is the same for any thread count.
Result run(const Options& options, Source source);

//! Writes the `mirage-forecast` file atomically.
void write_file(const Result& result, const std::string& path);
//! Writes the tidy CSV: one row per (cutoff, method, metric, length, test size, scale at or
//! above the cutoff).
void write_csv(const Result& result, const std::string& path);
//! The summary table printed by the command.
std::string summary(const Result& result);

//! The difficulty-corrected link of the token method: mu(eta) = E[1 - p_i] for the model's
//! p = exp(-exp(eta)), p_i = sigmoid(logit p + d_i), tabulated by the project's quadrature.
Link difficulty_token_link(const DifficultyModel& difficulty);

}  // namespace forecast
}  // namespace mirage
