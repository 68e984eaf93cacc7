// Aggregators: combine per-sample statistics over samples (axis 0).
#pragma once

#include <string>

#include "fastpot/array_view.hpp"

namespace fastpot {

enum class aggregation {
  mean,
  max,
  min,
  median,
  mean_no_outliers,
  median_no_outliers,
  hl_estimator
};

aggregation parse_aggregation(const std::string& name);  // throws invalid_argument
const char* aggregation_name(aggregation how);

// Aggregates `values` ([S, ...], any strides, any alignment) over axis 0 into `out`
// (prod(shape[1:]) values of result_dtype(values.type)), in double precision. The NumPy
// reference (fastpot.kernels.reference) defines every result:
//  - NaN in a column makes that column NaN; +-inf are ordinary values: mean of +inf and -inf
//    is NaN, median follows numpy.median (mean of the two middle values for an even count).
//  - *_no_outliers: keep values within [quantile(0.01), quantile(0.99)] of the column
//    (inclusive, numpy.quantile linear), then mean / median; NaN if nothing is kept (two
//    distinct samples keep none; a bound interpolated between two infinities is NaN and
//    keeps nothing either).
//  - hl_estimator: 0.5 * median of the pairwise sums x_i + x_j over i > j (Hodges-Lehmann,
//    self-pairs excluded); a single sample gives the sample itself. A column holding both
//    +inf and -inf has a NaN pair sum (inf + -inf), so its result is NaN, as numpy.median
//    of sums containing NaN.
void aggregate(const array_view& values, aggregation how, output_view out);

// Same on one column of doubles (reordered in place). Used by accumulators.
double aggregate_column(std::vector<double>& column, aggregation how);

}  // namespace fastpot
