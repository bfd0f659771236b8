// What the unit tests share: an InputError expectation naming every needle.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/error.h"

namespace clues::testing {

// Runs f, expects InputError whose message contains every needle.
template <typename F>
void expect_input_error(F f, std::vector<std::string> needles) {
  try {
    f();
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

}  // namespace clues::testing
