#include "fastpot/fake_quantize.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "fastpot/errors.hpp"

namespace fastpot {

fq_mode parse_fq_mode(const std::string& name) {
  if (name == "symmetric") return fq_mode::symmetric;
  if (name == "asymmetric") return fq_mode::asymmetric;
  throw invalid_argument("mode: '" + name + "' is not one of symmetric, asymmetric");
}

fq_kind parse_fq_kind(const std::string& name) {
  if (name == "weights") return fq_kind::weights;
  if (name == "activations") return fq_kind::activations;
  throw invalid_argument("kind: '" + name + "' is not one of weights, activations");
}

fq_levels compute_levels(fq_mode mode, fq_kind kind, int bits,
                         std::optional<std::int64_t> level_low,
                         std::optional<std::int64_t> level_high) {
  if (bits < 1 || bits > 32) throw invalid_argument("bits: " + std::to_string(bits) + " is outside [1, 32]");
  const std::int64_t half = std::int64_t{1} << (bits - 1);
  fq_levels l;
  const bool narrow = mode == fq_mode::symmetric && kind == fq_kind::weights;
  l.level_low = level_low ? *level_low : (narrow ? -half + 1 : -half);
  l.level_high = level_high ? *level_high : half - 1;
  l.is_signed = level_low.has_value() && *level_low < 0;
  l.levels = std::llabs(l.level_high) + std::llabs(l.level_low) + 1;
  if (l.levels < 2) throw invalid_argument("level_low/level_high: fewer than 2 levels");
  return l;
}

namespace {

// POT's constants, as float32 (NumPy 1.x evaluated them against float32 arrays).
constexpr float kSymmetricFloor = 8e-5f;
constexpr float kRelativeFloor = 0.01f;
constexpr float kAsymmetricGuard = 8e-4f;

// Zero-point alignment: widen one end so that zero falls exactly on the integer grid.
void tune_asymmetric(float& lo, float& hi, int bits) {
  const float h = static_cast<float>((std::int64_t{1} << bits) - 1);
  const float scale = h / (hi - lo);
  const float zp = std::nearbyint(-lo * scale);  // round half to even, like np.round
  const float lo_a = zp < h ? zp / (zp - h) * hi : lo;   // keep hi, move lo
  const float hi_b = zp > 0.0f ? (zp - h) / zp * lo : hi;  // keep lo, move hi
  if (hi - lo_a > hi_b - lo)
    lo = lo_a;
  else
    hi = hi_b;
}

}  // namespace

void fq_ranges(const float* min_values, const float* max_values, std::int64_t size, fq_mode mode,
               fq_kind kind, const fq_levels& levels, int bits, float* input_low,
               float* input_high) {
  if (size <= 0) throw invalid_argument("max_values: empty input");
  if (mode == fq_mode::symmetric) {
    float largest = max_values[0];
    for (std::int64_t i = 1; i < size; ++i) largest = std::max(largest, max_values[i]);
    const float floor = std::max(kSymmetricFloor, kRelativeFloor * largest);
    bool unsigned_range = kind == fq_kind::activations && !levels.is_signed;
    if (unsigned_range) {
      if (min_values == nullptr) throw invalid_argument("min_values: required for activations");
      for (std::int64_t i = 0; i < size && unsigned_range; ++i)
        unsigned_range = min_values[i] >= 0.0f;
    }
    const auto l = static_cast<float>(levels.levels);
    for (std::int64_t i = 0; i < size; ++i) {
      const float m = std::max(max_values[i], floor);
      input_high[i] = m;
      if (kind == fq_kind::weights)
        input_low[i] = -m;
      else
        input_low[i] = unsigned_range ? 0.0f : -(m * l) / (l - 2.0f);
    }
    return;
  }
  if (min_values == nullptr) throw invalid_argument("min_values: required in asymmetric mode");
  for (std::int64_t i = 0; i < size; ++i) {
    float lo = min_values[i], hi = max_values[i];
    if (hi - lo <= kAsymmetricGuard) {
      hi += kAsymmetricGuard;
      lo -= kAsymmetricGuard;
    }
    lo = std::min(lo, 0.0f);
    hi = std::max(hi, 0.0f);
    tune_asymmetric(lo, hi, bits);
    input_low[i] = lo;
    input_high[i] = hi;
  }
}

}  // namespace fastpot
