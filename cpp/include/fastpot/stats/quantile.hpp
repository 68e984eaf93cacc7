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

// q-quantile / median of `values` (reordered in place), as numpy.quantile / numpy.median:
// NaN if any value is NaN, or if the input is empty. +-inf are ordinary values (the
// interpolation follows numpy's formula, so inf - inf gives NaN there as in NumPy).
double quantile_inplace(std::vector<double>& values, double q);
double median_inplace(std::vector<double>& values);
// The same for values known to hold no NaN (no scan for it). NaN would break the strict weak
// order std::nth_element relies on: callers must have checked.
double quantile_of_nan_free(std::vector<double>& values, double q);
double median_of_nan_free(std::vector<double>& values);

}  // namespace fastpot::detail
