// Copyright (c) Mirage developers.
//! \file presets.h
//! Named model families: the parameter counts of real families of language models, so that
//! sweeps and the meta-analysis evaluate a task on the sparse scale grids that benchmarks
//! actually have (the emergence score depends on the grid: see the README).
#pragma once

#include <string>
#include <vector>

namespace mirage {

//! One model family: its name on the command line, the sizes of its models in parameters
//! (strictly increasing), and where they come from.
struct ModelFamily {
  std::string name;
  std::vector<double> scales;
  std::string description;  //!< one line: what the family is
  std::string source;       //!< the publication that gives the sizes
};

//! Every preset, in the order `mirage info` lists them: gpt3, gpt3-full, lamda, big-g, palm.
const std::vector<ModelFamily>& model_families();

//! The family called `name`, or nullptr.
const ModelFamily* find_family(const std::string& name);

//! The preset names joined by ", " (for messages).
std::string family_names();

}  // namespace mirage
