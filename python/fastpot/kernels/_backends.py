"""Backend registry: which backends exist, which load here, and what ``auto`` means."""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

from fastpot.errors import BackendUnavailableError

__all__ = ["BACKENDS", "CAPABILITIES", "available_backends", "backend_module", "resolve_backend"]

BACKENDS = ("cpp", "numba", "numpy")

# Which backend implements what (every backend implements every kernel today; the table is
# what tests and benchmarks iterate over).
CAPABILITIES: dict[str, tuple[str, ...]] = {
    "reduce_per_sample": BACKENDS,
    "min_max_per_sample": BACKENDS,
    "extremes_per_sample": BACKENDS,
    "aggregate": BACKENDS,
    "fq_params": BACKENDS,
    "StatisticAccumulator": BACKENDS,
}

_MODULES = {
    "cpp": "fastpot.kernels.cpp_backend",
    "numba": "fastpot.kernels.numba_backend",
    "numpy": "fastpot.kernels.reference",
}
_loaded: dict[str, ModuleType] = {}
_failures: dict[str, str] = {}
_warned_fallback = False


def _load(name: str) -> ModuleType | None:
    if name in _loaded:
        return _loaded[name]
    if name in _failures:
        return None
    try:
        module = importlib.import_module(_MODULES[name])
    except ImportError as exc:  # a missing build or a missing numba
        _failures[name] = f"{type(exc).__name__}: {exc}"
        return None
    _loaded[name] = module
    return module


def available_backends() -> list[str]:
    """Backends that can be used in this environment, in order of preference."""
    return [name for name in BACKENDS if _load(name) is not None]


def resolve_backend(backend: str = "auto") -> str:
    """Name of the backend that ``backend`` selects here.

    Raises
    ------
    ValueError
        If ``backend`` (or ``FASTPOT_BACKEND``) is not a known backend name.
    BackendUnavailableError
        If an explicitly requested backend cannot be loaded.
    """
    global _warned_fallback  # noqa: PLW0603 - warn once per process
    if backend == "auto":
        env = os.environ.get("FASTPOT_BACKEND", "").strip().lower()
        if env and env != "auto":
            if env not in BACKENDS:
                raise ValueError(
                    f"FASTPOT_BACKEND: unknown backend {env!r} (expected one of {BACKENDS})"
                )
            backend = env
        else:
            for name in BACKENDS:
                if _load(name) is not None:
                    if name != "cpp" and not _warned_fallback:
                        _warned_fallback = True
                        warnings.warn(
                            f"fastpot: the C++ core is unavailable ({_failures.get('cpp')}); "
                            f"using the {name} backend, which is slower",
                            RuntimeWarning,
                            stacklevel=3,
                        )
                    return name
            raise BackendUnavailableError("no kernel backend could be loaded")
    if backend not in BACKENDS:
        raise ValueError(
            f"backend: unknown backend {backend!r} (expected 'auto' or one of {BACKENDS})"
        )
    if _load(backend) is None:
        raise BackendUnavailableError(
            f"backend: {backend!r} is not available here ({_failures[backend]})"
        )
    return backend


def backend_module(name: str) -> ModuleType:
    """Return the loaded module of a resolved backend name."""
    return _loaded[name]
