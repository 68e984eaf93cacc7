#include "fastpot/layout.hpp"

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <string>

#include "fastpot/errors.hpp"

namespace fastpot {

std::size_t itemsize(dtype type) {
  switch (type) {
    case dtype::float16: return 2;
    case dtype::float32: return 4;
    case dtype::float64: return 8;
  }
  return 0;
}

const char* dtype_name(dtype type) {
  switch (type) {
    case dtype::float16: return "float16";
    case dtype::float32: return "float32";
    case dtype::float64: return "float64";
  }
  return "?";
}

std::int64_t array_view::size() const {
  return std::accumulate(shape.begin(), shape.end(), std::int64_t{1}, std::multiplies<>());
}

array_view array_view::contiguous(const void* data, dtype type, std::vector<std::int64_t> shape) {
  array_view v;
  v.data = data;
  v.type = type;
  v.strides.assign(shape.size(), 0);
  std::int64_t stride = static_cast<std::int64_t>(itemsize(type));
  for (std::size_t i = shape.size(); i-- > 0;) {
    v.strides[i] = stride;
    stride *= shape[i];
  }
  v.shape = std::move(shape);
  return v;
}

namespace {

struct axis {
  std::int64_t size;
  std::int64_t stride;  // elements
};

// Merges neighbours (ordered outermost first) that address memory as one longer axis.
std::vector<axis> merge_contiguous(std::vector<axis> axes) {
  std::vector<axis> merged;
  for (const axis& a : axes) {
    if (!merged.empty() && merged.back().stride == a.size * a.stride) {
      merged.back().size *= a.size;
      merged.back().stride = a.stride;
    } else {
      merged.push_back(a);
    }
  }
  return merged;
}

std::int64_t abs64(std::int64_t v) { return v < 0 ? -v : v; }

}  // namespace

reduction_layout make_reduction_layout(const array_view& x, std::optional<int> channel_axis) {
  const std::int64_t ndim = x.ndim();
  if (ndim < 1) throw invalid_argument("x: expected an array with at least 1 dimension (samples)");
  if (static_cast<std::int64_t>(x.strides.size()) != ndim)
    throw invalid_argument("x: strides and shape differ in length");
  for (std::int64_t d = 0; d < ndim; ++d)
    if (x.shape[d] == 0)
      throw invalid_argument("x: empty input (axis " + std::to_string(d) + " has size 0)");
  const auto item = static_cast<std::int64_t>(itemsize(x.type));
  std::vector<std::int64_t> strides(ndim);
  for (std::int64_t d = 0; d < ndim; ++d) {
    if (x.strides[d] % item != 0)
      throw type_error("x: stride " + std::to_string(x.strides[d]) + " of axis " +
                       std::to_string(d) + " is not a multiple of the item size");
    strides[d] = x.strides[d] / item;
  }
  int ch = -1;
  if (channel_axis) {
    ch = *channel_axis < 0 ? static_cast<int>(*channel_axis + ndim) : *channel_axis;
    if (ch < 1 || ch >= ndim)
      throw invalid_argument("channel_axis: " + std::to_string(*channel_axis) +
                             " is out of range for an array with " + std::to_string(ndim) +
                             " dimensions (axis 0 holds the samples)");
  }

  reduction_layout layout;
  layout.samples = x.shape[0];
  layout.sample_stride = strides[0];
  std::vector<axis> reduced;
  for (std::int64_t d = 1; d < ndim; ++d) {
    if (d == ch || x.shape[d] == 1) continue;
    reduced.push_back({x.shape[d], strides[d]});
  }
  // The order of reduced axes does not change any statistic, so walk memory in the order of
  // decreasing stride: the innermost run then has the smallest stride.
  std::stable_sort(reduced.begin(), reduced.end(),
                   [](const axis& a, const axis& b) { return abs64(a.stride) > abs64(b.stride); });
  reduced = merge_contiguous(std::move(reduced));
  layout.group_size = 1;
  for (const axis& a : reduced) layout.group_size *= a.size;

  if (ch >= 0) {
    layout.channels = x.shape[ch];
    layout.channel_stride = strides[ch];
  }
  const bool has_channels = ch >= 0 && layout.channels > 1;
  layout.channels_innermost =
      has_channels && (reduced.empty() || abs64(layout.channel_stride) < abs64(reduced.back().stride));

  if (layout.channels_innermost) {
    for (const axis& a : reduced) {
      layout.outer_shape.push_back(a.size);
      layout.outer_strides.push_back(a.stride);
    }
    layout.run_length = layout.channels;
    layout.run_stride = layout.channel_stride;
  } else {
    if (reduced.empty()) {
      layout.run_length = 1;
      layout.run_stride = 1;
    } else {
      layout.run_length = reduced.back().size;
      layout.run_stride = reduced.back().stride;
      reduced.pop_back();
      for (const axis& a : reduced) {
        layout.outer_shape.push_back(a.size);
        layout.outer_strides.push_back(a.stride);
      }
    }
  }
  layout.rows_per_group = 1;
  for (std::int64_t s : layout.outer_shape) layout.rows_per_group *= s;
  return layout;
}

row_cursor::row_cursor(const reduction_layout& layout, std::int64_t first_row)
    : layout_(&layout), index_(layout.outer_shape.size(), 0) {
  std::int64_t rest = first_row;
  const std::int64_t per_sample =
      layout.channels_innermost ? layout.rows_per_group : layout.channels * layout.rows_per_group;
  sample_ = rest / per_sample;
  rest %= per_sample;
  if (!layout.channels_innermost) {
    channel_ = rest / layout.rows_per_group;
    rest %= layout.rows_per_group;
  }
  offset_ = sample_ * layout.sample_stride + channel_ * layout.channel_stride;
  for (std::size_t d = index_.size(); d-- > 0;) {
    index_[d] = rest % layout.outer_shape[d];
    rest /= layout.outer_shape[d];
    offset_ += index_[d] * layout.outer_strides[d];
  }
}

void row_cursor::next() {
  const reduction_layout& l = *layout_;
  for (std::size_t d = index_.size(); d-- > 0;) {
    if (++index_[d] < l.outer_shape[d]) {
      offset_ += l.outer_strides[d];
      return;
    }
    offset_ -= (l.outer_shape[d] - 1) * l.outer_strides[d];
    index_[d] = 0;
  }
  // Wrapped around the outer index space: next channel, or next sample.
  if (!l.channels_innermost && ++channel_ < l.channels) {
    offset_ += l.channel_stride;
    return;
  }
  if (!l.channels_innermost) {
    offset_ -= (l.channels - 1) * l.channel_stride;
    channel_ = 0;
  }
  ++sample_;
  offset_ += l.sample_stride;
}

}  // namespace fastpot
