// Non-owning views: the zero-copy currency between callers (NumPy, C++ tools) and kernels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fastpot {

enum class dtype { float16, float32, float64 };

std::size_t itemsize(dtype type);
const char* dtype_name(dtype type);

// Read-only strided N-d array. `strides` are in bytes (as NumPy reports them) and may be
// negative or zero; `data` points at the element with all indices 0.
struct array_view {
  const void* data = nullptr;
  dtype type = dtype::float32;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;

  std::int64_t ndim() const { return static_cast<std::int64_t>(shape.size()); }
  std::int64_t size() const;

  // A C-contiguous view of `data` with the given shape.
  static array_view contiguous(const void* data, dtype type, std::vector<std::int64_t> shape);
};

// Writable, C-contiguous output buffer of `size` elements of float32 or float64.
struct output_view {
  void* data = nullptr;
  dtype type = dtype::float32;
  std::int64_t size = 0;
};

// Result element type of a statistic over `input`: float64 stays float64, float16 and
// float32 give float32 (every float16 value is exact in float32).
inline dtype result_dtype(dtype input) {
  return input == dtype::float64 ? dtype::float64 : dtype::float32;
}

}  // namespace fastpot
