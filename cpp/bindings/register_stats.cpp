#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "fastpot/layout.hpp"
#include "fastpot/stats/accumulator.hpp"
#include "fastpot/stats/aggregate.hpp"
#include "fastpot/stats/reduce.hpp"
#include "numpy_interop.hpp"

namespace fastpot::python {

namespace {

std::vector<py::ssize_t> reduce_shape(const array_view& x, std::optional<int> channel_axis) {
  const reduction_layout l = make_reduction_layout(x, channel_axis);
  if (!channel_axis) return {static_cast<py::ssize_t>(l.samples)};
  return {static_cast<py::ssize_t>(l.samples), static_cast<py::ssize_t>(l.channels)};
}

py::array reduce_per_sample_py(const py::array& x, const std::string& stat,
                               std::optional<int> channel_axis, double q) {
  const array_view v = view_of(x, "x");
  const statistic s = parse_statistic(stat);
  output_view out;
  py::array result = new_result(result_dtype(v.type), reduce_shape(v, channel_axis), out);
  {
    // Safe without the GIL: `x` and `result` are kept alive by this frame, and the kernel
    // touches only their buffers.
    py::gil_scoped_release release;
    reduce_per_sample(v, s, channel_axis, q, out);
  }
  return result;
}

py::tuple min_max_per_sample_py(const py::array& x, std::optional<int> channel_axis) {
  const array_view v = view_of(x, "x");
  const auto shape = reduce_shape(v, channel_axis);
  output_view lo, hi, ab;
  py::array rlo = new_result(result_dtype(v.type), shape, lo);
  py::array rhi = new_result(result_dtype(v.type), shape, hi);
  py::array rab = new_result(result_dtype(v.type), shape, ab);
  {
    py::gil_scoped_release release;  // buffers owned by this frame
    min_max_per_sample(v, channel_axis, lo, hi, ab);
  }
  return py::make_tuple(rlo, rhi, rab);
}

py::array aggregate_py(const py::array& values, const std::string& how) {
  const array_view v = view_of(values, "values");
  const aggregation a = parse_aggregation(how);
  if (v.ndim() < 1) throw invalid_argument("values: expected at least 1 dimension");
  std::vector<py::ssize_t> shape(values.shape() + 1, values.shape() + values.ndim());
  output_view out;
  py::array result = new_result(result_dtype(v.type), shape, out);
  {
    py::gil_scoped_release release;  // buffers owned by this frame
    aggregate(v, a, out);
  }
  return result;
}

py::array accumulator_result(const statistic_accumulator& acc) {
  const std::vector<double> r = acc.result();
  const std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(r.size())};
  output_view out;
  py::array result = new_result(acc.result_type(), shape, out);
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (out.type == dtype::float64)
      static_cast<double*>(out.data)[i] = r[i];
    else
      static_cast<float*>(out.data)[i] = static_cast<float>(r[i]);
  }
  return result;
}

}  // namespace

void register_stats(py::module_& m) {
  m.def("reduce_per_sample", &reduce_per_sample_py, py::arg("x"), py::arg("stat"),
        py::arg("channel_axis") = py::none(), py::arg("q") = 0.0);
  m.def("min_max_per_sample", &min_max_per_sample_py, py::arg("x"),
        py::arg("channel_axis") = py::none());
  m.def("aggregate", &aggregate_py, py::arg("values"), py::arg("how"));

  py::class_<statistic_accumulator>(m, "StatisticAccumulator")
      .def(py::init([](const std::string& stat, const std::string& how,
                       std::optional<int> channel_axis, double q) {
             return statistic_accumulator(parse_statistic(stat), parse_aggregation(how),
                                          channel_axis, q);
           }),
           py::arg("stat"), py::arg("how"), py::arg("channel_axis") = py::none(),
           py::arg("q") = 0.0)
      .def(
          "update",
          [](statistic_accumulator& acc, const py::array& batch) {
            const array_view v = view_of(batch, "batch");
            py::gil_scoped_release release;  // `batch` is held by the caller's frame
            acc.update(v);
          },
          py::arg("batch"))
      .def(
          "merge",
          [](statistic_accumulator& acc, const statistic_accumulator& other) {
            py::gil_scoped_release release;
            acc.merge(other);
          },
          py::arg("other"))
      .def("result", &accumulator_result)
      .def_property_readonly("stat", [](const statistic_accumulator& a) { return statistic_name(a.stat()); })
      .def_property_readonly("how", [](const statistic_accumulator& a) { return aggregation_name(a.how()); })
      .def_property_readonly("channel_axis", &statistic_accumulator::channel_axis)
      .def_property_readonly("q", &statistic_accumulator::q)
      .def_property_readonly("samples", &statistic_accumulator::samples)
      .def_property_readonly("batches", &statistic_accumulator::batches)
      .def_property_readonly("channels", &statistic_accumulator::channels)
      .def("__copy__", [](const statistic_accumulator& a) { return statistic_accumulator(a); })
      .def(py::pickle(
          [](const statistic_accumulator& a) {
            const auto s = a.get_state();
            py::array_t<double> values(static_cast<py::ssize_t>(s.values.size()));
            std::copy(s.values.begin(), s.values.end(), values.mutable_data());
            return py::make_tuple(statistic_name(a.stat()), aggregation_name(a.how()),
                                  a.channel_axis(), a.q(), s.channels, s.batches, s.samples,
                                  s.float64, values);
          },
          [](const py::tuple& t) {
            if (t.size() != 9) throw invalid_argument("state: not a StatisticAccumulator pickle");
            statistic_accumulator a(parse_statistic(t[0].cast<std::string>()),
                                    parse_aggregation(t[1].cast<std::string>()),
                                    t[2].cast<std::optional<int>>(), t[3].cast<double>());
            statistic_accumulator::state s;
            s.channels = t[4].cast<std::int64_t>();
            s.batches = t[5].cast<std::int64_t>();
            s.samples = t[6].cast<std::int64_t>();
            s.float64 = t[7].cast<bool>();
            const auto values = t[8].cast<py::array_t<double, py::array::c_style | py::array::forcecast>>();
            s.values.assign(values.data(), values.data() + values.size());
            a.set_state(s);
            return a;
          }));
}

}  // namespace fastpot::python
