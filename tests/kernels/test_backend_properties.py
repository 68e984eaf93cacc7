"""Property tests: every backend agrees with the NumPy reference on arbitrary inputs.

Hypothesis draws shapes, dtypes (float16/32/64), layouts (steps, negative steps, transposes,
zero strides), alignments (views at any byte offset of a ``bytearray``, so most float arrays
are misaligned) and values (finite ones over the dtype's range, with +-inf, NaN and signed
zeros mixed in), then checks ``reduce_per_sample``, ``min_max_per_sample``,
``extremes_per_sample``, ``aggregate``,
``StatisticAccumulator`` (update / merge / result) and ``fq_params`` on every backend
against :mod:`fastpot.kernels.reference`, the oracle that defines the NaN / inf semantics.

Tolerances are the kernel tests' own: order statistics and extremes are bit-exact; sums
(``mean``) and quantile interpolation agree within ``rtol * max(|expected|, scale)``, with
rtol 1e-6 (float16/32 input) or 1e-12 (float64) and `scale` the largest finite magnitude of
the data. NaN and infinities must match exactly everywhere. Bytes of the buffer outside the
view hold NaN, so a kernel reading outside its input shows up as a NaN result.

float64 data stays within +-1e300, where no sum of the drawn sizes overflows: an overflowing
sum is inf or finite depending on summation order, which no two implementations share.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastpot import kernels
from fastpot.kernels import StatisticAccumulator, reference

BACKENDS = ("cpp", "numba", "numpy")
STATS = ("min", "max", "abs_max", "mean", "quantile", "abs_quantile")
EXACT_STATS = ("min", "max", "abs_max")
HOWS = ("mean", "max", "min", "median", "mean_no_outliers", "median_no_outliers", "hl_estimator")
# Aggregators whose result is an order statistic (or a mean of two): no summation order.
EXACT_HOWS = ("max", "min", "median", "median_no_outliers", "hl_estimator")
DTYPES = (np.float16, np.float32, np.float64)
FINITE_BOUND = {np.float16: 65504.0, np.float32: float(np.finfo(np.float32).max), np.float64: 1e300}
WIDTH = {np.float16: 16, np.float32: 32, np.float64: 64}

PROPERTY_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---- strategies ---------------------------------------------------------------------------


@st.composite
def values_of(draw, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Values of `shape`: finite ones, and some of +-inf / NaN / +-0 as the example decides."""
    kind = draw(st.sampled_from(["finite", "inf", "nan", "inf+nan"]))
    bound = draw(st.sampled_from([1.0, 1e4, FINITE_BOUND[dtype]]))
    bound = float(np.asarray(bound, dtype=dtype))  # exactly representable in `dtype`
    finite = st.floats(
        min_value=-bound,
        max_value=bound,
        allow_nan=False,
        allow_infinity=False,
        width=WIDTH[dtype],
    )
    specials = [0.0, -0.0]
    if "inf" in kind:
        specials += [np.inf, -np.inf]
    if "nan" in kind:
        specials += [np.nan]
    elements = st.one_of(finite, finite, finite, st.sampled_from(specials))
    return draw(hnp.arrays(dtype, shape, elements=elements))


@st.composite
def placed(draw, values: np.ndarray, *, permute: bool = True) -> np.ndarray:
    """`values` in a strided, possibly misaligned view of a fresh byte buffer.

    The rest of the buffer holds NaN. Axes get steps of +-1 or +-2; with `permute`, the
    non-sample axes may be permuted (then the view holds `values` transposed).
    """
    dtype = values.dtype
    steps = [draw(st.sampled_from([1, 2, -1, -2])) for _ in values.shape]
    offset = draw(st.integers(min_value=0, max_value=dtype.itemsize))  # 0, itemsize: aligned
    base_shape = tuple(n * abs(s) for n, s in zip(values.shape, steps, strict=True))
    nbytes = int(np.prod(base_shape)) * dtype.itemsize
    buffer = bytearray(nbytes + offset + 8)
    raw = np.frombuffer(buffer, dtype=np.uint8)[offset : offset + nbytes]
    base = raw.view(dtype).reshape(base_shape)
    base[...] = np.nan
    view = base[tuple(slice(None, None, s) for s in steps)]
    view[...] = values
    if permute and view.ndim > 2:
        order = draw(st.permutations(range(1, view.ndim)))
        view = view.transpose(0, *order)
    if draw(st.booleans()):
        view.flags.writeable = False
    return view


