"""What a quantized IR holds, read from its graph alone: quantizers and quantized layers.

Three kinds of facts:

* every ``FakeQuantize`` node: activation (data from a tensor) or weight (data from a
  constant), its levels, granularity and the four range constants;
* every *compressed weight*: a weight FakeQuantize that ``compress_model_weights`` folded
  into ``Constant(int8/uint8/int4/uint4) -> Convert -> [Subtract zero point] -> Multiply
  scale``; its range is the dequantized weights' per-channel minimum and maximum;
* every *quantized layer*: an operation fed by an activation FakeQuantize (reached downwards
  through quantization-agnostic operations such as MaxPool or Reshape) or with a quantized
  weight input (Convolution, GroupConvolution, ConvolutionBackpropData, MatMul, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import openvino as ov

from fastpot.graph.hardware import hardware_config

__all__ = [
    "CompressedWeight",
    "FakeQuantizeFacts",
    "LayerFacts",
    "ModelFacts",
    "bias_constant",
    "original_name",
    "read_model_facts",
]

# Operations that pass a quantized tensor on unchanged in meaning (POT's agnostic types).
AGNOSTIC = hardware_config("ANY").agnostic
# Between a weight constant and its layer: conversions and shape changes only.
_WEIGHT_PATH = frozenset({"Convert", "Reshape", "Transpose", "Squeeze", "Unsqueeze"})
_INTEGER_STORAGE = {
    "i8": (-128, 127),
    "u8": (0, 255),
    "i4": (-8, 7),
    "u4": (0, 15),
}
# fastpot renames the producer of an output-facing FakeQuantize "<name>/pre_fq_input" (the
# FakeQuantize takes the producer's name); in the FP32 model it still has its own name.
_PRE_FQ = "/pre_fq_input"
# compress_model_weights names the scale Multiply "<fake quantize>/mulpiply_by_scale" (POT's
# spelling); the FakeQuantize's name is what a reader looks for.
_SCALE_SUFFIXES = ("/mulpiply_by_scale", "/multiply_by_scale")


def original_name(name: str) -> str:
    """Return the FP32 model's name of a quantized model's node called `name`."""
    return name.split(_PRE_FQ, maxsplit=1)[0] if _PRE_FQ in name else name


def _constant_array(node: Any) -> np.ndarray | None:
    """Float32 data of a Constant, or of a Constant behind Converts; else None."""
    while node.get_type_name() == "Convert":
        node = node.input_value(0).get_node()
    if node.get_type_name() != "Constant":
        return None
    return np.asarray(node.get_data(), dtype=np.float32)


def _integer_data(const: Any) -> np.ndarray:
    """Values of an integer Constant as int64, 4-bit constants unpacked (low nibble first)."""
    element = const.get_output_element_type(0)
    shape = tuple(const.get_output_shape(0))
    if element.bitwidth != 4:
        return np.asarray(const.get_data()).astype(np.int64).reshape(shape)
    packed = np.asarray(const.get_data()).view(np.uint8).reshape(-1)
    nibbles = np.stack([packed & 0x0F, packed >> 4], axis=-1).reshape(-1).astype(np.int64)
    if element.is_signed():
        nibbles = np.where(nibbles > 7, nibbles - 16, nibbles)
    return nibbles[: int(np.prod(shape, dtype=np.int64))].reshape(shape)


@dataclass
class FakeQuantizeFacts:
    """One FakeQuantize node of the quantized model."""

    name: str
    kind: str  # "activation" | "weight"
    levels: int
    input_low: np.ndarray
    input_high: np.ndarray
    output_low: np.ndarray
    output_high: np.ndarray
    node: Any = field(repr=False)
    layers: list[str] = field(default_factory=list)

    @property
    def granularity(self) -> str:
        """``"perchannel"`` when a range constant holds more than one value."""
        sizes = (self.input_low, self.input_high, self.output_low, self.output_high)
        return "perchannel" if any(a.size > 1 for a in sizes) else "pertensor"

    @property
    def source(self) -> Any:
        """The output the FakeQuantize quantizes (its data input)."""
        return self.node.input_value(0)


@dataclass
class CompressedWeight:
    """A weight FakeQuantize folded into integer storage with a scale (and zero point)."""

    name: str  # the FakeQuantize's name (the scale Multiply's name without its suffix)
    node_name: str  # the scale Multiply
    storage_type: str  # "i8", "u8", "i4", "u4"
    levels: int  # inferred, see read_model_facts
    scale: np.ndarray
    zero_point: np.ndarray | None
    weight_low: np.ndarray  # per channel: minimum of the dequantized weights
    weight_high: np.ndarray
    integer_low: int  # smallest / largest stored integer
    integer_high: int
    node: Any = field(repr=False)
    layers: list[str] = field(default_factory=list)

    @property
    def granularity(self) -> str:
        """``"perchannel"`` when the scale (or zero point) holds more than one value."""
        sizes = [self.scale.size] + ([self.zero_point.size] if self.zero_point is not None else [])
        return "perchannel" if max(sizes) > 1 else "pertensor"


@dataclass
class LayerFacts:
    """A quantized operation: its activation quantizers and its weight quantizer."""

    name: str
    type: str
    node: Any = field(repr=False)
    activation_fake_quantizes: list[str] = field(default_factory=list)
    # (name, kind) of each weight input's quantizer: kind "fake_quantize" or "compressed";
    # one for Convolution/MatMul, two for LSTMSequence/GRUSequence (W and R).
    weight_quantizers: list[tuple[str, str]] = field(default_factory=list)

    def output(self) -> Any:
        """Return the output compared with the FP32 model: after the bias Add if any."""
        add, _ = bias_constant(self.node)
        return (add or self.node).output(0)


@dataclass
class ModelFacts:
    """Everything :func:`read_model_facts` found."""

    fake_quantizes: list[FakeQuantizeFacts]
    compressed_weights: list[CompressedWeight]
    layers: list[LayerFacts]

    @property
    def activation_fake_quantizes(self) -> list[FakeQuantizeFacts]:
        """The activation FakeQuantize nodes, in model order."""
        return [fq for fq in self.fake_quantizes if fq.kind == "activation"]


def bias_constant(node: Any) -> tuple[Any | None, Any | None]:
    """(Add, Constant) of the bias added right after `node`, or (None, None)."""
    targets = list(node.output(0).get_target_inputs())
    if len(targets) != 1 or targets[0].get_node().get_type_name() != "Add":
        return None, None
    add = targets[0].get_node()
    other = add.input_value(1 - targets[0].get_index()).get_node()
    while other.get_type_name() == "Convert":
        other = other.input_value(0).get_node()
    if other.get_type_name() != "Constant":
        return None, None
    return add, other


def _fake_quantize(node: Any) -> FakeQuantizeFacts:
    ranges = [_constant_array(node.input_value(i).get_node()) for i in range(1, 5)]
    name = node.get_friendly_name()
    if any(r is None for r in ranges):
        raise ValueError(f"{name}: a FakeQuantize whose ranges are not constants")
    il, ih, ol, oh = (r for r in ranges if r is not None)
    weight = _constant_array(node.input_value(0).get_node()) is not None
    return FakeQuantizeFacts(
        name=name,
        kind="weight" if weight else "activation",
        levels=int(node.get_attributes()["levels"]),
        input_low=il,
        input_high=ih,
        output_low=ol,
        output_high=oh,
        node=node,
    )


def _stored_integers(value: Any) -> Any | None:
    """Return the integer Constant behind ``Convert`` (the stored weights), else None."""
    node = value.get_node()
    if node.get_type_name() != "Convert":
        return None
    const = node.input_value(0).get_node()
    if const.get_type_name() != "Constant":
        return None
    if const.get_output_element_type(0).get_type_name() not in _INTEGER_STORAGE:
        return None
    return const


def _compressed_weight(multiply: Any) -> CompressedWeight | None:
    """Read ``int const -> Convert [-> Subtract zp] -> Multiply scale``; None if not one."""
    for data_port in (0, 1):
        data = multiply.input_value(data_port)
        scale = _constant_array(multiply.input_value(1 - data_port).get_node())
        if scale is None:
            continue
        zero_point: np.ndarray | None = None
        stored = _stored_integers(data)
        if stored is None and data.get_node().get_type_name() == "Subtract":
            sub = data.get_node()
            stored = _stored_integers(sub.input_value(0))
            zero_point = _constant_array(sub.input_value(1).get_node())
            if zero_point is None:
                stored = None
        if stored is None:
            continue
        return _describe_compressed(multiply, stored, scale, zero_point)
    return None


def _describe_compressed(
    multiply: Any, stored: Any, scale: np.ndarray, zero_point: np.ndarray | None
) -> CompressedWeight:
    storage = stored.get_output_element_type(0).get_type_name()
    q = _integer_data(stored)
    weights = (q - (0 if zero_point is None else zero_point)) * scale
    weights = np.asarray(weights, dtype=np.float32)
    # Channel axes: those along which the scale or zero point varies.
    channel_axes = {
        weights.ndim - a.ndim + axis
        for a in (scale, zero_point)
        if a is not None
        for axis, size in enumerate(a.shape)
        if size > 1
    }
    reduce_axes = tuple(axis for axis in range(weights.ndim) if axis not in channel_axes)
    low = weights.min(axis=reduce_axes) if weights.size else np.zeros(0, np.float32)
    high = weights.max(axis=reduce_axes) if weights.size else np.zeros(0, np.float32)
    qmin, qmax = _INTEGER_STORAGE[storage]
    levels = qmax - qmin + 1
    if storage in ("i8", "i4") and zero_point is None and q.size and q.min() > qmin:
        # Symmetric weights use a narrow range (-127..127 for 8 bits): 255 levels.
        levels -= 1
    name = multiply.get_friendly_name()
    base = next((name[: -len(s)] for s in _SCALE_SUFFIXES if name.endswith(s)), name)
    return CompressedWeight(
        name=base,
        node_name=name,
        storage_type=storage,
        levels=levels,
        scale=scale,
        zero_point=zero_point,
        weight_low=np.asarray(low, np.float32),
        weight_high=np.asarray(high, np.float32),
        integer_low=int(q.min()) if q.size else 0,
        integer_high=int(q.max()) if q.size else 0,
        node=multiply,
    )


def _weight_quantizers(op: Any, by_node: dict[str, Any]) -> list[Any]:
    """Return the weight FakeQuantizes and compressed weights feeding `op`, by input port."""
    if op.get_type_name() in _WEIGHT_PATH:
        return []  # a conversion or reshape between a weight quantizer and its layer
    found = []
    for value in op.input_values():
        node = value.get_node()
        while node.get_name() not in by_node and node.get_type_name() in _WEIGHT_PATH:
            node = node.input_value(0).get_node()
        quantizer = by_node.get(node.get_name())
        if quantizer is None or getattr(quantizer, "kind", "weight") != "weight":
            continue  # nothing, or an activation FakeQuantize
        if quantizer not in found:
            found.append(quantizer)
    return found


def _consumers(node: Any) -> list[Any]:
    return [t.get_node() for out in node.outputs() for t in out.get_target_inputs()]


def _layers_fed_by(fq: Any) -> list[Any]:
    """Operations `fq` quantizes, reached downwards through agnostic operations."""
    found: list[Any] = []
    seen: set[str] = set()
    stack = _consumers(fq)
    while stack:
        node = stack.pop()
        if node.get_name() in seen:
            continue
        seen.add(node.get_name())
        kind = node.get_type_name()
        if kind in AGNOSTIC or kind == "Convert":
            stack.extend(_consumers(node))
        elif kind not in ("FakeQuantize", "Result"):
            found.append(node)
    return found


def read_model_facts(model: ov.Model) -> ModelFacts:
    """Find the quantizers and quantized layers of `model` (see the module docstring).

    Parameters
    ----------
    model : openvino.Model
        A quantized model, with weight FakeQuantizes or with compressed weights.

    Returns
    -------
    ModelFacts
        FakeQuantize nodes and compressed weights in model order, and the quantized layers
        in model order. A compressed weight's ``levels`` is inferred from its storage: the
        storage type's range (256 for 8 bits, 16 for 4 bits), one less for signed storage
        without zero point whose integers never reach the lowest value (the narrow range of
        symmetric weights).
    """
    ordered = list(model.get_ordered_ops())
    fake_quantizes = [_fake_quantize(op) for op in ordered if op.get_type_name() == "FakeQuantize"]
    compressed = [
        c
        for c in (_compressed_weight(op) for op in ordered if op.get_type_name() == "Multiply")
        if c is not None
    ]
    by_node: dict[str, Any] = {fq.node.get_name(): fq for fq in fake_quantizes}
    by_node.update({c.node.get_name(): c for c in compressed})

    layers: dict[str, LayerFacts] = {}

    def layer_of(node: Any) -> LayerFacts:
        key = node.get_name()
        if key not in layers:
            layers[key] = LayerFacts(node.get_friendly_name(), node.get_type_name(), node)
        return layers[key]

    for fq in fake_quantizes:
        if fq.kind != "activation":
            continue
        for node in _layers_fed_by(fq.node):
            layer = layer_of(node)
            layer.activation_fake_quantizes.append(fq.name)
            fq.layers.append(layer.name)
    for op in ordered:
        for quantizer in _weight_quantizers(op, by_node):
            layer = layer_of(op)
            kind = "fake_quantize" if isinstance(quantizer, FakeQuantizeFacts) else "compressed"
            layer.weight_quantizers.append((quantizer.name, kind))
            quantizer.layers.append(layer.name)
    position = {op.get_name(): i for i, op in enumerate(ordered)}
    order = {fq.name: i for i, fq in enumerate(fake_quantizes)}
    for layer in layers.values():
        layer.activation_fake_quantizes.sort(key=order.__getitem__)
    return ModelFacts(
        fake_quantizes=fake_quantizes,
        compressed_weights=compressed,
        layers=sorted(layers.values(), key=lambda layer: position[layer.node.get_name()]),
    )
