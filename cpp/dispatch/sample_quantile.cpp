#include "sample_quantile.hpp"

#include <openvino/op/result.hpp>

#include <cstdlib>
#include <optional>
#include <vector>

#include "fastpot/errors.hpp"
#include "fastpot/parallel.hpp"
#include "fastpot/stats/reduce.hpp"

namespace fastpot::dispatch {

sample_quantile::sample_quantile(const ov::Output<ov::Node>& x, double q, bool absolute)
    : Op({x}), q_(q), absolute_(absolute) {
  constructor_validate_and_infer_types();
}

void sample_quantile::validate_and_infer_types() {
  const auto& type = get_input_element_type(0);
  NODE_VALIDATION_CHECK(this, type == ov::element::f32 || type == ov::element::f16 ||
                                  type == ov::element::f64 || type.is_dynamic(),
                        "SampleQuantile needs a float input, got ", type);
  NODE_VALIDATION_CHECK(this, q_ >= 0.0 && q_ <= 1.0, "SampleQuantile: q must lie in [0, 1]");
  const auto& shape = get_input_partial_shape(0);
  ov::PartialShape out = ov::PartialShape::dynamic(1);
  if (shape.rank().is_static()) {
    NODE_VALIDATION_CHECK(this, shape.rank().get_length() >= 1,
                          "SampleQuantile needs a sample axis (rank >= 1)");
    out = ov::PartialShape{shape[0]};
  }
  set_output_type(0, ov::element::f32, out);
}

std::shared_ptr<ov::Node> sample_quantile::clone_with_new_inputs(
    const ov::OutputVector& args) const {
  check_new_args_count(this, args);
  return std::make_shared<sample_quantile>(args.at(0), q_, absolute_);
}

bool sample_quantile::visit_attributes(ov::AttributeVisitor& visitor) {
  visitor.on_attribute("q", q_);
  visitor.on_attribute("absolute", absolute_);
  return true;
}

bool sample_quantile::evaluate(ov::TensorVector& outputs, const ov::TensorVector& inputs) const {
  const ov::Tensor& x = inputs.at(0);
  const ov::Shape shape = x.get_shape();
  dtype type = dtype::float32;
  if (x.get_element_type() == ov::element::f16) type = dtype::float16;
  else if (x.get_element_type() == ov::element::f64) type = dtype::float64;
  else if (x.get_element_type() != ov::element::f32) return false;
  const std::size_t samples = shape.at(0);
  outputs.at(0).set_shape(ov::Shape{samples});
  std::vector<std::int64_t> dims(shape.begin(), shape.end());
  // The input memory as it is (the plugin hands dense tensors): no copy before the scan.
  const array_view view = array_view::contiguous(x.data(), type, std::move(dims));
  std::vector<double> wide;
  output_view out{outputs.at(0).data(), dtype::float32, static_cast<std::int64_t>(samples)};
  if (type == dtype::float64) {  // result_dtype(f64) is f64: reduce, then narrow
    wide.resize(samples);
    out = output_view{wide.data(), dtype::float64, static_cast<std::int64_t>(samples)};
  }
  // One of the plugin's stream threads: the other streams use the other cores.
  serial_kernels_scope serial;
  reduce_per_sample(view, absolute_ ? statistic::abs_quantile : statistic::quantile,
                    std::nullopt, q_, out);
  if (type == dtype::float64) {
    float* narrow = outputs.at(0).data<float>();
    for (std::size_t i = 0; i < samples; ++i) narrow[i] = static_cast<float>(wide[i]);
  }
  return true;
}

int place_sample_quantiles(const std::shared_ptr<ov::Model>& model) {
  int placed = 0;
  const std::string prefix = std::string(kQuantileMarker) + "|";
  for (const auto& result : model->get_results()) {
    const std::string name = result->get_friendly_name();
    if (name.rfind(prefix, 0) != 0) continue;
    // <prefix><stat>|<q>[|<node>:<port>]
    const std::string rest = name.substr(prefix.size());
    const auto bar = rest.find('|');
    const std::string stat = rest.substr(0, bar);
    if (bar == std::string::npos || (stat != "quantile" && stat != "abs_quantile"))
      throw invalid_argument("statistics model: malformed quantile marker '" + name + "'");
    const auto tail = rest.find('|', bar + 1);  // then |<node>:<port>, for unique names
    const std::string number =
        tail == std::string::npos ? rest.substr(bar + 1) : rest.substr(bar + 1, tail - bar - 1);
    char* end = nullptr;
    const double q = std::strtod(number.c_str(), &end);
    if (number.empty() || end == nullptr || *end != '\0' || !(q >= 0.0 && q <= 1.0))
      throw invalid_argument("statistics model: bad quantile level in marker '" + name + "'");
    auto reduced = std::make_shared<sample_quantile>(result->input_value(0), q,
                                                     stat == "abs_quantile");
    reduced->set_friendly_name(name + "/reduce");
    result->input(0).replace_source_output(reduced->output(0));
    ++placed;
  }
  if (placed > 0) model->validate_nodes_and_infer_types();
  return placed;
}

}  // namespace fastpot::dispatch
