"""What FastBiasCorrection and BiasCorrection share: candidate layers and the bias update rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fastpot.graph.fq_insertion import plan_fake_quantize
from fastpot.graph.layers import Layer, find_layers
from fastpot.statistics.collector import StatRequest

__all__ = ["BiasTarget", "bias_targets", "channel_shaped", "fake_quantize", "propose_bias"]


@dataclass(frozen=True)
class BiasTarget:
    """A layer whose bias may be corrected, named by FP32 tensors."""

    layer: str  # friendly name of the layer
    input: tuple[str, int]  # producer of the layer's input 0
    output: tuple[str, int]  # the bias Add's output
    channel_axis: int  # positive axis of the channel in both tensors
    input_rank: int
    output_rank: int

    def output_mean(self) -> StatRequest:
        """Per-channel mean of the FP32 output (mean over samples)."""
        return StatRequest(self.output, "mean", "mean", channel_axis=self.output_channel_axis)

    def input_tensor_mean(self) -> StatRequest:
        """Return the request for the element-wise mean FP32 input sample (full shape)."""
        return StatRequest(self.input, "tensor_mean")

    def input_mean(self) -> StatRequest:
        """Per-channel mean of the FP32 input."""
        return StatRequest(self.input, "mean", "mean", channel_axis=self.input_channel_axis)

    def on(self, stage: Any) -> BiasTarget:
        """Return this target with its tensors named as statistics of `stage` (its prefix)."""
        return replace(self, input=stage.node(self.input), output=stage.node(self.output))

    @property
    def input_channel_axis(self) -> int:
        """Channel axis of the input tensor."""
        return self.channel_axis if self.channel_axis > 0 else self.input_rank - 1

    @property
    def output_channel_axis(self) -> int:
        """Channel axis of the output tensor."""
        return self.channel_axis if self.channel_axis > 0 else self.output_rank - 1


def _rank(output: Any) -> int:
    shape = output.get_partial_shape()
    return shape.rank.get_length() if shape.rank.is_static else 0


def bias_targets(
    model: Any, params: Mapping[str, Any], quantized_only: bool = True
) -> list[BiasTarget]:
    """Layers with a constant bias whose weights get a FakeQuantize, in topological order.

    With ``apply_for_all_nodes`` every layer with a bias qualifies.
    """
    all_nodes = bool(params.get("apply_for_all_nodes", False))
    quantized: set[str] = set()
    if quantized_only and not all_nodes:
        placement = plan_fake_quantize(model, params)
        g = placement.graph
        quantized = {
            g.name(c)
            for p in placement.plans
            if p.group == "weights"
            for c, q in p.consumers
            if q == 1
        }
    targets = []
    for layer in find_layers(model):
        if layer.bias_add is None or (
            quantized_only and not all_nodes and layer.name not in quantized
        ):
            continue
        if layer.type == "ConvolutionBackpropData" or _rank(layer.output()) < 2:
            continue
        src = layer.node.input_value(0)
        targets.append(
            BiasTarget(
                layer=layer.name,
                input=(str(src.get_node().get_friendly_name()), int(src.get_index())),
                output=(str(layer.bias_add.get_friendly_name()), 0),
                channel_axis=layer.channel_axis,
                input_rank=_rank(src),
                output_rank=_rank(layer.output()),
            )
        )
    return targets


def propose_bias(
    layer: Layer, new: np.ndarray, threshold: float
) -> tuple[np.ndarray | None, float]:
    """Return the bias to write (None: keep the old one) and the change's magnitude.

    ``magnitude = max |(new - old) / old|``, infinite if the old bias has an exact zero
    (POT never touches such a bias); the new bias is taken if the magnitude is below
    `threshold` and its shape equals the old bias's.
    """
    assert layer.bias is not None
    old = np.asarray(layer.bias.get_data(), dtype=np.float32)
    if new.shape != old.shape:
        return None, float("inf")
    if np.any(old == 0):
        return None, float("inf")
    magnitude = float(np.max(np.abs((new - old) / old)))
    return (new.astype(np.float32) if magnitude < threshold else None), magnitude


def fake_quantize(
    x: np.ndarray, il: np.ndarray, ih: np.ndarray, ol: np.ndarray, oh: np.ndarray, levels: int
) -> np.ndarray:
    """OpenVINO's FakeQuantize in float32 (ties round to even, as the CPU plugin does)."""
    x = np.asarray(x, dtype=np.float32)
    il, ih, ol, oh = (np.asarray(a, dtype=np.float32) for a in (il, ih, ol, oh))
    steps = np.float32(levels - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.rint((x - il) / (ih - il) * steps) / steps * (oh - ol) + ol
    lo, hi = np.minimum(il, ih), np.maximum(il, ih)
    return np.where(x <= lo, ol, np.where(x > hi, oh, q)).astype(np.float32)


def channel_shaped(values: np.ndarray, rank: int, axis: int) -> np.ndarray:
    """`values` [C] as rank-`rank` ones with C at `axis`."""
    shape = [1] * rank
    shape[axis] = values.size
    return np.asarray(values, dtype=np.float32).reshape(shape)
