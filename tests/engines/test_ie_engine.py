"""IEEngine against a plain synchronous reference loop, POT's item formats and bad input."""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from fastpot.api import DataLoader, Metric
from fastpot.engines import IEEngine
from fastpot.graph import load_model
from fastpot.kernels import StatisticAccumulator, reference
from fastpot.samplers import BatchSampler, create_sampler

ZOO = Path(__file__).resolve().parents[1] / "data" / "zoo"
MODELS = (
    "plain_cnn",
    "residual_concat",
    "mobilenet_like",
    "transformer_block",
    "two_input",
    "conv_nobias_bn",
    "signed_zero_channel",
)
SAMPLES = 12


class ArrayLoader(DataLoader):
    """Sample i of a zoo .npz: ({input: array[1, ...]}, label i)."""

    def __init__(self, name: str, samples: int = SAMPLES) -> None:
        data = np.load(ZOO / f"{name}.npz")
        self.arrays = {k: data[k][:samples] for k in data.files}
        self.samples = samples

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, i: int) -> tuple:
        return {k: v[i : i + 1] for k, v in self.arrays.items()}, i


def _engine(name: str, requests: int | None, metric: Metric | None = None) -> IEEngine:
    engine = IEEngine(
        {"device": "CPU", "stat_requests_number": requests, "eval_requests_number": requests},
        data_loader=ArrayLoader(name),
        metric=metric,
    )
    engine.set_model(
        load_model({"model": str(ZOO / f"{name}.xml"), "weights": str(ZOO / f"{name}.bin")})
    )
    return engine


