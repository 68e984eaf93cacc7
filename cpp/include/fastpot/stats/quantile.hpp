// Order statistics shared by the quantile reduction and the aggregators.
#pragma once

#include <cstdint>
#include <vector>

namespace fastpot::detail {

// Ranks needed for numpy.quantile's linear method on n sorted values.
struct quantile_position {
  std::int64_t lower = 0;  // floor((n - 1) * q)
  std::int64_t upper = 0;  // min(lower + 1, n - 1)
  double fraction = 0.0;   // (n - 1) * q - lower
};
quantile_position locate_quantile(std::int64_t n, double q);

// numpy's _lerp: a + (b - a) * t for t < 0.5, else b - (b - a) * (1 - t).
double lerp_like_numpy(double a, double b, double t);

// q-quantile of `values` (reordered in place); values must be NaN-free. Empty input -> NaN.
double quantile_inplace(std::vector<double>& values, double q);
double median_inplace(std::vector<double>& values);

}  // namespace fastpot::detail
