"""The statistics model compiles on a worker thread while the first items are loaded."""

from __future__ import annotations

import threading
import time
import types

import numpy as np
import pytest

from fastpot.engines import IEEngine, ie_engine
from fastpot.kernels import StatisticAccumulator
from fastpot.samplers import create_sampler

from .test_dispatcher import SAMPLES, ZooLoader, _model

COMPILE_SECONDS = 0.4


class _TimedLoader(ZooLoader):
    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__("plain_cnn")
        self.loaded: list[float] = []
        self.fail_at = fail_at

    def __getitem__(self, i: int) -> tuple:
        if i == self.fail_at:
            raise OSError(f"cannot read item {i}")
        self.loaded.append(time.perf_counter())
        return super().__getitem__(i)


@pytest.fixture
def slow_compile(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """The real dispatcher, built after a pause (stands in for a long compile)."""
    real = ie_engine._dispatch_module()
    assert real is not None
    built: dict[str, float] = {}

    def dispatcher(*args: object) -> object:
        time.sleep(COMPILE_SECONDS)
        made = real.Dispatcher(*args)
        built["at"] = time.perf_counter()
        return made

    module = types.SimpleNamespace(Dispatcher=dispatcher)
    monkeypatch.setattr(ie_engine, "_DISPATCH", [module])
    return built


def _collect(loader: _TimedLoader) -> list[StatisticAccumulator]:
    engine = IEEngine({"device": "CPU"}, loader)
    engine.set_model(_model("plain_cnn"))
    accs = [StatisticAccumulator("min", "min"), StatisticAccumulator("abs_max", "mean")]
    engine.collect_statistics({"conv1/relu": accs}, create_sampler(engine, SAMPLES))
    return accs


def test_items_load_while_the_model_compiles(slow_compile: dict[str, float]) -> None:
    loader = _TimedLoader()
    start = time.perf_counter()
    accs = _collect(loader)
    assert len(loader.loaded) == SAMPLES
    # Every item was loaded during the (slowed) compile, none waited for it.
    assert all(t < slow_compile["at"] for t in loader.loaded)
    assert time.perf_counter() - start < COMPILE_SECONDS + 5.0
    # Same statistics as without the overlap (the plain loop of the Python fallback).
    ie_engine._DISPATCH.clear()
    ie_engine._DISPATCH.append(None)
    fallback = _collect(_TimedLoader())
    for a, b in zip(accs, fallback, strict=True):
        np.testing.assert_array_equal(a.result(), b.result())


def test_a_loader_error_during_the_compile_is_raised_and_leaves_no_thread(
    slow_compile: dict[str, float],
) -> None:
    before = threading.active_count()
    with pytest.raises(RuntimeError, match=r"data loader item 3: .*OSError: cannot read item 3"):
        _collect(_TimedLoader(fail_at=3))
    assert "at" in slow_compile  # the compile was waited for, not abandoned
    assert threading.active_count() == before
