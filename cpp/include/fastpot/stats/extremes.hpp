// Per-sample extremes: the k smallest and the k largest values of every sample (or of every
// channel of every sample), sorted. Tail quantiles at any level q with min(q, 1 - q) small
// read only these values, so keeping them lets such quantiles be computed later.
#pragma once

#include <cstdint>
#include <optional>

#include "fastpot/array_view.hpp"

namespace fastpot {

// Number of values kept on each side of a group of `size` values so that every linear
// quantile at a level q with min(q, 1 - q) <= bound reads kept values only:
// min(size, floor(bound * (size - 1)) + 3). The two ranks floor(q (size - 1)) and the next
// one lie among floor(bound (size - 1)) + 2 extreme values; one more absorbs the rounding of
// q = 1 - bound. `bound` must lie in [0, 0.5].
std::int64_t extremes_count(std::int64_t size, double bound);

// For every group of `x` (per sample, or per sample and channel: the groups of
// reduce_per_sample), writes the k smallest values ascending into `bottom` and the k largest
// values ascending into `top`, each [groups, k] C-contiguous of result_dtype(x.type); returns
// the number of values of each group. 1 <= k <= group size.
// The values are those of sorting the group (numpy.sort): +-inf are ordinary values and
// -0.0 == +0.0 (which of two equal zeros is kept is unspecified, as in a sort). A group that
// holds a NaN gets NaN in all of its 2 k outputs (numpy.quantile of such a group is NaN).
std::int64_t extremes_per_sample(const array_view& x, std::int64_t k,
                                 std::optional<int> channel_axis, output_view bottom,
                                 output_view top);

}  // namespace fastpot
