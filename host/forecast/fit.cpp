// Copyright (c) Mirage developers.
#include "forecast/fit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace mirage::forecast {
namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
constexpr double INF = std::numeric_limits<double>::infinity();
// An interval end beyond this linear predictor is reported as infinite: every link here is
// saturated long before (logit: 1 - mu = 9e-27; cloglog: mu = 1 - exp(-1e26)).
constexpr double ETA_LIMIT = 60.0;

// log(1 / (1 + exp(-x))) without overflow.
double log_sigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }

// Sums over the points of the (quasi-)log-likelihood and of its first two derivatives in eta_i,
// for eta_i = eta_star + b * u_i.
struct Sums {
  double l = 0;     // sum w_i l_i
  double s = 0;     // sum w_i dl_i/deta
  double su = 0;    // sum w_i dl_i/deta u_i
  double h = 0;     // sum w_i d2l_i/deta2
  double hu = 0;    // ... u_i
  double huu = 0;   // ... u_i^2
};

Sums sums(const BinomialPoints& p, const Link& link, double x_ref, double a, double b,
          bool derivatives) {
  Sums out;
  for (size_t i = 0; i < p.size(); ++i) {
    const double u = p.x[i] - x_ref;
    const LinkValue v = link.at(a + b * u);
    const double y = p.events[i], f = p.trials[i] - p.events[i], w = p.weight[i];
    double l = 0, s = 0, h = 0;
    if (y > 0) {
      l += y * v.log_mu;
      s += y * v.d_log_mu;
      h += y * v.h_log_mu;
    }
    if (f > 0) {
      l += f * v.log_1m;
      s += f * v.d_log_1m;
      h += f * v.h_log_1m;
    }
    out.l += w * l;
    if (derivatives) {
      out.s += w * s;
      out.su += w * s * u;
      out.h += w * h;
      out.hu += w * h * u;
      out.huu += w * h * u * u;
    }
  }
  return out;
}

}  // namespace

std::string status_name(FitStatus status) {
  switch (status) {
    case FIT_OK: return "ok";
    case FIT_ALL_ZERO: return "all_zero";
    case FIT_ALL_FULL: return "all_full";
    case FIT_SEPARATED: return "separated";
    case FIT_NOT_APPLICABLE: return "not_applicable";
    case FIT_NOT_CONVERGED: return "not_converged";
    case FIT_TOO_FEW_POINTS: return "too_few_points";
  }
  return "unknown";
}

// ---- links ---------------------------------------------------------------------------------

Link Link::logit() {
  Link link;
  link.kind_ = LOGIT;
  return link;
}

Link Link::cloglog() {
  Link link;
  link.kind_ = CLOGLOG;
  return link;
}

Link Link::table(double eta_min, double step, std::vector<double> log_mu,
                 std::vector<double> log_1m) {
  if (log_mu.size() < 4 || log_mu.size() != log_1m.size() || !(step > 0)) {
    throw std::invalid_argument("Link::table: need >= 4 grid points of both tables and step > 0");
  }
  Link link;
  link.kind_ = TABLE;
  link.log_mu_.x0 = link.log_1m_.x0 = eta_min;
  link.log_mu_.h = link.log_1m_.h = step;
  link.log_mu_.y = std::move(log_mu);
  link.log_1m_.y = std::move(log_1m);
  link.log_mu_.build();
  link.log_1m_.build();
  return link;
}

// Natural cubic spline through (x0 + j h, y_j): second derivatives m_j from the tridiagonal
// system m_{j-1} + 4 m_j + m_{j+1} = 6 (y_{j+1} - 2 y_j + y_{j-1}) / h^2, m_0 = m_{n-1} = 0
// (Thomas algorithm).
void Link::Spline::build() {
  const size_t n = y.size();
  m.assign(n, 0.0);
  const size_t k = n - 2;  // interior unknowns m_1..m_{n-2}
  std::vector<double> c(k), d(k);
  for (size_t i = 0; i < k; ++i) {
    const size_t j = i + 1;
    const double rhs = 6.0 * (y[j + 1] - 2.0 * y[j] + y[j - 1]) / (h * h);
    const double denom = 4.0 - (i > 0 ? c[i - 1] : 0.0);
    c[i] = 1.0 / denom;
    d[i] = (rhs - (i > 0 ? d[i - 1] : 0.0)) / denom;
  }
  for (size_t i = k; i-- > 0;) m[i + 1] = d[i] - c[i] * (i + 1 < k ? m[i + 2] : 0.0);
}