def _float_nodes(model: ov.Model, limit: int = 6) -> list[str]:
    names = [
        op.get_friendly_name()
        for op in model.get_ordered_ops()
        if op.get_type_name() not in ("Constant", "Parameter", "Result", "ShapeOf")
        and op.get_output_element_type(0) == ov.Type.f32
    ]
    step = max(1, len(names) // limit)
    return names[::step][:limit]


def _reference_outputs(name: str, nodes: list[str]) -> dict[str, list[np.ndarray]]:
    """A plain synchronous loop with the OpenVINO API, one sample at a time."""
    core = ov.Core()
    model = core.read_model(ZOO / f"{name}.xml")
    ops = {op.get_friendly_name(): op for op in model.get_ops()}
    first = len(model.outputs)
    model.add_outputs([ops[n].output(0) for n in nodes])  # appended after the model's outputs
    outputs = list(range(first, first + len(nodes)))
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    loader = ArrayLoader(name)
    result: dict[str, list[np.ndarray]] = {n: [] for n in nodes}
    for i in range(len(loader)):
        out = compiled(loader[i][0])
        for n, port in zip(nodes, outputs, strict=True):
            result[n].append(out[port].copy())
    return result


STATS = {
    "min": functools.partial(reference.reduce_per_sample, stat="min", channel_axis=None, q=0.0),
    "abs_max": functools.partial(
        reference.reduce_per_sample, stat="abs_max", channel_axis=None, q=0.0
    ),
    "q9999": functools.partial(
        reference.reduce_per_sample, stat="quantile", channel_axis=None, q=1 - 1e-4
    ),
}


@pytest.mark.parametrize("requests", [1, 2, None], ids=["sync", "async2", "async-auto"])
@pytest.mark.parametrize("name", MODELS)
def test_predict_statistics_equal_a_synchronous_reference_loop(
    name: str, requests: int | None
) -> None:
    engine = _engine(name, requests)
    nodes = _float_nodes(engine._model)
    layout = {n: dict(STATS) for n in nodes}
    _, stats = engine.predict(layout, sampler=BatchSampler(engine.data_loader))
    expected = _reference_outputs(name, nodes)
    for n in nodes:
        for stat, fn in STATS.items():
            got = np.array(stats[n][stat])
            want = np.array([fn(x) for x in expected[n]])
            assert got.shape == want.shape == (SAMPLES, 1), (name, n, stat)
            np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{name} {n} {stat}")


@pytest.mark.parametrize("requests", [1, 2])
@pytest.mark.parametrize("name", ["plain_cnn", "transformer_block", "two_input"])
def test_collect_statistics_feeds_accumulators_like_the_reference(name: str, requests: int) -> None:
    engine = _engine(name, requests)
    nodes = _float_nodes(engine._model, limit=3)
    accumulators = {
        n: [
            StatisticAccumulator("abs_max", "mean"),
            StatisticAccumulator("min", "min"),
            StatisticAccumulator("quantile", "mean", q=1 - 1e-4),
        ]
        for n in nodes
    }
    engine.collect_statistics(accumulators, create_sampler(engine, SAMPLES))
    expected = _reference_outputs(name, nodes)
    for n in nodes:
        per_sample = [
            np.concatenate([fn(x) for x in expected[n]])
            for fn in (STATS["abs_max"], STATS["min"], STATS["q9999"])
        ]
        want = [
            per_sample[0].astype(np.float64).mean(),
            per_sample[1].min(),
            per_sample[2].astype(np.float64).mean(),
        ]
        for acc, w in zip(accumulators[n], want, strict=True):
            assert acc.samples == SAMPLES
            np.testing.assert_allclose(float(acc.result()), w, rtol=1e-6, err_msg=f"{name} {n}")


class LabelMetric(Metric):
    """Per-sample value = label * 10 + argmax of the first output (order-sensitive)."""

    def reset(self) -> None:
        self.values: list[float] = []
        self.last: list[float] = []

    def update(self, output: list, target: list) -> None:
        self.last = [
            float(t) * 10 + float(np.argmax(o)) for o, t in zip(output[0], target, strict=True)
        ]
        self.values += self.last

    @property
    def value(self) -> dict[str, list[float]]:
        return {"score": self.last}

    @property
    def avg_value(self) -> dict[str, float]:
        return {"score": float(np.mean(self.values))}

    def get_attributes(self) -> dict[str, dict[str, str]]:
        return {"score": {"direction": "higher-better", "type": "score"}}


@pytest.mark.parametrize("requests", [1, 2, None])
def test_per_sample_metric_values_stay_aligned_with_their_samples(requests: int | None) -> None:
    engine = _engine("plain_cnn", requests, metric=LabelMetric())
    engine.calculate_metrics = True
    (per_sample, avg) = engine.predict(metric_per_sample=True)[0]
    sync = _engine("plain_cnn", 1, metric=LabelMetric())
    (ref, ref_avg) = sync.predict(metric_per_sample=True)[0]
    assert [e["sample_id"] for e in per_sample] == list(range(SAMPLES))
    for e in per_sample:
        assert int(e["result"]) // 10 == e["sample_id"], e  # the label is the sample index
    assert [e["result"] for e in per_sample] == [e["result"] for e in ref]
    assert avg == ref_avg


class FormatLoader(DataLoader):
    def __init__(self, form: str) -> None:
        self.form = form
        self.images = np.load(ZOO / "plain_cnn.npz")["image"][:4]

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> tuple:
        image = self.images[i]  # no batch axis: the engine adds it
        if self.form == "meta":
            return image, i, {"index": i}
        if self.form == "legacy_tuple":
            return (100 + i, i), image
        return {100 + i: i}, image


@pytest.mark.parametrize("form", ["meta", "legacy_tuple", "legacy_dict"])
def test_pot_item_formats(form: str) -> None:
    seen_meta = []

    class Engine(IEEngine):
        @staticmethod
        def postprocess_output(outputs: dict, metadata: list) -> list:
            seen_meta.extend(metadata)
            return list(outputs.values())

    engine = Engine({"device": "CPU", "eval_requests_number": 1}, FormatLoader(form), LabelMetric())
    engine.set_model(
        load_model({"model": str(ZOO / "plain_cnn.xml"), "weights": str(ZOO / "plain_cnn.bin")})
    )
    per_sample, _ = engine.predict(metric_per_sample=True)[0]
    ids = [e["sample_id"] for e in per_sample]
    assert ids == ([0, 1, 2, 3] if form == "meta" else [100, 101, 102, 103])
    if form == "meta":
        assert seen_meta == [{"index": i} for i in range(4)]


class BrokenLoader(DataLoader):
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __len__(self) -> int:
        return 5

    def __getitem__(self, i: int) -> object:
        image = np.zeros((3, 32, 32), np.float32)
        if i == 3:
            if self.kind == "raise":
                raise OSError("disk on fire")
            if self.kind == "shape":
                return np.zeros((3, 16, 16), np.float32), None
            if self.kind == "bare":
                return image
            if self.kind == "rank":
                return np.zeros((2, 2, 3, 32, 32), np.float32), None
        return image, None


@pytest.mark.parametrize("requests", [1, 2])
@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("raise", RuntimeError, r"item 3: __getitem__ raised OSError: disk on fire"),
        ("shape", ValueError, r"items 3\.\.3: model input 'image' has the static shape"),
        ("bare", RuntimeError, r"item 3: expected a tuple"),
        ("rank", ValueError, r"item 3: model input 'image' has rank 4"),
    ],
)
def test_bad_items_name_the_sample_and_input(
    kind: str, error: type, message: str, requests: int
) -> None:
    engine = IEEngine({"device": "CPU", "stat_requests_number": requests}, BrokenLoader(kind))
    engine.set_model(
        load_model({"model": str(ZOO / "plain_cnn.xml"), "weights": str(ZOO / "plain_cnn.bin")})
    )
    with pytest.raises(error, match=message):
        engine.predict({"conv1/relu": {"max": np.max}})


