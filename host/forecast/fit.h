// Copyright (c) Mirage developers.
//! \file fit.h
//! The fitting engine of `mirage forecast` (docs/DESIGN.md §5.10): a binomial model whose
//! linear predictor is a straight line in log N,
//!
//!     y_i ~ Binomial(t_i, mu_i),   mu_i = F(eta_i),   eta_i = a + b (x_i - x0),   x_i = log N_i,
//!
//! i.e. a binomial generalised linear model in log N (McCullagh & Nelder 1989, ch. 4), fitted
//! by maximum likelihood with Newton's method, and profile-likelihood intervals for the linear
//! predictor eta(x*) = a + b (x* - x0) at any x* (Venzon & Moolgavkar 1988; Pawitan 2001,
//! ch. 3.4). Each point may carry a weight w_i = 1 / phi_i (a known dispersion: the log
//! likelihood becomes Wedderburn's (1974) quasi-likelihood sum_i w_i l_i).
//!
//! Links F (mu is the probability of the counted event):
//!   logit    mu = 1 / (1 + exp(-eta))                 (a logistic curve in log N)
//!   cloglog  mu = 1 - exp(-exp(eta))                  (complementary log-log: with mu the
//!            per-token error probability 1 - p and eta = log L, this is Mirage's model
//!            p = exp(-L), L = (N / c)^alpha: eta = alpha (log N - log c))
//!   table    mu(eta) given as tabulated log mu and log(1 - mu) on a uniform grid of eta,
//!            interpolated by natural cubic splines (used for the mean token error under
//!            item difficulty, whose link has no closed form)
//!
//! Existence: for links with a strictly increasing F from 0 to 1, the MLE is finite and unique
//! iff the counts are not (quasi-)completely separated along x (Silvapulle 1981; Albert &
//! Anderson 1984); fit_line checks this exactly before iterating and reports which case holds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mirage::forecast {

//! The log-probabilities of the counted event (mu) and of its complement (1 - mu) at one eta,
//! with their first and second derivatives in eta.
struct LinkValue {
  double log_mu, log_1m;      //!< log mu, log(1 - mu)
  double d_log_mu, d_log_1m;  //!< d/d eta
  double h_log_mu, h_log_1m;  //!< d^2/d eta^2
};

class Link {
 public:
  enum Kind { LOGIT, CLOGLOG, TABLE };
  static Link logit();
  static Link cloglog();
  //! A tabulated link: log mu and log(1 - mu) at eta = eta_min + j * step, j = 0..J-1
  //! (J >= 4), mu increasing in eta. Outside the grid both are extended linearly.
  static Link table(double eta_min, double step, std::vector<double> log_mu,
                    std::vector<double> log_1m);

  Kind kind() const { return kind_; }
  LinkValue at(double eta) const;
  double mean(double eta) const;     //!< mu(eta)
  double inverse(double mu) const;   //!< the eta with mu(eta) = mu, for mu in (0, 1)

 private:
  struct Spline {
    double x0 = 0, h = 1;
    std::vector<double> y, m;  // values and second derivatives (natural: m = 0 at the ends)
    void build();
    void eval(double x, double* value, double* d1, double* d2) const;
  };
  Kind kind_ = LOGIT;
  Spline log_mu_, log_1m_;
};

//! Counts at points x_i: y_i events of t_i trials (real numbers, 0 <= y_i <= t_i, t_i > 0),
//! weight w_i > 0 (1 for a plain binomial likelihood).
struct BinomialPoints {
  std::vector<double> x, events, trials, weight;
  void add(double x_i, double y_i, double t_i, double w_i = 1.0) {
    x.push_back(x_i);
    events.push_back(y_i);
    trials.push_back(t_i);
    weight.push_back(w_i);
  }
  size_t size() const { return x.size(); }
};

//! Why a fit has no estimate (stored as `status`, docs/FORMAT.md §8).
enum FitStatus : uint8_t {
  FIT_OK = 0,              //!< finite MLE
  FIT_ALL_ZERO = 1,        //!< no point has an event (e.g. exact match 0 at every fitted scale)
  FIT_ALL_FULL = 2,        //!< every point has y = t
  FIT_SEPARATED = 3,       //!< events and non-events separated along x: the MLE is at infinity
  FIT_NOT_APPLICABLE = 4,  //!< the method does not apply to this metric or model
  FIT_NOT_CONVERGED = 5,   //!< Newton's method did not converge (not expected; reported)
  FIT_TOO_FEW_POINTS = 6,  //!< fewer than 2 distinct x
};

//! A short name for a status ("ok", "all_zero", ...), as stored in the file's attributes.
std::string status_name(FitStatus status);

//! The MLE of the line eta = a + b (x - x0), x0 = the weighted mean of x.
struct LineFit {
  FitStatus status = FIT_NOT_CONVERGED;
  double x0 = 0, a = 0, b = 0;        //!< NaN unless status == FIT_OK
  double loglik = 0;                  //!< sum_i w_i (y_i log mu_i + (t_i - y_i) log(1 - mu_i))
  double cov_aa = 0, cov_ab = 0, cov_bb = 0;  //!< inverse observed information at the MLE
  int32_t iterations = 0;
  double eta(double x) const { return a + b * (x - x0); }
};

//! Which of FIT_OK, FIT_ALL_ZERO, FIT_ALL_FULL, FIT_SEPARATED, FIT_TOO_FEW_POINTS holds for
//! these points (exact check, no iteration).
FitStatus existence(const BinomialPoints& points);

//! The (quasi-)log-likelihood of the line (a, b) about x0.
double log_likelihood(const BinomialPoints& points, const Link& link, double x0, double a,
                      double b);

//! Fits the line by Newton's method with step halving from a least-squares start on the
//! empirical link values. The log-likelihood is concave in (a, b) for the logit and cloglog
//! links; for tabulated links a Levenberg-Marquardt shift keeps each step an ascent.
LineFit fit_line(const BinomialPoints& points, const Link& link);

//! An interval for eta(x*) and its estimate.
struct EtaInterval {
  double estimate, low, high;
};

//! The profile-likelihood interval {eta* : 2 (l_hat - max_b l(eta*, b)) <= critical} for the
//! linear predictor at x*, where the line is re-parametrised as eta_i = eta* + b (x_i - x*).
//! Each end is found by Newton's method on the profile deviance (its derivative is
//! -2 sum_i d l_i / d eta_i, by the envelope theorem) started from the Wald end, safeguarded
//! by bisection; the inner maximisation over b is a one-dimensional Newton iteration. An end
//! beyond |eta| = 60 (where the profile deviance never reaches the critical value) is +/-inf.
//! Requires fit.status == FIT_OK.
EtaInterval profile_interval(const BinomialPoints& points, const Link& link, const LineFit& fit,
                             double x_star, double critical);

}  // namespace mirage::forecast
