// extremes_per_sample and SampleRecorder (the statistics superset's recorders).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "fastpot/layout.hpp"
#include "fastpot/stats/extremes.hpp"
#include "fastpot/stats/recorder.hpp"
#include "numpy_interop.hpp"

namespace fastpot::python {

namespace {

py::tuple extremes_per_sample_py(const py::array& x, std::int64_t k,
                                 std::optional<int> channel_axis) {
  const array_view v = view_of(x, "x");
  const reduction_layout l = make_reduction_layout(v, channel_axis);
  if (k < 1 || k > l.group_size)
    throw invalid_argument("k: " + std::to_string(k) + " is outside [1, " +
                           std::to_string(l.group_size) + "] (the values of each group)");
  std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(l.samples)};
  if (channel_axis) shape.push_back(static_cast<py::ssize_t>(l.channels));
  shape.push_back(static_cast<py::ssize_t>(k));
  output_view bottom, top;
  py::array rbottom = new_result(result_dtype(v.type), shape, bottom);
  py::array rtop = new_result(result_dtype(v.type), shape, top);
  std::int64_t size = 0;
  {
    py::gil_scoped_release release;  // `x` and the results are held by this frame
    size = extremes_per_sample(v, k, channel_axis, bottom, top);
  }
  return py::make_tuple(rbottom, rtop, size);
}

// [samples, channels, width] (or [samples] / [samples, channels] for statistics) from bytes.
py::array recorded(const sample_recorder& r, const std::vector<unsigned char>& bytes, bool values) {
  const std::int64_t samples = r.samples();
  std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(samples)};
  if (!values || r.channel_axis()) shape.push_back(static_cast<py::ssize_t>(r.channels()));
  if (!values) shape.push_back(static_cast<py::ssize_t>(r.width()));
  output_view out;
  py::array result = new_result(r.type(), shape, out);
  const std::size_t need = static_cast<std::size_t>(out.size) * itemsize(out.type);
  if (bytes.size() != need) throw std::logic_error("SampleRecorder: inconsistent recording");
  if (need) std::memcpy(out.data, bytes.data(), need);
  return result;
}

void check_recorded(const sample_recorder& r) {
  if (r.channels() < 0) throw invalid_argument("recorder: no batch has been fed yet");
  if (!r.consistent())
    throw invalid_argument("recorder: batches differ in channels or group size; nothing is kept");
}

}  // namespace

void register_extremes(py::module_& m) {
  m.def("extremes_per_sample", &extremes_per_sample_py, py::arg("x"), py::arg("k"),
        py::arg("channel_axis") = py::none());
  m.def("extremes_count", &extremes_count, py::arg("size"), py::arg("bound"));

  py::class_<sample_recorder>(m, "SampleRecorder")
      .def(py::init([](const std::string& stat, std::optional<int> channel_axis, double q,
                       double bound) {
             if (stat == "extremes") return sample_recorder::extremes(channel_axis, bound);
             return sample_recorder::values(parse_statistic(stat), channel_axis, q);
           }),
           py::arg("stat"), py::arg("channel_axis") = py::none(), py::arg("q") = 0.0,
           py::arg("bound") = 1e-3)
      .def(
          "update",
          [](sample_recorder& r, const py::array& batch) {
            const array_view v = view_of(batch, "batch");
            py::gil_scoped_release release;  // `batch` is held by the caller's frame
            r.update(v);
          },
          py::arg("batch"))
      .def("values",
           [](const sample_recorder& r) {
             if (r.is_extremes()) throw invalid_argument("recorder: records extremes, not values");
             check_recorded(r);
             return recorded(r, r.low(), true);
           })
      .def("extremes",
           [](const sample_recorder& r) {
             if (!r.is_extremes()) throw invalid_argument("recorder: records values, not extremes");
             check_recorded(r);
             py::array high = recorded(r, r.high(), false);
             const bool whole = 2 * r.k() >= r.size();
             return py::make_tuple(whole ? high : recorded(r, r.low(), false), high);
           })
      .def_property_readonly("stat",
                             [](const sample_recorder& r) {
                               return std::string(r.is_extremes() ? "extremes"
                                                                  : statistic_name(r.stat()));
                             })
      .def_property_readonly("channel_axis", &sample_recorder::channel_axis)
      .def_property_readonly("bound", &sample_recorder::bound)
      .def_property_readonly("consistent", &sample_recorder::consistent)
      .def_property_readonly("lengths", &sample_recorder::lengths)
      .def_property_readonly("samples", &sample_recorder::samples)
      .def_property_readonly("channels", &sample_recorder::channels)
      .def_property_readonly("size", &sample_recorder::size)
      .def_property_readonly("width", &sample_recorder::width)
      .def_property_readonly("k", &sample_recorder::k);
}

}  // namespace fastpot::python
