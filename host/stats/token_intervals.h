// Copyright (c) Mirage developers.
//! \file token_intervals.h
//! Intervals for the linear metrics that respect their range, their exact coverage, and
//! intervals for differences between scales (docs/DESIGN.md §5):
//! - token_mean_interval: the interval for the per-item mean token edit distance
//!   d = L - k in [0, L] from a cell's integer tallies, by Student-t, normal, or the
//!   design-effect intervals "wilson-deff" and "clopper-pearson-deff" that treat items as
//!   clusters of L token trials; always inside [0, L].
//! - exact_mean_coverage: the exact coverage of those intervals for a given per-item
//!   distribution of k, by dynamic programming over the distribution of the tallies.
//! - newcombe_difference and mover_difference: intervals for a difference of two estimates
//!   (the jump between adjacent scales) from the two intervals (MOVER).
//!
//! Notation as in statistics.h: n items, length L, E = sum of (L - k) over items ("token
//! errors"), E2 = sum of (L - k)^2, alpha = 1 - confidence, z = the 1 - alpha/2 normal
//! quantile. Token accuracy is 1 - d / L, so its interval is [1 - high / L, 1 - low / L].
//!
//! Every function throws std::invalid_argument, naming the argument, its value and what is
//! allowed, for an argument outside its stated range; nothing here exits or prints.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "stats/statistics.h"

namespace mirage {

//! The effective number of token trials of a cell for the "-deff" methods: n_eff =
//! Phat (1 - Phat) / vhat (Kish 1965), Phat = 1 - E / (n L) the token accuracy and vhat =
//! s^2 / n with s^2 the sample variance (n - 1 denominator) of the per-item accuracies
//! k / L; in exact integer arithmetic n_eff = (nL - E) E (n - 1) / (n E2 - E^2). The design
//! effect deff = nL / n_eff is truncated below at 1, i.e. n_eff <= nL, and n_eff = nL when
//! Phat is 0 or 1, when vhat = 0 (every item has the same k), and when n = 1 (no variance
//! estimate: deff = 1, n_eff = L). Arguments as for token_mean_interval. Returns a value in
//! (0, nL].
double token_effective_trials(int64_t errors, int64_t errors_sq, int64_t n, int32_t length);

//! Two-sided confidence interval for the per-item mean of d = L - k (the token edit
//! distance), from a cell's tallies: errors E = sum of d, errors_sq E2 = sum of d^2 over
//! n >= 1 items of length L >= 1 (nL <= 2^53), confidence in (0, 1). It throws for tallies
//! no n values in 0..L can have: unless 0 <= E <= nL, E2 - E is even, and E2 lies between
//! the least (values as equal as possible) and the largest (as many L's as possible) sum of
//! squares of n such values with sum E. The result always satisfies 0 <= low <= E / n <=
//! high <= L (or is {NaN, NaN}).
//! - STUDENT_T, NORMAL: mean_interval(method, E / n, sd, n, confidence) with mean and sd
//!   from moments_from_sums, then clipped to [0, L]. As before: {NaN, NaN} for n < 2, and
//!   zero width ({mean, mean}) when every item has the same d.
//! - WILSON_DEFF: the Wilson (1927) score interval for the token proportion with
//!   n_eff = token_effective_trials(...) trials in place of nL (Kish's (1965) design
//!   effect for items as clusters of L tokens; plain Wilson on nL tokens when deff = 1).
//!   Computed on the token error rate Q = E / (nL) (Wilson is equivariant under
//!   P -> 1 - P) and scaled by L: with w = n_eff, centre (Q + z^2 / (2w)) / (1 + z^2 / w)
//!   and half-width z / (1 + z^2 / w) sqrt(Q (1 - Q) / w + z^2 / (4 w^2)). low is exactly
//!   0 when E = 0 and high exactly L when E = nL. Defined for n = 1.
//! - CLOPPER_PEARSON_DEFF: Korn & Graubard (1998), "Confidence intervals for proportions
//!   with small expected number of positive counts estimated from survey data", Survey
//!   Methodology 24:193-201: Clopper-Pearson with the effective sample size, i.e. Beta
//!   quantiles with non-integer x* = n* Q and n*: low = Beta(x*, n* - x* + 1) at alpha/2 (0
//!   when E = 0), high = Beta(x* + 1, n* - x*) at 1 - alpha/2 (1 when E = nL), times L. The
//!   variant implemented is their degrees-of-freedom-adjusted one, as R's survey package
//!   computes it (svyciprop(method = "beta"), survey 4.1): n* = n_eff (t_{nL-1} / t_{n-1})^2
//!   with t_{v} the 1 - alpha/2 quantile of Student's t with v degrees of freedom (nL token
//!   observations in n clusters); the factor -> (z / t_{n-1})^2 for large nL. n_eff is
//!   truncated at nL first (survey does not truncate). For n = 1 there are no degrees of
//!   freedom to adjust: n* = L.
//! The "-deff" intervals never have zero width, also when every item agrees, and are not
//! NaN for n = 1.
//! Cost per call (Release, one core, measured at n = 1000, L = 5): STUDENT_T, NORMAL and
//! WILSON_DEFF about 0.05 microseconds -- the critical values are memoized per thread, so a
//! change of (n, confidence) costs one Boost quantile (~1 microsecond) -- and no allocation.
//! CLOPPER_PEARSON_DEFF needs two Beta quantiles with non-integer parameters (Boost, without
//! long-double promotion): about 2 microseconds, more for tiny n_eff; a caller reducing
//! millions of cells may cache it by (E, E2) per (n, L).
Interval token_mean_interval(MeanIntervalMethod method, int64_t errors, int64_t errors_sq,
                             int64_t n, int32_t length, double confidence);

//! token_mean_interval for many cells of one (method, n, L, confidence), as a reduction needs
//! it: the arguments are checked and the critical values found once, by the constructor (which
//! throws as token_mean_interval does), so at() costs only the interval's own arithmetic.
//! at() does not check the tallies: they must be ones that n items of length L can have
//! (sampled tallies always are). Bit-identical to token_mean_interval.
class TokenMeanIntervals {
 public:
  TokenMeanIntervals(MeanIntervalMethod method, int64_t n, int32_t length, double confidence);
  Interval at(int64_t errors, int64_t errors_sq) const;
  MeanIntervalMethod method() const { return method_; }
  //! CLOPPER_PEARSON_DEFF: the effective trials n* of the tallies (the Korn-Graubard n_eff,
  //! truncated at nL, times the degrees-of-freedom factor). Its interval depends on the
  //! tallies only through E and n*: at() of two tallies with the same E and the same n* (as a
  //! double) is the same interval. Every tally whose n_eff is truncated shares its E's n*.
  double clopper_pearson_trials(int64_t errors, int64_t errors_sq) const;