void Link::Spline::eval(double x, double* value, double* d1, double* d2) const {
  const size_t n = y.size();
  const double last = x0 + h * double(n - 1);
  auto slope_at = [&](size_t j, bool left_end) {
    // S' at knot j from the segment [j, j+1] (left_end) or [j-1, j].
    if (left_end) return (y[j + 1] - y[j]) / h - h * (2.0 * m[j] + m[j + 1]) / 6.0;
    return (y[j] - y[j - 1]) / h + h * (m[j - 1] + 2.0 * m[j]) / 6.0;
  };
  if (x <= x0) {
    const double s = slope_at(0, true);
    *value = y[0] + s * (x - x0);
    *d1 = s;
    *d2 = 0.0;
    return;
  }
  if (x >= last) {
    const double s = slope_at(n - 1, false);
    *value = y[n - 1] + s * (x - last);
    *d1 = s;
    *d2 = 0.0;
    return;
  }
  size_t j = size_t((x - x0) / h);
  if (j > n - 2) j = n - 2;
  const double xj = x0 + h * double(j);
  const double B = (x - xj) / h, A = 1.0 - B;
  *value = A * y[j] + B * y[j + 1] + ((A * A * A - A) * m[j] + (B * B * B - B) * m[j + 1]) * h * h / 6.0;
  *d1 = (y[j + 1] - y[j]) / h - (3.0 * A * A - 1.0) / 6.0 * h * m[j] +
        (3.0 * B * B - 1.0) / 6.0 * h * m[j + 1];
  *d2 = A * m[j] + B * m[j + 1];
}

LinkValue Link::at(double eta) const {
  LinkValue v{};
  switch (kind_) {
    case LOGIT: {
      // With e = exp(-|eta|): log sigmoid(|eta|) = -log1p(e), log sigmoid(-|eta|) = -|eta| -
      // log1p(e); sigmoid(|eta|) = 1 / (1 + e).
      const double e = std::exp(-std::fabs(eta)), l = std::log1p(e);
      const double big = 1.0 / (1.0 + e), small = e / (1.0 + e);
      const bool positive = eta >= 0;
      v.log_mu = positive ? -l : eta - l;
      v.log_1m = positive ? -eta - l : -l;
      const double mu = positive ? big : small, one_minus = positive ? small : big;
      v.d_log_mu = one_minus;
      v.d_log_1m = -mu;
      v.h_log_mu = v.h_log_1m = -mu * one_minus;
      break;
    }
    case CLOGLOG: {
      // mu = 1 - exp(-u), u = exp(eta).
      const double u = std::exp(eta);
      const double mu = -std::expm1(-u);
      const double one_minus = u < 0.5 ? 1.0 - mu : std::exp(-u);  // exp(-u), accurately
      v.log_1m = -u;
      v.d_log_1m = -u;
      v.h_log_1m = -u;
      v.log_mu = std::log(mu);
      v.d_log_mu = u * one_minus / mu;               // u / (e^u - 1)
      v.h_log_mu = v.d_log_mu * (1.0 - u / mu);      // d/deta of u / (e^u - 1)
      break;
    }
    case TABLE:
      log_mu_.eval(eta, &v.log_mu, &v.d_log_mu, &v.h_log_mu);
      log_1m_.eval(eta, &v.log_1m, &v.d_log_1m, &v.h_log_1m);
      break;
  }
  return v;
}

double Link::mean(double eta) const {
  switch (kind_) {
    case LOGIT: return std::exp(log_sigmoid(eta));
    case CLOGLOG: return -std::expm1(-std::exp(eta));
    case TABLE: {
      double value, d1, d2;
      log_mu_.eval(eta, &value, &d1, &d2);
      return std::exp(value);
    }
  }
  return NaN;
}

double Link::inverse(double mu) const {
  if (!(mu > 0.0 && mu < 1.0)) return NaN;
  switch (kind_) {
    case LOGIT: return std::log(mu) - std::log1p(-mu);
    case CLOGLOG: return std::log(-std::log1p(-mu));
    case TABLE: {
      double lo = -ETA_LIMIT, hi = ETA_LIMIT;
      for (int i = 0; i < 200 && hi - lo > 1e-13; ++i) {
        const double mid = 0.5 * (lo + hi);
        (mean(mid) < mu ? lo : hi) = mid;
      }
      return 0.5 * (lo + hi);
    }
  }
  return NaN;
}

// ---- fitting -------------------------------------------------------------------------------

