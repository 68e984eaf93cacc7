"""abs_max of signed zeros is +0.0 in both IEEngine paths, bit-identical between them.

The NumPy reference (``np.abs(x).max()``) gives +0.0 for all-zero data; the engine forms
``abs_max`` from in-graph ``ReduceMin`` / ``ReduceMax`` as ``max(-min, max)``, which on a tie
of zeros could keep -0.0: the C++ dispatcher and the Python path (``_neg_max``) both turn it
into +0.0.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest
from openvino import opset13 as ops

from fastpot.api import DataLoader
from fastpot.engines import IEEngine
from fastpot.engines.ie_engine import _neg_max
from fastpot.kernels import StatisticAccumulator
from fastpot.samplers import create_sampler


def test_neg_max_gives_positive_zero_and_keeps_everything_else() -> None:
    low = np.array([-0.0, 0.0, -0.0, 0.0, -3.0, 2.0, np.nan, 1.0], np.float32)
    high = np.array([-0.0, 0.0, 0.0, -0.0, 1.0, 5.0, 1.0, np.nan], np.float32)
    got = _neg_max(low, high)
    want = np.array([0.0, 0.0, 0.0, 0.0, 3.0, 5.0, np.nan, np.nan], np.float32)
    assert np.array_equal(got, want, equal_nan=True)
    assert not np.signbit(got[:4]).any()


def test_abs_max_of_signed_zero_activations_is_positive_zero_on_both_engine_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # x * -0.0: -0.0 where x > 0, +0.0 where x < 0; the in-graph ReduceMin / ReduceMax of such
    # a tensor may keep either zero, and max(-min, max) ties on them.
    param = ops.parameter([1, 3, 4, 4], np.float32, name="x")
    zero = ops.multiply(param, ops.constant(np.float32(-0.0)), name="zeros")
    model = ov.Model([ops.relu(zero)], [param], "signed_zeros")

    class Loader(DataLoader):
        def __init__(self) -> None:
            pass

        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> tuple:
            data = np.random.default_rng(i).standard_normal((1, 3, 4, 4)).astype(np.float32)
            return data, i

    results = []
    for dispatch in ("1", "0"):
        monkeypatch.setenv("FASTPOT_DISPATCH", dispatch)
        engine = IEEngine({"device": "CPU"}, Loader())
        engine.set_model(model)
        accs = [
            StatisticAccumulator("abs_max", how, channel_axis=axis)
            for how in ("max", "mean")
            for axis in (None, 1)
        ]
        engine.collect_statistics({"zeros": accs}, create_sampler(engine, 4))
        values = [a.result() for a in accs]
        for v in values:
            assert (v == 0).all(), (dispatch, v)
            assert not np.signbit(v).any(), (dispatch, v)
        results.append(b"".join(v.tobytes() for v in values))
    assert results[0] == results[1]
