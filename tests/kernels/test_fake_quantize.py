"""fq_params: bit-exact parity between backends, and POT's worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from fastpot import kernels
from fastpot.kernels import reference

MODES = ("symmetric", "asymmetric")
KINDS = ("weights", "activations")
f32 = np.float32


def _fq(min_values, max_values, backend, **kwargs) -> kernels.FQParams:
    return kernels.fq_params(min_values, max_values, backend=backend, **kwargs)


def _check_output_equals_input(p: kernels.FQParams, what: str) -> None:
    for arr in p[:4]:
        assert isinstance(arr, np.ndarray), what
        assert arr.dtype == np.float32, f"{what}: dtype {arr.dtype}"
    assert np.array_equal(p.output_low, p.input_low), what
    assert np.array_equal(p.output_high, p.input_high), what
    assert not np.shares_memory(p.output_low, p.input_low), f"{what}: output_low aliases"
    assert not np.shares_memory(p.output_high, p.input_high), f"{what}: output_high aliases"


def _random_stats(rng: np.random.Generator, shape):
    """(min, max) statistics with the awkward cases mixed in: zero ranges, tiny ranges,
    non-negative minima, non-positive maxima, equal pairs."""
    lo = -np.abs(rng.standard_t(3, shape)) * rng.choice([1e-3, 1.0, 30.0], shape)
    hi = np.abs(rng.standard_t(3, shape)) * rng.choice([1e-3, 1.0, 30.0], shape)
    flat_lo, flat_hi = lo.reshape(-1), hi.reshape(-1)
    if flat_lo.size >= 8:
        flat_lo[0] = flat_hi[0] = 0.0  # zero range at zero
        flat_lo[1] = flat_hi[1] = 0.5  # tiny range away from zero
        flat_lo[2], flat_hi[2] = 0.25, 4.0  # non-negative range
        flat_lo[3], flat_hi[3] = -4.0, -0.25  # non-positive range
        flat_lo[4], flat_hi[4] = -1e-5, 2e-5  # below every floor
        flat_hi[5] = 0.0
        flat_lo[6], flat_hi[6] = -1.0, 3.0
        flat_lo[7], flat_hi[7] = -1.01, 3.0
    return lo.astype(f32), hi.astype(f32)


SHAPES = [(), (1,), (1, 1, 1, 1), (16, 1, 1, 1), (1, 16, 1, 1), (16, 1), (64,)]


@pytest.mark.parametrize("bits", [8, 4, 16])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_random_statistics_match_reference_bit_exactly(backend, mode, kind, shape, bits, rng):
    for trial in range(4):
        lo, hi = _random_stats(rng, shape)
        if mode == "symmetric":
            hi = np.maximum(np.abs(lo), hi)  # symmetric modes get an absolute maximum
        if trial == 1 and mode == "symmetric":
            lo = np.abs(lo)  # all minima >= 0: unsigned activations
        what = f"[{backend} {mode} {kind} shape={shape} bits={bits} trial={trial}]"
        got = _fq(lo, hi, backend, mode=mode, kind=kind, bits=bits)
        low, high, levels = reference.fq_params(lo, hi, mode, kind, bits, None, None)
        low = np.asarray(low, dtype=f32).reshape(np.shape(hi))
        high = np.asarray(high, dtype=f32).reshape(np.shape(hi))
        assert got.input_low.shape == np.shape(hi), f"{what}: shape {got.input_low.shape}"
        assert np.array_equal(got.input_low, low), f"{what}: low {got.input_low} != {low}"
        assert np.array_equal(got.input_high, high), f"{what}: high {got.input_high} != {high}"
        assert got.levels == levels, what
        _check_output_equals_input(got, what)
        # Sanity of the range itself: zero is inside, low <= high.
        assert (got.input_low <= 0).all(), what
        assert (got.input_high >= 0).all(), what
        assert (got.input_low < got.input_high).all(), what


@pytest.mark.parametrize(
    ("level_low", "level_high"), [(-128, 127), (-127, 127), (0, 255), (-8, 7), (-32768, 32767)]
)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_explicit_levels_match_reference(backend, mode, kind, level_low, level_high, rng):
    lo, hi = _random_stats(rng, (8, 1, 1, 1))
    if mode == "symmetric":
        hi = np.maximum(np.abs(lo), hi)
    # Non-negative minima matter to symmetric activations only (asymmetric mode requires
    # min <= max, which abs() would break).
    for mins in (lo, np.abs(lo)) if mode == "symmetric" else (lo,):
        got = _fq(
            mins, hi, backend, mode=mode, kind=kind, level_low=level_low, level_high=level_high
        )
        low, high, levels = reference.fq_params(mins, hi, mode, kind, 8, level_low, level_high)
        what = f"[{backend} {mode} {kind} levels=({level_low}, {level_high})]"
        assert np.array_equal(got.input_low, np.asarray(low, f32).reshape(hi.shape)), what
        assert np.array_equal(got.input_high, np.asarray(high, f32).reshape(hi.shape)), what
        assert got.levels == levels == abs(level_low) + abs(level_high) + 1, what


def test_broadcasting_of_min_and_max(backend):
    # Per-tensor min (scalar) with per-channel max: results take the broadcast shape.
    hi = np.array([[1.0], [2.0], [0.0]], dtype=f32)
    got = _fq(-0.5, hi, backend, mode="asymmetric", kind="activations")
    assert got.input_low.shape == (3, 1)
    low, high, _ = reference.fq_params(
        np.full((3, 1), -0.5, f32), hi, "asymmetric", "activations", 8, None, None
    )
    assert np.array_equal(got.input_low, low)
    assert np.array_equal(got.input_high, high)
    got = _fq(
        np.zeros((1, 4), f32), np.ones((3, 1), f32), backend, mode="symmetric", kind="activations"
    )
    assert got.input_high.shape == (3, 4)
    assert (got.input_low == 0).all()


# ---- spec worked examples -----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_asymmetric_examples(backend, kind):
    got = _fq(-1.0, 3.0, backend, mode="asymmetric", kind=kind)
    assert got.input_low == pytest.approx(-1.005236, abs=1e-6)
    assert float(got.input_high) == 3.0
    got = _fq(-1.01, 3.0, backend, mode="asymmetric", kind=kind)
    assert float(got.input_low) == float(f32(-1.01))
    assert got.input_high == pytest.approx(3.014219, abs=1e-6)
    assert got.levels == 256
    # The zero point is an integer: zero lies exactly on the 256-level grid (to float32).
    for lo, hi in ((-1.0, 3.0), (-1.01, 3.0), (-0.2, 7.3), (-5.0, 0.1), (-3.0, 3.0)):
        p = _fq(lo, hi, backend, mode="asymmetric", kind=kind)
        low, high = float(p.input_low), float(p.input_high)
        zp = -low / (high - low) * 255
        assert zp == pytest.approx(round(zp), abs=2e-4), f"[{backend}] ({lo}, {hi}) zp={zp}"
        # Widened up to float32 rounding: (-5, 0.1) gives high 0.099999994 (POT's float32
        # formula (zp - H) / zp * low, one ulp below f32(0.1)).
        assert low <= f32(lo) * (1 - 1e-6)
        assert high >= f32(hi) * (1 - 1e-6)


def test_asymmetric_forces_zero_into_range(backend):
    got = _fq(
        np.float32([0.25, -4.0]),
        np.float32([4.0, -0.25]),
        backend,
        mode="asymmetric",
        kind="activations",
    )
    assert got.input_low[0] == 0.0
    assert got.input_high[0] == f32(4.0)
    assert got.input_low[1] == f32(-4.0)
    assert got.input_high[1] == 0.0


def test_asymmetric_tiny_range(backend):
    # max - min <= 8e-4: widened by 8e-4 on both sides, then zero is forced in.
    got = _fq(0.5, 0.5, backend, mode="asymmetric", kind="activations")
    assert float(got.input_low) == 0.0
    assert float(got.input_high) == float(f32(0.5) + f32(8e-4))
    got = _fq(0.0, 0.0, backend, mode="asymmetric", kind="weights")
    low, high, _ = reference.fq_params(f32(0.0), f32(0.0), "asymmetric", "weights", 8, None, None)
    assert float(got.input_low) == float(low)
    assert float(got.input_high) == float(high)
    assert float(got.input_low) == pytest.approx(-8e-4, abs=1e-5)
    assert float(got.input_high) == pytest.approx(8e-4, abs=1e-5)
    # Exactly at the guard: f32(8e-4) - 0 <= f32(8e-4) is widened too.
    got = _fq(0.0, f32(8e-4), backend, mode="asymmetric", kind="activations")
    assert float(got.input_high) == float(f32(8e-4) + f32(8e-4))


def test_symmetric_signed_activation_example(backend):
    m = f32(3.7306957)
    got = _fq(-1.2, m, backend, mode="symmetric", kind="activations")
    expected_low = -(m * f32(256)) / (f32(256) - f32(2))
    assert float(got.input_high) == float(m)
    assert float(got.input_low) == float(expected_low)
    assert float(got.input_low) == pytest.approx(-3.7600713, abs=1e-6)
    assert got.input_low.shape == ()
    assert got.levels == 256


def test_symmetric_unsigned_activations(backend):
    got = _fq(
        np.float32([0.0, 0.5]),
        np.float32([2.0, 3.0]),
        backend,
        mode="symmetric",
        kind="activations",
    )
    assert got.input_low.tolist() == [0.0, 0.0]
    assert got.input_high.tolist() == [2.0, 3.0]
    # One negative minimum makes the whole tensor signed.
    got = _fq(
        np.float32([0.0, -0.5]),
        np.float32([2.0, 3.0]),
        backend,
        mode="symmetric",
        kind="activations",
    )
    assert (got.input_low < 0).all()


def test_signed_configuration_keeps_negative_range(backend):
    m = f32(2.5)
    got = _fq(0.0, m, backend, mode="symmetric", kind="activations", level_low=-128, level_high=127)
    assert got.levels == 256
    assert float(got.input_low) == float(-(m * f32(256)) / f32(254))
    assert float(got.input_high) == float(m)
    # A non-negative explicit level_low is not "signed": unsigned range.
    got = _fq(0.0, m, backend, mode="symmetric", kind="activations", level_low=0, level_high=255)
    assert float(got.input_low) == 0.0
    assert got.levels == 256


def test_zero_range_floor(backend):
    got = _fq(None, np.float32([0.0, 2.0, 0.5]), backend, mode="symmetric", kind="weights")
    floor = f32(0.01) * f32(2.0)
    assert got.input_high.tolist() == [float(floor), 2.0, 0.5]
    assert got.input_low.tolist() == [-float(floor), -2.0, -0.5]
    assert float(floor) == pytest.approx(0.02)
    got = _fq(None, f32(1e-6), backend, mode="symmetric", kind="weights")
    assert float(got.input_high) == float(f32(8e-5))
    assert float(got.input_low) == -float(f32(8e-5))
    got = _fq(None, f32(0.0), backend, mode="symmetric", kind="weights")
    assert float(got.input_high) == float(f32(8e-5))
    # The floor applies to activations too.
    got = _fq(
        np.float32([-1.0, -1.0]),
        np.float32([0.0, 5.0]),
        backend,
        mode="symmetric",
        kind="activations",
    )
    assert got.input_high.tolist() == [float(f32(0.01) * f32(5.0)), 5.0]


@pytest.mark.parametrize(
    ("mode", "kind", "kwargs", "levels"),
    [
        ("symmetric", "weights", {}, 255),
        ("asymmetric", "weights", {}, 256),
        ("symmetric", "activations", {}, 256),
        ("asymmetric", "activations", {}, 256),
        ("symmetric", "weights", {"bits": 4}, 15),
        ("asymmetric", "weights", {"bits": 4}, 16),
        ("symmetric", "activations", {"bits": 4}, 16),
        ("symmetric", "weights", {"bits": 16}, 65535),
        ("asymmetric", "activations", {"bits": 16}, 65536),
        ("symmetric", "activations", {"bits": 32}, 2**32),
        ("symmetric", "weights", {"level_low": -128, "level_high": 127}, 256),
        ("symmetric", "weights", {"level_low": -128}, 256),
        ("symmetric", "weights", {"level_high": 63}, 191),
        ("asymmetric", "activations", {"level_low": 0, "level_high": 255}, 256),
    ],
)
def test_levels(backend, mode, kind, kwargs, levels):
    got = _fq(-1.0, 2.0, backend, mode=mode, kind=kind, **kwargs)
    assert got.levels == levels, f"[{backend} {mode} {kind} {kwargs}] {got.levels}"
    assert isinstance(got.levels, int)


def test_symmetric_weights_ignore_min(backend):
    a = _fq(None, np.float32([1.0, 2.0]), backend, mode="symmetric", kind="weights")
    b = _fq(
        np.float32([5.0, 5.0]), np.float32([1.0, 2.0]), backend, mode="symmetric", kind="weights"
    )
    assert np.array_equal(a.input_low, b.input_low)
    assert np.array_equal(a.input_high, b.input_high)
    assert a.input_low.tolist() == [-1.0, -2.0]


def test_inputs_are_not_modified(backend):
    lo = np.array([-1.0, 0.0, 0.5], dtype=np.float64)
    hi = np.array([3.0, 0.0, 0.5], dtype=np.float64)
    saved = lo.copy(), hi.copy()
    _fq(lo, hi, backend, mode="asymmetric", kind="activations")
    _fq(lo, hi, backend, mode="symmetric", kind="activations")
    assert np.array_equal(lo, saved[0])
    assert np.array_equal(hi, saved[1])


# ---- rejected arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lo", "hi", "name"),
    [
        (np.float32([-1.0, np.nan]), np.float32([1.0, 1.0]), "min_values"),
        (np.float32([-1.0, -1.0]), np.float32([np.nan, 1.0]), "max_values"),
        (-1.0, float("nan"), "max_values"),
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_nan_statistics_raise(backend, lo, hi, name, mode):
    with pytest.raises(ValueError, match=name):
        _fq(lo, hi, backend, mode=mode, kind="activations")


def test_nan_max_for_symmetric_weights_raises(backend):
    with pytest.raises(ValueError, match="max_values"):
        _fq(None, np.float32([1.0, np.nan]), backend, mode="symmetric", kind="weights")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"mode": "sym", "kind": "weights"}, "mode"),
        ({"mode": "symmetric", "kind": "weight"}, "kind"),
        ({"mode": "symmetric", "kind": "weights", "bits": 0}, "bits"),
        ({"mode": "symmetric", "kind": "weights", "bits": 33}, "bits"),
        ({"mode": "symmetric", "kind": "weights", "bits": 8.0}, "bits"),
        ({"mode": "symmetric", "kind": "weights", "bits": "8"}, "bits"),
        ({"mode": "asymmetric", "kind": "weights", "bits": -1}, "bits"),
    ],
)
def test_bad_arguments_raise(backend, kwargs, name):
    with pytest.raises(ValueError, match=name):
        _fq(-1.0, 1.0, backend, **kwargs)


@pytest.mark.parametrize(
    ("mode", "kind"), [("symmetric", "activations"), ("asymmetric", "weights")]
)
def test_missing_min_raises(backend, mode, kind):
    with pytest.raises(ValueError, match="min_values"):
        _fq(None, 1.0, backend, mode=mode, kind=kind)


def test_empty_max_raises(backend):
    with pytest.raises(ValueError, match="max_values"):
        _fq(None, np.zeros(0, f32), backend, mode="symmetric", kind="weights")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "symmetric", "kind": "weights", "bits": 1},  # levels [0, 0]: one level
        {"mode": "asymmetric", "kind": "activations", "level_low": 0, "level_high": 0},
    ],
    ids=["bits1-symmetric-weights", "explicit-single-level"],
)
def test_fewer_than_two_levels_raise_on_every_backend(backend, kwargs):
    """A configuration with a single level cannot quantize anything: all backends refuse it
    the same way (the C++ core raises ValueError; backends must agree)."""
    with pytest.raises(ValueError, match="level"):
        _fq(-1.0, 1.0, backend, **kwargs)
