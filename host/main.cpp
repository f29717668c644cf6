// Copyright (c) Mirage developers.
// The mirage executable: parse, validate, run, report. The only place that catches.
#include <exception>
#include <iostream>
#include <stdexcept>

#include "cli.h"

int main(int argc, char** argv) {
  try {
    return mirage::cli_main(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::cerr << "mirage: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "mirage: error: " << e.what() << "\n";
    return 1;
  }
}
