"""Realistic pattern models for the AccuracyAware benchmark (issue 16).

Two models built with ``openvino.opset13`` from deterministic random weights:

* :func:`make_recognizer`: an SVTR/ViT-like text recognizer. Input ``[1, 3, 32, 160]``, a
  conv stem (two stride-2 3x3 convolutions and an ``8x1`` convolution that folds the height),
  4 pre-norm transformer blocks at width 192 (6 heads) over 40 positions, a final LayerNorm
  and a per-position classifier over 97 classes (CTC-style), output ``[1, 40, 97]``.
* :func:`make_detector`: a YOLOv8n-like detector at YOLOv8n's widths (16-32-64-128-256):
  a strided conv backbone with C2f blocks and SPPF, and a class head (3x3 + 1x1 convolutions)
  on the stride-8, -16 and -32 maps, concatenated into ``[1, 80, locations]``.

Quantization must hurt, so that AccuracyAware has something to revert: a few layers get
*outlier channels*, the pattern real transformers and detectors show. A handful of channels
of an activation are scaled up by a large factor and the consumer's weights for those
channels are scaled down by the same factor: the FP32 function is unchanged, but a per-tensor
int8 FakeQuantize on that activation spends its range on the outliers and crushes the other
channels. In the recognizer this is done with LayerNorm gammas feeding the QKV projection
(blocks 1 and 3) and the MLP (block 2); in the detector with the output channels of two
backbone convolutions.

The metric is agreement with FP32 (:func:`agreement`): per sample, the fraction of scored
positions whose argmax class equals FP32's. For the recognizer all 40 positions count; for
the detector, FP32's 20 most confident locations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import openvino as ov
import openvino.opset13 as ops

__all__ = [
    "Item",
    "agreement",
    "label_items",
    "make_detector",
    "make_items",
    "make_recognizer",
]

#: An operation or one of its outputs (openvino is untyped for mypy: both are Any).
Node: TypeAlias = Any

#: Recognizer geometry.
REC_SHAPE = (1, 3, 32, 160)
REC_WIDTH = 192
REC_HEADS = 6
REC_BLOCKS = 4
REC_CLASSES = 97
#: Detector geometry.
DET_SHAPE = (1, 3, 128, 128)
DET_CLASSES = 80
DET_TOP_K = 20
#: How much outlier channels are scaled up (and their consumers' weights down).
OUTLIER_SCALE = 60.0


def _const(value: np.ndarray, name: str) -> ov.Node:
    return ops.constant(value.astype(np.float32), name=name)


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def normal(self, shape: Sequence[int], std: float) -> np.ndarray:
        return self.rng.normal(0.0, std, tuple(shape)).astype(np.float32)

    # ---- convolutional pieces -----------------------------------------------------------------

    def conv(
        self,
        x: Node,
        cin: int,
        cout: int,
        k: int | tuple[int, int],
        stride: int,
        name: str,
        act: bool = True,
        out_scale: np.ndarray | None = None,
        in_scale: np.ndarray | None = None,
        pad: bool = True,
    ) -> ov.Node:
        kh, kw = (k, k) if isinstance(k, int) else k
        w = self.normal((cout, cin, kh, kw), np.sqrt(2.0 / (cin * kh * kw)))
        b = self.normal((1, cout, 1, 1), 0.05)
        if out_scale is not None:  # outlier output channels
            w *= out_scale[:, None, None, None]
            b *= out_scale[None, :, None, None]
        if in_scale is not None:  # compensate outlier input channels
            w /= in_scale[None, :, None, None]
        p = [kh // 2, kw // 2] if pad else [0, 0]
        y = ops.convolution(
            x, _const(w, f"{name}/weights"), [stride, stride], p, p, [1, 1], name=name
        )
        y = ops.add(y, _const(b, f"{name}/bias"), name=f"{name}/add")
        return ops.swish(y, name=f"{name}/act") if act else y

    def c2f(
        self, x: Node, c: int, n: int, name: str, in_scale: np.ndarray | None = None
    ) -> ov.Node:
        """C2f block; `in_scale` compensates outlier input channels in its first conv."""
        y = self.conv(x, c, c, 1, 1, f"{name}/cv1", in_scale=in_scale)
        parts = list(ops.split(y, ops.constant(np.int64(1)), 2, name=f"{name}/split").outputs())
        h = parts[1]
        for i in range(n):
            t = self.conv(h, c // 2, c // 2, 3, 1, f"{name}/m{i}/cv1")
            t = self.conv(t, c // 2, c // 2, 3, 1, f"{name}/m{i}/cv2")
            h = ops.add(h, t, name=f"{name}/m{i}/sum")
            parts.append(h.output(0))
        cat = ops.concat(parts, 1, name=f"{name}/concat")
        return self.conv(cat, c // 2 * (2 + n), c, 1, 1, f"{name}/cv2")

    # ---- transformer pieces -------------------------------------------------------------------

    def layer_norm(self, x: Node, width: int, name: str, gamma: np.ndarray) -> ov.Node:
        axis = ops.constant(np.array([-1], np.int64))
        y = ops.mvn(x, axis, True, 1e-5, "inside_sqrt", name=f"{name}/mvn")
        y = ops.multiply(y, _const(gamma, f"{name}/gamma"), name=f"{name}/scale")
        return ops.add(y, _const(self.normal((width,), 0.02), f"{name}/beta"), name=name)

    def linear(
        self, x: Node, cin: int, cout: int, name: str, in_scale: np.ndarray | None = None
    ) -> ov.Node:
        w = self.normal((cout, cin), np.sqrt(1.0 / cin))
        if in_scale is not None:
            w /= in_scale[None, :]
        y = ops.matmul(x, _const(w, f"{name}/weights"), False, True, name=name)
        return ops.add(y, _const(self.normal((cout,), 0.02), f"{name}/bias"), name=f"{name}/add")

    def outliers(self, width: int, count: int) -> np.ndarray:
        scale = np.ones(width, np.float32)
        scale[self.rng.choice(width, count, replace=False)] = OUTLIER_SCALE
        return scale


def make_recognizer(seed: int = 0) -> ov.Model:
    """Build the SVTR/ViT-like recognizer (see the module docstring)."""
    b = _Builder(seed)
    d, heads = REC_WIDTH, REC_HEADS
    x = ops.parameter(list(REC_SHAPE), np.float32, name="image")
    y = b.conv(x, 3, 64, 3, 2, "stem/conv1")  # [1, 64, 16, 80]
    y = b.conv(y, 64, d, 3, 2, "stem/conv2")  # [1, d, 8, 40]
    y = b.conv(y, d, d, (8, 1), 1, "stem/fold", act=False, pad=False)  # [1, d, 1, 40]
    seq = REC_SHAPE[3] // 4
    y = ops.reshape(y, ops.constant(np.array([1, d, seq], np.int64)), False, name="stem/flat")
    y = ops.transpose(y, ops.constant(np.array([0, 2, 1], np.int64)), name="tokens")
    hd = d // heads
    for i in range(REC_BLOCKS):
        name = f"block{i}"
        g1 = b.outliers(d, 3) if i in (1, 3) else np.ones(d, np.float32)
        g2 = b.outliers(d, 3) if i == 2 else np.ones(d, np.float32)
        h = b.layer_norm(y, d, f"{name}/ln1", g1)
        qkv = b.linear(h, d, 3 * d, f"{name}/qkv", in_scale=g1)
        qkv = ops.reshape(qkv, ops.constant(np.array([1, seq, 3, heads, hd], np.int64)), False)
        qkv = ops.transpose(qkv, ops.constant(np.array([2, 0, 3, 1, 4], np.int64)))
        q, k, v = ops.split(qkv, ops.constant(np.int64(0)), 3, name=f"{name}/split").outputs()
        shape = ops.constant(np.array([1, heads, seq, hd], np.int64))
        q, k, v = (ops.reshape(t, shape, False) for t in (q, k, v))
        q = ops.multiply(q, _const(np.array(hd**-0.5), f"{name}/q_scale"))
        att = ops.softmax(ops.matmul(q, k, False, True, name=f"{name}/scores"), -1)
        o = ops.matmul(att, v, False, False, name=f"{name}/context")
        o = ops.transpose(o, ops.constant(np.array([0, 2, 1, 3], np.int64)))
        o = ops.reshape(o, ops.constant(np.array([1, seq, d], np.int64)), False)
        y = ops.add(y, b.linear(o, d, d, f"{name}/proj"), name=f"{name}/res1")
        h = b.layer_norm(y, d, f"{name}/ln2", g2)
        h = ops.gelu(b.linear(h, d, 4 * d, f"{name}/fc1", in_scale=g2), "tanh")
        y = ops.add(y, b.linear(h, 4 * d, d, f"{name}/fc2"), name=f"{name}/res2")
    y = b.layer_norm(y, d, "head/ln", np.ones(d, np.float32))
    logits = b.linear(y, d, REC_CLASSES, "head/classifier")
    return ov.Model([logits], [x], "svtr_like")


def make_detector(seed: int = 0) -> ov.Model:
    """Build the YOLOv8n-like detector (see the module docstring)."""
    b = _Builder(seed)
    x = ops.parameter(list(DET_SHAPE), np.float32, name="images")
    y = b.conv(x, 3, 16, 3, 2, "b0")
    s1 = b.outliers(32, 2)
    y = b.conv(y, 16, 32, 3, 2, "b1", out_scale=s1, act=False)
    y = b.c2f(y, 32, 1, "b2", in_scale=s1)
    y = b.conv(y, 32, 64, 3, 2, "b3")
    p3 = b.c2f(y, 64, 2, "b4")
    s5 = b.outliers(128, 3)
    y = b.conv(p3, 64, 128, 3, 2, "b5", out_scale=s5, act=False)
    p4 = b.c2f(y, 128, 2, "b6", in_scale=s5)
    y = b.conv(p4, 128, 256, 3, 2, "b7")
    y = b.c2f(y, 256, 1, "b8")
    # SPPF
    t = b.conv(y, 256, 128, 1, 1, "sppf/cv1")
    pools = [t]
    for i in range(3):
        t = ops.max_pool(t, [1, 1], [1, 1], [2, 2], [2, 2], [5, 5], name=f"sppf/pool{i}").output(0)
        pools.append(t)
    p5 = b.conv(ops.concat(pools, 1), 512, 256, 1, 1, "sppf/cv2")
    outs = []
    for name, feat, c in (("head3", p3, 64), ("head4", p4, 128), ("head5", p5, 256)):
        h = b.conv(feat, c, 80, 3, 1, f"{name}/cv1")
        h = b.conv(h, 80, 80, 3, 1, f"{name}/cv2")
        h = b.conv(h, 80, DET_CLASSES, 1, 1, f"{name}/cls", act=False)
        outs.append(ops.reshape(h, ops.constant(np.array([1, DET_CLASSES, -1], np.int64)), False))
    return ov.Model([ops.concat(outs, 2, name="scores")], [x], "yolo_like")


@dataclass(frozen=True)
class Item:
    """One validation/calibration item: the input and FP32's reference."""

    input: np.ndarray
    positions: np.ndarray  # scored positions (flat indices into the class map's last axis)
    classes: np.ndarray  # FP32's argmax class at each scored position


