// Canonical, copy-free description of a per-sample (optionally per-channel) reduction over
// an arbitrary strided array. Every kernel iterates this form instead of the raw N-d shape.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "fastpot/array_view.hpp"

namespace fastpot {

// The input is seen as samples x channels x rows, every row a 1-D strided run of elements.
//  - channels_innermost == false (channel-first layouts, or no channel axis): each row belongs
//    to one (sample, channel) group and holds `run_length` reduced elements.
//  - channels_innermost == true (channel-last layouts such as [N, T, C]): each row holds one
//    element of every channel (`run_length == channels`), so kernels update all channels
//    of a sample at once with unit-stride accesses.
// Strides are in elements. Adjacent reduced axes that are contiguous with each other are
// merged, so C-contiguous inputs always have a single long run.
struct reduction_layout {
  std::int64_t samples = 0;
  std::int64_t sample_stride = 0;
  std::int64_t channels = 1;
  std::int64_t channel_stride = 0;
  bool channels_innermost = false;
  std::vector<std::int64_t> outer_shape;    // row index space within one group / sample
  std::vector<std::int64_t> outer_strides;  // elements
  std::int64_t run_length = 1;
  std::int64_t run_stride = 0;
  std::int64_t group_size = 1;      // reduced elements per (sample, channel)
  std::int64_t rows_per_group = 1;  // product of outer_shape

  std::int64_t groups() const { return samples * channels; }
  // Rows in the whole array: one per (sample, channel, outer index), or per (sample, outer
  // index) when channels are innermost.
  std::int64_t rows() const {
    return channels_innermost ? samples * rows_per_group : samples * channels * rows_per_group;
  }
};

// Validates `x` (ndim >= 1, non-empty, strides a multiple of the item size) and
// `channel_axis` (1 <= axis < ndim; negative values count from the end) and builds the layout.
reduction_layout make_reduction_layout(const array_view& x, std::optional<int> channel_axis);

// Walks rows of a layout in order, keeping element offsets incrementally (no division per
// row). `sample`/`channel` identify the group of the current row.
class row_cursor {
 public:
  row_cursor(const reduction_layout& layout, std::int64_t first_row);
  std::int64_t offset() const { return offset_; }  // elements, from the array origin
  std::int64_t sample() const { return sample_; }
  std::int64_t channel() const { return channel_; }
  void next();

 private:
  const reduction_layout* layout_;
  std::vector<std::int64_t> index_;
  std::int64_t sample_ = 0;
  std::int64_t channel_ = 0;
  std::int64_t offset_ = 0;
};

}  // namespace fastpot
