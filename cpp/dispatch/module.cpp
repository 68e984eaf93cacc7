// fastpot._dispatch: private extension module linked against the OpenVINO C++ runtime of the
// `openvino` wheel. Used by fastpot.engines.IEEngine.collect_statistics.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <openvino/core/version.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dispatcher.hpp"
#include "fastpot/errors.hpp"

namespace py = pybind11;
using fastpot::dispatch::dispatcher;
using fastpot::dispatch::feed;
using fastpot::dispatch::input_array;
using fastpot::dispatch::kept_output;

namespace {

constexpr std::chrono::milliseconds kPoll{50};  // how often blocked calls check for Ctrl-C

struct element_info {
  char kind;
  py::ssize_t size;
  const char* numpy;
};

element_info info_of(const ov::element::Type& t) {
  using namespace ov::element;
  if (t == f32) return {'f', 4, "float32"};
  if (t == f16) return {'f', 2, "float16"};
  if (t == f64) return {'f', 8, "float64"};
  if (t == i64) return {'i', 8, "int64"};
  if (t == i32) return {'i', 4, "int32"};
  if (t == i16) return {'i', 2, "int16"};
  if (t == i8) return {'i', 1, "int8"};
  if (t == u64) return {'u', 8, "uint64"};
  if (t == u32) return {'u', 4, "uint32"};
  if (t == u16) return {'u', 2, "uint16"};
  if (t == u8) return {'u', 1, "uint8"};
  if (t == boolean) return {'b', 1, "bool"};
  throw fastpot::type_error("element type " + t.get_type_name() + " has no NumPy equivalent here");
}

std::string shape_text(const std::vector<py::ssize_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Blocks on `step` (GIL released) until it returns true; checks for signals between polls.
template <class Step>
void blocking(Step step) {
  for (;;) {
    bool ready = false;
    {
      py::gil_scoped_release release;
      ready = step();
    }
    if (ready) return;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  }
}

// The Python object: the dispatcher plus references that keep the fed accumulators alive.
struct py_dispatcher {
  std::unique_ptr<dispatcher> impl;
  std::vector<py::object> alive;
  std::vector<std::string> input_names;

  ~py_dispatcher() {
    py::gil_scoped_release release;  // drains the requests; callbacks never need the GIL
    impl.reset();
  }

  void begin(const py::list& feeds, const std::vector<std::size_t>& keep) {
    std::vector<feed> parsed;
    std::vector<py::object> refs;
    for (const py::handle item : feeds) {
      const auto t = item.cast<py::tuple>();
      if (t.size() != 4) throw fastpot::invalid_argument("feeds: expected (kind, a, b, accumulator)");
      feed f;
      const auto kind = t[0].cast<std::string>();
      if (kind == "tensor") f.what = feed::kind::tensor;
      else if (kind == "abs_max") f.what = feed::kind::abs_max;
      else throw fastpot::invalid_argument("feeds: unknown kind '" + kind + "'");
      f.a = t[1].cast<std::size_t>();
      f.b = t[2].cast<std::size_t>();
      if (py::isinstance<fastpot::sample_recorder>(t[3])) {
        f.recorder = t[3].cast<fastpot::sample_recorder*>();
      } else {
        try {
          f.accumulator = t[3].cast<fastpot::statistic_accumulator*>();
        } catch (const py::cast_error&) {
          throw fastpot::type_error(
              "feeds: the accumulator must be a fastpot._core.StatisticAccumulator or "
              "fastpot._core.SampleRecorder");
        }
      }
      refs.emplace_back(py::reinterpret_borrow<py::object>(t[3]));
      parsed.push_back(f);
    }
    impl->begin(std::move(parsed), keep);
    alive = std::move(refs);
  }

  std::int64_t submit(const py::sequence& arrays) {
    const auto ports = impl->compiled().inputs();
    if (static_cast<std::size_t>(py::len(arrays)) != ports.size())
      throw fastpot::invalid_argument("inputs: " + std::to_string(py::len(arrays)) +
                                      " arrays for a model with " + std::to_string(ports.size()) +
                                      " inputs");
    std::vector<py::array> held;
    std::vector<input_array> inputs;
    for (std::size_t i = 0; i < ports.size(); ++i) {
      const std::string& name = input_names[i];
      py::object obj = arrays[i];
      if (!py::isinstance<py::array>(obj))
        throw fastpot::type_error("model input '" + name + "': expected a NumPy array");
      auto a = obj.cast<py::array>();
      const element_info want = info_of(ports[i].get_element_type());
      if (a.dtype().kind() != want.kind || a.itemsize() != want.size)
        throw fastpot::type_error("model input '" + name + "' needs " + want.numpy + " data, got " +
                                  py::str(static_cast<py::object>(a.dtype())).cast<std::string>());
      if (!(a.flags() & py::array::c_style))
        throw fastpot::type_error("model input '" + name + "': the array must be C-contiguous");
      std::vector<py::ssize_t> shape(a.shape(), a.shape() + a.ndim());
      input_array in;
      in.data = a.data();
      in.bytes = static_cast<std::size_t>(a.nbytes());
      in.shape.assign(shape.begin(), shape.end());
      if (!ports[i].get_partial_shape().compatible(ov::PartialShape(in.shape)))
        throw fastpot::invalid_argument("model input '" + name + "' has the shape " +
                                        ports[i].get_partial_shape().to_string() +
                                        ", the batch is " + shape_text(shape));
      inputs.push_back(std::move(in));
      held.push_back(std::move(a));
    }
    blocking([&] { return impl->wait_idle(kPoll); });
    py::gil_scoped_release release;  // `held` keeps the arrays alive during the copy
    return impl->start(inputs);
  }

  void finish() {
    blocking([&] { return impl->wait_all(kPoll); });
    impl->check_finished();
  }

  void drain() {
    py::gil_scoped_release release;
    impl->drain();
  }

  py::list take_outputs() {
    std::vector<std::vector<kept_output>> batches;
    {
      py::gil_scoped_release release;
      batches = impl->take_outputs();
    }
    py::list out;
    for (auto& batch : batches) {
      py::list arrays;
      for (auto& k : batch) {
        const element_info e = info_of(k.type);
        auto* owner = new std::vector<unsigned char>(std::move(k.bytes));
        py::capsule free_when_done(owner, [](void* p) { delete static_cast<std::vector<unsigned char>*>(p); });
        std::vector<py::ssize_t> shape(k.shape.begin(), k.shape.end());
        arrays.append(py::array(py::dtype(e.numpy), shape, owner->data(), free_when_done));
      }
      out.append(arrays);
    }
    return out;
  }
};

}  // namespace

PYBIND11_MODULE(_dispatch, m) {
  m.doc() = "fastpot asynchronous inference dispatcher with in-callback statistics (private)";
  // The accumulators handed over are fastpot._core objects: their type must be registered.
  py::module_::import("fastpot._core");
  m.attr("openvino_version") = std::string(ov::get_openvino_version().buildNumber);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fastpot::type_error& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });

  py::class_<py_dispatcher>(m, "Dispatcher")
      .def(py::init([](const std::string& xml, const std::string& bin, const std::string& device,
                       const std::map<std::string, std::string>& properties, int requests) {
             ov::AnyMap config;
             for (const auto& [k, v] : properties) config.emplace(k, v);
             auto d = std::make_unique<py_dispatcher>();
             {
               py::gil_scoped_release release;
               d->impl = std::make_unique<dispatcher>(xml, bin, device, config, requests);
             }
             for (const auto& port : d->impl->compiled().inputs()) {
               const auto& names = port.get_names();
               d->input_names.push_back(names.empty() ? std::string("?") : port.get_any_name());
             }
             return d;
           }),
           py::arg("xml"), py::arg("bin"), py::arg("device"), py::arg("properties"),
           py::arg("requests"))
      .def_property_readonly("requests", [](const py_dispatcher& d) { return d.impl->requests(); })
      .def_property_readonly("input_names", [](const py_dispatcher& d) { return d.input_names; })
      .def_property_readonly("outputs",
                             [](const py_dispatcher& d) { return d.impl->compiled().outputs().size(); })
      .def_property_readonly("in_flight", [](const py_dispatcher& d) { return d.impl->in_flight(); })
      .def_property_readonly("submitted", [](const py_dispatcher& d) { return d.impl->submitted(); })
      .def_property_readonly("plugin_quantiles",
                             [](const py_dispatcher& d) { return d.impl->plugin_quantiles(); })
      .def_property_readonly("callback_seconds",
                             [](const py_dispatcher& d) { return d.impl->callback_seconds(); })
      .def("begin", &py_dispatcher::begin, py::arg("feeds"), py::arg("keep") = std::vector<std::size_t>{})
      .def("submit", &py_dispatcher::submit, py::arg("inputs"))
      .def("finish", &py_dispatcher::finish)
      .def("drain", &py_dispatcher::drain)
      .def("take_outputs", &py_dispatcher::take_outputs);
}