FitStatus existence(const BinomialPoints& p) {
  if (p.size() < 2) return FIT_TOO_FEW_POINTS;
  double x_min = INF, x_max = -INF;
  double min_event = INF, max_event = -INF, min_non = INF, max_non = -INF;
  for (size_t i = 0; i < p.size(); ++i) {
    x_min = std::min(x_min, p.x[i]);
    x_max = std::max(x_max, p.x[i]);
    if (p.events[i] > 0) {
      min_event = std::min(min_event, p.x[i]);
      max_event = std::max(max_event, p.x[i]);
    }
    if (p.events[i] < p.trials[i]) {
      min_non = std::min(min_non, p.x[i]);
      max_non = std::max(max_non, p.x[i]);
    }
  }
  if (!(x_max > x_min)) return FIT_TOO_FEW_POINTS;
  if (max_event == -INF) return FIT_ALL_ZERO;
  if (max_non == -INF) return FIT_ALL_FULL;
  // A line alpha + beta x >= 0 at every point with an event and <= 0 at every point with a
  // non-event, beta != 0, exists iff the two sets do not interleave along x.
  if (max_non <= min_event || max_event <= min_non) return FIT_SEPARATED;
  return FIT_OK;
}

double log_likelihood(const BinomialPoints& points, const Link& link, double x0, double a,
                      double b) {
  return sums(points, link, x0, a, b, false).l;
}

LineFit fit_line(const BinomialPoints& p, const Link& link) {
  LineFit fit;
  fit.status = existence(p);
  fit.a = fit.b = fit.x0 = NaN;
  if (fit.status != FIT_OK) return fit;

  // Start: weighted least squares of the empirical link values on x (with a continuity
  // correction so that 0 and t have finite link values).
  double sw = 0, swx = 0;
  std::vector<double> eta0(p.size()), omega(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    const double mu = (p.events[i] + 0.5) / (p.trials[i] + 1.0);
    eta0[i] = link.inverse(mu);
    omega[i] = p.weight[i] * p.trials[i] * mu * (1.0 - mu);
    if (!std::isfinite(eta0[i])) eta0[i] = 0.0, omega[i] = 0.0;
    sw += omega[i];
    swx += omega[i] * p.x[i];
  }
  double wsum = 0, wx = 0;
  for (size_t i = 0; i < p.size(); ++i) wsum += p.weight[i] * p.trials[i], wx += p.weight[i] * p.trials[i] * p.x[i];
  fit.x0 = wx / wsum;
  double sxx = 0, sxy = 0, sy = 0;
  const double xm = sw > 0 ? swx / sw : fit.x0;
  for (size_t i = 0; i < p.size(); ++i) {
    sxx += omega[i] * (p.x[i] - xm) * (p.x[i] - xm);
    sxy += omega[i] * (p.x[i] - xm) * eta0[i];
    sy += omega[i] * eta0[i];
  }
  double b = sxx > 0 ? sxy / sxx : 0.0;
  double a = (sw > 0 ? sy / sw : 0.0) + b * (fit.x0 - xm);
  if (!std::isfinite(a) || !std::isfinite(b)) a = 0.0, b = 0.0;

  double span = 0;
  for (double x : p.x) span = std::max(span, std::fabs(x - fit.x0));
  span = std::max(span, 1e-300);

  Sums cur = sums(p, link, fit.x0, a, b, true);
  bool converged = false;
  int it = 0;
  for (; it < 200 && !converged; ++it) {
    // Newton direction for maximising l: solve (-H) d = g; shift -H by lambda I if it is not
    // positive definite (only possible for tabulated links).
    double haa = -cur.h, hab = -cur.hu, hbb = -cur.huu;
    const double ga = cur.s, gb = cur.su;
    double lambda = 0;
    double da = 0, db = 0;
    for (int tries = 0; tries < 60; ++tries) {
      const double A = haa + lambda, B = hbb + lambda * span * span;
      const double det = A * B - hab * hab;
      if (A > 0 && det > 0) {
        da = (B * ga - hab * gb) / det;
        db = (A * gb - hab * ga) / det;
        break;
      }
      lambda = lambda == 0 ? 1e-8 * (std::fabs(haa) + std::fabs(hbb) / (span * span) + 1.0)
                           : lambda * 10.0;
    }
    // Step halving until the log-likelihood does not decrease.
    double step = 1.0;
    Sums next;
    bool accepted = false;
    for (int half = 0; half < 60; ++half, step *= 0.5) {
      next = sums(p, link, fit.x0, a + step * da, b + step * db, true);
      if (std::isfinite(next.l) && next.l >= cur.l - 1e-12 * std::fabs(cur.l)) {
        accepted = true;
        break;
      }
    }
    if (!accepted) break;
    a += step * da;
    b += step * db;
    const bool small = std::fabs(step * da) <= 1e-11 * (1.0 + std::fabs(a)) &&
                       std::fabs(step * db) * span <= 1e-11 * (1.0 + std::fabs(a));
    cur = next;
    converged = small;
  }
  fit.iterations = it;
  // Converged, or stuck at a point where the gradient is negligible.
  const double grad = std::fabs(cur.s) + std::fabs(cur.su) / span;
  const double curvature = std::fabs(cur.h) + 1e-300;
  if (!converged && !(grad <= 1e-8 * curvature)) {
    fit.status = FIT_NOT_CONVERGED;
    return fit;
  }
  fit.a = a;
  fit.b = b;
  fit.loglik = cur.l;
  const double haa = -cur.h, hab = -cur.hu, hbb = -cur.huu;
  const double det = haa * hbb - hab * hab;
  if (det > 0 && haa > 0) {
    fit.cov_aa = hbb / det;
    fit.cov_ab = -hab / det;
    fit.cov_bb = haa / det;
  } else {
    fit.cov_aa = fit.cov_ab = fit.cov_bb = NaN;
  }
  fit.status = FIT_OK;
  return fit;
}

