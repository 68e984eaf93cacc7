"""StatisticAccumulator: streaming = POT's batch semantics, merge, pickle, threads, errors."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest

from fastpot import kernels
from fastpot.kernels import StatisticAccumulator

STAT_CASES = (
    ("min", None),
    ("max", None),
    ("abs_max", None),
    ("mean", None),
    ("quantile", 0.99),
    ("abs_quantile", 1e-4),
)
HOWS = (
    "mean",
    "max",
    "min",
    "median",
    "mean_no_outliers",
    "median_no_outliers",
    "hl_estimator",
)
# Aggregators whose result does not depend on summation order.
EXACT_HOWS = ("max", "min", "median", "median_no_outliers", "hl_estimator")


def _stat_id(case) -> str:
    stat, q = case
    return stat if q is None else f"{stat}{q}"


# ---- POT's definition, computed independently with NumPy -----------------


def _per_sample(batch: np.ndarray, stat: str, q, channel_axis) -> np.ndarray:
    """[n, C] per-sample values, rounded as the kernels return them (float32 / float64)."""
    x = batch.astype(np.float64)
    ch = None if channel_axis is None else channel_axis % batch.ndim
    axes = tuple(d for d in range(1, batch.ndim) if d != ch)
    if stat.startswith("abs"):
        x = np.abs(x)
    if not axes:
        x, axes = x[..., None], (x.ndim,)
    if stat == "min":
        v = x.min(axis=axes)
    elif stat in ("max", "abs_max"):
        v = x.max(axis=axes)
    elif stat == "mean":
        v = x.mean(axis=axes)
    else:
        v = np.quantile(x, q, axis=axes)
    rdt = np.float64 if batch.dtype == np.float64 else np.float32
    return v.astype(rdt).astype(np.float64).reshape(batch.shape[0], -1)


def _column(c: np.ndarray, how: str) -> float:
    if np.isnan(c).any():
        return float("nan")
    if how == "median":
        return float(np.median(c))
    if how in ("mean_no_outliers", "median_no_outliers"):
        lo, hi = np.quantile(c, 0.01), np.quantile(c, 0.99)
        kept = c[(c >= lo) & (c <= hi)]
        return float(kept.mean() if how == "mean_no_outliers" else np.median(kept))
    assert how == "hl_estimator"
    if c.size == 1:
        return float(c[0])
    i, j = np.tril_indices(c.size, -1)
    return float(0.5 * np.median(c[i] + c[j]))


def pot_statistic(batches, stat, how, q, channel_axis) -> np.ndarray:
    per_batch = [_per_sample(b, stat, q, channel_axis) for b in batches]
    if how == "mean":  # mean inside each batch, then an unweighted mean over batches
        result = np.mean([p.mean(axis=0) for p in per_batch], axis=0)
    elif how == "max":
        result = np.max([p.max(axis=0) for p in per_batch], axis=0)
    elif how == "min":
        result = np.min([p.min(axis=0) for p in per_batch], axis=0)
    else:
        pool = np.concatenate(per_batch, axis=0)
        result = np.array([_column(pool[:, k], how) for k in range(pool.shape[1])])
    f64 = any(b.dtype == np.float64 for b in batches)
    result = result.astype(np.float64 if f64 else np.float32)
    return result.reshape(()) if channel_axis is None else result


def _assert_result(got, expected, how, what, *, exact=None):
    got = np.asarray(got)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, expected {expected.dtype}"
    if exact is None:
        exact = how in EXACT_HOWS
    if exact:
        assert np.array_equal(got, expected, equal_nan=True), f"{what}: {got} != {expected}"
    else:
        rtol = 1e-12 if got.dtype == np.float64 else 1e-6
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol, err_msg=what)


def _batches(rng, channel_axis, *, sizes=(4, 4, 4, 4, 2), channels=3, dtype=np.float32):
    """Batches [n, C, 5, 6] (channel axis 1), the last one ragged; heavy-tailed data."""
    out = []
    for i, n in enumerate(sizes):
        b = rng.standard_t(4, (n, channels, 5, 6)) * (1.0 + i)
        out.append(b.astype(dtype))
    if channel_axis == -1:
        out = [np.ascontiguousarray(b.transpose(0, 2, 3, 1)) for b in out]
    return out


# ---- streaming equals POT's definition ----------------------------------------------------


@pytest.mark.parametrize("channel_axis", [None, 1, -1], ids=["pertensor", "axis1", "axis-1"])
@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("stat_case", STAT_CASES, ids=_stat_id)
def test_streaming_matches_pot_definition(backend, stat_case, how, channel_axis, rng):
    stat, q = stat_case
    batches = _batches(rng, channel_axis)
    acc = StatisticAccumulator(stat, how, channel_axis=channel_axis, q=q, backend=backend)
    for b in batches:
        acc.update(b)
    what = f"[{backend} {stat} q={q} {how} axis={channel_axis}]"
    expected = pot_statistic(batches, stat, how, q, channel_axis)
    _assert_result(acc.result(), expected, how, what)
    assert acc.samples == sum(b.shape[0] for b in batches), what
    assert acc.batches == len(batches), what
    # result() does not consume the state.
    _assert_result(acc.result(), expected, how, what + " (second result())")


@pytest.mark.parametrize("how", HOWS)
def test_float64_batches(backend, how, rng):
    batches = _batches(rng, 1, dtype=np.float64)
    acc = StatisticAccumulator("abs_max", how, channel_axis=1, backend=backend)
    for b in batches:
        acc.update(b)
    expected = pot_statistic(batches, "abs_max", how, None, 1)
    assert expected.dtype == np.float64
    _assert_result(acc.result(), expected, how, f"[{backend} float64 {how}]")


def test_mean_is_unweighted_over_batches(backend):
    # Per-sample max: batch 1 -> [1, 3] (mean 2), batch 2 -> [10] (mean 10): POT gives 6,
    # not the sample mean 14/3.
    acc = StatisticAccumulator("max", "mean", backend=backend)
    acc.update(np.array([[1.0, 0.0], [3.0, -1.0]], dtype=np.float32))
    acc.update(np.array([[10.0, 2.0]], dtype=np.float32))
    result = acc.result()
    assert result.shape == ()
    assert result.dtype == np.float32
    assert float(result) == 6.0
    assert acc.samples == 3
    assert acc.batches == 2


def test_float16_batches_give_float32(backend, rng):
    acc = StatisticAccumulator("min", "min", channel_axis=1, backend=backend)
    b = rng.normal(size=(3, 2, 4)).astype(np.float16)
    acc.update(b)
    assert acc.result().dtype == np.float32
    assert np.array_equal(acc.result(), b.min(axis=(0, 2)).astype(np.float32))


@pytest.mark.parametrize("how", HOWS)
def test_nan_sample_makes_channel_nan(backend, how, rng):
    batches = _batches(rng, 1)
    batches[1][2, 1, 3, 3] = np.nan
    acc = StatisticAccumulator("max", how, channel_axis=1, backend=backend)
    for b in batches:
        acc.update(b)
    got = acc.result()
    assert np.isnan(got[1]), f"[{backend} {how}] channel 1 should be NaN: {got}"
    assert not np.isnan(got[[0, 2]]).any(), f"[{backend} {how}] {got}"
    _assert_result(got, pot_statistic(batches, "max", how, None, 1), how, f"[{backend} {how}]")


# ---- result shape -------------------------------------------------------------------------


@pytest.mark.parametrize("how", HOWS)
def test_result_shape(backend, how, rng):
    batch = rng.normal(size=(3, 5, 4)).astype(np.float32)
    per_tensor = StatisticAccumulator("max", how, backend=backend)
    per_tensor.update(batch)
    assert per_tensor.result().shape == ()
    per_channel = StatisticAccumulator("max", how, channel_axis=1, backend=backend)
    per_channel.update(batch)
    assert per_channel.result().shape == (5,)
    last = StatisticAccumulator("max", how, channel_axis=-1, backend=backend)
    last.update(batch)
    assert last.result().shape == (4,)
    rank1 = StatisticAccumulator("max", how, backend=backend)
    rank1.update(batch[:, 0, 0].copy())
    assert rank1.result().shape == ()


# ---- merge --------------------------------------------------------------------------------


@pytest.mark.parametrize("channel_axis", [None, 1], ids=["pertensor", "axis1"])
@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("stat_case", [("abs_max", None), ("quantile", 0.3)], ids=_stat_id)
def test_merge_equals_one_stream(backend, stat_case, how, channel_axis, rng):
    stat, q = stat_case
    batches = _batches(rng, channel_axis, sizes=(4, 3, 4, 1, 4, 2))
    first, second = batches[:4], batches[4:]

    def fed(parts):
        acc = StatisticAccumulator(stat, how, channel_axis=channel_axis, q=q, backend=backend)
        for b in parts:
            acc.update(b)
        return acc

    single = fed(batches)
    what = f"[{backend} {stat} {how} axis={channel_axis}]"
    a, b = fed(first), fed(second)
    a.merge(b)
    _assert_result(a.result(), single.result(), how, what + " a.merge(b)")
    assert a.samples == single.samples
    assert a.batches == single.batches
    # b is untouched by the merge.
    _assert_result(b.result(), fed(second).result(), how, what + " b after merge", exact=True)
    c, d = fed(first), fed(second)
    d.merge(c)
    _assert_result(d.result(), single.result(), how, what + " b.merge(a)")
    _assert_result(
        d.result(), pot_statistic(batches, stat, how, q, channel_axis), how, what + " vs POT"
    )


@pytest.mark.parametrize("how", HOWS)
def test_merge_with_empty_is_noop(backend, how, rng):
    batches = _batches(rng, 1)
    acc = StatisticAccumulator("max", how, channel_axis=1, backend=backend)
    for b in batches:
        acc.update(b)
    before = acc.result()
    acc.merge(StatisticAccumulator("max", how, channel_axis=1, backend=backend))
    assert np.array_equal(acc.result(), before, equal_nan=True)
    assert acc.samples == sum(b.shape[0] for b in batches)
    assert acc.batches == len(batches)
    empty = StatisticAccumulator("max", how, channel_axis=1, backend=backend)
    empty.merge(acc)
    assert np.array_equal(empty.result(), before, equal_nan=True)
    assert empty.samples == acc.samples
    assert empty.batches == acc.batches
    both_empty = StatisticAccumulator("max", how, backend=backend)
    both_empty.merge(StatisticAccumulator("max", how, backend=backend))
    with pytest.raises(ValueError, match="no batch"):
        both_empty.result()


def test_merge_into_itself_raises(backend, rng):
    acc = StatisticAccumulator("max", "max", backend=backend)
    acc.update(rng.normal(size=(2, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="other"):
        acc.merge(acc)


@pytest.mark.parametrize(
    "other_kwargs",
    [
        {"stat": "min", "how": "max"},
        {"stat": "max", "how": "mean"},
        {"stat": "max", "how": "max", "channel_axis": 1},
        {"stat": "quantile", "how": "max", "q": 0.5},
    ],
    ids=["stat", "how", "channel_axis", "q"],
)
def test_merge_of_different_statistics_raises(backend, other_kwargs, rng):
    acc = StatisticAccumulator("max", "max", backend=backend)
    acc.update(rng.normal(size=(2, 3)).astype(np.float32))
    other = StatisticAccumulator(backend=backend, **other_kwargs)
    other.update(rng.normal(size=(2, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="other"):
        acc.merge(other)


def test_merge_of_different_quantile_levels_raises(backend, rng):
    a = StatisticAccumulator("quantile", "mean", q=0.5, backend=backend)
    b = StatisticAccumulator("quantile", "mean", q=0.25, backend=backend)
    for acc in (a, b):
        acc.update(rng.normal(size=(2, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="other"):
        a.merge(b)


@pytest.mark.parametrize("how", HOWS)
def test_channel_count_mismatch_raises(backend, how, rng):
    acc = StatisticAccumulator("max", how, channel_axis=1, backend=backend)
    acc.update(rng.normal(size=(2, 3, 4)).astype(np.float32))
    with pytest.raises(ValueError, match="channels"):
        acc.update(rng.normal(size=(2, 4, 4)).astype(np.float32))
    # The failed update left the state alone.
    assert acc.samples == 2
    assert acc.batches == 1
    other = StatisticAccumulator("max", how, channel_axis=1, backend=backend)
    other.update(rng.normal(size=(2, 5, 4)).astype(np.float32))
    with pytest.raises(ValueError, match="channels"):
        acc.merge(other)
    assert acc.samples == 2


@pytest.mark.parametrize("how", HOWS)
def test_result_before_update_raises(backend, how):
    acc = StatisticAccumulator("abs_max", how, channel_axis=1, backend=backend)
    with pytest.raises(ValueError, match="no batch"):
        acc.result()
    assert acc.samples == 0
    assert acc.batches == 0


def test_bad_batches_are_rejected(backend):
    acc = StatisticAccumulator("max", "max", channel_axis=2, backend=backend)
    with pytest.raises(TypeError, match="batch"):
        acc.update(np.ones((2, 3, 4), dtype=np.int32))
    with pytest.raises(ValueError, match="batch"):
        acc.update(np.ones((0, 3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="channel_axis"):
        acc.update(np.ones((2, 3), dtype=np.float32))  # axis 2 does not exist
    with pytest.raises(ValueError, match="no batch"):
        acc.result()


def test_constructor_arguments_are_checked(backend):
    with pytest.raises(ValueError, match="stat"):
        StatisticAccumulator("median", "mean", backend=backend)
    with pytest.raises(ValueError, match="how"):
        StatisticAccumulator("max", "average", backend=backend)
    with pytest.raises(ValueError, match="q"):
        StatisticAccumulator("quantile", "mean", backend=backend)
    with pytest.raises(ValueError, match="q"):
        StatisticAccumulator("quantile", "mean", q=1.5, backend=backend)
    with pytest.raises(ValueError, match="channel_axis"):
        StatisticAccumulator("max", "mean", channel_axis=0, backend=backend)


# ---- pickling -----------------------------------------------------------------------------


@pytest.mark.parametrize("channel_axis", [None, 1], ids=["pertensor", "axis1"])
@pytest.mark.parametrize("how", HOWS)
def test_pickle_round_trip_and_continue(backend, how, channel_axis, rng):
    batches = _batches(rng, channel_axis, sizes=(4, 4, 3, 4, 2))
    acc = StatisticAccumulator(
        "abs_quantile", how, channel_axis=channel_axis, q=0.99, backend=backend
    )
    for b in batches[:3]:
        acc.update(b)
    clone = pickle.loads(pickle.dumps(acc))
    what = f"[{backend} {how} axis={channel_axis}]"
    assert type(clone) is StatisticAccumulator
    assert (clone.stat, clone.how, clone.channel_axis, clone.q, clone.backend) == (
        acc.stat,
        acc.how,
        acc.channel_axis,
        acc.q,
        acc.backend,
    )
    assert clone.samples == acc.samples
    assert clone.batches == acc.batches
    _assert_result(clone.result(), acc.result(), how, what + " after round trip", exact=True)
    for b in batches[3:]:
        acc.update(b)
        clone.update(b)
    _assert_result(clone.result(), acc.result(), how, what + " continued", exact=True)
    _assert_result(
        clone.result(),
        pot_statistic(batches, "abs_quantile", how, 0.99, channel_axis),
        how,
        what + " vs POT",
    )
    # The clone is independent of the original.
    clone.update(batches[0])
    assert clone.samples == acc.samples + batches[0].shape[0]


def test_pickle_of_empty_accumulator(backend):
    acc = StatisticAccumulator("min", "median", channel_axis=1, backend=backend)
    clone = pickle.loads(pickle.dumps(acc))
    with pytest.raises(ValueError, match="no batch"):
        clone.result()
    clone.update(np.array([[[1.0, 2.0]], [[3.0, -1.0]]], dtype=np.float32))
    assert clone.result().tolist() == [0.0]  # median of per-sample minima 1 and -1


def test_merge_after_pickle(backend, rng):
    batches = _batches(rng, 1)
    a = StatisticAccumulator("max", "median", channel_axis=1, backend=backend)
    b = StatisticAccumulator("max", "median", channel_axis=1, backend=backend)
    for x in batches[:2]:
        a.update(x)
    for x in batches[2:]:
        b.update(x)
    a = pickle.loads(pickle.dumps(a))
    a.merge(pickle.loads(pickle.dumps(b)))
    expected = pot_statistic(batches, "max", "median", None, 1)
    _assert_result(a.result(), expected, "median", f"[{backend} merge after pickle]")


# ---- threads ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["max", "min", "median", "hl_estimator"])
def test_concurrent_updates(backend, how, rng):
    """4 Python threads feeding one accumulator = feeding it sequentially."""
    batches = [rng.normal(size=(3, 4, 64, 64)).astype(np.float32) for _ in range(24)]
    sequential = StatisticAccumulator("abs_max", how, channel_axis=1, backend=backend)
    for b in batches:
        sequential.update(b)
    shared = StatisticAccumulator("abs_max", how, channel_axis=1, backend=backend)
    start = threading.Barrier(4)
    errors: list[Exception] = []

    def worker(k: int) -> None:
        try:
            start.wait()
            for b in batches[k::4]:
                shared.update(b)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert shared.samples == sequential.samples
    assert shared.batches == sequential.batches
    _assert_result(shared.result(), sequential.result(), how, f"[{backend} threads {how}]")


def test_concurrent_merges(backend, rng):
    parts = []
    for _ in range(8):
        acc = StatisticAccumulator("max", "max", backend=backend)
        acc.update(rng.normal(size=(2, 50)).astype(np.float32))
        parts.append(acc)
    total = StatisticAccumulator("max", "max", backend=backend)
    threads = [threading.Thread(target=total.merge, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert total.samples == 16
    assert total.batches == 8
    assert float(total.result()) == max(float(p.result()) for p in parts)


def test_accumulator_matches_kernels(backend, rng):
    """update = reduce_per_sample per batch, then aggregate over the pool."""
    batches = _batches(rng, 1)
    acc = StatisticAccumulator("quantile", "median", channel_axis=1, q=0.5, backend=backend)
    for b in batches:
        acc.update(b)
    pool = np.concatenate(
        [
            kernels.reduce_per_sample(b, "quantile", channel_axis=1, q=0.5, backend=backend)
            for b in batches
        ]
    )
    expected = kernels.aggregate(pool, "median", backend=backend)
    assert np.array_equal(acc.result(), expected)


_TWO_SAMPLES_SCRIPT = """
import warnings, numpy as np
from fastpot.kernels import StatisticAccumulator
warnings.simplefilter("error")
acc = StatisticAccumulator("max", {how!r}, backend={backend!r})
acc.update(np.array([[1.0, 0.0]], dtype=np.float32))
acc.update(np.array([[3.0, 0.0]], dtype=np.float32))
print(repr(float(acc.result())))
"""


@pytest.mark.parametrize("how", ["mean_no_outliers", "median_no_outliers"])
def test_no_outliers_over_two_samples(backend, how):
    """Two calibration samples with distinct values: nothing lies within [q(1%), q(99%)];
    POT gives NaN. Must not crash (subprocess: the C++ backend has segfaulted here)."""
    script = _TWO_SAMPLES_SCRIPT.format(how=how, backend=backend)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, (
        f"[{backend} {how}] two samples: exit code {proc.returncode}: {proc.stderr.strip()[-600:]}"
    )
    assert np.isnan(float(proc.stdout.strip())), f"[{backend} {how}] got {proc.stdout!r}"
