"""The issue's ResNet-like benchmark model, built with OpenVINO's opset API.

16 convolutions (a 7x7 stem and seven residual blocks of two 3x3 convolutions, some with a
1x1 projection counted among the 16) and one MatMul classifier, input 1x3x224x224,
He-initialised random weights from a fixed seed.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from fastpot.api import DataLoader

__all__ = ["SampleLoader", "make_resnet_like", "make_samples"]


def _conv(x, cin: int, cout: int, k: int, stride: int, rng: np.random.Generator, name: str):
    w = rng.normal(0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32)
    pad = k // 2
    y = ops.convolution(
        x,
        ops.constant(w, name=f"{name}/weights"),
        [stride, stride],
        [pad, pad],
        [pad, pad],
        [1, 1],
        name=name,
    )
    b = rng.normal(0, 0.01, (1, cout, 1, 1)).astype(np.float32)
    return ops.add(y, ops.constant(b, name=f"{name}/bias"), name=f"{name}/add")


def make_resnet_like(seed: int = 0) -> ov.Model:
    """Build the model: 16 Convolutions + 1 MatMul."""
    rng = np.random.default_rng(seed)
    x = ops.parameter([1, 3, 224, 224], np.float32, name="image")
    y = ops.relu(_conv(x, 3, 32, 7, 2, rng, "stem"), name="stem/relu")
    y = ops.max_pool(y, [2, 2], [1, 1], [1, 1], [1, 1], [3, 3], name="pool").output(0)
    channels = 32
    convs = 1
    # (out channels, stride) per block; a projection conv where the shape changes.
    for i, (cout, stride) in enumerate([(32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (256, 2)]):
        shortcut = y
        if stride != 1 or cout != channels:
            shortcut = _conv(y, channels, cout, 1, stride, rng, f"block{i}/proj")
            convs += 1
        h = ops.relu(
            _conv(y, channels, cout, 3, stride, rng, f"block{i}/conv1"), name=f"block{i}/relu1"
        )
        h = _conv(h, cout, cout, 3, 1, rng, f"block{i}/conv2")
        convs += 2
        y = ops.relu(ops.add(h, shortcut, name=f"block{i}/sum"), name=f"block{i}/relu2")
        channels = cout
    assert convs == 16, convs
    y = ops.reduce_mean(y, ops.constant(np.array([2, 3], np.int64)), False, name="gap")
    w = rng.normal(0, np.sqrt(1.0 / channels), (1000, channels)).astype(np.float32)
    logits = ops.matmul(y, ops.constant(w, name="fc/weights"), False, True, name="fc")
    return ov.Model([logits], [x], "resnet_like")


def make_samples(n: int, seed: int = 1) -> np.ndarray:
    """`n` input samples [n, 3, 224, 224] (standard normal)."""
    return np.random.default_rng(seed).standard_normal((n, 3, 224, 224), dtype=np.float32)


class SampleLoader(DataLoader):
    """POT-style loader over an array of samples: item i is ``(samples[i:i+1], None)``."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[np.ndarray, None]:
        return self.samples[i : i + 1], None
