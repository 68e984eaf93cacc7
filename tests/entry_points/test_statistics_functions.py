"""POT's statistic functions and aggregators against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from fastpot.statistics.functions import ACTIVATIONS_STATS_FN, AGGREGATION_FN, WEIGHTS_STATS_FN
from fastpot.statistics.functions import activations as act
from fastpot.statistics.functions import aggregation as agg
from fastpot.statistics.functions import weights as w


@pytest.fixture
def batch(rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((4, 3, 5, 6)).astype(np.float32)


def test_activations_per_tensor(batch: np.ndarray) -> None:
    flat = batch.reshape(4, -1)
    np.testing.assert_array_equal(act.compute_min_per_tensor(batch), flat.min(1))
    np.testing.assert_array_equal(act.compute_max_per_tensor(batch), flat.max(1))
    np.testing.assert_array_equal(act.compute_abs_max_per_tensor(batch), np.abs(flat).max(1))
    np.testing.assert_allclose(
        act.compute_quantile_per_tensor(batch, q=0.9), np.quantile(flat, 0.9, axis=1), rtol=1e-6
    )
    np.testing.assert_allclose(
        act.compute_abs_quantile_per_tensor(batch, q=0.5),
        np.quantile(np.abs(flat), 0.5, axis=1),
        rtol=1e-6,
    )
    assert act.compute_max_per_tensor(np.arange(5.0)).tolist() == [4.0]  # rank 1: one sample


def test_activations_per_channel(batch: np.ndarray) -> None:
    per_channel = batch.reshape(4, 3, -1)
    np.testing.assert_array_equal(act.compute_max_per_channel(batch), per_channel.max(2))
    np.testing.assert_array_equal(
        act.compute_abs_max_per_channel(batch), np.abs(per_channel).max(2)
    )
    np.testing.assert_allclose(act.compute_mean_per_channel(batch), per_channel.mean(2), rtol=1e-6)
    np.testing.assert_allclose(
        act.compute_mean_per_channel_axis(batch, axis=-1), batch.mean(axis=(1, 2)), rtol=1e-5
    )
    small = np.ones((4, 3), dtype=np.float32)
    np.testing.assert_array_equal(act.compute_max_per_channel(small), small)  # rank < 3
    assert ACTIVATIONS_STATS_FN["perchannel"]["max"] is act.compute_max_per_channel
    assert (
        ACTIVATIONS_STATS_FN["pertensor"].get("abs_quantile") is act.compute_abs_quantile_per_tensor
    )


def test_weights(batch: np.ndarray) -> None:
    np.testing.assert_array_equal(w.abs_max_per_filter(batch), np.abs(batch).reshape(4, -1).max(1))
    assert float(w.max_per_tensor(batch)) == float(batch.max())
    np.testing.assert_array_equal(
        w.min_per_filter(batch, transpose=True), batch.swapaxes(0, 1).reshape(3, -1).min(1)
    )
    assert float(w.abs_max_per_filter(np.float32(-2.0))) == 2.0  # scalar
    np.testing.assert_allclose(
        w.quantile_per_filter(batch, q=0.25),
        np.quantile(batch.reshape(4, -1), 0.25, axis=1),
        rtol=1e-6,
    )
    assert WEIGHTS_STATS_FN["perchannel"]["abs_max"] is w.abs_max_per_filter
    assert int(w.max_per_tensor(np.array([[1, 7], [3, 2]]))) == 7  # integers are converted


def test_aggregators() -> None:
    batches = [np.array([1.0, 3.0], np.float32), np.array([10.0], np.float32)]
    # mean: per batch, then unweighted over batches
    assert float(agg.mean_aggregator(batches)) == pytest.approx((2.0 + 10.0) / 2)
    assert float(agg.max_aggregator(batches)) == 10.0
    assert float(agg.min_aggregator(batches)) == 1.0
    assert float(agg.median_aggregator(batches)) == 3.0  # ragged batches are fine
    stacked = np.arange(12, dtype=np.float32).reshape(3, 2, 2)  # [B, N, C]
    np.testing.assert_allclose(agg.AGGREGATION_FN["mean"](stacked), stacked.mean(axis=(0, 1)))
    np.testing.assert_allclose(agg.hl_estimator(stacked), [5.0, 6.0])
    np.testing.assert_allclose(agg.batch_mean(stacked), stacked.mean(0, keepdims=True))
    assert set(AGGREGATION_FN) == {
        "mean",
        "max",
        "min",
        "median",
        "mean_no_outliers",
        "median_no_outliers",
        "hl_estimator",
        "batch_mean",
    }
    with pytest.raises(KeyError, match="did you mean 'median'"):
        AGGREGATION_FN["medain"]
    with pytest.raises(ValueError, match="differ in shape"):
        agg.max_aggregator([np.zeros((2, 3)), np.zeros((2, 4))])