def make_items(shape: Sequence[int], n: int, seed: int) -> list[np.ndarray]:
    """`n` standard-normal inputs of `shape` (batch 1)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(tuple(shape), dtype=np.float32) for _ in range(n)]


def _class_map(output: np.ndarray) -> np.ndarray:
    """``[classes, positions]`` of one output (recognizer ``[1, P, C]``, detector ``[1, C, P]``)."""
    out: np.ndarray = output[0]
    return out.T if out.shape[-1] == REC_CLASSES else out


def label_items(model: ov.Model, inputs: list[np.ndarray], top_k: int | None) -> list[Item]:
    """FP32 references of `inputs`: all positions, or FP32's `top_k` most confident ones."""
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    outputs = infer_all(compiled, inputs)
    items = []
    for x, out in zip(inputs, outputs, strict=True):
        cmap = _class_map(out)
        if top_k is None:
            positions = np.arange(cmap.shape[1])
        else:
            positions = np.sort(np.argsort(-cmap.max(axis=0), kind="stable")[:top_k])
        items.append(Item(x, positions, cmap[:, positions].argmax(axis=0)))
    return items


def infer_all(compiled: ov.CompiledModel, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Outputs of `compiled` on every input, in input order.

    A few requests in flight, round robin, without Python callbacks: a callback pending on a
    stream thread while the compiled model is destroyed can deadlock on the GIL.
    """
    count = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    requests = [compiled.create_infer_request() for _ in range(min(count, len(inputs)))]
    owner: list[int | None] = [None] * len(requests)
    results: list[np.ndarray | None] = [None] * len(inputs)

    def collect(slot: int) -> None:
        index = owner[slot]
        if index is not None:
            requests[slot].wait()
            results[index] = requests[slot].get_output_tensor(0).data.copy()

    for i, x in enumerate(inputs):
        slot = i % len(requests)
        collect(slot)
        requests[slot].start_async({0: x})
        owner[slot] = i
    for slot in range(len(requests)):
        collect(slot)
    return [r for r in results if r is not None]


def agreement(compiled: ov.CompiledModel, items: Sequence[Item]) -> tuple[float, list[float]]:
    """NNCF-style validation function: (mean, per-item) FP32 argmax agreement."""
    outputs = infer_all(compiled, [it.input for it in items])
    values = []
    for it, out in zip(items, outputs, strict=True):
        cmap = _class_map(out)
        values.append(float(np.mean(cmap[:, it.positions].argmax(axis=0) == it.classes)))
    return float(np.mean(values)), values
