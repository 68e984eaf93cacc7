"""reduce_per_sample / min_max_per_sample: every backend against the NumPy oracle.

Every backend is compared with ``fastpot.kernels.reference`` and, independently, with plain
NumPy reductions of the float64 data (``numpy.quantile`` for the quantiles: the contract is
"exactly as numpy.quantile up to float rounding").
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastpot import kernels
from fastpot.kernels import reference

DTYPES = (np.float16, np.float32, np.float64)
STATS = ("min", "max", "abs_max", "mean", "quantile", "abs_quantile")
EXACT_STATS = ("min", "max", "abs_max")
QUANTILE_STATS = ("quantile", "abs_quantile")
QS = (0.0, 1e-4, 0.01, 0.3, 0.5, 0.99, 1.0 - 1e-4, 1.0)


# ---- helpers ------------------------------------------------------------------------------


def _result_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def _rtol(dtype: np.dtype) -> float:
    return 1e-12 if np.dtype(dtype) == np.float64 else 1e-6


def _axes(ndim: int, channel_axis: int | None) -> tuple[int, ...]:
    keep = {0} if channel_axis is None else {0, channel_axis % ndim}
    return tuple(d for d in range(ndim) if d not in keep)


def _grouped64(x: np.ndarray, channel_axis: int | None) -> tuple[np.ndarray, tuple[int, ...]]:
    """float64 copy of x and the axes to reduce (a trailing unit axis if there are none)."""
    x64 = x.astype(np.float64)
    axes = _axes(x.ndim, channel_axis)
    if not axes:
        return x64[..., None], (x64.ndim,)
    return x64, axes


def _numpy_stat(x: np.ndarray, stat: str, channel_axis: int | None, qs=None) -> np.ndarray:
    """The statistic computed directly with NumPy in float64 (qs: array of levels)."""
    x64, axes = _grouped64(x, channel_axis)
    if stat in ("abs_max", "abs_quantile"):
        x64 = np.abs(x64)
    if stat in ("min",):
        return x64.min(axis=axes)
    if stat in ("max", "abs_max"):
        return x64.max(axis=axes)
    if stat == "mean":
        return x64.mean(axis=axes)
    return np.quantile(x64, np.asarray(qs, dtype=np.float64), axis=axes)


def _expected_shape(x: np.ndarray, channel_axis: int | None) -> tuple[int, ...]:
    if channel_axis is None:
        return (x.shape[0],)
    return (x.shape[0], x.shape[channel_axis])


def _assert_close(got, expected, rtol, scale, what):
    """|got - expected| <= rtol * max(|expected|, scale), NaN where expected is NaN."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    nan_got, nan_exp = np.isnan(got), np.isnan(expected)
    assert np.array_equal(nan_got, nan_exp), (
        f"{what}: NaN at {np.argwhere(nan_got).tolist()}, expected at "
        f"{np.argwhere(nan_exp).tolist()}"
    )
    ok = ~nan_exp
    g, e = got[ok], expected[ok]
    inf = np.isinf(e)
    assert np.array_equal(g[inf], e[inf]), f"{what}: infinities differ: {g[inf]} vs {e[inf]}"
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(g[~inf] - e[~inf])
        bound = rtol * np.maximum(np.abs(e[~inf]), scale)
    bad = err > bound
    assert not bad.any(), (
        f"{what}: {int(bad.sum())} values off; worst got {g[~inf][bad][:5]} expected "
        f"{e[~inf][bad][:5]} (rtol {rtol})"
    )


def _assert_exact(got, expected, what):
    got = np.asarray(got)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    assert np.array_equal(got, expected, equal_nan=True), (
        f"{what}: not exact;\n got      {got.ravel()[:8]}\n expected {expected.ravel()[:8]}"
    )


def _scale(x: np.ndarray) -> float:
    """Magnitude of the data, for absolute error bounds of sums (finite values only)."""
    with np.errstate(invalid="ignore"):
        a = np.abs(x.astype(np.float64))
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else 1.0


