"""Random inputs into every entry point of ``fastpot._core``: a fuzz pass for sanitizer builds.

Run by ``tools/sanitize.sh`` under AddressSanitizer + UndefinedBehaviorSanitizer; it also runs
on a release build (``python tools/fuzz_kernels.py --seconds 20``).

Each iteration draws, from its own seed ``(seed, iteration)``:

* an array: float16/32/64 (sometimes an unsupported dtype, a byte-swapped one, an empty
  shape or a 0-d array), rank 1-5, sizes 1-7 (sometimes a large array that takes the
  multithreaded paths); a base buffer at a random byte offset of a ``bytearray`` (so most
  views are *misaligned* for their dtype), viewed with random steps, negative steps,
  transposes and zero (broadcast) strides;
* values: normal, tiny, huge, ties, and +-inf / NaN / +-0 / subnormals sprinkled in;
* parameters: statistic, aggregator, channel axis, q, extremes' k, fq_params
  mode/kind/bits/levels, valid or not; and the kernels' thread budget.

Checks: invalid calls raise ``TypeError`` or ``ValueError`` (anything else fails); valid calls
return the expected shape and dtype and the same values as the same call on an aligned,
C-contiguous copy (bit for bit, except sums: mean within float rounding), and for small inputs
the values of the NumPy reference (:mod:`fastpot.kernels.reference`). Accumulators are fed
from two threads at once, merged, copied and pickled; sample recorders (a statistic or
extremes) are fed from two threads at once.

Exit status 1 on the first failed check (with the iteration to replay: ``--only N``).
"""

from __future__ import annotations

import argparse
import contextlib
import pickle
import sys
import threading
import time
import warnings

import numpy as np

from fastpot import _core
from fastpot.kernels import reference

STATS = ("min", "max", "abs_max", "mean", "quantile", "abs_quantile")
HOWS = ("mean", "max", "min", "median", "mean_no_outliers", "median_no_outliers", "hl_estimator")
FLOATS = (np.float16, np.float32, np.float64)
BIG_ELEMENTS = 1 << 19  # above 2 * kParallelMinElements: the threaded paths
SMALL_ELEMENTS = 4096  # inputs this small are also checked against the NumPy reference
EXPECTED_ERRORS = (TypeError, ValueError)


class FuzzFailure(AssertionError):
    """A check failed."""


# ---- inputs -------------------------------------------------------------------------------


def _values(rng: np.random.Generator, n: int, dtype: type) -> np.ndarray:
    kind = rng.integers(6)
    if kind == 0:
        v = rng.standard_normal(n)
    elif kind == 1:  # heavy tails
        v = rng.standard_t(2, n) * 10.0 ** rng.integers(-3, 4)
    elif kind == 2:  # ties
        v = rng.integers(-3, 4, n).astype(np.float64)
    elif kind == 3:  # tiny (subnormals in float16/float32)
        v = rng.standard_normal(n) * float(np.finfo(dtype).tiny)
    elif kind == 4:  # huge: near the top of the dtype (float64 kept where sums stay finite)
        top = 1e300 if dtype == np.float64 else float(np.finfo(dtype).max)
        v = rng.uniform(-1.0, 1.0, n) * top
    else:
        v = np.full(n, rng.standard_normal())
    if rng.random() < 0.5:
        specials = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 5e-324, -1.0])
        p = rng.dirichlet(np.ones(specials.size))
        mask = rng.random(n) < rng.choice([0.01, 0.1, 0.5])
        v[mask] = rng.choice(specials, size=int(mask.sum()), p=p)
    with np.errstate(over="ignore"):
        return v.astype(dtype)


