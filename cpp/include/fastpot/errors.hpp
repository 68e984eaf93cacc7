// Exception types of the fastpot core. They derive from standard exceptions so that
// bindings map them without special cases (invalid_argument -> ValueError, etc.).
#pragma once

#include <stdexcept>
#include <string>

namespace fastpot {

// Bad value of an argument (empty input, axis out of range, q outside [0, 1], ...).
class invalid_argument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Unsupported element type or memory layout.
class type_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

}  // namespace fastpot
