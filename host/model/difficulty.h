// Copyright (c) Mirage developers.
//! \file difficulty.h
//! Item difficulty on the host: the families of include/mirage/item_model.h as the user names
//! them (`--difficulty normal:1.5`), their quantile, CDF and density computed with the standard
//! library and Boost.Math (independently of the portable math the samplers use), and the
//! quadrature that turns a per-item quantity into its expectation over the items, which is
//! how every analytic value ("expected") of a run with difficulty is computed.
//!
//! Every family is a law of the logit shift d, with p_i(N) = sigmoid(logit(p(N)) + d_i):
//!   normal:SIGMA     d ~ Normal(0, SIGMA)                 quantile SIGMA Phi^-1(u)
//!   logistic:S       d ~ Logistic(0, S)                   quantile S log(u / (1 - u))
//!   kumaraswamy:A:B  d = logit(q), q ~ Kumaraswamy(A, B)  quantile logit((1 - (1-u)^(1/B))^(1/A))
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mirage {

//! A difficulty family and its parameters (item_model.h's DifficultyFamily numbering).
struct DifficultyModel {
  int32_t family = 0;  //!< DIFFICULTY_NONE, _NORMAL, _LOGISTIC or _KUMARASWAMY
  double a = 0.0;      //!< normal: SIGMA; logistic: S; kumaraswamy: A
  double b = 0.0;      //!< kumaraswamy: B (unused otherwise)

  bool none() const { return family == 0; }
};

//! Parses `none`, `normal:SIGMA`, `logistic:S` or `kumaraswamy:A:B` (SIGMA, S > 0 and <= 50;
//! A, B in [0.01, 100]); `normal:0` and `logistic:0` mean none. Throws std::invalid_argument
//! naming `option`, the value and what is allowed.
DifficultyModel parse_difficulty(const std::string& option, const std::string& text);

//! The canonical text of a model ("none", "normal:1.5", ...), parsed back exactly by
//! parse_difficulty (shortest round-trip doubles).
std::string to_string(const DifficultyModel& model);

//! The family's name: "none", "normal", "logistic" or "kumaraswamy".
std::string family_name(const DifficultyModel& model);

//! One sentence defining the model, with its formula, for file attributes and captions.
std::string difficulty_definition(const DifficultyModel& model);

//! The quantile of d at probability u in (0, 1), with `u_complement` = 1 - u given exactly by
//! the caller (so the upper tail keeps its accuracy). 0 for none.
double difficulty_quantile(const DifficultyModel& model, double u, double u_complement);

//! P(d <= x) and P(d > x) for the model (x may be +/-inf). For none: the step at 0.
double difficulty_cdf(const DifficultyModel& model, double x);
double difficulty_survival(const DifficultyModel& model, double x);

//! E[g(d)] over the items: the integral of g(D(u)) over u in (0, 1) by tanh-sinh quadrature
//! (Boost.Math) on [0, 1] split at `breaks` (values of d where g has a kink or a jump; they are
//! mapped to u by the CDF), each piece until the estimated relative error is below 1e-9
//! (EXPECTATION_TOLERANCE; tanh-sinh roughly doubles the correct digits per level, so the
//! last level is usually far more accurate, but only 1e-9 is promised and tested). For none, g(0).
//! g must be bounded and finite on the real line.
double expect_over_items(const DifficultyModel& model, const std::function<double(double)>& g,
                         const std::vector<double>& breaks = {});

}  // namespace mirage