@st.composite
def arrays(draw, *, max_dims: int = 4, max_side: int = 5, max_samples: int = 5):
    """A placed array [N, ...] of a random float dtype."""
    dtype = draw(st.sampled_from(DTYPES))
    samples = draw(st.integers(min_value=1, max_value=max_samples))
    rest = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims - 1, min_side=1, max_side=max_side))
    shape = (samples, *rest)
    x = draw(placed(draw(values_of(shape, dtype))))
    if x.ndim >= 2 and draw(st.integers(0, 5)) == 0:  # a zero-stride (broadcast) axis
        axis = draw(st.integers(min_value=1, max_value=x.ndim))
        size = draw(st.integers(min_value=1, max_value=3))
        expanded = np.expand_dims(x, axis)
        target = (*expanded.shape[:axis], size, *expanded.shape[axis + 1 :])
        x = np.broadcast_to(expanded, target)
    return x


def channel_axes(ndim: int):
    """None, or a channel axis >= 1 (sometimes written negative)."""
    if ndim == 1:
        return st.none()
    positive = st.integers(min_value=1, max_value=ndim - 1)
    return st.one_of(st.none(), positive, positive.map(lambda a: a - ndim))


QS = st.one_of(
    st.sampled_from([0.0, 1e-4, 0.01, 0.5, 0.99, 1.0 - 1e-4, 1.0]),
    st.floats(min_value=0.0, max_value=1.0),
)


# ---- comparison ---------------------------------------------------------------------------


def _rtol(dtype) -> float:
    return 1e-12 if np.dtype(dtype) == np.float64 else 1e-6


def _scale(*arrays_: np.ndarray) -> float:
    """Largest finite magnitude of the data (for absolute error bounds of sums)."""
    best = 1.0
    for a in arrays_:
        with np.errstate(invalid="ignore"):
            m = np.abs(np.asarray(a, dtype=np.float64))
        m = m[np.isfinite(m)]
        if m.size:
            best = max(best, float(m.max()))
    return best


def assert_agree(got, want, what: str, *, exact: bool, rtol: float = 0.0, scale: float = 1.0):
    """NaN and inf where `want` has them; elsewhere equal, or within rtol * max(|want|, scale)."""
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if exact:
        assert np.array_equal(got, want, equal_nan=True), f"{what}:\n got  {got}\n want {want}"
        return
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    nan_g, nan_w = np.isnan(g), np.isnan(w)
    assert np.array_equal(nan_g, nan_w), f"{what}: NaN pattern\n got  {got}\n want {want}"
    g, w = g[~nan_w], w[~nan_w]
    inf = np.isinf(w)
    assert np.array_equal(g[inf], w[inf]), f"{what}: infinities\n got  {got}\n want {want}"
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(g[~inf] - w[~inf])
        bound = rtol * np.maximum(np.abs(w[~inf]), scale)
    assert (err <= bound).all(), (
        f"{what}: off by {err.max()} > rtol {rtol}\n got {got}\n want {want}"
    )


def _result_dtype(dtype) -> np.dtype:
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


# ---- reduce_per_sample / min_max_per_sample -----------------------------------------------


