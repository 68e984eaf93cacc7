// Private: kernel entry points behind reduce_per_sample, on a validated layout.
#pragma once

#include "fastpot/array_view.hpp"
#include "fastpot/layout.hpp"
#include "fastpot/stats/reduce.hpp"

namespace fastpot::detail {

// Quantile (or abs-quantile) of every group; out has layout.groups() elements.
void quantile_groups(const array_view& x, const reduction_layout& layout, double q, bool absolute,
                     output_view out);

}  // namespace fastpot::detail