// ---- profile likelihood --------------------------------------------------------------------

namespace {

// max over b of l(eta_star + b (x_i - x_star)), by Newton's method from b (updated in place);
// returns the maximum and sets *score = sum_i w_i dl_i/deta_i there.
double profile_at(const BinomialPoints& p, const Link& link, double x_star, double eta_star,
                  double* b, double* score) {
  Sums cur = sums(p, link, x_star, eta_star, *b, true);
  for (int it = 0; it < 100; ++it) {
    const double g = cur.su, h = cur.huu;
    double step = h < 0 ? -g / h : (g > 0 ? 1.0 : -1.0) * std::max(1.0, std::fabs(*b));
    if (!std::isfinite(step)) break;
    Sums next;
    bool accepted = false;
    for (int half = 0; half < 60; ++half, step *= 0.5) {
      next = sums(p, link, x_star, eta_star, *b + step, true);
      if (std::isfinite(next.l) && next.l >= cur.l - 1e-13 * std::fabs(cur.l)) {
        accepted = true;
        break;
      }
    }
    if (!accepted) break;
    *b += step;
    cur = next;
    if (std::fabs(step) <= 1e-11 * (1.0 + std::fabs(*b))) break;
  }
  *score = cur.s;
  return cur.l;
}

}  // namespace

EtaInterval profile_interval(const BinomialPoints& p, const Link& link, const LineFit& fit,
                             double x_star, double critical) {
  EtaInterval out{NaN, NaN, NaN};
  if (fit.status != FIT_OK) return out;
  const double dx = x_star - fit.x0;
  const double eta_hat = fit.a + fit.b * dx;
  out.estimate = eta_hat;
  const double var = fit.cov_aa + 2.0 * dx * fit.cov_ab + dx * dx * fit.cov_bb;
  const double se = std::isfinite(var) && var > 0 ? std::sqrt(var) : 1.0;
  const double root_crit = std::sqrt(critical);

  auto solve_end = [&](double dir) {
    double inside = eta_hat, outside = NaN;
    double eta = eta_hat + dir * root_crit * se;
    double b = fit.b;
    for (int it = 0; it < 300; ++it) {
      if (std::fabs(eta) > ETA_LIMIT) {
        if (std::isnan(outside)) {
          // Is the profile deviance still below the critical value at the limit?
          double score = 0;
          const double limit = dir * ETA_LIMIT;
          const double d = 2.0 * (fit.loglik - profile_at(p, link, x_star, limit, &b, &score));
          if (!(d > critical)) return dir * INF;
          outside = limit;
        }
        eta = 0.5 * (inside + outside);
      }
      double score = 0;
      const double prof = profile_at(p, link, x_star, eta, &b, &score);
      const double f = 2.0 * (fit.loglik - prof) - critical;
      const double fp = -2.0 * score;
      if (f > 0) outside = eta; else inside = eta;
      if (std::fabs(f) <= 1e-9 * std::max(1.0, critical)) return eta;
      double next = eta - f / fp;
      const bool in_bracket = dir * (next - inside) > 0 &&
                              (std::isnan(outside) || dir * (outside - next) > 0);
      if (!std::isfinite(next) || !in_bracket) {
        next = std::isnan(outside) ? inside + dir * 2.0 * std::max(std::fabs(eta - eta_hat), se)
                                   : 0.5 * (inside + outside);
      }
      if (std::fabs(next - eta) <= 1e-12 * (1.0 + std::fabs(eta))) return next;
      if (!std::isnan(outside) && std::fabs(outside - inside) <= 1e-13 * (1.0 + std::fabs(eta))) {
        return 0.5 * (inside + outside);
      }
      eta = next;
    }
    return std::isnan(outside) ? dir * INF : 0.5 * (inside + outside);
  };
  out.high = solve_end(+1.0);
  out.low = solve_end(-1.0);
  return out;
}

}  // namespace mirage::forecast
