"""Quantize a model with two inputs; calibration items are dicts keyed by input name.

What it shows: ``fastpot.quantize`` on an in-memory ``ov.Model`` (built here with
``openvino.opset13``: an image branch and a feature-vector branch, concatenated into a
classifier head), with ``fastpot.Dataset`` and a ``transform_fn`` that turns each raw record
of your data set (here ``(image, features, label)`` tuples) into the model's inputs
``{"image": ..., "features": ...}``. Labels are not needed for calibration; the function
drops them.

Run::

    python examples/multi_input.py [--output multi_input_int8.xml]

Saves the INT8 IR and compares its outputs with FP32 on 100 held-out records.
About 3 s on two cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops

import fastpot

Record = tuple[np.ndarray, np.ndarray, int]


def two_input_model(seed: int = 0) -> ov.Model:
    """``image [1, 3, 16, 16]`` -> conv, ReLU, mean; ``features [1, 32]`` -> FC, ReLU; concat -> FC."""
    rng = np.random.default_rng(seed)
    image = ops.parameter([1, 3, 16, 16], np.float32, name="image")
    features = ops.parameter([1, 32], np.float32, name="features")

    w = rng.normal(0, 0.27, (12, 3, 3, 3)).astype(np.float32)
    conv = ops.convolution(image, ops.constant(w), [1, 1], [1, 1], [1, 1], [1, 1])
    conv = ops.relu(ops.add(conv, ops.constant(rng.normal(0, 0.1, (1, 12, 1, 1)), np.float32)))
    pooled = ops.reduce_mean(conv, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)

    fc1 = ops.matmul(
        features, ops.constant(rng.normal(0, 0.18, (32, 12)), np.float32), False, False
    )
    dense = ops.relu(ops.add(fc1, ops.constant(rng.normal(0, 0.1, (1, 12)), np.float32)))

    joined = ops.concat([pooled, dense], axis=1)
    head = ops.matmul(joined, ops.constant(rng.normal(0, 0.2, (24, 5)), np.float32), False, False)
    return ov.Model([head.output(0)], [image, features], "two_inputs")


def records(count: int, seed: int) -> list[Record]:
    """Return a stand-in for your data set: ``(image, features, label)`` records."""
    rng = np.random.default_rng(seed)
    return [
        (
            rng.random((3, 16, 16), dtype=np.float32),
            rng.uniform(-1, 1, 32).astype(np.float32),  # normalised features
            int(rng.integers(5)),
        )
        for _ in range(count)
    ]


def to_inputs(record: Record) -> dict[str, np.ndarray]:
    """One record -> the model's inputs (batch axis added), keyed by input name."""
    image, features, _label = record
    return {"image": image[None], "features": features[None]}


def main(argv: list[str] | None = None) -> int:
    """Quantize the two-input model and save it; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="multi_input_int8.xml", type=Path)
    args = parser.parse_args(argv)

    model = two_input_model()
    calibration = fastpot.Dataset(records(200, seed=1), to_inputs)
    int8 = fastpot.quantize(model, calibration, subset_size=200)
    ov.save_model(int8, args.output)

    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    fp32_compiled = core.compile_model(two_input_model(), "CPU", config)
    int8_compiled = core.compile_model(core.read_model(args.output), "CPU", config)
    held_out = records(100, seed=2)
    ref = np.concatenate([fp32_compiled(to_inputs(r))[0] for r in held_out])
    out = np.concatenate([int8_compiled(to_inputs(r))[0] for r in held_out])
    agree = float(np.mean(ref.argmax(axis=1) == out.argmax(axis=1)))
    error = float(np.abs(out - ref).mean() / np.abs(ref).mean())
    fq = sum(op.get_type_name() == "FakeQuantize" for op in int8.get_ops())
    print(f"INT8 model: {fq} FakeQuantize nodes, saved to {args.output}")
    print(f"on 100 held-out records: same top-1 class as FP32 for {100 * agree:.0f} %,")
    print(f"mean output difference {100 * error:.1f} % of the mean output magnitude")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
