"""The on-disk statistics store: bit-identical hits, misses on any change, robustness.

* Every golden configuration of the zoo, quantized without a store, with a cold store and
  with the warm store, gives the same constants, byte for byte; the warm run infers nothing.
* One changed weight, one changed sample value, another subset or another batch size
  misses the store.
* A truncated entry is detected, deleted and recomputed.
* Two processes filling one store at the same time give what one process gives.
* The store is off unless ``cache_dir`` or ``FASTPOT_CACHE_DIR`` names a folder.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import openvino.opset13 as ops
import pytest

from fastpot.engines import IEEngine
from fastpot.samplers import BatchSampler
from fastpot.statistics import StatisticsCollector, StatRequest
from fastpot.statistics.store import CACHE_DIR_ENV, StatisticsStore

REPO = Path(__file__).resolve().parents[2]


class _InferenceCounter:
    """Counts IEEngine statistics passes and inference runs (both paths)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        for name in ("_run", "_collect_dispatched"):
            original = getattr(IEEngine, name)

            def counted(*args, _original=original, **kwargs):
                self.calls += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(IEEngine, name, counted)


def test_golden_configuration_fresh_cold_and_warm_are_identical(
    zoo, golden_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh, _ = zoo.quantize(golden_run)
    cold, _ = zoo.quantize(golden_run, tmp_path)
    counter = _InferenceCounter(monkeypatch)
    warm, pipeline = zoo.quantize(golden_run, tmp_path)
    assert counter.calls == 0, "a warm store must run no inference"
    assert pipeline.collector.store.hits >= 1
    want = zoo.constants(fresh)
    assert zoo.constants(cold) == want
    assert zoo.constants(warm) == want


def _requests(node: tuple[str, int]) -> list[StatRequest]:
    return [
        StatRequest(node, "min", "mean"),
        StatRequest(node, "abs_max", "max", 1),
        StatRequest(node, "quantile", "mean", None, 1 - 1e-4),
    ]


def _measure(engine, model, sampler, node=("conv1", 0)) -> tuple[dict, int]:
    collector = StatisticsCollector(engine)
    collector.register("probe", _requests(node), sampler)
    collector.compute_statistics(model)
    return collector.get_statistics_for_algorithm("probe"), collector.passes


def _first_activation(model) -> tuple[str, int]:
    for op in model.get_model().get_ordered_ops():
        if op.get_type_name() == "Convolution":
            return (op.get_friendly_name(), 0)
    raise AssertionError("no convolution")


def _dynamic_batch(ov_model) -> None:
    shapes = {}
    for p in ov_model.get_parameters():
        dims = [d.get_length() for d in list(p.get_partial_shape())]
        shapes[p.output(0)] = [-1, *dims[1:]]
    ov_model.reshape(shapes)


def test_any_change_misses_the_store(zoo, tmp_path: Path) -> None:
    name = "plain_cnn"
    model = zoo.model(name)
    _dynamic_batch(model.get_model())
    node = _first_activation(model)
    loader = zoo.loader(name)
    engine = zoo.engine(name, tmp_path, data=loader)
    sampler = BatchSampler(loader, batch_size=2, subset_indices=range(40))
    first, passes = _measure(engine, model, sampler, node)
    assert passes == 1
    again, passes = _measure(engine, model, sampler, node)
    assert passes == 0
    assert all(np.asarray(first[r]).tobytes() == np.asarray(again[r]).tobytes() for r in first)

    # another batch size, another subset (the same items in another order, one item less)
    for other in (
        BatchSampler(loader, batch_size=1, subset_indices=range(40)),
        BatchSampler(loader, batch_size=2, subset_indices=[1, 0, *range(2, 40)]),
        BatchSampler(loader, batch_size=2, subset_indices=range(39)),
    ):
        assert _measure(engine, model, other, node)[1] == 1

    # one sample value
    original = loader.data["image"][7, 0, 3, 3]
    loader.data["image"][7, 0, 3, 3] = np.nextafter(original, np.float32(np.inf))
    assert _measure(engine, model, sampler, node)[1] == 1
    loader.data["image"][7, 0, 3, 3] = original
    assert _measure(engine, model, sampler, node)[1] == 0

    # one weight value
    ov_model = model.get_model()
    conv = next(op for op in ov_model.get_ordered_ops() if op.get_friendly_name() == node[0])
    weights = conv.input_value(1).get_node()
    while weights.get_type_name() != "Constant":
        weights = weights.input_value(0).get_node()
    data = np.array(weights.get_data(), copy=True)
    data.flat[5] = np.nextafter(data.flat[5], np.float32(np.inf))
    changed = ops.constant(data)
    for target in list(weights.output(0).get_target_inputs()):
        target.replace_source_output(changed.output(0))
    assert _measure(engine, model, sampler, node)[1] == 1


def test_truncated_entry_is_recomputed(
    zoo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = "plain_cnn"
    model = zoo.model(name)
    node = _first_activation(model)
    engine = zoo.engine(name, tmp_path)
    sampler = BatchSampler(engine.data_loader, batch_size=1, subset_indices=range(30))
    first, _ = _measure(engine, model, sampler, node)
    parts = sorted((tmp_path / "statistics").rglob("*.npz"))
    assert len(parts) == 1
    raw = parts[0].read_bytes()
    parts[0].write_bytes(raw[: len(raw) // 2])
    with caplog.at_level(logging.WARNING, logger="fastpot.statistics"):
        again, passes = _measure(engine, model, sampler, node)
    assert passes == 1
    assert str(parts[0]) in caplog.text
    assert all(np.asarray(first[r]).tobytes() == np.asarray(again[r]).tobytes() for r in first)
    assert parts[0].stat().st_size == len(raw)  # written again, whole
    assert _measure(engine, model, sampler, node)[1] == 0  # the rewritten entry is sound

    # a flipped byte inside an array: the zip CRC or the manifest checksum catch it
    raw = parts[0].read_bytes()
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0xFF
    parts[0].write_bytes(bytes(flipped))
    assert _measure(engine, model, sampler, node)[1] == 1


_WORKER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    import importlib.util
    spec = importlib.util.spec_from_file_location("zoo_helpers", {conftest!r})
    zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zoo)
    from pathlib import Path
    quantized, pipeline = zoo.quantize(Path(sys.argv[1]), sys.argv[2])
    constants = {{k: v.hex() for k, v in zoo.constants(quantized).items()}}
    json.dump({{"constants": constants, "passes": pipeline.collector.passes}}, sys.stdout)
    """
)


def test_two_processes_filling_one_store(zoo, tmp_path: Path) -> None:
    run = next(r for r in zoo.RUNS if r.stem == "mobilenet_like__default_performance_cpu")
    script = tmp_path / "worker.py"
    here = Path(__file__).resolve().parent
    script.write_text(_WORKER.format(tests=str(here), conftest=str(here / "conftest.py")))
    store = tmp_path / "store"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop(CACHE_DIR_ENV, None)
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(run), str(store)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode()[-2000:]
        results.append(json.loads(out))
    single, _ = zoo.quantize(run)
    want = {k: v.hex() for k, v in zoo.constants(single).items()}
    assert results[0]["constants"] == want
    assert results[1]["constants"] == want
    # the store they left serves a third run without a pass, with the same result
    warm, pipeline = zoo.quantize(run, store)
    assert pipeline.collector.passes == 0
    assert {k: v.hex() for k, v in zoo.constants(warm).items()} == want


def test_store_is_off_unless_named(zoo, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    assert StatisticsCollector(zoo.engine("plain_cnn")).store is None
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "env"))
    store = StatisticsCollector(zoo.engine("plain_cnn")).store
    assert isinstance(store, StatisticsStore)
    assert store.root == tmp_path / "env"
    named = StatisticsCollector(zoo.engine("plain_cnn", tmp_path / "cfg")).store
    assert named is not None
    assert named.root == tmp_path / "cfg"  # the config wins
    engine = IEEngine({"device": "CPU", "cache_dir": ""}, data_loader=zoo.loader("plain_cnn"))
    assert StatisticsCollector(engine).store is None
    with pytest.raises(TypeError, match="cache_dir"):
        IEEngine({"device": "CPU", "cache_dir": 3})


def test_pot_cache_dir_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from fastpot.cli.app import app

    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(3)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(images / f"{i}.png")
    zoo_dir = REPO / "tests" / "data" / "zoo"
    store = tmp_path / "store"

    def pot(out: str) -> bytes:
        args = ["-q", "default", "-m", str(zoo_dir / "plain_cnn.xml"), "-w"]
        args += [str(zoo_dir / "plain_cnn.bin"), "--engine", "simplified", "--data-source"]
        args += [str(images), "--output-dir", str(tmp_path / out), "-d", "--cache-dir"]
        args += [str(store), "--log-level", "WARNING"]
        result = app(args)
        (xml,) = (result["output_dir"] / "optimized").glob("*.xml")
        return xml.with_suffix(".bin").read_bytes()

    cold = pot("a")
    assert sorted(store.rglob("*.npz"))
    counter = _InferenceCounter(monkeypatch)
    warm = pot("b")
    assert counter.calls == 0
    assert warm == cold
