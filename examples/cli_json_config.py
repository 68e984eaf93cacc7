"""The ``pot`` command line with a JSON config: simplified engine on a folder of images.

What it shows: quantizing an IR with no Python code of your own, as POT's command line did.
The script prepares what a real project already has, in the working directory:

* ``tiny_cnn.{xml,bin}``: a small image classifier (built here with ``openvino.opset13``,
  random weights, input ``[1, 3, 32, 32]``);
* ``images/``: 24 PNG files (the simplified engine reads any image Pillow opens, sorted by
  path, and resizes them to the model input);

then runs, in a subprocess, exactly what you would type::

    pot -c examples/configs/simplified_engine.json --output-dir results

(as ``python -m fastpot quantize ...``, which is the same program, so that it also works
where the ``pot`` script is not on ``PATH``). Relative paths in the config are taken from the
current directory first, then from the config file's folder. The quantized IR lands in
``results/tiny_cnn_DefaultQuantization/<timestamp>/optimized/tiny_cnn.{xml,bin}`` next to
``log.txt``.

Run::

    python examples/cli_json_config.py [--workdir cli_out]

About 3 s on two cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from PIL import Image

CONFIG = Path(__file__).resolve().parent / "configs" / "simplified_engine.json"


def tiny_cnn(seed: int = 0) -> ov.Model:
    """conv-ReLU-conv-ReLU-global average pool-fully connected, 10 classes."""
    rng = np.random.default_rng(seed)

    def conv(x: ov.Output, c_in: int, c_out: int) -> ov.Output:
        w = rng.normal(0, (2 / (9 * c_in)) ** 0.5, (c_out, c_in, 3, 3)).astype(np.float32)
        b = rng.normal(0, 0.1, (1, c_out, 1, 1)).astype(np.float32)
        y = ops.convolution(x, ops.constant(w), [1, 1], [1, 1], [1, 1], [1, 1])
        return ops.relu(ops.add(y, ops.constant(b))).output(0)

    image = ops.parameter([1, 3, 32, 32], np.float32, name="image")
    x = conv(conv(image.output(0), 3, 8), 8, 16)
    pooled = ops.reduce_mean(x, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)
    fc = rng.normal(0, 0.25, (16, 10)).astype(np.float32)
    logits = ops.matmul(pooled, ops.constant(fc), False, False)
    return ov.Model([logits.output(0)], [image], "tiny_cnn")


def write_images(folder: Path, count: int = 24, seed: int = 1) -> None:
    """Smooth random colour images (48x40, so the engine has to resize them)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:40, 0:48]
    for i in range(count):
        phase = rng.uniform(0, 2 * np.pi, 3)
        freq = rng.uniform(0.05, 0.3, 3)
        planes = [
            127.5 * (1 + np.sin(f * (xx + k * yy) + p))
            for k, (f, p) in enumerate(zip(freq, phase, strict=True))
        ]
        pixels = np.stack(planes, axis=-1).astype(np.uint8)
        Image.fromarray(pixels, "RGB").save(folder / f"img_{i:03d}.png")


def main(argv: list[str] | None = None) -> int:
    """Prepare the model and images, run ``pot -c``; returns the command's exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="cli_out", type=Path)
    args = parser.parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    ov.save_model(tiny_cnn(), workdir / "tiny_cnn.xml", compress_to_fp16=False)
    write_images(workdir / "images")

    command = [sys.executable, "-m", "fastpot", "quantize", "-c", str(CONFIG)]
    command += ["--output-dir", "results"]
    print("running:", "pot", *command[4:])
    done = subprocess.run(command, cwd=workdir, check=False)
    if done.returncode != 0:
        return done.returncode

    (xml,) = sorted(workdir.glob("results/tiny_cnn_DefaultQuantization/*/optimized/tiny_cnn.xml"))
    quantized = ov.Core().read_model(xml)
    fq = sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops())
    print(f"quantized IR: {xml.relative_to(workdir)} ({fq} FakeQuantize nodes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
