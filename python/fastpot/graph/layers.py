"""Weighted layers as the algorithms see them: weights, bias, and rewriting constants.

A *layer* is a Convolution / GroupConvolution / ConvolutionBackpropData / MatMul whose port 1
is a constant (optionally behind a FakeQuantize and/or a Convert). Its *bias* is the
constant operand of the single ``Add`` that consumes its output, when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import openvino as ov
import openvino.opset13 as ops

__all__ = ["Layer", "find_layers", "replace_constant", "source_constant"]

WEIGHTED_TYPES = ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul")


def source_constant(output: Any) -> Any | None:
    """Return the Constant behind `output`, through Convert, Reshape and FakeQuantize."""
    node = output.get_node()
    while node.get_type_name() in ("Convert", "FakeQuantize", "Reshape"):
        if (
            node.get_type_name() == "Reshape"
            and node.input_value(1).get_node().get_type_name() != "Constant"
        ):
            return None
        node = node.input_value(0).get_node()
    return node if node.get_type_name() == "Constant" else None


def replace_constant(const: Any, value: np.ndarray) -> Any:
    """Replace Constant `const` everywhere by one holding `value` (same name and type)."""
    dtype = const.get_output_element_type(0).to_dtype()
    new = ops.constant(np.asarray(value).astype(dtype), name=const.get_friendly_name())
    for target in list(const.output(0).get_target_inputs()):
        target.replace_source_output(new.output(0))
    return new


@dataclass
class Layer:
    """A weighted layer and its bias."""

    node: Any
    weights: Any  # the weights Constant
    bias_add: Any | None  # the Add holding the bias
    bias: Any | None  # the bias Constant

    @property
    def name(self) -> str:
        """Friendly name of the layer."""
        return str(self.node.get_friendly_name())

    @property
    def type(self) -> str:
        """OpenVINO type name."""
        return str(self.node.get_type_name())

    @property
    def channel_axis(self) -> int:
        """Channel axis of the input and output tensors (1; -1 for MatMul)."""
        return -1 if self.type == "MatMul" else 1

    def weights_fq(self) -> Any | None:
        """Return the FakeQuantize on the weights input, if quantized."""
        node = self.node.input_value(1).get_node()
        while node.get_type_name() in ("Reshape", "Convert"):
            node = node.input_value(0).get_node()
        return node if node.get_type_name() == "FakeQuantize" else None

    def output(self) -> Any:
        """Return the layer's output after its bias (the bias Add's output if any)."""
        return (self.bias_add or self.node).output(0)


def _bias_of(node: Any) -> tuple[Any | None, Any | None]:
    targets = list(node.output(0).get_target_inputs())
    if len(targets) != 1:
        return None, None
    add = targets[0].get_node()
    if add.get_type_name() != "Add":
        return None, None
    other = add.input_value(1 - targets[0].get_index()).get_node()
    while other.get_type_name() == "Convert":
        other = other.input_value(0).get_node()
    if other.get_type_name() != "Constant":
        return None, None
    return add, other


def find_layers(model: ov.Model) -> list[Layer]:
    """Weighted layers with constant weights, in topological order."""
    layers = []
    for node in model.get_ordered_ops():
        if node.get_type_name() not in WEIGHTED_TYPES:
            continue
        weights = source_constant(node.input_value(1))
        if weights is None:
            continue
        add, bias = _bias_of(node)
        layers.append(Layer(node, weights, add, bias))
    return layers