 private:
  MeanIntervalMethod method_;
  int64_t n_;
  int32_t length_;
  double confidence_;
  double z_, t_items_, t_tokens_;  // the critical values the method needs (NaN otherwise)
};

//! How many lookups ahead a loop over a cell's replicates calls TallyCache::prefetch (measured
//! on the 20,000-replicate sweep: 4, 8, 16 and 32 alike).
constexpr int32_t TALLY_PREFETCH_AHEAD = 8;

//! The slot hash of the tally caches and memos below.
inline size_t tally_hash(int64_t errors, int64_t errors_sq) {
  uint64_t h = uint64_t(errors) * 0x9E3779B97F4A7C15ull ^ uint64_t(errors_sq);
  h *= 0xBF58476D1CE4E5B9ull;
  return size_t(h ^ (h >> 31));
}

//! A cache of values that depend only on a cell's tallies (E, E2) >= 0: direct-mapped, a
//! fixed number of slots (a power of two), each holding the last tallies looked up there. For
//! the cheap intervals, whose tallies repeat within a cell's replicates and rarely across
//! scales: on the 20,000-replicate sweep, of the 6.3e6 lookups of the edit distance's
//! intervals (0.30e6 distinct tallies) a cache of 8,192 slots computes 0.50e6, where a memo
//! keeping the first 4,096 tallies of each (L, n) computed 2.24e6. The values are the same
//! with or without it.
template <class V>
class TallyCache {
 public:
  //! `slots`: a power of two >= 1 (throws std::invalid_argument otherwise); the table is
  //! allocated on the first get().
  explicit TallyCache(size_t slots) : size_(slots) {
    if (slots == 0 || (slots & (slots - 1)) != 0) {
      throw std::invalid_argument("TallyCache: slots = " + std::to_string(slots) +
                                  "; must be a power of two >= 1");
    }
  }

  //! Asks the CPU to fetch the slot of (errors, errors_sq), for a caller that knows its next
  //! tallies a few lookups ahead.
  void prefetch(int64_t errors, int64_t errors_sq) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[tally_hash(errors, errors_sq) & (size_ - 1)]);
  }

  //! The value of (errors, errors_sq): from its slot, or compute() (then kept in the slot).
  template <class Compute>
  V get(int64_t errors, int64_t errors_sq, Compute compute) {
    if (slots_.empty()) slots_.resize(size_);
    Slot& slot = slots_[tally_hash(errors, errors_sq) & (size_ - 1)];
    if (slot.errors == errors && slot.errors_sq == errors_sq) return slot.value;
    const V value = compute();
    slot = Slot{errors, errors_sq, value};
    return value;
  }

 private:
  struct Slot {
    int64_t errors = -1;  // empty: tallies are >= 0
    int64_t errors_sq = 0;
    V value{};
  };
  size_t size_;
  std::vector<Slot> slots_;
};

