// Copyright (c) Mirage developers.
#include "model/difficulty.h"

#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <stdexcept>

namespace mirage {

DifficultyBins make_difficulty_bins(double sigma, int32_t bins) {
  if (bins < 1) throw std::invalid_argument("--difficulty-bins: at least 1 bin");
  DifficultyBins d;
  d.sigma = sigma;
  d.probability.resize(size_t(bins));
  d.representative.resize(size_t(bins));
  // Bin b holds the words u with floor(u B / 2^32) = b, i.e. ceil(b 2^32 / B) <= u <
  // ceil((b + 1) 2^32 / B): count them exactly.
  const uint64_t span = uint64_t{1} << 32;
  auto first_word = [&](uint64_t b) { return (b * span + uint64_t(bins) - 1) / uint64_t(bins); };
  const boost::math::normal_distribution<double> normal(0.0, 1.0);
  for (int32_t b = 0; b < bins; ++b) {
    d.probability[size_t(b)] =
        double(first_word(uint64_t(b) + 1) - first_word(uint64_t(b))) / double(span);
    d.representative[size_t(b)] =
        sigma == 0.0 ? 0.0 : sigma * boost::math::quantile(normal, (b + 0.5) / bins);
  }
  return d;
}

double shifted_probability(double p, double shift) {
  if (p <= 0.0) return 0.0;
  if (p >= 1.0) return 1.0;
  if (shift == 0.0) return p;
  const double logit = std::log(p) - std::log1p(-p) + shift;
  // sigmoid, written to stay accurate for large |logit|.
  return logit >= 0 ? 1.0 / (1.0 + std::exp(-logit)) : std::exp(logit) / (1.0 + std::exp(logit));
}

}  // namespace mirage
