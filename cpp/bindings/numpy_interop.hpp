// NumPy arrays <-> fastpot views: dtype dispatch and layout checks, never a conversion copy.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "fastpot/array_view.hpp"
#include "fastpot/errors.hpp"

namespace fastpot::python {

namespace py = pybind11;

inline dtype dtype_of(const py::array& a, const char* argument) {
  const py::dtype dt = a.dtype();
  if (dt.kind() == 'f') {
    switch (dt.itemsize()) {
      case 2: return dtype::float16;
      case 4: return dtype::float32;
      case 8: return dtype::float64;
      default: break;
    }
  }
  throw type_error(std::string(argument) + ": unsupported dtype " +
                   py::str(static_cast<py::object>(dt)).cast<std::string>() +
                   " (accepted: float16, float32, float64)");
}

// Zero-copy view of any NumPy float array (strided, negative strides, broadcast views).
inline array_view view_of(const py::array& a, const char* argument) {
  array_view v;
  v.type = dtype_of(a, argument);
  if (!a.dtype().attr("isnative").cast<bool>())
    throw type_error(std::string(argument) + ": byte-swapped arrays are not supported");
  v.data = a.data();
  v.shape.assign(a.shape(), a.shape() + a.ndim());
  v.strides.assign(a.strides(), a.strides() + a.ndim());
  return v;
}

// A fresh C-contiguous result array and a writable view of it.
inline py::array new_result(dtype type, const std::vector<py::ssize_t>& shape, output_view& out) {
  py::array result = type == dtype::float64 ? py::array(py::array_t<double>(shape))
                                            : py::array(py::array_t<float>(shape));
  out.data = result.mutable_data();
  out.type = type;
  out.size = static_cast<std::int64_t>(result.size());
  return result;
}

}  // namespace fastpot::python