def test_engine_misuse_is_reported() -> None:
    with pytest.raises(TypeError, match="device"):
        IEEngine({"stat_requests_number": 1})
    engine = IEEngine({"device": "CPU"}, ArrayLoader("plain_cnn"))
    with pytest.raises(RuntimeError, match="Model was not set"):
        engine.predict()

    class Empty(ArrayLoader):
        def __len__(self) -> int:
            return 0

    empty = IEEngine({"device": "CPU"}, Empty("plain_cnn"))
    with pytest.raises(RuntimeError, match="Empty data loader"):
        _ = empty.data_loader
    with pytest.raises(ValueError, match="outside the data loader"):
        BatchSampler(ArrayLoader("plain_cnn"), subset_indices=[0, 99])


def test_progress_bar_shows_elapsed_and_eta(capsys: pytest.CaptureFixture[str]) -> None:
    engine = _engine("plain_cnn", 2)
    engine.predict({"conv1/relu": {"max": np.max}}, print_progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert f" {SAMPLES}/{SAMPLES} elapsed " in lines[-1]
    assert any(" elapsed " in line and " ETA " in line for line in lines)


@pytest.mark.parametrize("requests", [1, 2])
def test_in_graph_per_channel_statistics_equal_the_reference(requests: int) -> None:
    """Per-channel min/max/abs_max come from in-graph reductions; they must be exact."""
    engine = _engine("mobilenet_like", requests)
    nodes = ["stem/relu6", "dw1/relu6", "block_add"]
    accumulators = {
        n: [
            StatisticAccumulator(s, h, channel_axis=1)
            for s, h in (("min", "min"), ("max", "max"), ("abs_max", "max"), ("abs_max", "mean"))
        ]
        for n in nodes
    }
    engine.collect_statistics(accumulators, create_sampler(engine, SAMPLES))
    expected = _reference_outputs("mobilenet_like", nodes)
    for n in nodes:
        x = np.concatenate(expected[n])  # [S, C, H, W]
        per_sample = {
            "min": reference.reduce_per_sample(x, "min", 1, 0.0),
            "max": reference.reduce_per_sample(x, "max", 1, 0.0),
            "abs_max": reference.reduce_per_sample(x, "abs_max", 1, 0.0),
        }
        wants = [
            per_sample["min"].min(0),
            per_sample["max"].max(0),
            per_sample["abs_max"].max(0),
            per_sample["abs_max"].astype(np.float64).mean(0),
        ]
        for acc, want in zip(accumulators[n], wants, strict=True):
            np.testing.assert_allclose(acc.result(), want, rtol=1e-6, err_msg=f"{n} {acc.stat}")


CTRL_C_SCRIPT = r"""
import sys, time
import numpy as np
sys.path.insert(0, {benchmarks!r})
from fastpot.api import DataLoader
from fastpot.engines import IEEngine
from fastpot.graph import load_model
from fastpot.kernels import StatisticAccumulator
from fastpot.samplers import create_sampler

class Slow(DataLoader):
    def __init__(self):
        pass
    def __len__(self):
        return 100000
    def __getitem__(self, i):
        if i == 5:
            print("started", flush=True)
        time.sleep(0.002)
        return np.zeros((1, 3, 32, 32), np.float32), None

engine = IEEngine({{"device": "CPU", "stat_requests_number": 2}}, Slow())
engine.set_model(load_model({{"model": {xml!r}, "weights": {bin!r}}}))
try:
    engine.collect_statistics({{"conv1/relu": [StatisticAccumulator("max", "max")]}},
                              create_sampler(engine, 100000))
except KeyboardInterrupt:
    (dispatcher, _), = engine._dispatchers.values()  # the C++ dispatcher ran the pass
    print("interrupted cleanly; requests in flight:", dispatcher.in_flight, flush=True)
    sys.exit(3)
"""


def test_ctrl_c_stops_collection_promptly(tmp_path: Path) -> None:
    script = tmp_path / "ctrl_c.py"
    script.write_text(
        CTRL_C_SCRIPT.format(
            benchmarks=str(Path(__file__).resolve().parents[2] / "benchmarks"),
            xml=str(ZOO / "plain_cnn.xml"),
            bin=str(ZOO / "plain_cnn.bin"),
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    time.sleep(0.5)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert time.perf_counter() - sent < 10, "collection did not stop promptly"
    assert proc.returncode == 3, f"exit {proc.returncode}: {out}\n{err[-2000:]}"
    assert "interrupted cleanly; requests in flight: 0" in out
