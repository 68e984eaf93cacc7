"""The POT-style cascade engine, unchanged, against POT 2023.3's cascade golden files (issue 11).

``tests/data/golden/cascade/cascade_engine.py`` (a copy of ``../shared/golden/cascade``) is a
custom ``IEEngine`` subclass that runs pnet -> rnet -> onet itself and collects statistics
through POT's protected members and ``engines.utils``. It runs here as a script, in a
subprocess, with ``openvino.tools.pot`` being fastpot's drop-in, for each of the four
configurations of ``tests/data/golden/pot-2023.3-cascade``; every stage IR it saves is then
compared with what POT saved, at the tolerances of the single-model runs: the same
FakeQuantize set and levels, activation ranges within 1e-5 relative, weight ranges exact,
and every bias and weight constant within 1e-4 of the layer's magnitude.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
ZOO = DATA / "zoo"
GOLDEN = DATA / "golden" / "pot-2023.3-cascade"
ENGINE = DATA / "golden" / "cascade" / "cascade_engine.py"
CONFIGS = (
    "default_performance_cpu",
    "default_mixed_cpu",
    "minmax_performance_cpu",
    "default_performance_cpu_biascorrection",
)
STAGES = ("pnet", "rnet", "onet")
ACTIVATION_RTOL = 1e-5
REWRITE_RTOL = 1e-4


def _array(record: dict) -> np.ndarray:
    return np.asarray(record["values"], dtype=np.float32).reshape(record["shape"])


@cache
def _golden(stage: str, config: str) -> dict:
    return json.loads((GOLDEN / f"cascade_{stage}__{config}.json").read_text())


@cache
def _run(config: str, out: str) -> dict:
    """Run the engine script as a POT user would: ``python cascade_engine.py --config C``."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable,
        str(ENGINE),
        "--config",
        config,
        "--out",
        out,
        "--zoo-dir",
        str(ZOO),
        "--golden-dir",
        str(GOLDEN),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
    assert done.returncode == 0, f"{config}: the cascade engine failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cascade")


def _stage_model(outputs: Path, stage: str, config: str) -> ov.Model:
    result = _run(config, str(outputs))
    assert result["is_cascade"]
    assert result["stages"] == list(STAGES)
    return ov.Core().read_model(result["saved"][stage]["model"])


def _constant(node) -> np.ndarray:
    while node.get_type_name() == "Convert":
        node = node.input_value(0).get_node()
    assert node.get_type_name() == "Constant", node
    return np.asarray(node.get_data(), dtype=np.float32)


def _close(ours: np.ndarray, theirs: np.ndarray, rtol: float) -> bool:
    ours, theirs = np.broadcast_arrays(np.asarray(ours, np.float32), np.asarray(theirs, np.float32))
    scale = float(np.max(np.abs(theirs))) if theirs.size else 0.0
    return bool(np.allclose(ours, theirs, rtol=rtol, atol=rtol * scale))


CASES = [(s, c) for c in CONFIGS for s in STAGES]


@pytest.mark.parametrize(("stage", "config"), CASES, ids=lambda v: v)
def test_cascade_stage_matches_pot(outputs: Path, stage: str, config: str) -> None:
    golden = _golden(stage, config)
    model = _stage_model(outputs, stage, config)
    ours = {
        op.get_friendly_name(): op for op in model.get_ops() if op.get_type_name() == "FakeQuantize"
    }
    theirs = {fq["name"]: fq for fq in golden["fake_quantize"]}
    assert sorted(ours) == sorted(theirs), f"{stage} {config}: FakeQuantize sets differ"
    for name, fq in theirs.items():
        node = ours[name]
        assert node.get_attributes()["levels"] == fq["levels"], name
        got = [_constant(node.input_value(i).get_node()) for i in range(1, 5)]
        want = [_array(fq[k]) for k in ("input_low", "input_high", "output_low", "output_high")]
        for g, w in zip(got, want, strict=True):
            if fq["quantizes"] == "weights":
                assert np.array_equal(*np.broadcast_arrays(g, w)), f"{name}: weight range"
            else:
                assert _close(g, w, ACTIVATION_RTOL), (
                    f"{stage} {config} {name}: {g.ravel()[:4]} != POT {w.ravel()[:4]}"
                )

    # Every bias and weight constant: POT's value where POT changed it, else the original.
    changed = {
        (c["consumer"]["name"], c["consumer"]["port"]): c for c in golden["changed_constants"]
    }
    original = ov.Core().read_model(str(ZOO / "cascade" / f"{stage}.xml"))
    by_name = {op.get_friendly_name(): op for op in model.get_ops()}
    checked = 0
    for op in original.get_ordered_ops():
        if op.get_type_name() not in ("Add", "Convolution", "GroupConvolution", "MatMul"):
            continue
        src = op.input_value(1).get_node()
        while src.get_type_name() == "Convert":
            src = src.input_value(0).get_node()
        if src.get_type_name() != "Constant":
            continue
        node = by_name[op.get_friendly_name()].input_value(1).get_node()
        while node.get_type_name() in ("FakeQuantize", "Convert", "Reshape"):
            node = node.input_value(0).get_node()
        ours_value = _constant(node)
        entry = changed.get((op.get_friendly_name(), 1))
        want_value = _array(entry["new"]) if entry else np.asarray(src.get_data(), np.float32)
        assert ours_value.shape == want_value.shape, op.get_friendly_name()
        assert _close(ours_value, want_value, REWRITE_RTOL), (
            f"{stage} {config} {op.get_friendly_name()} "
            f"({'changed' if entry else 'unchanged'} by POT): max |diff| "
            f"{np.max(np.abs(ours_value - want_value)):.3g}"
        )
        checked += 1
    assert checked > 0