@PROPERTY_SETTINGS
@given(data=st.data())
def test_reduce_per_sample_backends_agree(data):
    x = data.draw(arrays(), label="x")
    axis = data.draw(channel_axes(x.ndim), label="channel_axis")
    q = data.draw(QS, label="q")
    saved = x.copy()
    norm = None if axis is None else axis % x.ndim
    rtol, scale = _rtol(x.dtype), _scale(x)
    aligned = np.ascontiguousarray(x)  # aligned, C order: another code path, same values
    for stat in STATS:
        level = q if "quantile" in stat else None
        want = reference.reduce_per_sample(x, stat, norm, 0.0 if level is None else level)
        for backend in BACKENDS:
            what = f"[{backend} {stat} q={level} axis={axis} {x.dtype} {x.shape} {x.strides}]"
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                got = kernels.reduce_per_sample(
                    x, stat, channel_axis=axis, q=level, backend=backend
                )
                again = kernels.reduce_per_sample(
                    aligned, stat, channel_axis=axis, q=level, backend=backend
                )
            exact = stat in EXACT_STATS
            assert_agree(got, want, what, exact=exact, rtol=rtol, scale=scale)
            # The same backend on an aligned copy: same values (sums within rounding).
            assert_agree(got, again, what + " vs aligned copy", exact=exact, rtol=rtol, scale=scale)
    assert np.array_equal(x, saved, equal_nan=True), "input modified"


@PROPERTY_SETTINGS
@given(data=st.data())
def test_min_max_per_sample_backends_agree(data):
    x = data.draw(arrays(), label="x")
    axis = data.draw(channel_axes(x.ndim), label="channel_axis")
    norm = None if axis is None else axis % x.ndim
    want = reference.min_max_per_sample(x, norm)
    for backend in BACKENDS:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = kernels.min_max_per_sample(x, channel_axis=axis, backend=backend)
        for name, g, w in zip(("min", "max", "abs_max"), got, want, strict=True):
            what = f"[{backend} min_max_per_sample.{name} axis={axis} {x.dtype} {x.strides}]"
            assert_agree(g, w, what, exact=True)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_extremes_per_sample_backends_agree(data):
    x = data.draw(arrays(), label="x")
    axis = data.draw(channel_axes(x.ndim), label="channel_axis")
    norm = None if axis is None else axis % x.ndim
    size = x.size // x.shape[0] // (1 if norm is None else x.shape[norm])
    k = data.draw(st.integers(min_value=1, max_value=size), label="k")
    want = reference.extremes_per_sample(x, k, norm)
    aligned = np.ascontiguousarray(x)
    for backend in BACKENDS:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = kernels.extremes_per_sample(x, k, channel_axis=axis, backend=backend)
            again = kernels.extremes_per_sample(aligned, k, channel_axis=axis, backend=backend)
        assert got.size == size
        for name, g, w, a in zip(("bottom", "top"), got[:2], want[:2], again[:2], strict=True):
            what = f"[{backend} extremes.{name} k={k} axis={axis} {x.dtype} {x.strides}]"
            assert_agree(g, w, what, exact=True)
            assert_agree(g, a, what + " vs aligned copy", exact=True)


def _misaligned_copy(values: np.ndarray, offset: int) -> np.ndarray:
    buffer = bytearray(values.nbytes + offset)
    view = np.frombuffer(buffer, np.uint8)[offset:].view(values.dtype).reshape(values.shape)
    view[...] = values
    return view


@pytest.mark.parametrize(
    ("shape", "channel_axis"),
    [((1, 3, 512, 512), None), ((2, 8, 128, 300), 1), ((2, 4096, 72), -1)],
    ids=["pertensor-n1", "axis1", "channel-last"],
)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_large_misaligned_input_equals_aligned(backend, dtype, shape, channel_axis):
    # Large enough for the multithreaded paths of the compiled kernels.
    rng = np.random.default_rng(7)
    values = rng.standard_normal(shape).astype(dtype)
    values.reshape(-1)[::1001] = np.inf
    offset = 1 if dtype != np.float64 else 4
    x = _misaligned_copy(values, offset)
    assert not x.flags.aligned
    lo, hi, ab = kernels.min_max_per_sample(x, channel_axis=channel_axis, backend=backend)
    want = kernels.min_max_per_sample(values, channel_axis=channel_axis, backend=backend)
    for got, exp in zip((lo, hi, ab), want, strict=True):
        assert_agree(got, exp, f"[{backend} min_max_per_sample]", exact=True)
    if backend == "numpy":
        return  # the reference converts to float64 first: alignment never reaches it
    for stat, q in (("mean", None), ("quantile", 1 - 1e-4), ("abs_quantile", 0.5)):
        got = kernels.reduce_per_sample(x, stat, channel_axis=channel_axis, q=q, backend=backend)
        exp = kernels.reduce_per_sample(
            values, stat, channel_axis=channel_axis, q=q, backend=backend
        )
        exact = stat != "mean"
        assert_agree(got, exp, f"[{backend} {stat}]", exact=exact, rtol=_rtol(dtype), scale=4.0)


