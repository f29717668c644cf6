// Copyright (c) Mirage developers.
//! \file statistics.h
//! Host statistics of docs/DESIGN.md §5: confidence intervals for a binomial proportion
//! (exact_match) and for a mean (token_edit_distance, token_accuracy) per replicate, the
//! summary of an estimate across replicates, the emergence score of a curve over scales,
//! the exact coverage of an interval method, and the probability that a test set shows an
//! ability at all.
//!
//! Interval notation follows Brown, Cai & DasGupta (2001), "Interval Estimation for a
//! Binomial Proportion", Statistical Science 16(2):101-133: x successes in n trials,
//! phat = x / n, alpha = 1 - confidence, z = the 1 - alpha/2 quantile of N(0, 1).
//! Quantiles of the normal, Student-t and beta distributions come from Boost.Math.
//!
//! Every function throws std::invalid_argument, naming the argument, its value and what is
//! allowed, for an argument outside its stated range; nothing here exits or prints.
#pragma once

#include <array>
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace mirage {

//! Interval methods for a binomial proportion (Brown, Cai & DasGupta 2001).
enum class IntervalMethod {
  WILSON,           //!< Wilson (1927) score interval; the default
  CLOPPER_PEARSON,  //!< Clopper & Pearson (1934) "exact" interval, from beta quantiles
  JEFFREYS,         //!< equal-tailed Jeffreys-prior interval, Beta(x + 1/2, n - x + 1/2)
  AGRESTI_COULL,    //!< Agresti & Coull (1998) "add z^2/2 successes and failures"
  WALD,             //!< the textbook phat +/- z sqrt(phat (1 - phat) / n)
  // Appended after WALD so that the indices above keep their meaning.
  LOGIT,             //!< Wald interval on the log-odds scale (R binom::binom.logit)
  LIKELIHOOD_RATIO,  //!< profile-likelihood (likelihood-ratio test inversion) interval
  BLAKER,            //!< Blaker (2000) exact interval from the acceptability function
};

//! All proportion interval methods in declaration order: wilson, clopper-pearson, jeffreys,
//! agresti-coull, wald, logit, likelihood-ratio, blaker.
const std::vector<IntervalMethod>& all_interval_methods();

//! The method's command-line name: "wilson", "clopper-pearson", "jeffreys", "agresti-coull",
//! "wald", "logit", "likelihood-ratio" or "blaker".
std::string to_string(IntervalMethod method);

//! Inverse of to_string(IntervalMethod); the match is exact (lower case, hyphens). Throws
//! std::invalid_argument "--interval: unknown method '<name>'; allowed: wilson, ..." otherwise.
IntervalMethod parse_interval_method(const std::string& name);

//! Interval methods for a mean. STUDENT_T and NORMAL apply to any per-item values (see
//! mean_interval); the "-deff" methods need the per-item values to be token error counts
//! L - k in 0..L and are computed by token_mean_interval (stats/token_intervals.h) only.
enum class MeanIntervalMethod {
  STUDENT_T,  //!< mean +/- t_{n-1, 1-alpha/2} sd / sqrt(n)
  NORMAL,     //!< mean +/- z_{1-alpha/2} sd / sqrt(n)
  // Appended after NORMAL so that the indices above keep their meaning.
  WILSON_DEFF,           //!< Wilson score on the token proportion, Kish design effect; the
                         //!< default of the token metrics
  CLOPPER_PEARSON_DEFF,  //!< Korn & Graubard (1998) Clopper-Pearson with effective n
};

//! All mean interval methods in declaration order: student-t, normal, wilson-deff,
//! clopper-pearson-deff.
const std::vector<MeanIntervalMethod>& all_mean_interval_methods();

//! The method's command-line name: "student-t", "normal", "wilson-deff" or
//! "clopper-pearson-deff".
std::string to_string(MeanIntervalMethod method);

//! Inverse of to_string(MeanIntervalMethod); exact match. Throws std::invalid_argument
//! "--mean-interval: unknown method '<name>'; allowed: student-t, normal, wilson-deff,
//! clopper-pearson-deff" otherwise.
MeanIntervalMethod parse_mean_interval_method(const std::string& name);

//! A closed interval [low, high] in the units of the estimate. Both ends are NaN when the
//! interval is undefined.
struct Interval {
  double low;
  double high;
};

//! Two-sided confidence interval for a binomial proportion from x successes in n trials,
//! 0 <= x <= n, n >= 1, confidence in (0, 1) (e.g. 0.95). Returns 0 <= low <= high <= 1:
//! - WALD: phat +/- z sqrt(phat (1 - phat) / n), clipped to [0, 1]; at x = 0 or x = n it
//!   has zero width ([0, 0] or [1, 1]), the well-known failure of this interval.
//! - WILSON: (x + z^2/2) / (n + z^2) +/- z sqrt(n) / (n + z^2) sqrt(phat (1 - phat) +
//!   z^2 / (4n)); low is exactly 0 at x = 0 and high exactly 1 at x = n.
//! - AGRESTI_COULL: ptilde +/- z sqrt(ptilde (1 - ptilde) / ntilde) with ntilde = n + z^2,
//!   ptilde = (x + z^2/2) / ntilde, clipped to [0, 1].
//! - CLOPPER_PEARSON: low = Beta(x, n - x + 1) quantile at alpha/2 (0 at x = 0), high =
//!   Beta(x + 1, n - x) quantile at 1 - alpha/2 (1 at x = n).
//! - JEFFREYS: Beta(x + 1/2, n - x + 1/2) quantiles at alpha/2 and 1 - alpha/2, with low = 0
//!   at x = 0 and high = 1 at x = n (Brown, Cai & DasGupta 2001, section 4.1.2).
//! - LOGIT: the Wald interval for the log-odds, mapped back (Brown, Cai & DasGupta 2001,
//!   section 4.2): for 0 < x < n, expit(log(x / (n - x)) -/+ z sqrt(n / (x (n - x)))). The
//!   log-odds are infinite at x = 0 and x = n; there this interval takes the Clopper-Pearson
//!   ends, [0, 1 - (alpha/2)^(1/n)] at x = 0 and [(alpha/2)^(1/n), 1] at x = n, exactly as
//!   R's binom package does (binom.logit = binom.confint(method = "logit")). Unlike the
//!   other methods it is not monotone in x at high confidence: for large n its upper end is
//!   about e^z / n at x = 1 and 2 e^(z / sqrt 2) / n at x = 2, the latter smaller once z > 2.37
//!   (e.g. 99 %, n = 30: 0.3214 at x = 1, 0.3200 at x = 2), a property of the method.
//! - LIKELIHOOD_RATIO: the profile-likelihood interval {p : 2 (l(phat) - l(p)) <= z^2} with
//!   l(p) = x log p + (n - x) log(1 - p); z^2 is the confidence quantile of chi-square with 1
//!   degree of freedom. For 0 < x < n the ends are the roots of the deviance on either side of
//!   phat, found by TOMS 748 (Boost.Math) to within 4 machine epsilons (relative). Closed
//!   forms at the edges: [0, 1 - exp(-z^2 / (2n))] at x = 0, [exp(-z^2 / (2n)), 1] at x = n
//!   (R binom::binom.lrt with its default conf.adj = FALSE gives the same).
//! - BLAKER: Blaker (2000), "Confidence curves and improved exact confidence intervals for
//!   discrete distributions", Can. J. Stat. 28:783-798. With gamma(y, p) = min(P_p(X <= y),
//!   P_p(X >= y)) and the acceptability a(x, p) = P_p(gamma(X, p) <= gamma(x, p)), the
//!   interval is [inf, sup] of {p : a(x, p) > alpha} (the limits R's BlakerCI and exactci
//!   report). It lies inside Clopper-Pearson's interval, is exact (coverage >= confidence
//!   for every p), and has low = 0 at x = 0 and high = 1 at x = n. Computed without a grid
//!   search: below phat, a(x, p) = P(X >= x) + P(X <= j(p)) with j(p) the largest j < x whose
//!   lower tail is <= P(X >= x); on a stretch of constant j this is 1 - P(j < X < x), which
//!   first falls and then rises with p, and a(x, p) jumps to 2 P(X >= x) > alpha where j
//!   grows. So the lower end lies between Clopper-Pearson's lower end and the first jump and
//!   is that jump or the single root of a(x, p) = alpha before it (the upper end mirrors
//!   this); both roots by TOMS 748 to full double accuracy. About 20 to 60 incomplete-beta
//!   evaluations per end: roughly 10 to 100 microseconds, so callers cache by (n, x).
Interval proportion_interval(IntervalMethod method, int64_t x, int64_t n, double confidence);

//! Two-sided confidence interval for a mean from the sample mean, the sample standard
//! deviation sd (n - 1 denominator, sd >= 0 or NaN) and the sample size n >= 1; confidence
//! in (0, 1). STUDENT_T uses t with n - 1 degrees of freedom, NORMAL uses z. For n < 2 the
//! interval is {NaN, NaN} (sd is undefined); a NaN sd or mean gives {NaN, NaN}; sd == 0
//! gives {mean, mean}. The interval is not clipped to any range. Only STUDENT_T and NORMAL
//! are accepted: the "-deff" methods need token counts, so they throw std::invalid_argument
//! here (use token_mean_interval in stats/token_intervals.h, which also clips to [0, L]).
Interval mean_interval(MeanIntervalMethod method, double mean, double sd, int64_t n,
                       double confidence);

//! Mean and sample standard deviation of per-item values.
struct Moments {
  double mean;  //!< sum / n
  double sd;    //!< sample sd, n - 1 denominator; NaN when n < 2
};

//! Mean and sample sd (n - 1 denominator; NaN when n < 2) of n >= 1 integer per-item values
//! from their exact sum and sum of squares (sum_sq >= 0). The variance (n sum_sq - sum^2) /
//! (n (n - 1)) is formed in exact 128-bit integer arithmetic, so there is no cancellation
//! and it is never negative for consistent sums; any int64 inputs fit. Throws when
//! sum^2 > n sum_sq, which no set of n integers can produce.
Moments moments_from_sums(int64_t sum, int64_t sum_sq, int64_t n);

//! The prob-quantile, prob in [0, 1], of n >= 1 values sorted ascending (no NaN), by linear
//! interpolation between order statistics: Hyndman & Fan (1996) type 7, numpy's default.
//! With h = (n - 1) prob, j = floor(h): sorted[j] + (h - j) (sorted[j+1] - sorted[j]),
//! evaluated as numpy does. Infinite values: when the weight h - j is 0 or both neighbours
//! are equal the neighbour itself is returned (so two equal infinities give that infinity);
//! one infinite neighbour gives that infinity; -inf and +inf as neighbours give NaN.
//! Throws if sorted is null, n == 0, prob is outside [0, 1], or the data are not sorted or
//! contain NaN.
double quantile_sorted(const double* sorted, size_t n, double prob);

//! quantile_sorted at 0.025, 0.5 and 0.975 of `values` in any order, by selection instead of
//! a sort (the same order statistics, interpolated the same way: the same bits as sorting and
//! calling quantile_sorted). Reorders `values`. Throws if `values` is empty or holds a NaN.
std::array<double, 3> quantiles_025_500_975(std::vector<double>& values);

//! Summary across replicates of one (scale, length, test size) and metric.
struct ReplicateSummary {
  double mean;           //!< mean of the estimates
  double sd;             //!< sd of the estimates, R - 1 denominator (NaN with < 2 estimates)
  double q025;           //!< 2.5 % quantile of the estimates (type 7)
  double q500;           //!< median of the estimates (type 7)
  double q975;           //!< 97.5 % quantile of the estimates (type 7)
  double p_zero;         //!< fraction of replicates whose estimate is exactly 0
  double coverage;       //!< fraction of replicates with low <= expected <= high; NaN if
                         //!< no replicate has an interval (see summarize_replicates)
  double mean_ci_width;  //!< mean of high - low over replicates with finite intervals
};

//! Summary across R = replicates >= 1 replicates of their estimates and interval ends
//! (arrays of length R) against the analytic value `expected`:
//! - mean, sd (R - 1 denominator) and the 2.5 / 50 / 97.5 % type-7 quantiles use only the
//!   estimates that are not NaN; each is NaN when too few remain (mean and quantiles need
//!   1, sd needs 2).
//! - p_zero = (number of estimates == 0) / R; a NaN estimate is not zero.
//! - coverage = (number of replicates with low <= expected <= high) / R; a replicate whose
//!   interval has a NaN end does not cover. NaN when expected is NaN, and NaN when EVERY
//!   replicate's interval has a NaN end: the method then gives no interval at all (e.g.
//!   student-t at n = 1), which is not the same as intervals that miss, and 0 would read
//!   as a total failure. This matches mean_ci_width, NaN when no interval is finite.
//!   Callers that tabulate coverage across methods should show such cells as "undefined",
//!   not average them in; when only some replicates have NaN ends, those count as misses
//!   (the denominator stays R).
//! - mean_ci_width = mean of (high - low) over replicates whose low and high are both
//!   finite; NaN when there are none.
ReplicateSummary summarize_replicates(const double* estimate, const double* low, const double* high,
                                      size_t replicates, double expected);

//! summarize_replicates, the same bits, for estimates that are a monotone function of an
//! integer key per replicate (an estimate x / n of a count x; 1 - E / (n L) of an error tally
//! E): nondecreasing in key[r], or nonincreasing with `descending`, and equal for equal keys.
//! The quantiles then come from a histogram of the keys instead of selections over the
//! estimates (linear time, no reordering). Falls back to summarize_replicates where a key
//! histogram would be larger than a few times `replicates` or an estimate is NaN.
ReplicateSummary summarize_replicates_keyed(const double* estimate, const double* low,
                                            const double* high, size_t replicates,
                                            double expected, const int64_t* key, bool descending);

//! The coverage and mean width of summarize_replicates alone (the same values, without the
//! estimates' mean, sd and quantiles): for comparisons of interval methods.
struct CoverageWidth {
  double coverage;
  double mean_ci_width;
};
CoverageWidth coverage_and_width(const double* low, const double* high, size_t replicates,
                                 double expected);

//! coverage_and_width one interval at a time, for callers that compute intervals on the fly
//! (the interval comparison): add() every replicate's interval in replicate order, then
//! result(). The same sums in the same order, so the same bits.
class CoverageWidthSums {
 public:
  void add(double low, double high, double expected) {
    add_counts(low, high, expected, 1);
    add_width(width_of(low, high));
  }
  //! add() in two parts, for a caller that tabulates the intervals by an integer key of the
  //! replicates: the counts of `count` replicates whose interval is [low, high], without their
  //! widths, and each replicate's width_of(low, high) by add_width in replicate order (the
  //! sum's bits depend on it). The width of a non-finite interval is +0, which leaves the sum
  //! (never -0) as it is.
  void add_counts(double low, double high, double expected, size_t count) {
    // A NaN end makes both comparisons false: the replicate does not cover. (Bitwise & and
    // no branch: whether a replicate covers is as random as the replicates.)
    covering_ += ((low <= expected) & (expected <= high)) ? count : 0;
    if (!std::isnan(low) && !std::isnan(high)) defined_ += count;
    if (std::isfinite(low) && std::isfinite(high)) finite_ += count;
  }
  static double width_of(double low, double high) {
    return std::isfinite(low) && std::isfinite(high) ? high - low : 0.0;
  }
  void add_width(double width) { width_sum_ += width; }
  CoverageWidth result(size_t replicates, double expected) const {
    constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
    CoverageWidth out;
    out.coverage = std::isnan(expected) || defined_ == 0
                       ? NaN
                       : static_cast<double>(covering_) / static_cast<double>(replicates);
    out.mean_ci_width = finite_ == 0 ? NaN : width_sum_ / static_cast<double>(finite_);
    return out;
  }

 private:
  size_t covering_ = 0, defined_ = 0, finite_ = 0;
  double width_sum_ = 0.0;
};

//! The emergence score (BIG-bench's "breakthroughness": Srivastava et al. 2022, "Beyond the
//! Imitation Game"; as used by Schaeffer, Miranda & Koyejo 2023, section 4) of a curve
//! y_0..y_{count-1} ordered by increasing scale:
//!   sign(argmax y - argmin y) (max y - min y) / sqrt(median_{i=1..count-1} (y_i - y_{i-1})^2)
//! argmax and argmin take the FIRST index attaining the max / min; the median of an even
//! number of squared steps is the mean of the two middle ones. Dimensionless.
//! - count < 2: NaN. Any NaN or infinite y: NaN.
//! - A constant curve: 0.
//! - Zero median step with a nonzero range (most steps are flat, a few jump): +infinity or
//!   -infinity with the sign above, i.e. a pure jump is infinitely "emergent".
//! Higher y must mean better: pass y = -distance for token_edit_distance.
//! Throws if y is null while count > 0.
double emergence_score(const double* y, size_t count);

//! Exact coverage probability of an interval method for X ~ Binomial(n, p): the sum over
//! x = 0..n of P(X = x) [low(x) <= p <= high(x)], with n >= 1, p in [0, 1], confidence in
//! (0, 1). Only the central x whose probabilities matter are visited (O(sqrt(n p (1 - p)))
//! intervals, so n = 1e5 takes milliseconds); the skipped tails hold less than 2e-14 of
//! probability (a bound from the log-concavity of the binomial pmf), so the result is
//! within 1e-12 of the full sum.
double exact_binomial_coverage(IntervalMethod method, int64_t n, double p, double confidence);

//! Probability, in [0, 1], that a test set of test_size >= 0 items shows at least one exact
//! match when each item is exactly right with probability accuracy in [0, 1] (accuracy =
//! p^L): 1 - (1 - accuracy)^test_size, evaluated as -expm1(test_size log1p(-accuracy)) so
//! that it stays accurate for tiny accuracy.
double visible_probability(double accuracy, int64_t test_size);

//! The smallest test size n with visible_probability(accuracy, n) >= 1/2, for accuracy in
//! [0, 1]: ceil(log(1/2) / log1p(-accuracy)), checked against visible_probability so that
//! rounding cannot move it by one; +infinity when accuracy == 0; 1 when accuracy >= 1/2.
//! Returned as a double because it can exceed any integer type (accuracy = 1e-300).
double test_size_for_visibility(double accuracy);

//! The unbiased estimator of pass@k from c correct attempts out of A (Chen et al. 2021,
//! "Evaluating Large Language Models Trained on Code", eq. 1): 1 - C(A - c, k) / C(A, k), the
//! probability that k of the A attempts drawn without replacement contain a correct one.
//! Evaluated as their stable product 1 - prod_{i = A-c+1}^{A} (1 - k / i); exactly 1 when
//! A - c < k and exactly 0 when c = 0. Requires 0 <= c <= A and 1 <= k <= A (else throws
//! std::invalid_argument).
double pass_at_k_estimator(int32_t attempts, int32_t correct, int32_t k);

//! pass@k of one test set from its histogram of correct attempts (histogram[c] items with c of
//! their A = bins - 1 attempts right): the mean over the n = sum histogram items of
//! pass_at_k_estimator, and its interval (docs/DESIGN.md §5.2): Wilson's score interval with
//! Kish's effective number of items n_eff = Q (1 - Q) / V, Q the mean and V the (1/n)
//! variance of the per-item values v in [0, 1], truncated to [n, n A] (n where Q is 0 or 1):
//! for 0/1 values (k = A) it is Wilson's interval on n items; lower exactly 0 at Q = 0, upper
//! exactly 1 at Q = 1. Sums in long double, in the fixed order c = 0..A.
struct PassAtK {
  double estimate;
  Interval interval;
};
PassAtK pass_at_k(const int64_t* histogram, int32_t bins, int32_t k, double confidence);

//! Sampling until success (PassUntil; docs/DESIGN.md §5.3) of one test set of n items from its
//! tallies: s items solved within the budget, `attempts` = sum t_i the attempts used,
//! `attempts_sq` = sum t_i^2, `solved_attempts` = sum y_i t_i. The estimate is the censored
//! geometric maximum likelihood estimate of a common success rate, q = s / sum t_i (each
//! attempt is a Bernoulli(q) trial and the likelihood q^s (1 - q)^(sum t - s) is the binomial
//! one, whatever the stopping rule). The interval is Wilson's score interval on W effective
//! attempts, W = q (1 - q) / V with V the ratio-estimator (cluster-robust) variance
//! n / (n - 1) sum (y_i - q t_i)^2 / (sum t_i)^2, at least 1 (W = sum t_i, the homogeneous
//! Fisher information, where q is 0 or 1 or n = 1; without difficulty W is close to sum t_i,
//! with it smaller). Lower bound exactly 0 at s = 0. effective_attempts is W.
struct UntilSuccess {
  double estimate;
  Interval interval;
  double effective_attempts;
};
UntilSuccess until_success(int64_t n, int64_t solved, int64_t attempts, int64_t attempts_sq,
                           int64_t solved_attempts, double confidence);

}  // namespace mirage
