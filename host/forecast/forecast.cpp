// Copyright (c) Mirage developers.
#include "forecast/forecast.h"

#include <CLI/CLI.hpp>
#include <boost/math/distributions/chi_squared.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "config/config.h"
#include "io/format.h"
#include "io/hdf5_file.h"
#include "io/output.h"
#include "io/shape_check.h"
#include "mirage/build_info.h"
#include "model/truth.h"
#include "stats/statistics.h"

namespace mirage {
namespace forecast {
namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

const std::vector<std::string>& all_metric_names() {
  static const std::vector<std::string> names = {"exact_match", "token_edit_distance",
                                                 "token_accuracy", "multiple_choice_grade",
                                                 "brier_score"};
  return names;
}

std::string metric_kind(const std::string& metric) {
  if (metric == "exact_match" || metric == "multiple_choice_grade") return "nonlinear";
  if (metric == "brier_score") return "quadratic";
  return "linear";
}

std::string shortest(double v) {
  std::ostringstream out;
  out << std::setprecision(17) << v;
  for (int precision = 1; precision <= 17; ++precision) {
    std::ostringstream o;
    o << std::setprecision(precision) << v;
    if (std::stod(o.str()) == v) return o.str();
  }
  return out.str();
}

template <class T>
std::string join(const std::vector<T>& values, const std::string& sep = ", ") {
  std::ostringstream out;
  for (size_t i = 0; i < values.size(); ++i) out << (i ? sep : "") << values[i];
  return out.str();
}

std::string scale_list(const std::vector<double>& scales) {
  std::vector<std::string> text;
  for (double s : scales) text.push_back(shortest(s));
  return join(text);
}

// The value of config_toml's line `key = VALUE`, or "".
std::string toml_value(const std::string& toml, const std::string& key) {
  std::istringstream in(toml);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + " = ", 0) == 0) return line.substr(key.size() + 3);
  }
  return "";
}

double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); }

// Index helpers.
struct Dims {
  size_t C, S, K, T, R;
  size_t full(size_t c, size_t s, size_t k, size_t t, size_t r) const {
    return (((c * S + s) * K + k) * T + t) * R + r;
  }
  size_t fit(size_t c, size_t k, size_t t, size_t r) const { return ((c * K + k) * T + t) * R + r; }
  size_t cell(size_t c, size_t s, size_t k, size_t t) const { return ((c * S + s) * K + k) * T + t; }
  size_t ckt(size_t c, size_t k, size_t t) const { return (c * K + k) * T + t; }
  size_t source(size_t s, size_t k, size_t t, size_t r) const { return ((s * K + k) * T + t) * R + r; }
};

// The value of metric m at length L for the model's per-token probability p, from the truth
// (closed forms without difficulty, quadrature with it).
double metric_value(const MetricTruth& truth, const std::string& metric) {
  if (metric == "exact_match") return truth.exact_match;
  if (metric == "token_edit_distance") return truth.token_edit_distance;
  if (metric == "token_accuracy") return truth.token_accuracy;
  if (metric == "multiple_choice_grade") return truth.multiple_choice_grade;
  return truth.brier_score;
}

// The truth of every metric at length L when the loss is exp(eta) (eta = log L(N)).
MetricTruth truth_at_eta(double eta, int32_t length, const DifficultyModel& difficulty,
                         int32_t choices) {
  if (difficulty.none() && choices == 0) {
    // Closed forms, with log p = -exp(eta) kept exact.
    MetricTruth t;
    const double loss = std::exp(eta);
    t.exact_match = std::exp(-double(length) * loss);
    t.token_accuracy = std::exp(-loss);
    t.token_edit_distance = -double(length) * std::expm1(-loss);
    t.multiple_choice_grade = t.brier_score = NaN;
    return t;
  }
  return metric_truth(std::exp(-std::exp(eta)), length, difficulty, choices);
}

// Dispersion of one length's token errors relative to Binomial(nL, Q): Kish's design effect
// from the exact tallies, s^2 / (L Q (1 - Q)), at least 1 (with difficulty the true factor is
// 1 + (L - 1) Var(p_i) / (Q (1 - Q)) >= 1); 1 where undefined.
double dispersion(int64_t n, int32_t length, int64_t errors, int64_t errors_sq) {
  if (n < 2) return 1.0;
  const long double nl = (long double)n * length;
  const long double q = errors / nl;
  if (!(q > 0 && q < 1)) return 1.0;
  const long double s2 = ((long double)n * errors_sq - (long double)errors * errors) /
                         ((long double)n * (n - 1));
  const double phi = double(s2 / (length * q * (1 - q)));
  return std::isfinite(phi) ? std::max(1.0, phi) : 1.0;
}

}  // namespace

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names = {"naive", "token", "joint"};
  return names;
}

int Source::metric_index(const std::string& name) const {
  for (size_t i = 0; i < metrics.size(); ++i) {
    if (metrics[i] == name) return int(i);
  }
  return -1;
}

Source read_source(const std::string& option, const std::string& path) {
  const h5::File f = open_result_file(option, path);
  Source s;
  s.path = path;
  auto need = [&](const std::string& object) {
    if (!f.exists(object)) {
      throw std::invalid_argument(option + ": '" + path + "' lacks " + object +
                                  "; it is not a complete Mirage result file");
    }
  };
  for (const char* object : {"/model/scale", "/task/length", "/task/test_size",
                             "/counts/exact_match", "/counts/token_errors",
                             "/counts/token_errors_sq"}) {
    need(object);
  }
  s.scale = f.read_double("/model/scale");
  s.lengths = f.read_int32("/task/length");
  s.sizes = f.read_int64("/task/test_size");
  // The per-replicate arrays hold the first replicates_stored replicates (format 1.6,
  // --keep-replicates), all of them in other files: the forecast uses those.
  s.replicates = stored_replicates(f, option + ": '" + path + "'");
  const size_t cells = s.S() * s.K() * s.T() * s.R();
  auto counts = [&](const std::string& name) {
    std::vector<int64_t> v = f.read_int64(name);
    if (v.size() != cells) {
      throw std::invalid_argument(option + ": '" + path + "': " + name + " has " +
                                  std::to_string(v.size()) + " values where S K T R = " +
                                  std::to_string(cells));
    }
    return v;
  };
  s.exact_match = counts("/counts/exact_match");
  s.token_errors = counts("/counts/token_errors");
  s.token_errors_sq = counts("/counts/token_errors_sq");
  if (f.exists("/counts/multiple_choice_grade")) s.grade = counts("/counts/multiple_choice_grade");
  if (f.has_attr("/task", "kind") && f.attr_string("/task", "kind") == "multiple-choice") {
    s.choices = int32_t(f.attr_int64("/task", "choices"));
  }
  if (f.exists("/model/difficulty") && f.has_attr("/model/difficulty", "spec")) {
    s.difficulty = parse_difficulty(option, f.attr_string("/model/difficulty", "spec"));
  } else if (f.exists("/model/difficulty") && f.has_attr("/model/difficulty", "sd")) {
    throw std::invalid_argument(option + ": '" + path +
                                "' has the binned item difficulty of format 1.0, whose truth "
                                "this forecast cannot compute; re-run it with this mirage");
  }
  for (const std::string& m : all_metric_names()) {
    if (!f.exists("/metrics/" + m + "/expected")) continue;
    s.metrics.push_back(m);
    s.expected.push_back(f.read_double("/metrics/" + m + "/expected"));
    s.observed.push_back(f.read_double("/metrics/" + m + "/estimate"));
  }
  s.frontier_exact.assign(s.K() * s.T(), NaN);
  if (f.exists("/frontier/analytic_scale_exact")) {
    const std::vector<double> v = f.read_double("/frontier/analytic_scale_exact");
    if (v.size() == s.frontier_exact.size()) s.frontier_exact = v;
  }
  if (f.exists("/config") && f.has_attr("/config", "config_toml")) {
    s.config_toml = f.attr_string("/config", "config_toml");
  }
  if (f.has_attr("/", "created_utc")) s.created_utc = f.attr_string("/", "created_utc");
  if (f.has_attr("/", "git_sha")) s.git_sha = f.attr_string("/", "git_sha");
  s.loss_table = s.config_toml.find("loss-table-scales") != std::string::npos;
  if (s.loss_table) {
    s.loss_law = "a measured loss table (the fitted power law only approximates it)";
  } else {
    const std::string c = toml_value(s.config_toml, "loss-scale"),
                      a = toml_value(s.config_toml, "loss-exponent");
    s.loss_law = c.empty() ? "unknown" : "L(N) = (N / " + c + ")^" + a;
  }
  return s;
}

