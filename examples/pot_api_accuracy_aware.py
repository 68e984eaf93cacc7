"""A POT script: custom ``DataLoader`` and ``Metric``, then AccuracyAwareQuantization.

What it shows: the ``openvino.tools.pot`` API as POT scripts use it, unchanged, on the
digits CNN bundled with fastpot (8x8 grey images, ten classes): a data loader that yields
``(image, label)`` tuples, a top-1 metric with per-sample values (AccuracyAwareQuantization
ranks layers by them), an ``IEEngine``, and an AccuracyAwareQuantization pipeline that keeps
the top-1 drop within ``--max-drop`` by reverting the most harmful layers to FP32. It prints
the FP32 and INT8 accuracy, the layers reverted, and saves the INT8 IR.

Run::

    python examples/pot_api_accuracy_aware.py [--output-dir pot_aa_out] [--max-drop 0.005]

With the defaults (300 calibration images) the INT8 model loses nothing and no layer is
reverted. ``--stat-subset-size 3 --max-drop 0`` calibrates on three images only: the INT8
model then loses 0.4 points and two layers go back to FP32 to win them back.

Writes ``<output-dir>/digits_cnn_int8.{xml,bin}`` and ``<output-dir>/aa/`` (the
intermediate model and ``accuracy_aware_summary.json``). About 5 s on two cores.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from openvino.tools.pot import (
    AccuracyAwareQuantization,
    DataLoader,
    IEEngine,
    Metric,
    compress_model_weights,
    create_pipeline,
    load_model,
    save_model,
)

BUNDLED = Path(str(resources.files("fastpot") / "data"))


class DigitsLoader(DataLoader):  # type: ignore[misc,unused-ignore]  # openvino.* may be Any
    """Items ``(image [1, 8, 8], label)``; POT batches them itself."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        super().__init__({})  # POT's base class takes a config; none is needed here
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.images[index], int(self.labels[index])


class Top1(Metric):  # type: ignore[misc,unused-ignore]
    """Top-1 accuracy; ``value`` holds the per-sample hits of the last batch."""

    def __init__(self) -> None:
        self._last: list[float] = []
        self._all: list[float] = []
        super().__init__()  # calls reset()

    @property
    def value(self) -> dict[str, list[float]]:
        """Per-sample hits (1.0 or 0.0) of the last batch."""
        return {"top1": self._last}

    @property
    def avg_value(self) -> dict[str, float]:
        """Top-1 accuracy since the last reset."""
        return {"top1": float(np.mean(self._all)) if self._all else 0.0}

    def update(self, output: Any, target: Any) -> None:
        """Score one batch: `output` is the list of model outputs, `target` the labels."""
        predicted = np.asarray(output[0]).argmax(axis=1)
        self._last = [float(p == t) for p, t in zip(predicted, target, strict=True)]
        self._all += self._last

    def reset(self) -> None:
        """Forget all batches."""
        self._last, self._all = [], []

    def get_attributes(self) -> dict[str, dict[str, str]]:
        """Tell AccuracyAwareQuantization which way is better."""
        return {"top1": {"direction": "higher-better", "type": "accuracy"}}


def main(argv: list[str] | None = None) -> int:
    """Quantize the digits CNN with AccuracyAwareQuantization; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="pot_aa_out", type=Path)
    parser.add_argument("--max-drop", default=0.005, type=float, help="absolute top-1 drop")
    parser.add_argument("--stat-subset-size", default=300, type=int, help="calibration images")
    args = parser.parse_args(argv)

    with np.load(BUNDLED / "digits.npz") as data:
        # 500 labelled test images: AccuracyAwareQuantization calibrates on the first
        # `stat_subset_size` items of the same loader and evaluates on all of them.
        images, labels = data["test_images"], data["test_labels"]

    model_config = {
        "model_name": "digits_cnn",
        "model": str(BUNDLED / "digits_cnn.xml"),
        "weights": str(BUNDLED / "digits_cnn.bin"),
    }
    engine = IEEngine({"device": "CPU"}, data_loader=DigitsLoader(images, labels), metric=Top1())
    algorithms = [
        {
            "name": "AccuracyAwareQuantization",
            "params": {
                "target_device": "CPU",
                "preset": "performance",
                "stat_subset_size": args.stat_subset_size,
                "maximal_drop": args.max_drop,
                "drop_type": "absolute",
                "intermediate_dir": str(args.output_dir / "aa"),
            },
        }
    ]
    pipeline = create_pipeline(algorithms, engine)

    model = load_model(model_config)
    fp32 = pipeline.evaluate(model)["top1"]
    int8_model = pipeline.run(model)  # edits `model` in place and returns it, as POT did
    int8 = pipeline.evaluate(int8_model)["top1"]
    compress_model_weights(int8_model)
    saved = save_model(int8_model, str(args.output_dir), model_name="digits_cnn_int8")

    algorithm = pipeline.algo_seq[0]
    assert isinstance(algorithm, AccuracyAwareQuantization)
    summary = algorithm.summary
    reverted = [step["fake_quantize"] for step in summary["steps"]]
    print(f"FP32 top-1: {fp32:.4f}")
    print(f"INT8 top-1: {int8:.4f}  (drop {fp32 - int8:+.4f}, allowed {args.max_drop})")
    print(f"reverted to FP32: {', '.join(reverted) if reverted else 'nothing'}")
    print(f"saved: {saved[0]['model']}")
    return 0 if fp32 - int8 <= args.max_drop + 1e-9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
