// Copyright (c) Mirage developers.
#include "config/presets.h"

namespace mirage {

const std::vector<ModelFamily>& model_families() {
  static const std::vector<ModelFamily> families = {
      {"gpt3",
       {3.5e8, 1.3e9, 6.7e9, 2e11},
       "the four GPT-3/InstructGPT sizes of Schaeffer et al. 2023 (figures 2 and 3: ada, babbage, "
       "curie, davinci as the paper places them)",
       "Schaeffer, Miranda & Koyejo 2023, figure 2; sizes from Brown et al. 2020, table 2.1"},
      {"gpt3-full",
       {1.25e8, 3.5e8, 7.6e8, 1.3e9, 2.7e9, 6.7e9, 1.3e10, 1.75e11},
       "all eight GPT-3 models",
       "Brown et al. 2020, \"Language Models are Few-Shot Learners\", table 2.1"},
      {"lamda",
       {2e9, 8e9, 1.37e11},
       "the three LaMDA models of the LaMDA paper (BIG-bench evaluated the pre-trained LaMDA "
       "family under the name BIG-G: preset big-g)",
       "Thoppilan et al. 2022, \"LaMDA: Language Models for Dialog Applications\""},
      {"big-g",
       {2e6, 1.6e7, 5.3e7, 1.25e8, 2.44e8, 4.22e8, 1e9, 2e9, 4e9, 8e9, 2.7e10, 1.28e11},
       "BIG-bench's dense BIG-G models (the pre-trained LaMDA family, 2m..128b non-embedding "
       "parameters as BIG-bench names them), the grid of the LaMDA results in Schaeffer et al. "
       "2023, figure 6",
       "Srivastava et al. 2022, \"Beyond the Imitation Game\" (BIG-bench), model names 2m, 16m, "
       "53m, 125m, 244m, 422m, 1b, 2b, 4b, 8b, 27b, 128b"},
      {"palm",
       {8e9, 6.2e10, 5.4e11},
       "the three PaLM models",
       "Chowdhery et al. 2022, \"PaLM: Scaling Language Modeling with Pathways\", table 1"},
  };
  return families;
}

const ModelFamily* find_family(const std::string& name) {
  for (const ModelFamily& f : model_families()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string family_names() {
  std::string out;
  for (const ModelFamily& f : model_families()) out += (out.empty() ? "" : ", ") + f.name;
  return out;
}

}  // namespace mirage