def check_reductions(
    x: np.ndarray,
    channel_axis: int | None,
    backend: str,
    case: str,
    *,
    qs=QS,
    stats=STATS,
    use_reference: bool = True,
) -> None:
    """Every statistic of `x` on `backend` against the oracle and direct NumPy."""
    saved = x.copy()
    saved_strides = x.strides
    rdt = _result_dtype(x.dtype)
    rtol = _rtol(x.dtype)
    scale = _scale(x)
    shape = _expected_shape(x, channel_axis)
    axis = None if channel_axis is None else channel_axis % x.ndim
    for stat in stats:
        levels = qs if stat in QUANTILE_STATS else (None,)
        direct = _numpy_stat(x, stat, channel_axis, levels if stat in QUANTILE_STATS else None)
        for i, q in enumerate(levels):
            what = f"[{backend} {x.dtype} {case} stat={stat} q={q}]"
            got = kernels.reduce_per_sample(
                x, stat, channel_axis=channel_axis, q=q, backend=backend
            )
            assert isinstance(got, np.ndarray), what
            assert got.dtype == rdt, f"{what}: dtype {got.dtype}, expected {rdt}"
            assert got.shape == shape, f"{what}: shape {got.shape}, expected {shape}"
            expected_direct = direct[i] if stat in QUANTILE_STATS else direct
            if use_reference:
                ref = reference.reduce_per_sample(x, stat, axis, 0.0 if q is None else q)
                assert ref.dtype == rdt, f"{what}: reference dtype {ref.dtype}"
            else:
                ref = expected_direct.astype(rdt)
            if stat in EXACT_STATS:
                _assert_exact(got, ref, what + " vs reference")
                _assert_exact(got, expected_direct.astype(rdt), what + " vs numpy")
            elif stat == "mean":
                _assert_close(got, ref, rtol, scale, what + " vs reference")
                _assert_close(got, expected_direct, rtol, scale, what + " vs numpy")
            else:
                _assert_close(got, ref, rtol, scale, what + " vs reference")
                _assert_close(got, expected_direct, rtol, scale, what + " vs numpy.quantile")
    assert x.strides == saved_strides, f"[{backend} {case}] input strides changed"
    assert np.array_equal(x, saved, equal_nan=True), f"[{backend} {case}] input was modified"


# ---- layouts x dtypes ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_layouts_match_reference(backend, dtype, layout, rng):
    x = layout.make(rng, dtype)
    check_reductions(x, layout.channel_axis, backend, layout.name)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_min_max_per_sample_equals_separate_reductions(backend, dtype, layout, rng):
    x = layout.make(rng, dtype)
    saved = x.copy()
    ax = layout.channel_axis
    lo, hi, ab = kernels.min_max_per_sample(x, channel_axis=ax, backend=backend)
    for name, got in (("min", lo), ("max", hi), ("abs_max", ab)):
        what = f"[{backend} {np.dtype(dtype).name} {layout.name} min_max_per_sample.{name}]"
        separate = kernels.reduce_per_sample(x, name, channel_axis=ax, backend=backend)
        assert got.dtype == _result_dtype(dtype), what
        _assert_exact(got, separate, what + " vs reduce_per_sample")
        axis = None if ax is None else ax % x.ndim
        _assert_exact(got, reference.reduce_per_sample(x, name, axis, 0.0), what + " vs ref")
    assert np.array_equal(x, saved), "input was modified"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_min_max_per_sample_nan_groups(backend, dtype):
    x = np.arange(2 * 3 * 4, dtype=dtype).reshape(2, 3, 4) - 7
    x[1, 2, 3] = np.nan
    lo, hi, ab = kernels.min_max_per_sample(x, channel_axis=1, backend=backend)
    nan = np.zeros((2, 3), dtype=bool)
    nan[1, 2] = True
    for name, got in (("min", lo), ("max", hi), ("abs_max", ab)):
        assert np.array_equal(np.isnan(got), nan), f"[{backend} {name}] NaN pattern {got}"
    assert np.array_equal(lo[~nan], np.array([-7, -3, 1, 5, 9], dtype=np.float32))
    assert np.array_equal(hi[~nan], np.array([-4, 0, 4, 8, 12], dtype=np.float32))
    assert np.array_equal(ab[~nan], np.array([7, 3, 4, 8, 12], dtype=np.float32))