//! A memo of costly values keyed by two integers >= 0 (a cell's tallies, or the errors and the
//! bits of an effective number of trials), every value computed once: open addressing with
//! linear probing, at most half full. The values are the same with or without it.
template <class V>
class TallyMemo {
 public:
  //! The value of (errors, errors_sq): stored, or compute() (then stored).
  template <class Compute>
  V get(int64_t errors, int64_t errors_sq, Compute compute) {
    if (slots_.empty()) grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = tally_hash(errors, errors_sq) & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.errors == errors && slot.errors_sq == errors_sq) return slot.value;
      if (slot.errors < 0) {  // empty (keys are >= 0): not stored
        const V value = compute();
        slot = Slot{errors, errors_sq, value};
        ++used_;
        if (2 * used_ > slots_.size()) grow();
        return value;
      }
    }
  }
  //! The values stored.
  size_t size() const { return used_; }

 private:
  struct Slot {
    int64_t errors = -1;
    int64_t errors_sq = 0;
    V value{};
  };
  void grow() {
    std::vector<Slot> old(std::max<size_t>(1024, 2 * slots_.size()));  // a power of two
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.errors < 0) continue;
      size_t i = tally_hash(slot.errors, slot.errors_sq) & mask;
      while (slots_[i].errors >= 0) i = (i + 1) & mask;
      slots_[i] = slot;
    }
  }
  std::vector<Slot> slots_;
  size_t used_ = 0;
};

//! TokenMeanIntervals::at through a TallyCache of `cache_slots` slots, and for
//! CLOPPER_PEARSON_DEFF, whose intervals are costly, a TallyMemo by (E, n*)
//! (TokenMeanIntervals::clopper_pearson_trials) behind it that computes each once: on the
//! 20,000-replicate sweep the 301,000 distinct (E, E2) of its 15 (L, n) have 166,000 distinct
//! (E, n*), so 45 % fewer pairs of Beta quantiles than one per distinct (E, E2). The same bits
//! as TokenMeanIntervals::at.
class MemoTokenIntervals {
 public:
  MemoTokenIntervals(MeanIntervalMethod method, int64_t n, int32_t length, double confidence,
                     size_t cache_slots);
  Interval at(int64_t errors, int64_t errors_sq);
  void prefetch(int64_t errors, int64_t errors_sq) const { cache_.prefetch(errors, errors_sq); }

 private:
  TokenMeanIntervals intervals_;
  TallyCache<Interval> cache_;
  TallyMemo<Interval> by_trials_;  // keyed by (E, the bits of n*)
};

//! The STUDENT_T and NORMAL intervals of the same tallies from one evaluation of their
//! moments (moments_from_sums): the same bits as TokenMeanIntervals(STUDENT_T, ...).at and
//! TokenMeanIntervals(NORMAL, ...).at, for a reduction that compares both.
class TokenMomentIntervals {
 public:
  TokenMomentIntervals(int64_t n, int32_t length, double confidence);
  void at(int64_t errors, int64_t errors_sq, Interval* student_t, Interval* normal) const;

 private:
  int64_t n_;
  int32_t length_;
  double t_items_, z_;
};

//! Work bounds of exact_mean_coverage for L >= 2, above which it returns NaN instead of
//! working (see exact_mean_coverage_feasible): at most EXACT_MEAN_COVERAGE_MAX_STATES
//! (E, E2) states S, and n (L + 1) S <= EXACT_MEAN_COVERAGE_MAX_WORK, an upper bound on the
//! multiply-adds of the dynamic programme (about 3 times the actual count).
constexpr int64_t EXACT_MEAN_COVERAGE_MAX_STATES = 1000000;
constexpr int64_t EXACT_MEAN_COVERAGE_MAX_WORK = 1000000000;

