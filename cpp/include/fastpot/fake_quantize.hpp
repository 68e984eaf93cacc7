// Statistics -> FakeQuantize parameters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace fastpot {

enum class fq_mode { symmetric, asymmetric };
enum class fq_kind { weights, activations };

fq_mode parse_fq_mode(const std::string& name);
fq_kind parse_fq_kind(const std::string& name);

struct fq_levels {
  std::int64_t level_low = 0;
  std::int64_t level_high = 0;
  std::int64_t levels = 0;
  bool is_signed = false;  // an explicit negative level_low was given
};

// Level range for `bits`: symmetric weights [-(2^b)/2 + 1, 2^b/2 - 1], everything else
// [-(2^b)/2, 2^b/2 - 1]; explicit bounds override; levels = |high| + |low| + 1.
fq_levels compute_levels(fq_mode mode, fq_kind kind, int bits,
                         std::optional<std::int64_t> level_low,
                         std::optional<std::int64_t> level_high);

// Fills input_low/high (output ranges are equal to them) for `size` elements from the
// aggregated min / max statistics, in float32 arithmetic in the order NumPy evaluates POT's
// formulas. `min_values` may be null for symmetric weights (only max is used there).
//  symmetric: M <- max(M, max(8e-5, 0.01 * max(M))); weights [-M, M]; activations [0, M]
//             if every min >= 0 and not signed, else [-M * L / (L - 2), M].
//  asymmetric: tiny-range guard (+-8e-4), zero forced into the range, zero-point alignment.
void fq_ranges(const float* min_values, const float* max_values, std::int64_t size, fq_mode mode,
               fq_kind kind, const fq_levels& levels, int bits, float* input_low,
               float* input_high);

}  // namespace fastpot
