// fastpot._core: private extension module; the public API lives in fastpot.kernels.
#include <pybind11/pybind11.h>

#include <exception>

#include "fastpot/errors.hpp"
#include "fastpot/parallel.hpp"

namespace py = pybind11;

namespace fastpot::python {
void register_stats(py::module_& m);
void register_fake_quantize(py::module_& m);
void register_extremes(py::module_& m);
}  // namespace fastpot::python

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastpot C++ core: statistics kernels and FakeQuantize range math (private)";
  m.attr("__version__") = FASTPOT_VERSION_INFO;
  // fastpot::type_error derives from std::invalid_argument (ValueError by default); give it
  // Python's TypeError. Translators registered later are tried first.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fastpot::type_error& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });
  m.def("num_threads", &fastpot::num_threads, "Threads a kernel may use.");
  m.def("set_num_threads", &fastpot::set_num_threads, py::arg("n"),
        "Set the kernels' thread budget (n <= 0 restores the default).");
  fastpot::python::register_stats(m);
  fastpot::python::register_fake_quantize(m);
  fastpot::python::register_extremes(m);
}
