#include "fastpot/stats/aggregate.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "element.hpp"
#include "fastpot/errors.hpp"
#include "fastpot/stats/quantile.hpp"

namespace fastpot {

aggregation parse_aggregation(const std::string& name) {
  if (name == "mean") return aggregation::mean;
  if (name == "max") return aggregation::max;
  if (name == "min") return aggregation::min;
  if (name == "median") return aggregation::median;
  if (name == "mean_no_outliers") return aggregation::mean_no_outliers;
  if (name == "median_no_outliers") return aggregation::median_no_outliers;
  if (name == "hl_estimator") return aggregation::hl_estimator;
  throw invalid_argument("how: unknown aggregator '" + name +
                         "' (expected mean, max, min, median, mean_no_outliers, "
                         "median_no_outliers or hl_estimator)");
}

const char* aggregation_name(aggregation how) {
  switch (how) {
    case aggregation::mean: return "mean";
    case aggregation::max: return "max";
    case aggregation::min: return "min";
    case aggregation::median: return "median";
    case aggregation::mean_no_outliers: return "mean_no_outliers";
    case aggregation::median_no_outliers: return "median_no_outliers";
    case aggregation::hl_estimator: return "hl_estimator";
  }
  return "?";
}

namespace {

// Fraction cut on each side by the *_no_outliers aggregators.
constexpr double kOutlierFraction = 0.01;

double mean_of(const std::vector<double>& v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  double s = 0.0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

}  // namespace

double aggregate_column(std::vector<double>& column, aggregation how) {
  if (column.empty()) return std::numeric_limits<double>::quiet_NaN();
  for (double v : column)
    if (std::isnan(v)) return std::numeric_limits<double>::quiet_NaN();
  switch (how) {
    case aggregation::mean: return mean_of(column);
    case aggregation::max: {
      double m = column[0];
      for (double v : column) m = v > m ? v : m;
      return m;
    }
    case aggregation::min: {
      double m = column[0];
      for (double v : column) m = v < m ? v : m;
      return m;
    }
    case aggregation::median: return detail::median_of_nan_free(column);
    case aggregation::mean_no_outliers:
    case aggregation::median_no_outliers: {
      std::vector<double> scratch = column;
      const double low = detail::quantile_of_nan_free(scratch, kOutlierFraction);
      const double high = detail::quantile_of_nan_free(scratch, 1.0 - kOutlierFraction);
      std::vector<double> kept;
      kept.reserve(column.size());
      for (double v : column)
        if (v >= low && v <= high) kept.push_back(v);
      // `kept` holds no NaN: a NaN bound keeps nothing, and the column has none.
      return how == aggregation::mean_no_outliers ? mean_of(kept)
                                                  : detail::median_of_nan_free(kept);
    }
    case aggregation::hl_estimator: {
      const std::size_t n = column.size();
      if (n == 1) return column[0];
      // The column holds no NaN, so the only NaN pair sum is inf + -inf: then the median of
      // the sums is NaN (numpy.median), and the sums need no scan for NaN otherwise.
      bool pos_inf = false, neg_inf = false;
      for (double v : column) {
        pos_inf |= v == std::numeric_limits<double>::infinity();
        neg_inf |= v == -std::numeric_limits<double>::infinity();
      }
      if (pos_inf && neg_inf) return std::numeric_limits<double>::quiet_NaN();
      std::vector<double> sums;
      sums.reserve(n * (n - 1) / 2);
      for (std::size_t i = 1; i < n; ++i)
        for (std::size_t j = 0; j < i; ++j) sums.push_back(column[i] + column[j]);
      return 0.5 * detail::median_of_nan_free(sums);
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

void aggregate(const array_view& values, aggregation how, output_view out) {
  if (values.ndim() < 1) throw invalid_argument("values: expected at least 1 dimension");
  const std::int64_t samples = values.shape[0];
  if (samples == 0) throw invalid_argument("values: no samples to aggregate (axis 0 is empty)");
  const std::int64_t columns = values.size() / samples;
  if (columns == 0) throw invalid_argument("values: empty input");
  if (out.data == nullptr || out.size != columns)
    throw invalid_argument("out: output buffer must hold " + std::to_string(columns) + " values");
  if (out.type != result_dtype(values.type))
    throw type_error(std::string("out: output must be ") + dtype_name(result_dtype(values.type)));
  const auto item = static_cast<std::int64_t>(itemsize(values.type));
  for (std::int64_t s : values.strides)
    if (s % item != 0) throw type_error("values: strides must be multiples of the item size");

  detail::dispatch_storage(values, [&](auto tag) {
    using Storage = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
    const auto* base = static_cast<const Storage*>(values.data);
    const std::size_t rest = values.shape.size() - 1;
    std::vector<std::int64_t> index(rest, 0);
    std::vector<double> column(static_cast<std::size_t>(samples));
    std::int64_t offset = 0;  // elements, of the current column's first sample
    for (std::int64_t k = 0; k < columns; ++k) {
      for (std::int64_t s = 0; s < samples; ++s)
        column[s] = detail::element<Storage>::load(base + offset + s * (values.strides[0] / item));
      detail::store(out, k, aggregate_column(column, how));
      for (std::size_t d = rest; d-- > 0;) {  // next column in C order
        const std::int64_t stride = values.strides[d + 1] / item;
        if (++index[d] < values.shape[d + 1]) {
          offset += stride;
          break;
        }
        offset -= (values.shape[d + 1] - 1) * stride;
        index[d] = 0;
      }
    }
  });
}

}  // namespace fastpot