Link difficulty_token_link(const DifficultyModel& difficulty) {
  // mu(eta) = E[1 - p_i], 1 - mu = E[p_i] for p = exp(-exp(eta)), on eta in [-18, 6] (losses
  // 1.5e-8 to 403 nats), step 0.02: the same quadrature as the truth (truth.h), at L = 1.
  const double eta_min = -18.0, step = 0.02;
  const int points = 1201;
  std::vector<double> log_mu(points), log_1m(points);
  for (int j = 0; j < points; ++j) {
    const double eta = eta_min + step * j;
    const MetricTruth t = metric_truth(std::exp(-std::exp(eta)), 1, difficulty, 0);
    log_mu[size_t(j)] = std::log(t.token_edit_distance);
    log_1m[size_t(j)] = std::log(t.token_accuracy);
  }
  return Link::table(eta_min, step, std::move(log_mu), std::move(log_1m));
}

// ---- the computation -----------------------------------------------------------------------

namespace {

struct Context {
  Context(const Options& o, const Source& s, Dims dims, double crit)
      : options(o), src(s), d(dims), critical(crit) {}
  const Options& options;
  const Source& src;
  Dims d;
  double critical;
  std::vector<size_t> n_fit;            // [C]: scales below the cutoff
  std::vector<double> x;                // [S]: log N
  std::vector<std::string> metrics;     // forecast metrics (file order)
  std::vector<double> visible_accuracy;  // [T]
  std::vector<double> eta_visible;      // [K][T]: log loss at which E[p_i^L] = visible accuracy
  Link token_link = Link::cloglog();
  bool plain = true;
  std::vector<double> difficulty_nodes;  // d at u = (j + 1/2) / M: the items' law, for J
};

// With item difficulty one test set holds the same items at every scale, so the token errors
// of different scales are positively correlated:
//   Cov(E_s, E_s') = n L^2 Cov_d(p_i(s), p_i(s'))          (s != s')
//   Var(E_s)       = n (L E_d[p_i(s) (1 - p_i(s))] + L^2 Var_d(p_i(s))).
// The quasi-likelihood treats the scales as independent; its profile deviance for eta(x*) is
// then distributed as (v_robust / v_naive) chi^2_1, with v_naive = v' H^-1 v and v_robust =
// v' H^-1 J H^-1 v the model-based sandwich (J = Var of the quasi-score under the model at the
// fitted parameters, v = (1, x* - x0)). The interval uses the critical value scaled by that
// ratio, never below the unadjusted one (Chandler & Bate 2007; Varin, Reid & Firth 2011).
// Expectations over d by the midpoint rule in u on M nodes.
std::vector<double> adjusted_critical(const Context& ctx, const BinomialPoints& pts,
                                      const Link& link, const LineFit& fit, int32_t L,
                                      int64_t n) {
  const size_t m = pts.size(), M = ctx.difficulty_nodes.size();
  std::vector<double> q(m * M), mean(m, 0.0), within(m, 0.0), coef(m);
  for (size_t s = 0; s < m; ++s) {
    const double eta = fit.eta(pts.x[s]);
    const double loss = std::exp(eta);
    const double logit_p = -loss - std::log(-std::expm1(-loss));
    for (size_t j = 0; j < M; ++j) {
      const double v = sigmoid(logit_p + ctx.difficulty_nodes[j]);
      q[s * M + j] = v;
      mean[s] += v;
      within[s] += v * (1.0 - v);
    }
    mean[s] /= double(M);
    within[s] /= double(M);
    const LinkValue lv = link.at(eta);
    coef[s] = pts.weight[s] * lv.d_log_mu / std::exp(lv.log_1m);  // w_s mu'_s / (mu_s (1 - mu_s))
  }
  double jaa = 0, jab = 0, jbb = 0;
  const double nd = double(n), L2 = double(L) * double(L);
  for (size_t s = 0; s < m; ++s) {
    for (size_t u = s; u < m; ++u) {
      double prod = 0;
      for (size_t j = 0; j < M; ++j) prod += q[s * M + j] * q[u * M + j];
      double cov = nd * L2 * (prod / double(M) - mean[s] * mean[u]);
      if (u == s) cov += nd * double(L) * within[s];
      const double weight = (u == s ? 1.0 : 2.0) * coef[s] * coef[u] * cov;
      const double vs = pts.x[s] - fit.x0, vu = pts.x[u] - fit.x0;
      jaa += weight;
      jab += weight * 0.5 * (vs + vu);
      jbb += weight * vs * vu;
    }
  }
  std::vector<double> critical(ctx.d.S, ctx.critical);
  for (size_t s = 0; s < ctx.d.S; ++s) {
    const double dx = ctx.x[s] - fit.x0;
    const double ga = fit.cov_aa + dx * fit.cov_ab, gb = fit.cov_ab + dx * fit.cov_bb;
    const double naive = ga + dx * gb;
    const double robust = ga * ga * jaa + 2.0 * ga * gb * jab + gb * gb * jbb;
    const double ratio = robust / naive;
    if (std::isfinite(ratio) && ratio > 1.0) critical[s] = ctx.critical * ratio;
  }
  return critical;
}

// Fills one fit's point/low/high at every scale for the metrics of one length k, given a
// function from eta to the metric values.
// The profile-likelihood intervals of the linear predictor at every scale.
std::vector<EtaInterval> eta_intervals(const Context& ctx, const BinomialPoints& pts,
                                       const Link& link, const LineFit& fit,
                                       const std::vector<double>& critical = {}) {
  std::vector<EtaInterval> out;
  for (size_t s = 0; s < ctx.d.S; ++s) {
    out.push_back(profile_interval(pts, link, fit, ctx.x[s],
                                   critical.empty() ? ctx.critical : critical[s]));
  }
  return out;
}

// Fills point/low/high at every scale for the metrics of one length k, mapping each
// interval of eta through `map` (eta -> the targets' values; monotone in eta).
template <class Map>
void fill_intervals(const Context& ctx, const std::vector<EtaInterval>& intervals, size_t c,
                    size_t k, size_t t, size_t r, const std::vector<MetricForecast*>& targets,
                    Map&& map) {
  for (size_t s = 0; s < ctx.d.S; ++s) {
    const EtaInterval& iv = intervals[s];
    const std::vector<double> est = map(iv.estimate), lo = map(iv.low), hi = map(iv.high);
    const size_t i = ctx.d.full(c, s, k, t, r);
    for (size_t m = 0; m < targets.size(); ++m) {
      if (targets[m] == nullptr) continue;
      targets[m]->point[i] = est[m];
      targets[m]->low[i] = std::min(lo[m], hi[m]);
      targets[m]->high[i] = std::max(lo[m], hi[m]);
    }
  }
}

void set_fit(MetricForecast& mf, size_t i, const LineFit& fit) {
  mf.status[i] = fit.status;
  if (fit.status == FIT_OK) {
    mf.fit_scale[i] = std::exp(fit.x0 - fit.a / fit.b);
    mf.fit_slope[i] = fit.b;
  }
}

// naive: one logistic fit per (length, metric family) on that metric's own tallies.
void naive_triple(const Context& ctx, MethodForecast& method, size_t c, size_t t, size_t r) {
  const Source& src = ctx.src;
  const int64_t n = src.sizes[t];
  const Link link = Link::logit();
  auto target = [&](const std::string& name) -> MetricForecast* {
    for (MetricForecast& mf : method.metrics) {
      if (mf.metric == name && mf.applicable) return &mf;
    }
    return nullptr;
  };
  MetricForecast* em = target("exact_match");
  MetricForecast* acc = target("token_accuracy");
  MetricForecast* edit = target("token_edit_distance");
  MetricForecast* grade = target("multiple_choice_grade");
  for (size_t k = 0; k < ctx.d.K; ++k) {
    const int32_t L = src.lengths[k];
    const size_t fi = ctx.d.fit(c, k, t, r);
    // Proportions of items: exact match and the grade.
    for (MetricForecast* mf : {em, grade}) {
      if (mf == nullptr) continue;
      const std::vector<int64_t>& counts = mf == em ? src.exact_match : src.grade;
      BinomialPoints pts;
      for (size_t s = 0; s < ctx.n_fit[c]; ++s) {
        pts.add(ctx.x[s], double(counts[ctx.d.source(s, k, t, r)]), double(n));
      }
      const LineFit fit = fit_line(pts, link);
      set_fit(*mf, fi, fit);
      if (fit.status != FIT_OK) continue;
      fill_intervals(ctx, eta_intervals(ctx, pts, link, fit), c, k, t, r, {mf},
                     [](double eta) { return std::vector<double>{sigmoid(eta)}; });
      if (mf == em && fit.b > 0) {
        const double eta_vis = std::log(ctx.visible_accuracy[t]) - std::log1p(-ctx.visible_accuracy[t]);
        mf->visible_scale[fi] = std::exp(fit.x0 + (eta_vis - fit.a) / fit.b);
      }
    }
    // Correct tokens of nL: token accuracy and edit distance from one fit.
    if (acc != nullptr || edit != nullptr) {
      BinomialPoints pts;
      for (size_t s = 0; s < ctx.n_fit[c]; ++s) {
        const size_t i = ctx.d.source(s, k, t, r);
        const double w = ctx.plain ? 1.0
                                   : 1.0 / dispersion(n, L, src.token_errors[i],
                                                      src.token_errors_sq[i]);
        pts.add(ctx.x[s], double(n) * L - double(src.token_errors[i]), double(n) * L, w);
      }
      const LineFit fit = fit_line(pts, link);
      for (MetricForecast* mf : {acc, edit}) {
        if (mf != nullptr) set_fit(*mf, fi, fit);
      }
      if (fit.status != FIT_OK) continue;
      fill_intervals(ctx, eta_intervals(ctx, pts, link, fit), c, k, t, r, {acc, edit},
                     [L](double eta) {
        return std::vector<double>{sigmoid(eta), double(L) * sigmoid(-eta)};
      });
    }
  }
}

// token (per length) and joint (one fit from the longest length).
void token_triple(const Context& ctx, MethodForecast& method, size_t c, size_t t, size_t r,
                  bool joint) {
  const Source& src = ctx.src;
  const int64_t n = src.sizes[t];
  std::vector<MetricForecast*> targets;
  for (MetricForecast& mf : method.metrics) targets.push_back(mf.applicable ? &mf : nullptr);
  MetricForecast* em = nullptr;
  for (MetricForecast* mf : targets) {
    if (mf != nullptr && mf->metric == "exact_match") em = mf;
  }
  auto points_for = [&](size_t k) {
    BinomialPoints pts;
    const int32_t L = src.lengths[k];
    for (size_t s = 0; s < ctx.n_fit[c]; ++s) {
      const size_t i = ctx.d.source(s, k, t, r);
      const double w =
          ctx.plain ? 1.0 : 1.0 / dispersion(n, L, src.token_errors[i], src.token_errors_sq[i]);
      pts.add(ctx.x[s], double(src.token_errors[i]), double(n) * L, w);
    }
    return pts;
  };
  const Link& link = ctx.token_link;
  // Intervals of eta at every scale: with difficulty the critical value is adjusted for the
  // items shared between scales (length L_fit of the fitted tallies).
  auto intervals_of = [&](const BinomialPoints& pts, const LineFit& fit, int32_t L_fit) {
    if (fit.status != FIT_OK) return std::vector<EtaInterval>();
    const std::vector<double> critical =
        ctx.plain ? std::vector<double>() : adjusted_critical(ctx, pts, link, fit, L_fit, n);
    return eta_intervals(ctx, pts, link, fit, critical);
  };
  auto use_fit = [&](const std::vector<EtaInterval>& intervals, const LineFit& fit, size_t k) {
    const size_t fi = ctx.d.fit(c, k, t, r);
    for (MetricForecast* mf : targets) {
      if (mf != nullptr) set_fit(*mf, fi, fit);
    }
    if (fit.status != FIT_OK) return;
    const int32_t L = src.lengths[k];
    fill_intervals(ctx, intervals, c, k, t, r, targets, [&](double eta) {
      const MetricTruth truth = truth_at_eta(eta, L, src.difficulty, src.choices);
      std::vector<double> v;
      for (MetricForecast* mf : targets) v.push_back(mf ? metric_value(truth, mf->metric) : NaN);
      return v;
    });
    if (em != nullptr && fit.b < 0) {
      em->visible_scale[fi] =
          std::exp(fit.x0 + (ctx.eta_visible[k * ctx.d.T + t] - fit.a) / fit.b);
    }
  };
  if (joint) {
    const BinomialPoints pts = points_for(ctx.d.K - 1);
    const LineFit fit = fit_line(pts, link);
    const std::vector<EtaInterval> intervals = intervals_of(pts, fit, src.lengths[ctx.d.K - 1]);
    for (size_t k = 0; k < ctx.d.K; ++k) use_fit(intervals, fit, k);
  } else {
    for (size_t k = 0; k < ctx.d.K; ++k) {
      const BinomialPoints pts = points_for(k);
      const LineFit fit = fit_line(pts, link);
      use_fit(intervals_of(pts, fit, src.lengths[k]), fit, k);
    }
  }
}

void summarize_metric(const Context& ctx, MetricForecast& mf, const std::vector<double>& expected) {
  const Dims& d = ctx.d;
  const size_t cells = d.C * d.S * d.K * d.T;
  mf.coverage.assign(cells, NaN);
  mf.median_abs_log_error.assign(cells, NaN);
  mf.mean_width.assign(cells, NaN);
  mf.point_q025.assign(cells, NaN);
  mf.point_q500.assign(cells, NaN);
  mf.point_q975.assign(cells, NaN);
  mf.fraction_defined.assign(d.C * d.K * d.T, 0.0);
  if (!mf.visible_scale.empty()) mf.visible_scale_median.assign(d.C * d.K * d.T, NaN);
  std::vector<double> point(d.R), low(d.R), high(d.R), err;
  for (size_t c = 0; c < d.C; ++c) {
    for (size_t k = 0; k < d.K; ++k) {
      for (size_t t = 0; t < d.T; ++t) {
        size_t ok = 0;
        std::vector<double> vis;
        for (size_t r = 0; r < d.R; ++r) {
          const size_t fi = d.fit(c, k, t, r);
          ok += mf.status[fi] == FIT_OK;
          if (!mf.visible_scale.empty() && std::isfinite(mf.visible_scale[fi])) {
            vis.push_back(mf.visible_scale[fi]);
          }
        }
        mf.fraction_defined[d.ckt(c, k, t)] = double(ok) / double(d.R);
        if (!vis.empty()) {
          std::sort(vis.begin(), vis.end());
          mf.visible_scale_median[d.ckt(c, k, t)] = quantile_sorted(vis.data(), vis.size(), 0.5);
        }
        if (!mf.applicable) continue;
        for (size_t s = 0; s < d.S; ++s) {
          const double truth = expected[s * d.K + k];
          err.clear();
          for (size_t r = 0; r < d.R; ++r) {
            const size_t i = d.full(c, s, k, t, r);
            point[r] = mf.point[i];
            low[r] = mf.low[i];
            high[r] = mf.high[i];
            if (!std::isnan(point[r]) && truth > 0) {
              err.push_back(std::fabs(std::log(point[r] / truth)));
            }
          }
          const size_t g = d.cell(c, s, k, t);
          if (ok == 0) continue;
          const ReplicateSummary sum = summarize_replicates(point.data(), low.data(), high.data(),
                                                            d.R, truth);
          mf.coverage[g] = sum.coverage;
          mf.mean_width[g] = sum.mean_ci_width;
          mf.point_q025[g] = sum.q025;
          mf.point_q500[g] = sum.q500;
          mf.point_q975[g] = sum.q975;
          if (!err.empty()) {
            std::sort(err.begin(), err.end());
            mf.median_abs_log_error[g] = quantile_sorted(err.data(), err.size(), 0.5);
          }
        }
      }
    }
  }
}

}  // namespace

