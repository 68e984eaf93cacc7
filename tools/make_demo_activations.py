"""Write fastpot's bundled demo array set: real activations of the zoo model ``plain_cnn``.

Usage: python tools/make_demo_activations.py [ZOO_DIR] (default: tests/data/zoo)

The zoo model runs in FP32 on OpenVINO's CPU plugin over its first 16 calibration samples;
the model input and the outputs of three layers are stored as float16 (about 1 MB) in
``python/fastpot/data/demo_activations.npz``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import openvino as ov

ROOT = Path(__file__).resolve().parents[1]
TENSORS = ("conv1/relu", "conv2/relu", "conv3/relu")
SAMPLES = 16


def main() -> None:
    """Run the zoo model and write the demo arrays."""
    zoo = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "zoo"
    core = ov.Core()
    model = core.read_model(zoo / "plain_cnn.xml")
    ops = {op.get_friendly_name(): op for op in model.get_ops()}
    missing = [name for name in TENSORS if name not in ops]
    if missing:
        raise SystemExit(f"plain_cnn.xml: no nodes named {missing}")
    model.add_outputs([ops[name].output(0) for name in TENSORS])
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    data = np.load(zoo / "plain_cnn.npz")
    images = data["image"][:SAMPLES]
    arrays: dict[str, list[np.ndarray]] = {"image": [], **{name: [] for name in TENSORS}}
    request = compiled.create_infer_request()
    for i in range(SAMPLES):
        request.infer({0: images[i : i + 1]})
        arrays["image"].append(images[i : i + 1])
        for k, name in enumerate(TENSORS, start=1):
            arrays[name].append(request.get_output_tensor(k).data.copy())
    out = ROOT / "python" / "fastpot" / "data" / "demo_activations.npz"
    np.savez_compressed(
        out, **{name: np.concatenate(v).astype(np.float16) for name, v in arrays.items()}
    )
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
