"""Fixtures of the kernel benchmarks; the registry itself lives in ``registry.py``.

``--import-mode=importlib`` puts no benchmark directory on ``sys.path``, so the registry is
loaded here by file path and handed to the benchmarks through fixtures; the directory is
added to ``sys.path`` for the shared model builder, ``import resnet_like``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_REGISTRY_NAME = "fastpot_benchmarks_registry"
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


def _load_registry() -> ModuleType:
    if _REGISTRY_NAME in sys.modules:
        return sys.modules[_REGISTRY_NAME]
    spec = importlib.util.spec_from_file_location(
        _REGISTRY_NAME, Path(__file__).with_name("registry.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_REGISTRY_NAME] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


registry = _load_registry()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``bench_case`` over every (kernel, shape, backend-or-peer)."""
    if "bench_case" in metafunc.fixturenames:
        cases = registry.bench_cases()
        metafunc.parametrize("bench_case", cases, ids=[c.id for c in cases])


@pytest.fixture(scope="session")
def bench_arrays() -> registry.ArrayPool:
    """Input arrays, shared by all benchmarks of a case."""
    return registry.ArrayPool()