Result run(const Options& options, Source source) {
  const auto start = std::chrono::steady_clock::now();
  Result result;
  result.options = options;
  result.source = std::move(source);
  const Source& src = result.source;
  Context ctx(options, src, Dims{options.cutoffs.size(), src.S(), src.K(), src.T(), src.R()},
              boost::math::quantile(boost::math::chi_squared_distribution<double>(1.0),
                                    options.confidence));
  const Dims& d = ctx.d;
  for (double s : src.scale) ctx.x.push_back(std::log(s));
  result.fitted.assign(d.C * d.S, 0);
  for (double cut : options.cutoffs) {
    size_t below = 0;
    while (below < d.S && src.scale[below] < cut) ++below;
    ctx.n_fit.push_back(below);
  }
  for (size_t c = 0; c < d.C; ++c) {
    for (size_t s = 0; s < ctx.n_fit[c]; ++s) result.fitted[c * d.S + s] = 1;
  }
  ctx.metrics = options.metrics.empty() ? src.metrics : options.metrics;
  ctx.plain = src.difficulty.none();
  if (!ctx.plain) {
    ctx.token_link = difficulty_token_link(src.difficulty);
    const size_t nodes = 512;
    for (size_t j = 0; j < nodes; ++j) {
      const double u = (double(j) + 0.5) / double(nodes);
      ctx.difficulty_nodes.push_back(difficulty_quantile(src.difficulty, u, 1.0 - u));
    }
  }
  for (size_t t = 0; t < d.T; ++t) {
    ctx.visible_accuracy.push_back(-std::expm1(-std::log(2.0) / double(src.sizes[t])));
  }
  ctx.eta_visible.assign(d.K * d.T, NaN);
  for (size_t k = 0; k < d.K; ++k) {
    for (size_t t = 0; t < d.T; ++t) {
      const double p = token_probability_for_accuracy(ctx.visible_accuracy[t], src.lengths[k],
                                                      src.difficulty);
      ctx.eta_visible[k * d.T + t] = std::log(-std::log(p));
    }
  }

  const std::vector<std::string> methods = options.methods.empty() ? method_names() : options.methods;
  for (const std::string& name : methods) {
    MethodForecast m;
    m.method = name;
    if (name == "naive") {
      m.definition =
          "a logistic curve in log N fitted to each proportion metric's own tallies, one length "
          "at a time: exact match X of n items, the multiple-choice grade G of n, and correct "
          "tokens nL - E of nL for token accuracy and edit distance (one fit for both); what "
          "someone who looks only at that metric would do";
      m.likelihood = ctx.plain
                         ? "binomial, logit link: y_s ~ Binomial(m_s, 1 / (1 + exp(-(a + b log N_s))))"
                         : "binomial, logit link; for the token counts a quasi-binomial with each "
                           "scale's dispersion phi_s = max(1, s^2 / (L Q (1 - Q))) from the tallies";
      m.assumes =
          "the metric follows a logistic curve in log N (not Mirage's model: a curve fit); "
          "items are independent; scales are independent";
      m.fit_parameters =
          "fit_scale: the N at which the fitted proportion is 1/2 (exp(-a/b) in log N); "
          "fit_slope: b, the change of the logit per unit log N";
    } else {
      const bool joint = name == "joint";
      m.definition =
          joint ? "the loss law L(N) = (N/c)^alpha fitted once, to the exact likelihood of all "
                  "tallies of all lengths at the scales below the cutoff; under the plain model "
                  "the number of correct tokens among the longest length's L_max tokens is "
                  "sufficient for p(N) (tokens are independent Bernoulli(p)), so that likelihood "
                  "is Binomial(E_{L_max}; n L_max, 1 - p(N)) per scale; every metric of every "
                  "length is then the truth at the fitted p(N)"
                : "the loss law L(N) = (N/c)^alpha fitted to one length's token errors (the "
                  "linear metrics token accuracy 1 - E/(nL) and edit distance E/n), then every "
                  "metric of that length predicted from the fitted p(N) = exp(-L(N)): exact "
                  "match p^L, or E[p_i^L] with item difficulty";
      m.likelihood =
          ctx.plain ? "binomial GLM with a complementary log-log link in log N: E_s ~ "
                      "Binomial(n L, q_s), log(-log(1 - q_s)) = log L(N_s) = alpha log N_s - "
                      "alpha log c"
                    : "quasi-binomial: E_s ~ (n L) x mean token error E[1 - p_i(N_s)] with "
                      "p_i = sigmoid(logit p(N_s) + d_i) under the file's difficulty law "
                      "(tabulated by quadrature), each scale weighted by 1 / phi_s, phi_s = "
                      "max(1, s^2 / (L Q (1 - Q))) (Kish's design effect from the tallies); "
                      "the critical value of the profile deviance at each scale is multiplied "
                      "by max(1, v_robust / v_naive), the ratio of the model-based sandwich "
                      "variance of the fitted log loss there (same items at every scale) to "
                      "the quasi-likelihood's own (Chandler & Bate 2007)";
      m.assumes =
          ctx.plain ? "Mirage's model: p(N) = exp(-(N/c)^alpha), tokens independent "
                      "Bernoulli(p(N)); scales independent"
                    : "Mirage's model with the file's known difficulty law (p(N) is the "
                      "model's central per-token probability; token accuracy is E[p_i], exact "
                      "match E[p_i^L]); the correlation between scales that the shared items "
                      "cause enters only through the adjusted critical value";
      if (src.loss_table) {
        m.assumes += "; the truth is a measured loss table, to which the fitted power law "
                     "is only an approximation";
      }
      m.fit_parameters = "fit_scale: c, fit_slope: alpha of the fitted L(N) = (N/c)^alpha";
      if (joint && !ctx.plain) {
        m.applicable = false;
        m.note =
            "not applicable with item difficulty: the tokens of one item are dependent, the "
            "tallies of different lengths are nested sums over the same items, and their joint "
            "likelihood has no closed form; the token method applies the difficulty correction";
      }
    }
    for (const std::string& metric : ctx.metrics) {
      MetricForecast mf;
      mf.metric = metric;
      mf.kind = metric_kind(metric);
      mf.applicable = m.applicable;
      mf.note = m.note;
      if (name == "naive" && metric == "brier_score") {
        mf.applicable = false;
        mf.note = "not applicable: the Brier score is not a proportion of items or tokens, so "
                  "no binomial curve can be fitted to it directly";
      }
      if (name == "naive" && metric == "multiple_choice_grade" && src.grade.empty()) {
        mf.applicable = false;
        mf.note = "not applicable: the file has no grade tallies";
      }
      const size_t full = d.C * d.S * d.K * d.T * d.R, fits = d.C * d.K * d.T * d.R;
      mf.point.assign(full, NaN);
      mf.low.assign(full, NaN);
      mf.high.assign(full, NaN);
      mf.status.assign(fits, mf.applicable ? FIT_NOT_CONVERGED : FIT_NOT_APPLICABLE);
      mf.fit_scale.assign(fits, NaN);
      mf.fit_slope.assign(fits, NaN);
      if (metric == "exact_match") mf.visible_scale.assign(fits, NaN);
      m.metrics.push_back(std::move(mf));
    }
    result.methods.push_back(std::move(m));
  }

  const int64_t triples = int64_t(d.C * d.T * d.R);
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t job = 0; job < triples; ++job) {
    const size_t r = size_t(job) % d.R, t = (size_t(job) / d.R) % d.T, c = size_t(job) / (d.R * d.T);
    for (MethodForecast& m : result.methods) {
      if (!m.applicable) continue;
      if (m.method == "naive") naive_triple(ctx, m, c, t, r);
      if (m.method == "token") token_triple(ctx, m, c, t, r, false);
      if (m.method == "joint") token_triple(ctx, m, c, t, r, true);
    }
  }

  for (MethodForecast& m : result.methods) {
    for (MetricForecast& mf : m.metrics) {
      summarize_metric(ctx, mf, src.expected[size_t(src.metric_index(mf.metric))]);
    }
  }
  result.elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