# ---- aggregate ----------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(x=arrays(max_dims=3, max_side=4, max_samples=40))
def test_aggregate_backends_agree(x):
    rtol, scale = _rtol(x.dtype), _scale(x)
    for how in HOWS:
        want = reference.aggregate(x, how)
        assert want.dtype == _result_dtype(x.dtype)
        for backend in BACKENDS:
            what = f"[{backend} aggregate {how} {x.dtype} {x.shape} {x.strides}]"
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                got = kernels.aggregate(x, how, backend=backend)
            assert_agree(got, want, what, exact=how in EXACT_HOWS, rtol=rtol, scale=scale)


def test_hl_estimator_of_both_infinities_is_nan(backend):
    # The example: pair sums inf + -inf (NaN), 0 + inf, 0 - inf -> median NaN.
    got = kernels.aggregate(np.array([np.inf, -np.inf, 0.0]), "hl_estimator", backend=backend)
    assert np.isnan(got), f"[{backend}] {got}"
    got = kernels.aggregate(np.array([np.inf, 1.0, 2.0]), "hl_estimator", backend=backend)
    assert float(got) == np.inf, f"[{backend}] {got}"  # sums inf, inf, 3 -> median inf


@pytest.mark.parametrize("offset", [1, 2, 3])
@pytest.mark.parametrize("how", HOWS)
def test_aggregate_misaligned_float32_equals_aligned(backend, how, offset):
    rng = np.random.default_rng(offset)
    values = rng.standard_normal((11, 3, 2)).astype(np.float32)
    view = _misaligned_copy(values, offset)
    assert not view.flags.aligned
    got = kernels.aggregate(view, how, backend=backend)
    assert np.array_equal(got, kernels.aggregate(values, how, backend=backend))


# ---- StatisticAccumulator -----------------------------------------------------------------


@st.composite
def accumulator_cases(draw):
    """(stat, how, q, channel_axis, batches): batches share their non-sample shape."""
    stat = draw(st.sampled_from(STATS))
    how = draw(st.sampled_from(HOWS))
    # Per-sample means and interior quantiles round differently per backend (summation
    # order, interpolation); *_no_outliers are not continuous in their input (a value on
    # a quantile bound is kept or not), so they get only exactly computed statistics.
    q = draw(st.sampled_from([0.0, 0.5, 1.0])) if "quantile" in stat else None
    assume(not (stat == "mean" and how in ("mean_no_outliers", "median_no_outliers")))
    rest = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    axis = draw(channel_axes(len(rest) + 1))
    batches = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        n = draw(st.integers(min_value=1, max_value=4))
        dtype = draw(st.sampled_from(DTYPES))
        batches.append(draw(placed(draw(values_of((n, *rest), dtype)), permute=False)))
    return stat, how, q, axis, batches


def _accumulate(backend, stat, how, q, axis, batches):
    """Feed the batches into two accumulators, merge them; results before and after."""
    first = StatisticAccumulator(stat, how, channel_axis=axis, q=q, backend=backend)
    second = StatisticAccumulator(stat, how, channel_axis=axis, q=q, backend=backend)
    half = (len(batches) + 1) // 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for b in batches[:half]:
            first.update(b)
        for b in batches[half:]:
            second.update(b)
        partial = first.result()
        first.merge(second)
        return partial, first.result()