//! Whether exact_mean_coverage(., ., length, n, ...) is within its work bounds; n >= 1,
//! length >= 1 (throws otherwise). Always true for L = 1 (a binomial sum over its
//! O(sqrt(n)) central terms: 10 to 40 ms at n = 1e6). For L >= 2, let S = the number of
//! pairs (E, E2) with E in 0..nL and E2 of E's parity between the least and the largest
//! sum of squares of n values in 0..L with sum E (S = (n + 1)(n + 2) / 2 for L = 2,
//! ~ n^2 L^3 / 12 beyond); the call is feasible when S <= 1e6 and n (L + 1) S <= 1e9:
//! n <= 872 at L = 2, n <= 499 at L = 3, n <= 342 at L = 4, n <= 255 at L = 5, n <= 103
//! at L = 10. So test sizes 10 and 100 are feasible up to L = 10, and 1000 only at L = 1.
//! A feasible call takes at most about 0.25 s (Release, one core, any method); n <= 100 at
//! L <= 5 about 10 ms. The predicate costs O(min(nL, rows until S passes 1e6)) integer
//! operations.
bool exact_mean_coverage_feasible(int64_t n, int32_t length);

//! Exact coverage probability of token_mean_interval(method, E, E2, n, L, confidence) for
//! the mean truth of d = L - k, when the n items are independent and each has k = j
//! correct tokens with probability k_pmf[j], j = 0..L (k_pmf has L + 1 entries, each >= 0,
//! summing to 1 within 1e-9; it may be a mixture over item difficulties, which the caller
//! folds in). truth in [0, L] is the caller's true mean of d (normally sum_j (L - j)
//! k_pmf[j]; it is not checked against k_pmf). Returns
//!   sum over (E, E2) of P(E, E2) [low(E, E2) <= truth <= high(E, E2)]
//! where a NaN interval does not cover; NaN when the interval is NaN for every outcome of
//! positive probability (student-t and normal at n = 1), and NaN when
//! !exact_mean_coverage_feasible(n, length).
//! Method: dynamic programming over items, one item at a time, on the distribution of
//! (E, E2); states with equal (E, E2) merge their probabilities. Instead of a hash map the
//! states are held densely: a row per E over the E2 of E's parity between the least and the
//! largest sum of squares, so adding an item is L + 1 vectorisable shifted adds per row.
//! For L = 1 (E2 = E, E binomial) the central binomial terms are summed directly. Outcomes
//! whose probability is below 1e-14 / S are skipped without computing their interval (at
//! most 1e-14 in all), and for clopper-pearson-deff whether an interval covers is decided
//! from the Beta CDFs at truth / L (the quantile's defining property) rather than by
//! inverting them; only ties within rounding can differ from token_mean_interval. Every
//! probability is a sum of positive products, so the result is within ~1e-13 of the exact
//! sum. Time: ~n (L + 1) S / 3 multiply-adds plus one interval per outcome that matters.
double exact_mean_coverage(MeanIntervalMethod method, const double* k_pmf, int32_t length,
                           int64_t n, double confidence, double truth);

//! Confidence interval for p1 - p2 from x1 of n1 and x2 of n2 independent Bernoulli trials:
//! Newcombe (1998), "Interval estimation for the difference between independent
//! proportions: comparison of eleven methods", Stat. Med. 17:873-890, method 10 (the hybrid
//! score interval), i.e. mover_difference of the two Wilson intervals:
//!   low  = (p1 - p2) - sqrt((p1 - l1)^2 + (u2 - p2)^2),
//!   high = (p1 - p2) + sqrt((u1 - p1)^2 + (p2 - l2)^2).
//! This is what statsmodels computes for confint_proportions_2indep(count1, nobs1, count2,
//! nobs2, method = "newcomb", compare = "diff") (statsmodels 0.15), including x = 0 and
//! x = n, where the Wilson ends are 0 and 1 (statsmodels clips them to [0, 1]; ours are
//! exactly 0 and 1) and no further adjustment is made. -1 <= low <= p1 - p2 <= high <= 1.
//! 0 <= x1 <= n1, 0 <= x2 <= n2, n1, n2 >= 1, confidence in (0, 1).
Interval newcombe_difference(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double confidence);

//! The MOVER interval (Zou & Donner 2008, "Construction of confidence limits about effect
//! measures: a general approach", Stat. Med. 27:1693-1702) for theta1 - theta2
//! from two independent estimates and their intervals [l1, u1] and [l2, u2]:
//!   low  = (est1 - est2) - sqrt((est1 - l1)^2 + (u2 - est2)^2),
//!   high = (est1 - est2) + sqrt((u1 - est1)^2 + (est2 - l2)^2).
//! For the linear metrics pass token_mean_interval's intervals (or their token-accuracy
//! images). Returns {NaN, NaN} when any of est1, est2 or an interval end is NaN. Otherwise
//! each interval must contain its estimate, l <= est <= u (throws if not); infinite ends
//! give infinite ends.
Interval mover_difference(double est1, Interval ci1, double est2, Interval ci2);

}  // namespace mirage
