// An OpenVINO operation that reduces a tensor to one exact quantile per sample inside the
// plugin, so that the quantile statistics pass needs no export of whole activations.
//
// The statistics model marks a tensor for it with a Result named
//   __fastpot_quantile__|<quantile|abs_quantile>|<q>|<node>:<port>
// (an ordinary export everywhere else); the dispatcher replaces each marked Result's input
// by this operation before compiling. Its output is [N] float32, the value
// fastpot::reduce_per_sample gives for the whole tensor; a per-sample accumulator of the
// same statistic reads it unchanged (the quantile of one value is that value).
#pragma once

#include <openvino/core/model.hpp>
#include <openvino/op/op.hpp>

#include <memory>
#include <string>

namespace fastpot::dispatch {

class sample_quantile : public ov::op::Op {
 public:
  OPENVINO_OP("SampleQuantile", "fastpot")

  sample_quantile() = default;
  sample_quantile(const ov::Output<ov::Node>& x, double q, bool absolute);

  void validate_and_infer_types() override;
  std::shared_ptr<ov::Node> clone_with_new_inputs(const ov::OutputVector& args) const override;
  bool visit_attributes(ov::AttributeVisitor& visitor) override;
  bool has_evaluate() const override { return true; }
  bool evaluate(ov::TensorVector& outputs, const ov::TensorVector& inputs) const override;

  double q() const { return q_; }
  bool absolute() const { return absolute_; }

 private:
  double q_ = 0.0;
  bool absolute_ = false;
};

// The Result name prefix that asks for an in-plugin quantile.
inline constexpr const char* kQuantileMarker = "__fastpot_quantile__";

// Replaces the input of every marked Result of `model` by a sample_quantile; returns how many.
// Throws invalid_argument on a malformed marker.
int place_sample_quantiles(const std::shared_ptr<ov::Model>& model);

}  // namespace fastpot::dispatch
