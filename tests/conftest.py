"""Shared fixtures: seeded RNG, the backend matrix, array layouts and data paths.

Test modules are imported with ``--import-mode=importlib``, so they cannot import this file;
everything they share is offered as a fixture, or through :func:`pytest_generate_tests`
(the ``layout`` / ``big_layout`` arguments).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
# ../shared next to the repository (the source of tests/data); may be absent.
SHARED = Path(__file__).resolve().parents[2] / "shared"

# Every backend is tested, whether or not it loads here: an unavailable backend must fail
# loudly (BackendUnavailableError) rather than be skipped.
ALL_BACKENDS = ("cpp", "numba", "numpy")


def _backends() -> tuple[str, ...]:
    import fastpot.kernels

    extra = [b for b in fastpot.kernels.available_backends() if b not in ALL_BACKENDS]
    return (*ALL_BACKENDS, *extra)


BACKENDS = _backends()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


# ---- layouts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """A memory layout: a C-contiguous base array of ``base_shape`` and a view of it."""

    name: str
    base_shape: tuple[int, ...]
    channel_axis: int | None
    view: Callable[[np.ndarray], np.ndarray] = lambda a: a

    def make(self, rng: np.random.Generator, dtype: np.dtype | type, scale: float = 3.0):
        """Random data (normal, with a few repeated values) in this layout."""
        base = rng.normal(0.0, scale, self.base_shape)
        # Some exact ties, so that quantile ranks land on repeated values.
        flat = base.reshape(-1)
        flat[::7] = np.round(flat[::7])
        return self.view(base.astype(dtype))

    def from_base(self, base: np.ndarray) -> np.ndarray:
        assert base.shape == self.base_shape
        return self.view(base)

    def __str__(self) -> str:
        return self.name


def _fortran(a: np.ndarray) -> np.ndarray:
    return np.asfortranarray(a)


def _windows(a: np.ndarray) -> np.ndarray:
    # [N, L] -> [N, L - 3, 4] overlapping windows (read-only view, repeated elements).
    return np.lib.stride_tricks.sliding_window_view(a, 4, axis=1)


def _windows_step2(a: np.ndarray) -> np.ndarray:
    # [N, L] -> [N, L // 2 - 1, 2]: windows of 2 every 2 elements (contiguous again).
    return np.lib.stride_tricks.sliding_window_view(a, 2, axis=1)[:, ::2]


def _broadcast(a: np.ndarray) -> np.ndarray:
    # [N, C, W] -> [N, C, 5, W] with a zero stride on the new axis (read-only view).
    return np.broadcast_to(a[:, :, None, :], (a.shape[0], a.shape[1], 5, a.shape[2]))


LAYOUTS: tuple[Layout, ...] = (
    Layout("nchw-contig-axisNone", (3, 4, 5, 6), None),
    Layout("nchw-contig-axis1", (3, 4, 5, 6), 1),
    Layout("nchw-contig-axis2", (3, 4, 5, 6), 2),
    Layout("nchw-contig-axis3", (3, 4, 5, 6), 3),
    Layout("nchw-contig-axis-1", (3, 4, 5, 6), -1),
    Layout("nchw-contig-axis-3", (3, 4, 5, 6), -3),
    Layout("step2-last-axis1", (3, 4, 5, 12), 1, lambda a: a[:, :, :, ::2]),
    Layout("step2-last-axisNone", (3, 4, 5, 12), None, lambda a: a[:, :, :, ::2]),
    Layout("step2-samples-axis1", (6, 4, 5, 6), 1, lambda a: a[::2]),
    Layout("sliced-offset-axis1", (4, 6, 7, 8), 1, lambda a: a[1:, 1:5, 2:, 1:-1]),
    Layout("nhwc-as-nchw-axis1", (3, 5, 6, 4), 1, lambda a: a.transpose(0, 3, 1, 2)),
    Layout("nhwc-as-nchw-axisNone", (3, 5, 6, 4), None, lambda a: a.transpose(0, 3, 1, 2)),
    Layout("ntc-as-nct-axis1", (3, 7, 5), 1, lambda a: a.transpose(0, 2, 1)),
    Layout("transposed-hw-axis1", (3, 4, 5, 6), 1, lambda a: a.transpose(0, 1, 3, 2)),
    Layout("negstride-channels-axis1", (3, 4, 5, 6), 1, lambda a: a[:, ::-1]),
    Layout("negstride-channels-axisNone", (3, 4, 5, 6), None, lambda a: a[:, ::-1]),
    Layout("negstride-all-axis2", (3, 4, 5, 6), 2, lambda a: a[::-1, ::-1, ::-1, ::-1]),
    Layout("negstride-inner-axis1", (3, 4, 5, 6), 1, lambda a: a[:, :, ::-1, ::-2]),
    Layout("ntc-channel-last-axis-1", (3, 7, 5), -1),
    Layout("ntc-channel-last-axis2", (3, 7, 5), 2),
    Layout("ntc-channel-last-negstride", (3, 7, 5), -1, lambda a: a[:, ::-1, ::-1]),
    Layout("ntc-channel-last-step2", (3, 7, 10), -1, lambda a: a[:, :, ::2]),
    Layout("nhwc-channel-last-axis3", (2, 4, 5, 6), 3),
    Layout("fortran-axis1", (3, 4, 5, 6), 1, _fortran),
    Layout("fortran-axisNone", (3, 4, 5, 6), None, _fortran),
    Layout("broadcast-zero-stride-axis1", (3, 4, 6), 1, _broadcast),
    Layout("sliding-window-axisNone", (3, 20), None, _windows),
    Layout("sliding-window-axis1", (3, 20), 1, _windows),
    Layout("sliding-window-axis2", (3, 20), 2, _windows),
    Layout("sliding-window-step2-axisNone", (3, 20), None, _windows_step2),
    Layout("size1-dims-axis1", (3, 1, 4, 1, 5), 1),
    Layout("size1-dims-axis2", (3, 1, 4, 1, 5), 2),
    Layout("rank2-nc-axis1", (5, 7), 1),
    Layout("rank2-nc-axisNone", (5, 7), None),
    Layout("rank2-transposed-axis1", (7, 5), 1, lambda a: a.T),
    Layout("rank1-n", (9,), None),
    Layout("rank1-negstride", (9,), None, lambda a: a[::-1]),
    Layout("one-sample-axis1", (1, 3, 4), 1),
)

# Layouts large enough for the C++ kernels' multithreaded paths (> 2**19 elements).
BIG_LAYOUTS: tuple[Layout, ...] = (
    Layout("big-n1-pertensor", (1, 3, 512, 512), None),
    Layout("big-n1-pertensor-strided", (1, 3, 512, 1024), None, lambda a: a[..., ::2]),
    Layout("big-n2-pertensor", (2, 640, 512), None),
    Layout("big-n3-pertensor-negstride", (3, 2, 700, 300), None, lambda a: a[:, ::-1, ::-1]),
    Layout("big-n1-axis1", (1, 8, 256, 320), 1),
    Layout("big-channel-last", (2, 4096, 128), -1),
    Layout("big-channel-last-n1", (1, 8192, 96), 2),
    Layout("big-nhwc-as-nchw", (1, 128, 128, 48), 1, lambda a: a.transpose(0, 3, 1, 2)),
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "layout" in metafunc.fixturenames:
        metafunc.parametrize("layout", LAYOUTS, ids=[lay.name for lay in LAYOUTS])
    if "big_layout" in metafunc.fixturenames:
        metafunc.parametrize("big_layout", BIG_LAYOUTS, ids=[lay.name for lay in BIG_LAYOUTS])


@pytest.fixture(scope="session")
def layouts() -> dict[str, Layout]:
    """All layouts by name (for tests that pick a few)."""
    return {lay.name: lay for lay in (*LAYOUTS, *BIG_LAYOUTS)}
