"""aggregate: every backend against the NumPy oracle, plus hand-computed values."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from fastpot import kernels
from fastpot.kernels import reference

DTYPES = (np.float16, np.float32, np.float64)
AGGREGATORS = (
    "mean",
    "max",
    "min",
    "median",
    "mean_no_outliers",
    "median_no_outliers",
    "hl_estimator",
)
# Aggregators whose result is one of the inputs, or a median (half the sum of two of them):
# no summation order is involved, so every backend must agree bit for bit.
EXACT = ("max", "min", "median", "median_no_outliers", "hl_estimator")


def _result_dtype(dtype) -> np.dtype:
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def _rtol(dtype) -> float:
    return 1e-12 if np.dtype(dtype) == np.float64 else 1e-6


# ---- an independent NumPy formulation of POT's aggregators ---------------------


def _pot_column(column: np.ndarray, how: str) -> float:
    c = column.astype(np.float64)
    if np.isnan(c).any():
        return float("nan")
    if how == "mean":
        return float(np.mean(c))
    if how == "max":
        return float(np.max(c))
    if how == "min":
        return float(np.min(c))
    if how == "median":
        return float(np.median(c))
    if how in ("mean_no_outliers", "median_no_outliers"):
        low = np.quantile(c, 0.01)
        high = np.quantile(c, 0.99)
        kept = c[(c >= low) & (c <= high)]
        if kept.size == 0:  # POT's mean/median of an empty selection is NaN
            return float("nan")
        return float(np.mean(kept) if how == "mean_no_outliers" else np.median(kept))
    assert how == "hl_estimator"
    if c.size == 1:
        return float(c[0])
    sums = [c[i] + c[j] for i in range(c.size) for j in range(i)]
    return float(0.5 * np.median(np.array(sums)))


def _pot_aggregate(values: np.ndarray, how: str) -> np.ndarray:
    flat = values.reshape(values.shape[0], -1)
    out = np.array([_pot_column(flat[:, k], how) for k in range(flat.shape[1])])
    return out.reshape(values.shape[1:])


def _check(values: np.ndarray, how: str, backend: str, case: str) -> None:
    saved = values.copy()
    what = f"[{backend} {values.dtype} {case} how={how}]"
    got = kernels.aggregate(values, how, backend=backend)
    rdt = _result_dtype(values.dtype)
    assert isinstance(got, np.ndarray), what
    assert got.dtype == rdt, f"{what}: dtype {got.dtype}, expected {rdt}"
    assert got.shape == values.shape[1:], f"{what}: shape {got.shape}"
    ref = reference.aggregate(values, how)
    independent = _pot_aggregate(values, how)
    if how in EXACT:
        assert np.array_equal(got, ref, equal_nan=True), f"{what}: {got} != reference {ref}"
        assert np.array_equal(got, independent.astype(rdt), equal_nan=True), (
            f"{what}: {got} != numpy {independent}"
        )
    else:
        magnitudes = np.abs(values.astype(np.float64))
        finite = magnitudes[np.isfinite(magnitudes)]
        scale = finite.max() if finite.size else 1.0
        for name, expected in (("reference", ref), ("numpy", independent)):
            want = np.asarray(expected, dtype=np.float64)
            g = got.astype(np.float64)
            assert np.array_equal(np.isnan(g), np.isnan(want)), f"{what}: NaN vs {name}"
            inf = np.isinf(want)
            assert np.array_equal(g[inf], want[inf]), f"{what}: infinities vs {name}"
            ok = np.isfinite(want)
            err = np.abs(g[ok] - want[ok])
            bound = _rtol(values.dtype) * np.maximum(np.abs(want[ok]), scale)
            assert (err <= bound).all(), f"{what}: {got} vs {name} {want}"
    assert np.array_equal(values, saved, equal_nan=True), f"{what}: input modified"


# ---- shapes, strides, dtypes --------------------------------------------------------------


def _views(rng: np.random.Generator, dtype, samples: int):
    """(case name, values) over ranks 1-3 and strided/transposed/reversed views."""
    base = rng.standard_t(3, (samples, 4, 3)).astype(dtype)
    wide = rng.standard_t(3, (2 * samples, 6, 5)).astype(dtype)
    transposed = rng.normal(size=(5, samples)).astype(dtype)
    return [
        ("[S]", np.ascontiguousarray(base[:, 0, 0])),
        ("[S,C]", np.ascontiguousarray(base[:, :, 0])),
        ("[S,C,K]", base),
        ("[S] strided", wide[::2, 1, 2]),
        ("[S,C] negstride", base[:, ::-1, 1]),
        ("[S,C,K] strided", wide[::2, ::2, 1:4]),
        ("[S,C,K] reversed samples", base[::-1, :, ::-1]),
        ("[S,C] transposed", transposed.T),
        ("[S,C,K] fortran", np.asfortranarray(base)),
    ]


@pytest.mark.parametrize("samples", [1, 2, 3, 7, 150])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("how", AGGREGATORS)
def test_matches_reference(backend, how, dtype, samples, rng):
    # With two distinct samples *_no_outliers keep nothing: NaN on every backend (see also
    # test_no_outliers_with_two_samples).
    for case, values in _views(rng, dtype, samples):
        _check(values, how, backend, f"S={samples} {case}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("how", AGGREGATORS)
def test_nan_columns(backend, how, dtype, rng):
    values = rng.normal(size=(40, 3, 4)).astype(dtype)
    values[0, 1, 2] = np.nan
    values[39, 0, 0] = np.nan
    values[17, 2, 3] = np.nan
    _check(values, how, backend, "nan columns")
    got = kernels.aggregate(values, how, backend=backend)
    expected = np.zeros((3, 4), dtype=bool)
    expected[1, 2] = expected[0, 0] = expected[2, 3] = True
    assert np.array_equal(np.isnan(got), expected), f"[{backend} {how}] NaN pattern {got}"
    column = np.full(5, np.nan, dtype=dtype)
    assert np.isnan(kernels.aggregate(column, how, backend=backend))


@pytest.mark.parametrize("how", AGGREGATORS)
def test_ties_and_constant_columns(backend, how, rng):
    values = rng.choice([-1.0, 0.0, 0.0, 2.0], (101, 3)).astype(np.float32)
    values[:, 2] = 0.75
    _check(values, how, backend, "ties")
    got = kernels.aggregate(values, how, backend=backend)
    assert got[2] == np.float32(0.75), f"[{backend} {how}] constant column gave {got[2]}"


@pytest.mark.parametrize("how", ["mean", "max", "min", "median", "hl_estimator"])
def test_infinities(backend, how):
    values = np.array([[1.0, -np.inf], [np.inf, 2.0], [3.0, 4.0]], dtype=np.float32)
    _check(values, how, backend, "inf")


@pytest.mark.parametrize("how", AGGREGATORS)
def test_single_sample_is_identity(backend, how, rng):
    values = rng.normal(size=(1, 3, 2)).astype(np.float32)
    got = kernels.aggregate(values, how, backend=backend)
    assert np.array_equal(got, values[0]), f"[{backend} {how}] {got} != {values[0]}"


# ---- hand-computed values -----------------------------------------------------------------


def test_hl_estimator_by_hand(backend):
    # Pair sums {3, 4, 11, 5, 12, 13}: median 8, half of it 4.
    got = kernels.aggregate(np.array([1.0, 2.0, 3.0, 10.0]), "hl_estimator", backend=backend)
    assert got.shape == ()
    assert got.dtype == np.float64
    assert float(got) == 4.0
    assert float(kernels.aggregate(np.array([1.0, 3.0]), "hl_estimator", backend=backend)) == 2.0
    assert float(kernels.aggregate(np.array([5.0]), "hl_estimator", backend=backend)) == 5.0
    # Pair sums of [0, 1, 2]: {1, 2, 3} -> 1.0; [0, 0, 9]: {0, 9, 9} -> 4.5.
    assert float(kernels.aggregate(np.float32([2, 0, 1]), "hl_estimator", backend=backend)) == 1.0
    assert float(kernels.aggregate(np.float32([0, 9, 0]), "hl_estimator", backend=backend)) == 4.5


def test_median_by_hand(backend):
    assert (
        float(kernels.aggregate(np.array([1.0, 3.0, 2.0, 4.0]), "median", backend=backend)) == 2.5
    )
    assert float(kernels.aggregate(np.float32([7, -1, 3]), "median", backend=backend)) == 3.0
    got = kernels.aggregate(
        np.float16([[1, 10], [3, 30], [2, 20], [4, 40]]), "median", backend=backend
    )
    assert got.dtype == np.float32
    assert got.tolist() == [2.5, 25.0]


def test_no_outliers_by_hand(backend):
    # numpy.quantile (linear) of 0..100: q(0.01) = 1.0, q(0.99) = 99.0 -> keeps 1..99.
    values = np.arange(101, dtype=np.float64)
    assert float(kernels.aggregate(values, "mean_no_outliers", backend=backend)) == 50.0
    assert float(kernels.aggregate(values, "median_no_outliers", backend=backend)) == 50.0
    # An outlier sample: [0..99, 1000] -> q(0.01) = 1, q(0.99) = 99: drops 0 and 1000.
    values = np.append(np.arange(100.0), 1000.0)
    assert float(kernels.aggregate(values, "mean_no_outliers", backend=backend)) == 50.0
    assert float(kernels.aggregate(values, "mean", backend=backend)) == pytest.approx(
        (4950 + 1000) / 101, rel=1e-15
    )
    # 0..9: q(0.01) = 0.09 and q(0.99) = 8.91 drop 0 and 9 -> 1..8.
    values = np.arange(10, dtype=np.float32)[::-1]
    assert float(kernels.aggregate(values, "mean_no_outliers", backend=backend)) == 4.5
    assert float(kernels.aggregate(values, "median_no_outliers", backend=backend)) == 4.5


def test_mean_min_max_by_hand(backend):
    values = np.array([[1.0, -2.0], [3.0, 4.0], [-5.0, 0.5]], dtype=np.float32)
    got = kernels.aggregate(values, "mean", backend=backend)
    assert got.dtype == np.float32
    assert got.tolist() == [float(np.float32(-1 / 3)), float(np.float32(2.5 / 3))]
    assert kernels.aggregate(values, "max", backend=backend).tolist() == [3.0, 4.0]
    assert kernels.aggregate(values, "min", backend=backend).tolist() == [-5.0, -2.0]


_TWO_SAMPLES_SCRIPT = """
import warnings, numpy as np
from fastpot import kernels
warnings.simplefilter("error")
values = np.array({values!r}, dtype=np.float64)
result = kernels.aggregate(values, {how!r}, backend={backend!r})
print(" ".join(repr(v) for v in result.tolist()))
"""


@pytest.mark.parametrize("how", ["mean_no_outliers", "median_no_outliers"])
def test_no_outliers_with_two_samples(backend, how):
    """Two distinct samples: q(0.01) and q(0.99) lie strictly between them, nothing is kept.

    POT's numpy code returns NaN here; every backend must return NaN for such columns and
    keep the other columns, without crashing and without a RuntimeWarning. Runs in a
    subprocess: the C++ backend has crashed the interpreter on this input.
    """
    values = [[1.0, 2.0], [3.0, 2.0]]  # column 0: two distinct values; column 1: a tie
    script = _TWO_SAMPLES_SCRIPT.format(values=values, how=how, backend=backend)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, (
        f"[{backend} {how}] aggregate([[1, 2], [3, 2]]) exited with {proc.returncode}: "
        f"{proc.stderr.strip()[-600:]}"
    )
    got = [float(v) for v in proc.stdout.split()]
    assert np.isnan(got[0]), f"[{backend} {how}] nothing kept must give NaN, got {got}"
    assert got[1] == 2.0, f"[{backend} {how}] tied column must give 2.0, got {got}"