# ---- edge values --------------------------------------------------------------------------

EDGE_LAYOUTS = (
    "nchw-contig-axisNone",
    "nchw-contig-axis1",
    "ntc-channel-last-axis-1",
    "negstride-channels-axis1",
    "step2-last-axis1",
    "nhwc-as-nchw-axis1",
    "rank2-nc-axis1",
    "rank1-n",
)


def _group_index(x: np.ndarray, channel_axis: int | None, sample: int, channel: int, k: int):
    """Index of the k-th element (C order over the reduced axes) of one group of x."""
    axes = _axes(x.ndim, channel_axis)
    sub = np.unravel_index(k, tuple(x.shape[d] for d in axes)) if axes else ()
    index = [0] * x.ndim
    index[0] = sample
    if channel_axis is not None:
        index[channel_axis % x.ndim] = channel
    for d, i in zip(axes, sub, strict=True):
        index[d] = int(i)
    return tuple(index)


def _group_size(x: np.ndarray, channel_axis: int | None) -> int:
    return int(np.prod([x.shape[d] for d in _axes(x.ndim, channel_axis)], dtype=np.int64))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout_name", EDGE_LAYOUTS)
def test_nan_only_in_some_groups(backend, dtype, layout_name, layouts, rng):
    layout = layouts[layout_name]
    x = layout.make(rng, dtype)
    ax = layout.channel_axis
    n_groups = 1 if ax is None else x.shape[ax]
    size = _group_size(x, ax)
    # NaN first, last and in the middle of three different groups.
    poisoned = {(1, 0 % n_groups, 0), (2, (n_groups - 1), size - 1), (0, n_groups // 2, size // 2)}
    for sample, channel, k in poisoned:
        x[_group_index(x, ax, sample, channel, k)] = np.nan
    check_reductions(x, ax, backend, layout_name + "+nan")
    expected_nan = np.zeros(_expected_shape(x, ax), dtype=bool)
    for sample, channel, _ in poisoned:
        expected_nan[(sample, channel) if ax is not None else (sample,)] = True
    for stat in STATS:
        q = 0.5 if stat in QUANTILE_STATS else None
        got = kernels.reduce_per_sample(x, stat, channel_axis=ax, q=q, backend=backend)
        assert np.array_equal(np.isnan(got), expected_nan), (
            f"[{backend} {layout_name} {stat}] NaN pattern {np.isnan(got)}"
        )


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout_name", EDGE_LAYOUTS)
def test_infinities(backend, dtype, layout_name, layouts, rng):
    layout = layouts[layout_name]
    x = layout.make(rng, dtype)
    ax = layout.channel_axis
    n_groups = 1 if ax is None else x.shape[ax]
    size = _group_size(x, ax)
    x[_group_index(x, ax, 0, 0, size // 3)] = np.inf
    x[_group_index(x, ax, 1, n_groups - 1, 0)] = -np.inf
    x[_group_index(x, ax, 2, 0, size - 1)] = np.inf
    x[_group_index(x, ax, 2, 0, 0)] = -np.inf
    # Exact statistics: infinities are ordinary values.
    check_reductions(x, ax, backend, layout_name + "+inf", stats=EXACT_STATS)
    # numpy itself produces NaN (inf - inf) for some means and interpolated quantiles, with a
    # RuntimeWarning; the kernels must give the same values.
    with np.errstate(invalid="ignore"):
        check_reductions(x, ax, backend, layout_name + "+inf", stats=("mean", *QUANTILE_STATS))
    got = kernels.reduce_per_sample(x, "max", channel_axis=ax, backend=backend)
    assert got.reshape(x.shape[0], -1)[0, 0] == np.inf
    got = kernels.reduce_per_sample(x, "abs_max", channel_axis=ax, backend=backend)
    assert got.reshape(x.shape[0], -1)[1, -1] == np.inf


def test_infinite_quantile_examples(backend):
    x = np.array([[-np.inf, 1.0, 2.0, 5.0, np.inf]], dtype=np.float32)
    # Ranks 1..3 are finite: no interpolation touches an infinity.
    for q, want in ((0.25, 1.0), (0.5, 2.0), (0.625, 3.5), (0.7, 5.0 - 3.0 * (1.0 - 0.8))):
        got = kernels.reduce_per_sample(x, "quantile", q=q, backend=backend)
        assert got.tolist() == [float(np.float32(want))], f"[{backend} q={q}] {got}"
    got = kernels.reduce_per_sample(x, "abs_quantile", q=0.25, backend=backend)
    assert got.tolist() == [2.0], f"[{backend} abs_quantile] {got}"
    assert kernels.reduce_per_sample(x, "min", backend=backend).tolist() == [-np.inf]
    assert kernels.reduce_per_sample(x, "abs_max", backend=backend).tolist() == [np.inf]


HUGE = {np.float16: 6.0e4, np.float32: 3.0e38, np.float64: 1.0e300}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout_name", EDGE_LAYOUTS)
def test_huge_magnitudes(backend, dtype, layout_name, layouts, rng):
    layout = layouts[layout_name]
    huge = HUGE[dtype]
    signs = rng.choice([-1.0, 1.0], layout.base_shape)
    fractions = rng.uniform(0.5, 1.0, layout.base_shape)
    x = layout.from_base((signs * fractions * huge).astype(dtype))
    x[(0,) * x.ndim] = -huge
    check_reductions(x, layout.channel_axis, backend, layout_name + "+huge")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout_name", EDGE_LAYOUTS)
def test_all_equal_values(backend, dtype, layout_name, layouts):
    layout = layouts[layout_name]
    value = np.asarray(-0.1, dtype=dtype)
    x = layout.from_base(np.full(layout.base_shape, value, dtype=dtype))
    check_reductions(x, layout.channel_axis, backend, layout_name + "+constant")
    v32 = value.astype(_result_dtype(dtype))
    for stat in ("min", "max", *QUANTILE_STATS):
        for q in QS if stat in QUANTILE_STATS else (None,):
            got = kernels.reduce_per_sample(
                x, stat, channel_axis=layout.channel_axis, q=q, backend=backend
            )
            want = abs(v32) if stat == "abs_quantile" else v32
            assert np.all(got == want), f"[{backend} {layout_name} {stat} q={q}] {got}"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout_name", EDGE_LAYOUTS)
def test_heavy_ties(backend, dtype, layout_name, layouts, rng):
    layout = layouts[layout_name]
    base = rng.choice([-2.0, -1.0, 0.0, 0.0, 0.0, 1.0, 3.0], layout.base_shape).astype(dtype)
    check_reductions(layout.from_base(base), layout.channel_axis, backend, layout_name + "+ties")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("group", [1, 2, 3, 4, 5, 17, 1000, 5000])
@pytest.mark.parametrize("order", ["ascending", "descending", "random", "ties"])
def test_group_sizes_and_orders(backend, dtype, group, order, rng):
    """Sorted runs are adversarial for the C++ top-k candidate filter."""
    values = rng.normal(0.0, 2.0, (3, 4, group))
    if order == "ties":
        values = np.round(values)
    if order in ("ascending", "descending"):
        values = np.sort(values, axis=-1)
    if order == "descending":
        values = values[..., ::-1].copy()
    x = values.astype(dtype)
    case = f"group={group} {order}"
    check_reductions(x, 1, backend, case + " per-channel")
    check_reductions(x.reshape(3, -1), None, backend, case + " per-tensor")
    # Channel-last: [N, group, C].
    check_reductions(np.ascontiguousarray(x.transpose(0, 2, 1)), -1, backend, case + " NTC")


# ---- large inputs (multithreaded C++ paths) -----------------------------------------------

BIG_QS = (0.0, 1e-4, 0.3, 0.5, 1.0 - 1e-4, 1.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_big_inputs(backend, dtype, big_layout, rng):
    x = big_layout.make(rng, dtype)
    check_reductions(
        x, big_layout.channel_axis, backend, big_layout.name, qs=BIG_QS, use_reference=False
    )


@pytest.mark.parametrize("order", ["ascending", "descending"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_big_sorted_group(backend, dtype, order):
    n = 3 * 2**18 + 5
    x = np.linspace(-5.0, 7.0, n)
    x[n // 2 : n // 2 + 1000] = 0.25  # a block of ties in the middle
    x = np.sort(x)
    if order == "descending":
        x = x[::-1]
    x = x.astype(dtype)[None, :]
    check_reductions(x, None, backend, f"big sorted {order}", qs=BIG_QS, use_reference=False)
    check_reductions(
        x[:, ::-1],
        None,
        backend,
        f"big sorted {order} reversed view",
        qs=BIG_QS,
        stats=QUANTILE_STATS,
        use_reference=False,
    )


@pytest.mark.parametrize("threads", [1, 3, 4, 8])
def test_cpp_thread_counts(threads, layouts, rng):
    """The C++ result does not depend on the thread budget (slices, merges of candidates)."""
    from fastpot import _core

    before = _core.num_threads()
    try:
        _core.set_num_threads(threads)
        assert _core.num_threads() == threads
        for name in ("big-n1-pertensor", "big-n3-pertensor-negstride", "big-channel-last"):
            layout = layouts[name]
            x = layout.make(rng, np.float32)
            x[(x.shape[0] - 1, *(s // 2 for s in x.shape[1:]))] = np.nan
            check_reductions(
                x,
                layout.channel_axis,
                "cpp",
                f"{name} threads={threads}",
                qs=(1e-4, 0.5, 1.0 - 1e-4),
                use_reference=False,
            )
    finally:
        _core.set_num_threads(before)
    assert _core.num_threads() == before


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_numba_thread_counts(threads, layouts, rng, monkeypatch):
    """numba honours FASTPOT_NUM_THREADS, and the split changes no selected value."""
    pytest.importorskip("numba")
    from fastpot.kernels import numba_backend

    for name in ("big-n1-pertensor", "big-n3-pertensor-negstride", "big-channel-last"):
        layout = layouts[name]
        x = layout.make(rng, np.float32)
        x[(x.shape[0] - 1, *(s // 2 for s in x.shape[1:]))] = np.nan
        monkeypatch.setenv("FASTPOT_NUM_THREADS", "1")
        assert numba_backend._plan_threads(x.size, x.size) == 1
        serial = {
            (stat, q): kernels.reduce_per_sample(
                x, stat, channel_axis=layout.channel_axis, q=q, backend="numba"
            )
            for stat in ("min", "max", "abs_max", "quantile", "abs_quantile")
            for q in ((1e-4, 0.5, 1.0 - 1e-4) if stat in QUANTILE_STATS else (None,))
        }
        monkeypatch.setenv("FASTPOT_NUM_THREADS", str(threads))
        by_size = x.size // numba_backend.PARALLEL_MIN_ELEMENTS  # >= 3 on these layouts
        assert numba_backend._plan_threads(x.size, x.size) == min(threads, by_size) > 1
        check_reductions(
            x,
            layout.channel_axis,
            "numba",
            f"{name} threads={threads}",
            qs=(1e-4, 0.5, 1.0 - 1e-4),
            use_reference=False,
        )
        for (stat, q), want in serial.items():
            got = kernels.reduce_per_sample(
                x, stat, channel_axis=layout.channel_axis, q=q, backend="numba"
            )
            _assert_exact(got, want, f"[numba {name} threads={threads} {stat} q={q}] vs 1 thread")


# ---- result type and shape ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "result"),
    [(np.float16, np.float32), (np.float32, np.float32), (np.float64, np.float64)],
)
@pytest.mark.parametrize(
    ("shape", "axis", "out_shape"),
    [
        ((4,), None, (4,)),
        ((4, 3), None, (4,)),
        ((4, 3), 1, (4, 3)),
        ((4, 3, 5, 6), None, (4,)),
        ((4, 3, 5, 6), 1, (4, 3)),
        ((4, 3, 5, 6), -1, (4, 6)),
        ((4, 3, 5, 6), 2, (4, 5)),
        ((1, 1, 1), 2, (1, 1)),
    ],
)
def test_result_dtype_and_shape(backend, dtype, result, shape, axis, out_shape):
    x = np.ones(shape, dtype=dtype)
    for stat in STATS:
        q = 0.5 if stat in QUANTILE_STATS else None
        got = kernels.reduce_per_sample(x, stat, channel_axis=axis, q=q, backend=backend)
        assert got.dtype == result, f"[{backend} {stat}] dtype {got.dtype}"
        assert got.shape == out_shape, f"[{backend} {stat}] shape {got.shape}"
        assert got.flags.c_contiguous
        assert got.flags.writeable
    for got in kernels.min_max_per_sample(x, channel_axis=axis, backend=backend):
        assert got.dtype == result
        assert got.shape == out_shape


def test_read_only_input_is_accepted(backend, rng):
    x = rng.normal(size=(3, 4, 5)).astype(np.float32)
    x.flags.writeable = False
    check_reductions(x, 1, backend, "read-only")


def test_float16_subnormals_and_extremes(backend):
    tiny = np.float16(6e-8)  # smallest subnormal
    x = np.array(
        [[tiny, -tiny, np.float16(65504), np.float16(-65504), np.float16(0.0)]], dtype=np.float16
    )
    check_reductions(x, None, backend, "float16 extremes")
    got = kernels.reduce_per_sample(x, "min", backend=backend)
    assert got.tolist() == [-65504.0]
    got = kernels.reduce_per_sample(x[:, :2], "abs_max", backend=backend)
    assert got.tolist() == [float(np.float32(tiny))]


# ---- randomised shapes and axes (hypothesis) ----------------------------------------------


@st.composite
def _arrays_and_axes(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6))
    elements = st.floats(
        min_value=-1e6, max_value=1e6, allow_nan=False, width=32 if dtype == np.float32 else 64
    )
    x = draw(hnp.arrays(dtype, shape, elements=elements))
    axis = None
    if x.ndim > 1:
        axis = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=x.ndim - 1)))
        if axis is not None and draw(st.booleans()):
            axis -= x.ndim
    view = draw(st.sampled_from(["plain", "reversed", "transposed"]))
    if view == "reversed":
        x = x[::-1, ..., ::-1] if x.ndim > 1 else x[::-1]
    elif view == "transposed" and x.ndim > 2:
        order = (0, *reversed(range(1, x.ndim)))
        x = x.transpose(order)
        if axis is not None:
            axis = order.index(axis % x.ndim)
    q = draw(st.floats(min_value=0.0, max_value=1.0))
    return x, axis, q


@pytest.mark.parametrize("backend_name", ["cpp", "numba"])
@settings(max_examples=50, deadline=None)
@given(case=_arrays_and_axes())
def test_random_shapes_match_reference(backend_name, case):
    x, axis, q = case
    check_reductions(
        x,
        axis,
        backend_name,
        f"hypothesis shape={x.shape} strides={x.strides} axis={axis}",
        qs=(q,),
        stats=("min", "max", "abs_max", "mean", "quantile", "abs_quantile"),
    )