// ---- output --------------------------------------------------------------------------------

namespace {

std::string forecast_toml(const Options& o, const std::vector<std::string>& metrics,
                          const std::vector<std::string>& methods) {
  std::ostringstream out;
  std::vector<std::string> cut, quoted_metrics, quoted_methods;
  for (double c : o.cutoffs) cut.push_back(shortest(c));
  for (const auto& m : metrics) quoted_metrics.push_back("\"" + m + "\"");
  for (const auto& m : methods) quoted_methods.push_back("\"" + m + "\"");
  out << "[forecast]\n"
      << "fit-below = [" << join(cut) << "]\n"
      << "metric = [" << join(quoted_metrics) << "]\n"
      << "method = [" << join(quoted_methods) << "]\n"
      << "confidence = " << shortest(o.confidence) << "\n";
  return out.str();
}

std::vector<std::string> result_metrics(const Result& r) {
  std::vector<std::string> out;
  if (!r.methods.empty()) {
    for (const MetricForecast& mf : r.methods.front().metrics) out.push_back(mf.metric);
  }
  return out;
}

std::vector<std::string> result_methods(const Result& r) {
  std::vector<std::string> out;
  for (const MethodForecast& m : r.methods) out.push_back(m.method);
  return out;
}

}  // namespace

void write_file(const Result& result, const std::string& path) {
  const Source& src = result.source;
  const hsize_t R = src.R();
  // Every axis is a named dimension (docs/FORMAT.md §1, §8): the datasets of each group are
  // attached to that group's own copy of the coordinates they use; /forecast/cutoff, scale,
  // length and test_size are themselves the coordinates of /forecast.
  using Axes = std::vector<std::string>;
  const Axes full = {"cutoff", "scale", "length", "test_size", "replicate"},
             fits = {"cutoff", "length", "test_size", "replicate"},
             cells = {"cutoff", "scale", "length", "test_size"},
             ckt = {"cutoff", "length", "test_size"};
  std::vector<int32_t> lengths(src.lengths.begin(), src.lengths.end());
  h5::write_atomically(path, [&](h5::File& f) {
    h5::Dimensions dims(f);
    dims.define("cutoff", result.options.cutoffs, "parameters", "fit cutoff",
                "cutoff N_cut of the forecast: the scales N < N_cut are fitted, those at or "
                "above it forecast; strictly increasing (the values of /forecast/cutoff)");
    dims.define("scale", src.scale, "parameters", "model size",
                "model size N_s in parameters, strictly increasing: the source's scales (the "
                "values of /forecast/scale)");
    dims.define("length", lengths, "tokens", "target length",
                "answer length L in tokens, strictly increasing (the values of "
                "/forecast/length)");
    dims.define("test_size", src.sizes, "items", "test-set size",
                "nested test set of items 0..n-1, n strictly increasing (the values of "
                "/forecast/test_size)");
    std::vector<int64_t> replicate(R);
    for (hsize_t r = 0; r < R; ++r) replicate[r] = int64_t(r);
    dims.define("replicate", replicate, "1", "replicate",
                "index r of the source's independent replicate test set, 0..R-1");
    f.attr("/", "filetype", std::string(FORECAST_FILETYPE));
    f.attr("/", "format_version", std::vector<int32_t>{FORMAT_VERSION_MAJOR, FORMAT_VERSION_MINOR});
    f.attr("/", "mirage_version", std::string(MIRAGE_VERSION_STRING));
    f.attr("/", "git_sha", std::string(MIRAGE_GIT_SHA));
    f.attr("/", "created_utc", utc_now());
    f.attr("/", "command_line", result.options.command_line);
    f.attr("/", "elapsed_s", result.elapsed_s);
    f.attr("/", "source_file", src.path);
    f.attr("/", "source_created_utc", src.created_utc);
    f.attr("/", "source_git_sha", src.git_sha);
    f.create_group("/config");
    f.attr("/config", "config_toml", src.config_toml);
    f.attr("/config", "forecast_toml",
           forecast_toml(result.options, result_metrics(result), result_methods(result)));

    const std::string g = "/forecast";
    f.create_group(g);
    f.attr(g, "confidence", result.options.confidence);
    f.attr(g, "critical_value",
           boost::math::quantile(boost::math::chi_squared_distribution<double>(1.0),
                                 result.options.confidence));
    f.attr(g, "interval", std::string("profile-likelihood"));
    f.attr(g, "target", std::string("expected"));
    f.attr(g, "loss_law", src.loss_law);
    f.attr(g, "difficulty", to_string(src.difficulty));
    f.attr(g, "task", std::string(src.choices > 0 ? "multiple-choice" : "free-form"));
    f.attr(g, "definition",
           std::string(
               "per cutoff, every replicate's tallies at the scales N < cutoff are fitted by "
               "maximum likelihood and every metric is predicted at every scale (point = the "
               "metric's value at the MLE; low, high = its values at the ends of the "
               "profile-likelihood interval {eta : 2 (l_hat - l_profile(eta)) <= "
               "critical_value} for the fitted linear predictor eta at that scale, "
               "critical_value the chi-square(1) quantile at `confidence`). The target is the "
               "metric's analytic value `expected` (the model's true ability), not a future "
               "test set's observed value; coverage = fraction of replicates whose interval "
               "holds it (a replicate without a fit counts as not covering). Test sizes are "
               "nested (items 0..n-1), so different test sizes are not independent."));
    dims.write(g + "/cutoff", result.options.cutoffs, {"cutoff"});
    dims.write(g + "/scale", src.scale, {"scale"});
    dims.write(g + "/length", lengths, {"length"});
    dims.write(g + "/test_size", src.sizes, {"test_size"});
    f.attr(g + "/test_size", "replicates", int64_t(R));
    dims.write(g + "/fitted", result.fitted, {"cutoff", "scale"});
    f.attr(g + "/fitted", "definition", std::string("1 where scale < cutoff (fitted), 0 where forecast"));
    std::vector<double> visible_accuracy;
    for (int64_t n : src.sizes) visible_accuracy.push_back(-std::expm1(-std::log(2.0) / double(n)));
    dims.write(g + "/visible_accuracy", visible_accuracy, {"test_size"});
    dims.write(g + "/visible_scale_truth", src.frontier_exact, {"length", "test_size"});
    f.attr(g + "/visible_scale_truth", "definition",
           std::string("the scale at which the true exact match reaches visible_accuracy = 1 - "
                       "2^(-1/n) (at least half the test sets of n items see a nonzero exact "
                       "match): the source's /frontier/analytic_scale_exact"));
    for (size_t m = 0; m < src.metrics.size(); ++m) {
      const std::string& name = src.metrics[m];
      bool used = false;
      for (const std::string& fm : result_metrics(result)) used = used || fm == name;
      if (!used) continue;
      dims.write(g + "/expected/" + name, src.expected[m], {"scale", "length"});
      dims.write(g + "/observed/" + name, src.observed[m],
                 {"scale", "length", "test_size", "replicate"});
    }
    f.attr(g + "/observed", "definition",
           std::string("the source file's per-replicate estimates /metrics/<metric>/estimate "
                       "[S][K][T][R], for figures"));

    std::string status_names;
    for (int st = 0; st <= FIT_TOO_FEW_POINTS; ++st) {
      status_names += (st ? ", " : "") + std::to_string(st) + " " + status_name(FitStatus(st));
    }
    for (const MethodForecast& m : result.methods) {
      const std::string mg = g + "/" + m.method;
      f.create_group(mg);
      f.attr(mg, "definition", m.definition);
      f.attr(mg, "likelihood", m.likelihood);
      f.attr(mg, "assumes", m.assumes);
      f.attr(mg, "fit_parameters", m.fit_parameters);
      f.attr(mg, "applicable", std::string(m.applicable ? "yes" : "no"));
      f.attr(mg, "note", m.note);
      for (const MetricForecast& mf : m.metrics) {
        const std::string p = mg + "/" + mf.metric;
        dims.write(p + "/point", mf.point, full);
        dims.write(p + "/low", mf.low, full);
        dims.write(p + "/high", mf.high, full);
        dims.write(p + "/status", mf.status, fits);
        f.attr(p + "/status", "names", status_names);
        dims.write(p + "/fit_scale", mf.fit_scale, fits);
        dims.write(p + "/fit_slope", mf.fit_slope, fits);
        dims.write(p + "/coverage", mf.coverage, cells);
        dims.write(p + "/median_abs_log_error", mf.median_abs_log_error, cells);
        dims.write(p + "/mean_width", mf.mean_width, cells);
        dims.write(p + "/point_q025", mf.point_q025, cells);
        dims.write(p + "/point_q500", mf.point_q500, cells);
        dims.write(p + "/point_q975", mf.point_q975, cells);
        dims.write(p + "/fraction_defined", mf.fraction_defined, ckt);
        if (!mf.visible_scale.empty()) {
          dims.write(p + "/visible_scale", mf.visible_scale, fits);
          dims.write(p + "/visible_scale_median", mf.visible_scale_median, ckt);
        }
        f.attr(p, "kind", mf.kind);
        f.attr(p, "applicable", std::string(mf.applicable ? "yes" : "no"));
        f.attr(p, "note", mf.note);
      }
    }
  });
}