def _placed(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    """`values` copied into a bytearray at a random byte offset (usually misaligned)."""
    item = values.dtype.itemsize
    offset = int(rng.integers(0, 2 * item)) if rng.random() < 0.75 else 0
    buf = bytearray(values.nbytes + offset + 8)
    raw = np.frombuffer(buf, dtype=np.uint8)[offset : offset + values.nbytes]
    placed = raw.view(values.dtype).reshape(values.shape)
    placed[...] = values
    if rng.random() < 0.2:
        placed.flags.writeable = False
    return placed


def _shape(rng: np.random.Generator, big: bool) -> tuple[int, ...]:
    if big:
        n = int(rng.integers(1, 4))
        inner = [int(rng.integers(2, 9)), int(rng.integers(200, 700)), int(rng.integers(200, 500))]
        if rng.random() < 0.5:  # long channel-last rows
            inner = [int(rng.integers(1000, 9000)), int(rng.integers(32, 130))]
        return (n, *inner)
    ndim = int(rng.integers(1, 6))
    return tuple(int(rng.integers(1, 8)) for _ in range(ndim))


def _view(rng: np.random.Generator, shape: tuple[int, ...], dtype: type, big: bool) -> np.ndarray:
    """Return a strided view of logical `shape` over a freshly placed buffer."""
    if big or int(np.prod(shape)) > 65536:  # large: at most one axis with a step of 2
        steps = [int(rng.choice([1, -1])) for _ in shape]
        steps[int(rng.integers(len(shape)))] *= int(rng.choice([1, 2]))
    else:
        steps = [int(rng.choice([1, 2, -1, -2, 3])) for _ in shape]
    base_shape = tuple(n * abs(s) for n, s in zip(shape, steps, strict=True))
    base = _placed(rng, _values(rng, int(np.prod(base_shape)), dtype).reshape(base_shape))
    view = base[tuple(slice(None, None, s) for s in steps)]
    if view.ndim > 1 and rng.random() < 0.4:  # transpose the non-sample axes
        rest = list(rng.permutation(np.arange(1, view.ndim)))
        view = view.transpose(0, *rest)
    if rng.random() < 0.15 and not big:  # a zero-stride axis
        axis = int(rng.integers(1, view.ndim + 1))
        view = np.expand_dims(view, axis)
        shape_b = list(view.shape)
        shape_b[axis] = int(rng.integers(1, 4))
        view = np.broadcast_to(view, tuple(shape_b))
    return view


def _weird_array(rng: np.random.Generator) -> np.ndarray:
    """Return an input every kernel must reject with TypeError/ValueError."""
    kind = rng.integers(6)
    if kind == 0:
        return np.zeros((2, 0, 3), np.float32)
    if kind == 1:
        return np.array(1.5, np.float32)  # 0-d
    if kind == 2:
        return rng.integers(0, 5, (3, 4)).astype(rng.choice([np.int32, np.int8, np.uint16]))
    if kind == 3:
        return np.ones((3, 4), np.dtype(">f4"))
    if kind == 4:
        return np.ones((3, 4), np.complex64)
    # strides that are not multiples of the item size
    return np.lib.stride_tricks.as_strided(np.zeros(64, np.float32), (3, 4), (6, 4))


# ---- checks -------------------------------------------------------------------------------


def _same(got: np.ndarray, want: np.ndarray, what: str, *, rtol: float = 0.0, scale=1.0) -> None:
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise FuzzFailure(f"{what}: shape {got.shape} != {want.shape}")
    if not np.array_equal(np.isnan(got), np.isnan(want)):
        raise FuzzFailure(f"{what}: NaN pattern differs:\n{got.ravel()[:8]}\n{want.ravel()[:8]}")
    ok = ~np.isnan(want)
    g, w = got[ok], want[ok]
    inf = np.isinf(w)
    if not np.array_equal(g[inf], w[inf]):
        raise FuzzFailure(f"{what}: infinities differ")
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(g[~inf] - w[~inf])
        bound = rtol * np.maximum(np.abs(w[~inf]), scale)
    if (err > bound).any():
        raise FuzzFailure(f"{what}: values differ\n got  {g[~inf][:8]}\n want {w[~inf][:8]}")


def _scale(x: np.ndarray) -> float:
    with np.errstate(invalid="ignore"):
        a = np.abs(np.asarray(x, dtype=np.float64))
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else 1.0


def _rtol(dtype: np.dtype) -> float:
    return 1e-12 if dtype == np.float64 else 1e-6


def _expect_error(fn, what: str) -> None:
    try:
        fn()
    except EXPECTED_ERRORS:
        return
    except Exception as exc:
        raise FuzzFailure(f"{what}: raised {type(exc).__name__}: {exc}") from exc
    raise FuzzFailure(f"{what}: accepted an invalid call")


def _call(fn, what: str):
    try:
        return fn()
    except Exception as exc:
        raise FuzzFailure(f"{what}: raised {type(exc).__name__}: {exc}") from exc


def _result_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


# ---- entry points -------------------------------------------------------------------------


def _channel_axis(rng: np.random.Generator, ndim: int) -> tuple[int | None, bool]:
    """(channel_axis, valid)."""
    r = rng.random()
    if r < 0.4 or ndim == 1:
        return (None, True) if r < 0.9 or ndim > 1 else (int(rng.integers(-2, 3)), False)
    if r < 0.95:
        axis = int(rng.integers(1, ndim))
        return (axis - ndim if rng.random() < 0.3 else axis), True
    return int(rng.choice([0, ndim, -ndim, ndim + 3])), False


def fuzz_reduce(rng: np.random.Generator, x: np.ndarray, big: bool) -> None:
    """One reduce_per_sample call (and min_max_per_sample), checked."""
    axis, axis_ok = _channel_axis(rng, x.ndim)
    stat = str(rng.choice(STATS)) if rng.random() < 0.97 else "median"
    q = float(rng.choice([0.0, 1e-4, 0.01, 0.25, 0.5, 0.99, 1 - 1e-4, 1.0, rng.random()]))
    q_ok = True
    if rng.random() < 0.05:
        q, q_ok = float(rng.choice([-0.1, 1.5, np.nan, np.inf])), False
    what = (
        f"reduce_per_sample({x.dtype}, shape={x.shape}, strides={x.strides}, {stat}, {axis}, q={q})"
    )
    valid = axis_ok and stat in STATS and (q_ok or "quantile" not in stat)
    if not valid:
        _expect_error(lambda: _core.reduce_per_sample(x, stat, axis, q), what)
        return
    got = _call(lambda: _core.reduce_per_sample(x, stat, axis, q), what)
    norm = None if axis is None else axis % x.ndim
    shape = (x.shape[0],) if norm is None else (x.shape[0], x.shape[norm])
    if got.shape != shape or got.dtype != _result_dtype(x.dtype):
        raise FuzzFailure(f"{what}: got {got.shape} {got.dtype}")
    twin = np.ascontiguousarray(x)  # aligned, C order: another code path, same values
    want = _core.reduce_per_sample(twin, stat, axis, q)
    rtol = _rtol(x.dtype) if stat == "mean" else 0.0
    _same(got, want, what + " vs aligned copy", rtol=rtol, scale=_scale(x))
    if x.size <= SMALL_ELEMENTS:
        with np.errstate(all="ignore"):
            ref = reference.reduce_per_sample(x, stat, norm, q)
        rtol = 0.0 if stat in ("min", "max", "abs_max") else _rtol(x.dtype)
        _same(got, ref, what + " vs reference", rtol=rtol, scale=_scale(x))
    if stat in ("min", "max", "abs_max") and rng.random() < 0.5:
        fused = _call(lambda: _core.min_max_per_sample(x, axis), "min_max_per_sample " + what)
        index = {"min": 0, "max": 1, "abs_max": 2}[stat]
        _same(fused[index], got, "min_max_per_sample " + what)


def fuzz_aggregate(rng: np.random.Generator, x: np.ndarray) -> None:
    """One aggregate call, checked."""
    how = str(rng.choice(HOWS)) if rng.random() < 0.97 else "mode"
    what = f"aggregate({x.dtype}, shape={x.shape}, strides={x.strides}, {how})"
    if how not in HOWS:
        _expect_error(lambda: _core.aggregate(x, how), what)
        return
    if x.shape[0] > 200 and how == "hl_estimator":  # O(S^2)
        x = x[:200]
    got = _call(lambda: _core.aggregate(x, how), what)
    if got.shape != x.shape[1:] or got.dtype != _result_dtype(x.dtype):
        raise FuzzFailure(f"{what}: got {got.shape} {got.dtype}")
    rtol = _rtol(x.dtype) if how in ("mean", "mean_no_outliers") else 0.0
    _same(got, _core.aggregate(np.ascontiguousarray(x), how), what + " vs aligned copy", rtol=rtol)
    if x.size <= SMALL_ELEMENTS and x.shape[0] <= 64:
        with np.errstate(all="ignore"):
            ref = reference.aggregate(x, how)
        _same(got, ref, what + " vs reference", rtol=_rtol(x.dtype), scale=_scale(x))


def fuzz_accumulator(rng: np.random.Generator, batches: list[np.ndarray]) -> None:
    """Feed an accumulator from two threads; merge, copy and pickle it, merged, copied and pickled."""
    stat = str(rng.choice(STATS))
    how = str(rng.choice(HOWS))
    ndim = batches[0].ndim
    axis, axis_ok = _channel_axis(rng, ndim)
    q = float(rng.choice([1e-4, 0.5, 1 - 1e-4]))
    what = f"StatisticAccumulator({stat}, {how}, {axis}, {q})"
    if rng.random() < 0.05 and "quantile" in stat:
        _expect_error(lambda: _core.StatisticAccumulator(stat, how, axis, -1.0), what + " q=-1")
        return
    try:
        acc = _core.StatisticAccumulator(stat, how, axis, q)
        other = _core.StatisticAccumulator(stat, how, axis, q)
    except EXPECTED_ERRORS:  # channel_axis 0
        if axis_ok and axis != 0:
            raise
        return
    _expect_error(acc.result, what + ".result() before update")
    _expect_error(lambda: acc.merge(acc), what + ".merge(self)")

    def feed(target, items):
        for b in items:
            with contextlib.suppress(*EXPECTED_ERRORS):  # bad axis, channel count changed
                target.update(b)

    half = len(batches) // 2
    threads = [
        threading.Thread(target=feed, args=(acc, batches[:half])),
        threading.Thread(target=feed, args=(acc, batches[half:])),
    ]
    for t in threads:
        t.start()
    feed(other, batches)
    for t in threads:
        t.join()
    if (acc.stat, acc.how, acc.channel_axis, acc.q) != (stat, how, axis, q):
        raise FuzzFailure(f"{what}: properties {acc.stat, acc.how, acc.channel_axis, acc.q}")
    if acc.samples == 0:
        if acc.batches != 0 or acc.channels != -1:
            raise FuzzFailure(f"{what}: {acc.batches} batches, {acc.channels} channels, no sample")
        return
    if not 1 <= acc.batches <= len(batches) or acc.channels < 1:
        raise FuzzFailure(f"{what}: {acc.batches} batches, {acc.channels} channels")
    got = _call(acc.result, what + ".result()")
    if got.shape != (acc.channels,):
        raise FuzzFailure(f"{what}: result shape {got.shape} for {acc.channels} channels")
    clone = pickle.loads(pickle.dumps(acc))
    _same(clone.result(), got, what + " pickled")
    _same(acc.__copy__().result(), got, what + " copied")
    merged = _core.StatisticAccumulator(stat, how, axis, q)
    try:
        merged.merge(acc)
        merged.merge(other)
    except EXPECTED_ERRORS:  # channel counts differ
        return
    _call(merged.result, what + " merged.result()")
    mismatch = _core.StatisticAccumulator(stat, "max" if how != "max" else "min", axis, q)
    _expect_error(lambda: acc.merge(mismatch), what + ".merge(other aggregator)")


def _f32_array(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    values = np.ascontiguousarray(values, dtype=np.float32)
    return _placed(rng, values) if rng.random() < 0.7 else values


def fuzz_fq_params(rng: np.random.Generator) -> None:
    """One fq_params call on (usually misaligned) float32 ranges, checked."""
    n = int(rng.integers(1, 40)) if rng.random() < 0.95 else 0
    shape = (n,) if rng.random() < 0.5 else (n, 1, 1, 1)
    hi = np.abs(_values(rng, n, np.float32)).reshape(shape)
    lo = -np.abs(_values(rng, n, np.float32)).reshape(shape)
    if rng.random() < 0.3:
        lo = np.abs(lo) * np.float32(0.5)
    mode = str(rng.choice(["symmetric", "asymmetric"])) if rng.random() < 0.97 else "linear"
    kind = str(rng.choice(["weights", "activations"])) if rng.random() < 0.97 else "bias"
    bits = (
        int(rng.choice([8, 8, 4, 2, 1, 16, 31, 32]))
        if rng.random() < 0.95
        else int(rng.choice([0, -1, 33, 64]))
    )
    level_low = None
    level_high = None
    if rng.random() < 0.3:
        level_low = int(rng.integers(-200, 10))
        level_high = int(rng.integers(-10, 300))
    min_values = None if rng.random() < 0.1 else _f32_array(rng, lo)
    max_values = _f32_array(rng, hi)
    if rng.random() < 0.05 and min_values is not None:
        min_values = min_values.ravel()[: max(0, n - 1)]  # size mismatch
    args = (min_values, max_values, mode, kind, bits, level_low, level_high)
    what = f"fq_params(n={n}, {mode}, {kind}, bits={bits}, levels=({level_low}, {level_high}))"
    try:
        got = _core.fq_params(*args)
    except EXPECTED_ERRORS:
        return
    except Exception as exc:
        raise FuzzFailure(f"{what}: raised {type(exc).__name__}: {exc}") from exc
    twin = tuple(np.array(a) if isinstance(a, np.ndarray) else a for a in args)
    want = _core.fq_params(*twin)
    for k in (0, 1):
        _same(got[k], want[k], f"{what}[{k}] vs aligned copy")
    if got[2:] != want[2:]:
        raise FuzzFailure(f"{what}: levels {got[2:]} != {want[2:]}")


def fuzz_extremes(rng: np.random.Generator, x: np.ndarray) -> None:
    """One extremes_per_sample call, checked against the aligned copy and sorting."""
    axis, axis_ok = _channel_axis(rng, x.ndim)
    size = x.size // x.shape[0] if x.ndim and x.shape[0] else 0
    if axis_ok and axis is not None and size:
        size //= x.shape[axis % x.ndim]
    k = int(rng.integers(1, size + 1)) if size else 1
    if rng.random() < 0.1:
        k = int(rng.choice([0, -1, size + 1, 2**40]))
    elif rng.random() < 0.5:
        k = min(size, int(np.floor(1e-3 * max(size - 1, 0))) + 3) or 1
    what = f"extremes_per_sample({x.dtype}, shape={x.shape}, strides={x.strides}, k={k}, {axis})"
    if not (axis_ok and 1 <= k <= size):
        _expect_error(lambda: _core.extremes_per_sample(x, k, axis), what)
        return
    bottom, top, n = _call(lambda: _core.extremes_per_sample(x, k, axis), what)
    norm = None if axis is None else axis % x.ndim
    shape = (x.shape[0], k) if norm is None else (x.shape[0], x.shape[norm], k)
    for got in (bottom, top):
        if got.shape != shape or got.dtype != _result_dtype(x.dtype) or n != size:
            raise FuzzFailure(f"{what}: got {got.shape} {got.dtype} size {n}")
    twin = np.ascontiguousarray(x)
    want_bottom, want_top, _ = _core.extremes_per_sample(twin, k, axis)
    _same(bottom, want_bottom, what + " bottom vs aligned copy")
    _same(top, want_top, what + " top vs aligned copy")
    if x.size <= SMALL_ELEMENTS:
        ref_bottom, ref_top, _ = reference.extremes_per_sample(x, k, norm)
        _same(bottom, ref_bottom, what + " bottom vs reference")
        _same(top, ref_top, what + " top vs reference")


def fuzz_recorder(rng: np.random.Generator, batches: list[np.ndarray]) -> None:
    """Feed a SampleRecorder (a statistic or extremes) from two threads; check what it kept."""
    axis, axis_ok = _channel_axis(rng, batches[0].ndim)
    stat = str(rng.choice(["extremes", "min", "max", "abs_max"]))
    what = f"SampleRecorder({stat}, {axis}) on {[b.shape for b in batches]}"
    if not axis_ok:
        rec = _core.SampleRecorder(stat, axis) if axis != 0 else None
        if rec is not None:
            _expect_error(lambda: rec.update(batches[0]), what)
        return
    recorder = _call(lambda: _core.SampleRecorder(stat, axis), what)
    errors: list[BaseException] = []

    def feed(items: list[np.ndarray]) -> None:
        for b in items:
            try:
                recorder.update(b)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    half = len(batches) // 2
    threads = [
        threading.Thread(target=feed, args=(part,)) for part in (batches[:half], batches[half:])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = [e for e in errors if not isinstance(e, EXPECTED_ERRORS)]
    if bad:
        raise FuzzFailure(f"{what}: raised {type(bad[0]).__name__}: {bad[0]}")
    if errors or recorder.channels < 0:
        return
    if sorted(recorder.lengths) != sorted(b.shape[0] if b.ndim else 1 for b in batches):
        raise FuzzFailure(f"{what}: lengths {recorder.lengths}")
    if not recorder.consistent:
        return
    if stat == "extremes":
        low, high = _call(recorder.extremes, what)
        if low.shape != high.shape or low.shape[0] != recorder.samples:
            raise FuzzFailure(f"{what}: shapes {low.shape} {high.shape}")
    else:
        values = _call(recorder.values, what)
        if values.shape[0] != recorder.samples:
            raise FuzzFailure(f"{what}: shape {values.shape}")


def fuzz_misuse(rng: np.random.Generator) -> None:
    """Rejected inputs and argument types."""
    bad = _weird_array(rng)
    what = f"misuse dtype={bad.dtype} shape={bad.shape} strides={bad.strides}"
    _expect_error(lambda: _core.reduce_per_sample(bad, "max", None, 0.0), "reduce " + what)
    _expect_error(lambda: _core.min_max_per_sample(bad, None), "min_max " + what)
    _expect_error(lambda: _core.aggregate(bad, "median"), "aggregate " + what)
    _expect_error(lambda: _core.extremes_per_sample(bad, 1, None), "extremes " + what)
    if bad.ndim:  # a recorder takes a 0-d tensor as one sample
        _expect_error(lambda: _core.SampleRecorder("extremes").update(bad), "recorder " + what)
    acc = _core.StatisticAccumulator("max", "mean", None, 0.0)
    _expect_error(lambda: acc.update(bad), "update " + what)
    _expect_error(lambda: _core.reduce_per_sample([1.0, 2.0], "max", None, 0.0), "list input")
    _expect_error(
        lambda: _core.fq_params(None, np.ones(3, np.float64), "symmetric", "weights"),
        "fq_params float64",
    )
    _expect_error(
        lambda: _core.fq_params(None, np.ones((3, 4), np.float32)[:, ::2], "symmetric", "weights"),
        "fq_params strided",
    )
    # Unpickling a tampered state: counts that do not match the values, huge counts.
    acc = _core.StatisticAccumulator(str(rng.choice(STATS)), str(rng.choice(HOWS)), None, 0.5)
    acc.update(np.ones((2, 3), np.float32))
    state = list(acc.__getstate__())
    k = int(rng.integers(4, 8))
    state[k] = rng.choice([-1, 3, 2**40, 2**62, -(2**63)]) if k < 7 else not state[k]
    if rng.random() < 0.2:
        state = state[: int(rng.integers(0, 9))]
    clone = _core.StatisticAccumulator.__new__(_core.StatisticAccumulator)
    try:
        clone.__setstate__(tuple(state))
    except EXPECTED_ERRORS:
        return
    except Exception as exc:
        raise FuzzFailure(f"setstate {state[:8]}: raised {type(exc).__name__}: {exc}") from exc
    with contextlib.suppress(*EXPECTED_ERRORS):
        clone.result()


def iteration(seed: int, i: int) -> str:
    """Run iteration `i` of the fuzz pass; returns what it exercised."""
    rng = np.random.default_rng([seed, i])
    if rng.random() < 0.3:
        _core.set_num_threads(int(rng.integers(0, 5)))
    if _core.num_threads() < 1:
        raise FuzzFailure("num_threads() < 1")
    r = rng.random()
    if r < 0.08:
        fuzz_misuse(rng)
        return "misuse"
    if r < 0.2:
        fuzz_fq_params(rng)
        return "fq_params"
    big = rng.random() < 0.03
    dtype = FLOATS[int(rng.integers(3))]
    shape = _shape(rng, big)
    x = _view(rng, shape, dtype, big)
    if r < 0.5:
        fuzz_reduce(rng, x, big)
        return "reduce"
    if r < 0.6:
        fuzz_extremes(rng, x)
        return "extremes"
    if r < 0.8:
        fuzz_aggregate(rng, x if not big else x.reshape(x.shape[0], -1)[:, :256])
        return "aggregate"
    rest = x.shape[1:]
    batches = [x]
    for _ in range(int(rng.integers(0, 4))):
        n = int(rng.integers(1, 5))
        other = rest if rng.random() < 0.9 else tuple(s + 1 for s in rest)
        batches.append(_view(rng, (n, *other), dtype, False))
    if rng.random() < 0.3:
        fuzz_recorder(rng, batches)
        return "recorder"
    fuzz_accumulator(rng, batches)
    return "accumulator"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget")
    parser.add_argument("--iterations", type=int, default=1_000_000, help="iteration budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", type=int, default=None, help="replay one iteration")
    args = parser.parse_args(argv)
    warnings.simplefilter("error")  # a RuntimeWarning from the kernels' wrappers is a finding
    counts: dict[str, int] = {}
    start = time.monotonic()
    todo = [args.only] if args.only is not None else range(args.iterations)
    done = 0
    for i in todo:
        if args.only is None and time.monotonic() - start > args.seconds:
            break
        try:
            kind = iteration(args.seed, i)
        except FuzzFailure as exc:
            print(f"fuzz_kernels: FAILED at iteration {i} (replay: --seed {args.seed} --only {i})")
            print(f"  {exc}")
            return 1
        counts[kind] = counts.get(kind, 0) + 1
        done += 1
    _core.set_num_threads(0)
    elapsed = time.monotonic() - start
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"fuzz_kernels: {done} iterations in {elapsed:.0f} s, no failure ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
