"""Regenerate fastpot's bundled demo: a small CNN trained on scikit-learn's digits.

Dev-time only (needs scikit-learn and torch, which fastpot itself does not depend on)::

    python3 -m venv /tmp/demo && /tmp/demo/bin/pip install scikit-learn torch openvino
    /tmp/demo/bin/python tools/make_demo_model.py

Data: ``sklearn.datasets.load_digits`` (1797 8x8 grey images of handwritten digits, values
0-16; a copy of the UCI "Optical Recognition of Handwritten Digits" test set, shipped inside
scikit-learn). Pixels are scaled to [0, 1]. The images are split once with a fixed seed into
1297 for training (the first 300 of them are also the calibration set) and 500 for testing.

Model: conv3x3(1->16)-ReLU-conv3x3(16->32)-ReLU-maxpool2-fc(512->64)-ReLU-fc(64->10),
trained with Adam, then rebuilt as an OpenVINO model with the opset API (``openvino.opset13``)
from the trained weights and checked against torch on the test set.

Writes ``python/fastpot/data/digits_cnn.{xml,bin}`` and ``python/fastpot/data/digits.npz``
(``calibration_images [300, 1, 8, 8]``, ``calibration_labels``, ``test_images [500, 1, 8, 8]``,
``test_labels``; float32 images, int64 labels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import torch
from sklearn.datasets import load_digits
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "python" / "fastpot" / "data"
SEED = 20240611
N_TEST = 500
N_CALIBRATION = 300


class Net(nn.Module):
    """The demo CNN."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits of a batch ``[N, 1, 8, 8]``."""
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.max_pool2d(x, 2)
        x = torch.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(train_x, train_y, test_x, test_y)``: images [N, 1, 8, 8] in [0, 1]."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(SEED).permutation(len(labels))
    test, train = order[:N_TEST], order[N_TEST:]
    return images[train], labels[train], images[test], labels[test]


def train(x: np.ndarray, y: np.ndarray) -> Net:
    """Train the CNN (deterministic on CPU)."""
    torch.manual_seed(SEED)
    net = Net()
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(SEED)
    for _ in range(40):
        perm = torch.randperm(len(ys), generator=generator)
        for i in range(0, len(ys), 64):
            batch = perm[i : i + 64]
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(net(xs[batch]), ys[batch])
            loss.backward()
            optimiser.step()
    return net.eval()


def to_openvino(net: Net) -> ov.Model:
    """Rebuild the trained network with the opset API (batch dimension dynamic)."""

    def const(t: torch.Tensor) -> ov.Node:
        return ops.constant(t.detach().numpy().astype(np.float32))

    def conv(x: ov.Node, layer: nn.Conv2d, name: str) -> ov.Node:
        y = ops.convolution(x, const(layer.weight), [1, 1], [1, 1], [1, 1], [1, 1], name=name)
        bias = const(layer.bias.reshape(1, -1, 1, 1))
        return ops.add(y, bias, name=f"{name}/add")

    def dense(x: ov.Node, layer: nn.Linear, name: str) -> ov.Node:
        y = ops.matmul(x, const(layer.weight), False, True, name=name)
        return ops.add(y, const(layer.bias.reshape(1, -1)), name=f"{name}/add")

    image = ops.parameter([-1, 1, 8, 8], ov.Type.f32, name="image")
    image.output(0).get_tensor().set_names({"image"})
    image.set_layout(ov.Layout("NCHW"))
    x = ops.relu(conv(image, net.conv1, "conv1"), name="conv1/relu")
    x = ops.relu(conv(x, net.conv2, "conv2"), name="conv2/relu")
    x = ops.max_pool(x, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2], name="pool").output(0)
    x = ops.reshape(x, ops.constant(np.array([0, -1], dtype=np.int64)), True, name="flatten")
    x = ops.relu(dense(x, net.fc1, "fc1"), name="fc1/relu")
    logits = dense(x, net.fc2, "fc2")
    logits.output(0).get_tensor().set_names({"logits"})
    model = ov.Model([ops.result(logits, name="logits/sink")], [image], "digits_cnn")
    return model


def main() -> None:
    """Train, export, check and write the demo files."""
    train_x, train_y, test_x, test_y = split()
    net = train(train_x, train_y)
    with torch.no_grad():
        torch_logits = net(torch.from_numpy(test_x)).numpy()
    model = to_openvino(net)
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    ov_logits = compiled(test_x)[0]
    assert np.allclose(ov_logits, torch_logits, atol=1e-4), np.abs(ov_logits - torch_logits).max()
    accuracy = float((ov_logits.argmax(1) == test_y).mean())
    print(f"test accuracy (OpenVINO, FP32): {accuracy:.4f}")
    OUT.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, OUT / "digits_cnn.xml", compress_to_fp16=False)
    np.savez_compressed(
        OUT / "digits.npz",
        calibration_images=train_x[:N_CALIBRATION],
        calibration_labels=train_y[:N_CALIBRATION],
        test_images=test_x,
        test_labels=test_y,
    )
    for path in sorted(OUT.glob("digits*")):
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