void write_csv(const Result& result, const std::string& path) {
  const Source& src = result.source;
  const Dims d{result.options.cutoffs.size(), src.S(), src.K(), src.T(), src.R()};
  std::ostringstream out;
  out << std::setprecision(10);
  out << "cutoff,method,metric,kind,length,test_size,scale,expected,coverage,"
         "median_abs_log_error,mean_width,point_q025,point_q500,point_q975,fraction_defined,"
         "visible_scale_median,visible_scale_truth,applicable,interval,confidence,replicates\n";
  for (size_t c = 0; c < d.C; ++c) {
    for (const MethodForecast& m : result.methods) {
      for (const MetricForecast& mf : m.metrics) {
        const std::vector<double>& expected = src.expected[size_t(src.metric_index(mf.metric))];
        for (size_t k = 0; k < d.K; ++k) {
          for (size_t t = 0; t < d.T; ++t) {
            const size_t ckt = d.ckt(c, k, t);
            for (size_t s = 0; s < d.S; ++s) {
              if (result.fitted[c * d.S + s]) continue;
              const size_t g = d.cell(c, s, k, t);
              out << result.options.cutoffs[c] << ',' << m.method << ',' << mf.metric << ','
                  << mf.kind << ',' << src.lengths[k] << ',' << src.sizes[t] << ','
                  << src.scale[s] << ',' << expected[s * d.K + k] << ',' << mf.coverage[g] << ','
                  << mf.median_abs_log_error[g] << ',' << mf.mean_width[g] << ','
                  << mf.point_q025[g] << ',' << mf.point_q500[g] << ',' << mf.point_q975[g] << ','
                  << mf.fraction_defined[ckt] << ','
                  << (mf.visible_scale_median.empty() ? NaN : mf.visible_scale_median[ckt]) << ','
                  << (mf.visible_scale.empty() ? NaN : src.frontier_exact[k * d.T + t]) << ','
                  << (mf.applicable ? "yes" : "no") << ",profile-likelihood,"
                  << result.options.confidence << ',' << d.R << '\n';
            }
          }
        }
      }
    }
  }
  h5::write_text_atomically(path, out.str());
}