@PROPERTY_SETTINGS
@given(case=accumulator_cases())
def test_accumulator_backends_agree(case):
    stat, how, q, axis, batches = case
    want_partial, want = _accumulate("numpy", stat, how, q, axis, batches)
    exact = how in EXACT_HOWS and (stat in EXACT_STATS or q is not None)
    rtol = _rtol(np.float64 if all(b.dtype == np.float64 for b in batches) else np.float32)
    scale = _scale(*batches)
    for backend in ("cpp", "numba"):
        partial, got = _accumulate(backend, stat, how, q, axis, batches)
        what = f"[{backend} {stat} q={q} {how} axis={axis} {[b.dtype.name for b in batches]}]"
        assert_agree(
            partial, want_partial, what + " first half", exact=exact, rtol=rtol, scale=scale
        )
        assert_agree(got, want, what + " merged", exact=exact, rtol=rtol, scale=scale)


# ---- fq_params ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["symmetric", "asymmetric"])
def test_fq_params_misaligned_ranges_equal_aligned(backend, mode):
    lo = np.float32([-1.5, -0.25, 0.0, -3.0, 2.0])
    hi = np.float32([2.0, 0.75, 1e-5, 3.0, 4.0])
    got = kernels.fq_params(
        _misaligned_copy(lo, 1),
        _misaligned_copy(hi, 3),
        mode=mode,
        kind="activations",
        backend=backend,
    )
    want = kernels.fq_params(lo, hi, mode=mode, kind="activations", backend=backend)
    for name in ("input_low", "input_high"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name


@st.composite
def fq_cases(draw):
    mode = draw(st.sampled_from(["symmetric", "asymmetric"]))
    kind = draw(st.sampled_from(["weights", "activations"]))
    shape = draw(st.sampled_from([(), (1,), (5,), (4, 1, 1, 1), (1, 3, 1, 1)]))
    lo = draw(values_of(shape, np.float32))
    hi = draw(values_of(shape, np.float32))
    if mode == "asymmetric":
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)  # NaN stays NaN
    else:
        hi = np.abs(hi)
    if lo.ndim:  # misaligned / strided range arrays too
        lo, hi = draw(placed(lo)), draw(placed(hi))
    bits = draw(st.sampled_from([8, 8, 4, 2, 16]))
    levels = draw(st.sampled_from([(None, None), (-128, 127), (0, 255), (-8, 7), (0, 15)]))
    return lo, hi, mode, kind, bits, levels


@PROPERTY_SETTINGS
@given(case=fq_cases())
def test_fq_params_backends_agree(case):
    lo, hi, mode, kind, bits, (level_low, level_high) = case
    min_values = None if mode == "symmetric" and kind == "weights" else lo
    kwargs = {"mode": mode, "kind": kind, "bits": bits}
    kwargs.update(level_low=level_low, level_high=level_high)
    outcomes = {}
    for backend in BACKENDS:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                p = kernels.fq_params(min_values, hi, backend=backend, **kwargs)
            except ValueError as exc:  # NaN statistics: the same error everywhere
                outcomes[backend] = ("ValueError", str(exc))
                continue
        outcomes[backend] = ("ok", p)
    kinds = {name: o[0] for name, o in outcomes.items()}
    assert len(set(kinds.values())) == 1, f"{kwargs}: {outcomes}"
    if kinds["numpy"] == "ValueError":
        assert len({o[1] for o in outcomes.values()}) == 1, outcomes
        return
    want = outcomes["numpy"][1]
    for backend in ("cpp", "numba"):
        got = outcomes[backend][1]
        assert got.levels == want.levels
        for field in ("input_low", "input_high", "output_low", "output_high"):
            what = f"[{backend} fq_params {kwargs} {field}] lo={lo!r} hi={hi!r}"
            assert_agree(getattr(got, field), getattr(want, field), what, exact=True)
