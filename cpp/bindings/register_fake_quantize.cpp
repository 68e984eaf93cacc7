#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "fastpot/fake_quantize.hpp"
#include "numpy_interop.hpp"

namespace fastpot::python {

namespace {

using f32_array = py::array_t<float, py::array::c_style>;

// Range arrays are small; the Python wrapper broadcasts and converts them to C-contiguous
// float32 explicitly, so here the layout is only checked. A float32 array at a misaligned
// address (a view at an odd offset of a byte buffer) cannot be read through a float*: its
// values are copied into `aligned_copy`, and only then.
const float* checked_f32(const py::object& obj, const char* argument, py::ssize_t size,
                         std::vector<float>& aligned_copy) {
  if (obj.is_none()) return nullptr;
  if (!f32_array::check_(obj))
    throw type_error(std::string(argument) + ": expected a C-contiguous float32 array");
  const auto a = py::reinterpret_borrow<f32_array>(obj);
  if (a.size() != size)
    throw invalid_argument(std::string(argument) + ": size differs from max_values");
  const void* data = static_cast<const py::array&>(a).data();
  if (reinterpret_cast<std::uintptr_t>(data) % alignof(float) == 0) return a.data();
  aligned_copy.resize(static_cast<std::size_t>(size));
  if (size > 0) std::memcpy(aligned_copy.data(), data, aligned_copy.size() * sizeof(float));
  return aligned_copy.data();
}

py::tuple fq_params_py(const py::object& min_values, const f32_array& max_values,
                       const std::string& mode, const std::string& kind, int bits,
                       std::optional<std::int64_t> level_low,
                       std::optional<std::int64_t> level_high) {
  const fq_mode md = parse_fq_mode(mode);
  const fq_kind kd = parse_fq_kind(kind);
  const fq_levels levels = compute_levels(md, kd, bits, level_low, level_high);
  const py::ssize_t size = max_values.size();
  std::vector<float> lo_copy, hi_copy;
  const float* lo = checked_f32(min_values, "min_values", size, lo_copy);
  const float* hi = checked_f32(max_values, "max_values", size, hi_copy);
  std::vector<py::ssize_t> shape(max_values.shape(), max_values.shape() + max_values.ndim());
  f32_array input_low(shape), input_high(shape);
  {
    py::gil_scoped_release release;  // all buffers are owned by this frame
    fq_ranges(lo, hi, size, md, kd, levels, bits, input_low.mutable_data(),
              input_high.mutable_data());
  }
  return py::make_tuple(input_low, input_high, levels.levels, levels.level_low, levels.level_high);
}

}  // namespace

void register_fake_quantize(py::module_& m) {
  m.def("fq_params", &fq_params_py, py::arg("min_values"), py::arg("max_values").noconvert(),
        py::arg("mode"), py::arg("kind"), py::arg("bits") = 8, py::arg("level_low") = py::none(),
        py::arg("level_high") = py::none());
}

}  // namespace fastpot::python
