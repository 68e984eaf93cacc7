// Per-sample statistics: one value per sample, or per sample and channel.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "fastpot/array_view.hpp"

namespace fastpot {

enum class statistic { min, max, abs_max, mean, quantile, abs_quantile };

statistic parse_statistic(const std::string& name);  // throws invalid_argument
const char* statistic_name(statistic stat);

// Number of results of a per-sample reduction: N, or N * C with a channel axis.
std::int64_t reduce_output_size(const array_view& x, std::optional<int> channel_axis);

// Reduces axis 0 sample by sample over every axis except `channel_axis` (if given).
// `out` receives [N] or [N, C] values of result_dtype(x.type), C-contiguous.
// NaN policy (shared by every backend): a NaN anywhere in a reduced group makes that
// group's result NaN (as numpy.min/max/mean/quantile do); +-inf are ordinary values.
// `q` is used by quantile/abs_quantile and must lie in [0, 1]; quantiles interpolate
// linearly exactly as numpy.quantile's default method.
void reduce_per_sample(const array_view& x, statistic stat, std::optional<int> channel_axis,
                       double q, output_view out);

// min, max and abs_max of each sample (and channel) in one pass over memory.
void min_max_per_sample(const array_view& x, std::optional<int> channel_axis, output_view out_min,
                        output_view out_max, output_view out_abs_max);

}  // namespace fastpot