std::string summary(const Result& result) {
  const Source& src = result.source;
  const Dims d{result.options.cutoffs.size(), src.S(), src.K(), src.T(), src.R()};
  std::ostringstream out;
  char line[512];
  const size_t k = d.K - 1;
  std::vector<std::string> shown;
  for (const char* m : {"exact_match", "token_edit_distance"}) {
    for (const std::string& fm : result_metrics(result)) {
      if (fm == m) shown.push_back(fm);
    }
  }
  if (shown.empty() && !result_metrics(result).empty()) shown.push_back(result_metrics(result)[0]);
  for (size_t c = 0; c < d.C; ++c) {
    std::vector<size_t> forecast;
    size_t n_fit = 0;
    for (size_t s = 0; s < d.S; ++s) {
      if (result.fitted[c * d.S + s]) ++n_fit; else forecast.push_back(s);
    }
    // The scales of --show-scales, or at most 5 forecast scales: evenly spaced, first and
    // last included.
    std::vector<size_t> cols;
    const size_t want = std::min<size_t>(5, forecast.size());
    for (size_t i = 0; i < want && result.options.show_scales.empty(); ++i) {
      const size_t j = want == 1 ? forecast.size() - 1 : i * (forecast.size() - 1) / (want - 1);
      if (cols.empty() || cols.back() != forecast[j]) cols.push_back(forecast[j]);
    }
    for (double wanted : result.options.show_scales) {
      for (size_t s = 0; s < d.S; ++s) {
        if (std::fabs(src.scale[s] / wanted - 1.0) <= 1e-9) cols.push_back(s);
      }
    }
    char range[128];
    std::snprintf(range, sizeof(range), "%.3g .. %.3g", src.scale[0], src.scale[n_fit - 1]);
    out << "Forecast fitted on the " << n_fit << " scales below N = "
        << shortest(result.options.cutoffs[c]) << " (" << range << "), "
        << d.R << " replicates, " << result.options.confidence * 100
        << " % profile-likelihood intervals for the analytic value; loss law " << src.loss_law
        << ", difficulty " << to_string(src.difficulty) << "\n";
    for (const std::string& metric : shown) {
      out << "\n" << metric << " at L = " << src.lengths[k]
          << ": coverage of the truth (median |log error| of the point forecast)\n";
      std::snprintf(line, sizeof(line), "  %9s  %-6s", "test size", "method");
      out << line;
      for (size_t s : cols) {
        char label[64];
        std::snprintf(label, sizeof(label), "N = %.3g", src.scale[s]);
        std::snprintf(line, sizeof(line), "  %17s", label);
        out << line;
      }
      out << "\n";
      for (size_t t = 0; t < d.T; ++t) {
        for (const MethodForecast& m : result.methods) {
          for (const MetricForecast& mf : m.metrics) {
            if (mf.metric != metric) continue;
            std::snprintf(line, sizeof(line), "  %9lld  %-6s", static_cast<long long>(src.sizes[t]),
                          m.method.c_str());
            out << line;
            if (!mf.applicable) {
              out << "  not applicable\n";
              continue;
            }
            for (size_t s : cols) {
              const size_t g = d.cell(c, s, k, t);
              std::snprintf(line, sizeof(line), "  %6.3f (%8.3g)", mf.coverage[g],
                            mf.median_abs_log_error[g]);
              out << line;
            }
            const double defined = mf.fraction_defined[d.ckt(c, k, t)];
            if (defined < 1.0) {
              std::snprintf(line, sizeof(line), "   [fitted in %.0f %% of replicates]", 100 * defined);
              out << line;
            }
            out << "\n";
          }
        }
      }
    }
    bool any_visible = false;
    for (const MethodForecast& m : result.methods) {
      for (const MetricForecast& mf : m.metrics) any_visible = any_visible || !mf.visible_scale.empty();
    }
    if (any_visible) {
      out << "\nScale at which exact match at L = " << src.lengths[k]
          << " becomes visible (>= half of the test sets see a nonzero exact match): truth vs "
             "median prediction\n";
      std::snprintf(line, sizeof(line), "  %9s  %10s", "test size", "truth");
      out << line;
      for (const MethodForecast& m : result.methods) {
        std::snprintf(line, sizeof(line), "  %10s", m.method.c_str());
        out << line;
      }
      out << "\n";
      for (size_t t = 0; t < d.T; ++t) {
        std::snprintf(line, sizeof(line), "  %9lld  %10.3g", static_cast<long long>(src.sizes[t]),
                      src.frontier_exact[k * d.T + t]);
        out << line;
        for (const MethodForecast& m : result.methods) {
          double v = NaN;
          for (const MetricForecast& mf : m.metrics) {
            if (!mf.visible_scale_median.empty()) v = mf.visible_scale_median[d.ckt(c, k, t)];
          }
          std::snprintf(line, sizeof(line), "  %10.3g", v);
          out << line;
        }
        out << "\n";
      }
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace forecast

// ---- command line --------------------------------------------------------------------------

void add_forecast_options(CLI::App& app, ForecastArgs& args) {
  app.add_option("file", args.file, "Mirage HDF5 result file (mirage run or mirage merge)")
      ->required();
  app.add_option("--fit-below", args.fit_below,
                 "cutoff(s) N_CUT: fit the scales N < N_CUT, forecast those at or above; a list "
                 "gives one forecast per cutoff")
      ->delimiter(',')
      ->required();
  app.add_option("--metric", args.metrics,
                 "metrics to forecast: exact_match, token_edit_distance, token_accuracy, "
                 "multiple_choice_grade, brier_score [default: every metric in the file]")
      ->delimiter(',');
  app.add_option("--method", args.methods, "naive, token, joint [default: all three]")
      ->delimiter(',');
  app.add_option("--confidence", args.confidence,
                 "confidence of the profile-likelihood intervals, in (0, 1) [default 0.95]");
  app.add_option("--show-scales", args.show_scales,
                 "scales of the file to show in the printed table [default: up to 5 of those "
                 "at or above the cutoff]")
      ->delimiter(',');
  app.add_option("--threads", args.threads, "threads, 0 = all cores [default 0]");
  app.add_option("-o,--output", args.output, "HDF5 forecast file [default results/forecast.h5]");
  app.add_option("--csv", args.csv, "also write the tidy CSV here");
  app.add_flag("-q,--quiet", args.quiet, "no summary table");
}

int forecast_command(const ForecastArgs& args, const std::string& command_line) {
  namespace fs = std::filesystem;
  forecast::Options o;
  o.input = args.file;
  o.output = args.output;
  o.csv = args.csv;
  o.quiet = args.quiet;
  o.command_line = command_line;
  if (!args.confidence.empty()) {
    o.confidence = parse_double("--confidence", args.confidence);
    if (!(o.confidence > 0.0 && o.confidence < 1.0)) {
      throw std::invalid_argument("--confidence: value '" + args.confidence +
                                  "' is not allowed; a number in (0, 1), e.g. 0.95");
    }
  }
  int64_t threads = 0;
  if (!args.threads.empty()) {
    threads = parse_integer("--threads", args.threads);
    if (threads < 0 || threads > 4096) {
      throw std::invalid_argument("--threads: value '" + args.threads +
                                  "' is not allowed; 0 (all cores) to 4096");
    }
  }
  for (const std::string& m : args.methods) {
    const auto& names = forecast::method_names();
    if (std::find(names.begin(), names.end(), m) == names.end()) {
      throw std::invalid_argument("--method: value '" + m + "' is not allowed; naive, token, joint");
    }
    if (std::find(o.methods.begin(), o.methods.end(), m) == o.methods.end()) o.methods.push_back(m);
  }
  // Keep the canonical order.
  std::vector<std::string> ordered;
  for (const std::string& m : forecast::method_names()) {
    if (std::find(o.methods.begin(), o.methods.end(), m) != o.methods.end()) ordered.push_back(m);
  }
  o.methods = ordered;
  for (const std::string& text : args.fit_below) {
    const double cut = parse_double("--fit-below", text);
    if (!(cut > 0.0)) {
      throw std::invalid_argument("--fit-below: value '" + text +
                                  "' is not allowed; a scale in parameters, > 0");
    }
    if (!o.cutoffs.empty() && !(cut > o.cutoffs.back())) {
      throw std::invalid_argument("--fit-below: value '" + text + "' follows " +
                                  forecast::shortest(o.cutoffs.back()) +
                                  "; cutoffs must be strictly increasing");
    }
    o.cutoffs.push_back(cut);
  }
  check_writable("--output", o.output);
  if (!o.csv.empty()) check_writable("--csv", o.csv);
  std::error_code ec;
  if (fs::exists(o.output) && fs::equivalent(o.output, o.input, ec)) {
    throw std::invalid_argument("--output: '" + o.output +
                                "' is the input file; give another path for the forecast");
  }

  forecast::Source source = forecast::read_source("forecast", o.input);
  for (size_t i = 0; i < o.cutoffs.size(); ++i) {
    size_t below = 0;
    while (below < source.S() && source.scale[below] < o.cutoffs[i]) ++below;
    if (below < 2 || below == source.S()) {
      throw std::invalid_argument(
          "--fit-below: value '" + args.fit_below[i] + "' leaves " + std::to_string(below) +
          " of the file's " + std::to_string(source.S()) + " scales below it and " +
          std::to_string(source.S() - below) +
          " at or above it; a forecast needs at least 2 scales below the cutoff (2 parameters) "
          "and at least 1 at or above it (the file's scales: " +
          forecast::scale_list(source.scale) + ")");
    }
  }
  for (const std::string& text : args.show_scales) {
    const double wanted = parse_double("--show-scales", text);
    bool found = false;
    for (double s : source.scale) found = found || std::fabs(s / wanted - 1.0) <= 1e-9;
    if (!found) {
      throw std::invalid_argument("--show-scales: value '" + text +
                                  "' is not a scale of the file; its scales: " +
                                  forecast::scale_list(source.scale));
    }
    o.show_scales.push_back(wanted);
  }
  for (const std::string& m : args.metrics) {
    if (source.metric_index(m) < 0) {
      throw std::invalid_argument("--metric: value '" + m + "' is not allowed; the file has " +
                                  forecast::join(source.metrics));
    }
    if (std::find(o.metrics.begin(), o.metrics.end(), m) == o.metrics.end()) o.metrics.push_back(m);
  }
  std::vector<std::string> metrics;
  for (const std::string& m : source.metrics) {
    if (o.metrics.empty() ||
        std::find(o.metrics.begin(), o.metrics.end(), m) != o.metrics.end()) {
      metrics.push_back(m);
    }
  }
  o.metrics = metrics;
  if (threads > 0) omp_set_num_threads(int(threads));

  const forecast::Result result = forecast::run(o, std::move(source));
  forecast::write_file(result, o.output);
  if (!o.csv.empty()) forecast::write_csv(result, o.csv);
  if (!o.quiet) {
    std::cout << forecast::summary(result);
    std::cout << "Wrote " << o.output << (o.csv.empty() ? "" : " and " + o.csv) << " ("
              << std::fixed << std::setprecision(2) << result.elapsed_s << " s)\n";
  }
  return 0;
}

}  // namespace mirage
