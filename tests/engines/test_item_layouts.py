"""IEEngine item layouts POT accepted: already-batched items and HWC images for NCHW inputs.

The models are built here with ``openvino.opset13``; expectations are the model compiled
with OpenVINO directly on the same batch, and hand-written NumPy references.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from fastpot.api import DataLoader, Metric
from fastpot.engines import IEEngine
from fastpot.kernels import StatisticAccumulator
from fastpot.samplers import BatchSampler

LOG = "fastpot.engines.ie_engine"
SCALE = np.array([0.5, -2.0, 1.5], np.float32)
SHIFT = np.array([0.1, 0.2, -0.3], np.float32)
SIZES = (2, 3, None, 1, 4)  # samples per loader item; None: a single sample without batch axis


def _nhwc_model() -> ov.Model:
    """[?, 24, 24, 3] -> x * SCALE + SHIFT -> ReLU -> spatial mean: [?, 3]."""
    image = ops.parameter([-1, 24, 24, 3], ov.Type.f32, name="image")
    scaled = ops.multiply(image, ops.constant(SCALE), name="scaled")
    shifted = ops.add(scaled, ops.constant(SHIFT), name="shifted")
    relu = ops.relu(shifted, name="relu")
    pool = ops.reduce_mean(relu, ops.constant(np.array([1, 2], np.int64)), False, name="pool")
    return ov.Model([ops.result(pool)], [image], "nhwc")


def _reference_relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x * SCALE + SHIFT, 0)


def _compiled(model: ov.Model) -> ov.CompiledModel:
    return ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


class BatchedLoader(DataLoader):
    """Item i: ``[k_i, 24, 24, 3]`` (or one ``[24, 24, 3]`` sample); annotation: its k."""

    def __init__(self) -> None:
        rng = np.random.default_rng(7)
        self.counts = [1 if k is None else k for k in SIZES]
        self.data = rng.uniform(-1, 1, (sum(self.counts), 24, 24, 3)).astype(np.float32)
        self.starts = np.cumsum([0, *self.counts])

    def __len__(self) -> int:
        return len(SIZES)

    def rows(self, i: int) -> np.ndarray:
        return self.data[self.starts[i] : self.starts[i + 1]]

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        rows = self.rows(i)
        return (rows[0] if SIZES[i] is None else rows), self.counts[i]


class ItemMetric(Metric):
    """Mean of the first output channel per loader item (the annotation is the item's k)."""

    def __init__(self) -> None:
        self.updates: list[tuple[np.ndarray, list[int]]] = []  # kept across resets
        super().__init__()

    def reset(self) -> None:
        self.seen: list[np.ndarray] = []
        self.last: list[float] = []

    def update(self, output: list[np.ndarray], target: list[int]) -> None:
        rows = output[0]
        self.updates.append((rows.copy(), list(target)))
        self.seen.append(rows[:, 0].copy())
        bounds = np.cumsum([0, *target])
        assert bounds[-1] == len(rows), "the batch's rows are the items' samples"
        self.last = [float(rows[a:b, 0].mean()) for a, b in itertools.pairwise(bounds)]

    @property
    def value(self) -> dict[str, list[float]]:
        return {"first": self.last}

    @property
    def avg_value(self) -> dict[str, float]:
        return {"first": float(np.concatenate(self.seen).mean())}

    def get_attributes(self) -> dict[str, dict[str, str]]:
        return {"first": {"direction": "higher-better", "type": "first"}}


def _engine(requests: int, loader: DataLoader, model: ov.Model, metric: Any = None) -> IEEngine:
    engine = IEEngine(
        {"device": "CPU", "stat_requests_number": requests, "eval_requests_number": requests},
        loader,
        metric,
    )
    engine.set_model(model)
    return engine


def _batches(loader: BatchedLoader, batch_size: int) -> list[list[int]]:
    items = list(range(len(loader)))
    return [items[i : i + batch_size] for i in range(0, len(items), batch_size)]


# ---- already-batched items for a dynamic-batch input --------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 2])
@pytest.mark.parametrize("requests", [1, 2])
def test_batched_items_are_fed_as_the_batch(requests: int, batch_size: int) -> None:
    loader = BatchedLoader()
    metric = ItemMetric()
    engine = _engine(requests, loader, _nhwc_model(), metric)
    engine.calculate_metrics = True
    layout = {
        "relu": {"max": lambda t: t.max(axis=(1, 2, 3)), "rows": len},
        "pool": {"out": lambda t: t.copy()},
    }
    (per_sample, _), stats = engine.predict(
        layout, BatchSampler(loader, batch_size), metric_per_sample=True
    )
    batches = _batches(loader, batch_size)
    # The model receives every item's samples as one batch: its outputs are the outputs of
    # the model run on that batch directly, and the NumPy reference.
    direct = _compiled(_nhwc_model())
    reference = _reference_relu(loader.data)
    assert len(metric.updates) == len(batches)
    for (rows, targets), items in zip(metric.updates, batches, strict=True):
        batch = np.concatenate([loader.rows(i) for i in items])
        assert rows.shape == (len(batch), 3)
        np.testing.assert_allclose(rows, direct(batch)[0], rtol=1e-6, atol=1e-7)
        a, b = loader.starts[items[0]], loader.starts[items[-1] + 1]
        np.testing.assert_allclose(rows, reference[a:b].mean(axis=(1, 2)), rtol=1e-5)
        # One annotation per loader item, as in POT.
        assert targets == [loader.counts[i] for i in items]
    # Statistics are per sample: each batch's tensor has all of its items' samples.
    assert stats["relu"]["rows"] == [sum(loader.counts[i] for i in items) for items in batches]
    np.testing.assert_allclose(
        np.concatenate(stats["relu"]["max"]), reference.max(axis=(1, 2, 3)), rtol=1e-6
    )
    np.testing.assert_allclose(
        np.concatenate(stats["pool"]["out"]), reference.mean(axis=(1, 2)), rtol=1e-5
    )
    # Per-sample metric values: one per item, by loader index.
    assert [e["sample_id"] for e in per_sample] == list(range(len(loader)))
    for e in per_sample:
        rows = reference[loader.starts[e["sample_id"]] : loader.starts[e["sample_id"] + 1]]
        assert e["result"] == pytest.approx(float(rows.mean(axis=(1, 2))[:, 0].mean()), rel=1e-5)


@pytest.mark.parametrize("dispatch", ["1", "0"], ids=["dispatcher", "python"])
@pytest.mark.parametrize("batch_size", [1, 2])
@pytest.mark.parametrize("requests", [1, 2])
def test_collect_statistics_sees_every_sample_of_batched_items(
    requests: int, batch_size: int, dispatch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTPOT_DISPATCH", dispatch)
    loader = BatchedLoader()
    engine = _engine(requests, loader, _nhwc_model())
    accumulators = {
        "relu": [
            StatisticAccumulator("max", "max"),  # in-graph ReduceMax
            StatisticAccumulator("mean", "median"),  # every per-sample value kept
            StatisticAccumulator("abs_max", "mean"),  # mean of the per-batch means
        ],
        "shifted": [
            StatisticAccumulator("min", "min", channel_axis=-1),
            StatisticAccumulator("abs_max", "max"),  # in-graph min and max
        ],
    }
    engine.collect_statistics(accumulators, BatchSampler(loader, batch_size))
    relu = _reference_relu(loader.data).astype(np.float64)
    shifted = (loader.data * SCALE + SHIFT).astype(np.float64)
    batches = _batches(loader, batch_size)
    per_batch_abs_max = [
        np.abs(relu[loader.starts[b[0]] : loader.starts[b[-1] + 1]]).max(axis=(1, 2, 3)).mean()
        for b in batches
    ]
    want = {
        "relu": [relu.max(), np.median(relu.mean(axis=(1, 2, 3))), np.mean(per_batch_abs_max)],
        "shifted": [shifted.min(axis=(0, 1, 2)), np.abs(shifted).max()],
    }
    for node, accs in accumulators.items():
        for acc, expected in zip(accs, want[node], strict=True):
            assert acc.samples == len(loader.data) == 11
            assert acc.batches == len(batches)
            np.testing.assert_allclose(acc.result(), expected, rtol=1e-5, err_msg=node)


# ---- HWC images for NCHW inputs ----------------------------------------------------------------


def _conv_model(shape: list[int], channels: int = 3) -> ov.Model:
    """NCHW `shape` -> 3x3 convolution with fixed random weights (the model's output)."""
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(4, channels, 3, 3)).astype(np.float32)
    image = ops.parameter(shape, ov.Type.f32, name="image")
    conv = ops.convolution(
        image, ops.constant(weights), [1, 1], [1, 1], [1, 1], [1, 1], name="conv"
    )
    return ov.Model([ops.result(conv)], [image], "conv")


class ListLoader(DataLoader):
    def __init__(self, items: list[np.ndarray]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[np.ndarray, None]:
        return self.items[i], None


def _conv_outputs(engine: IEEngine, batch_size: int = 1) -> np.ndarray:
    assert engine.data_loader is not None
    _, stats = engine.predict(
        {"conv": {"out": lambda t: t.copy()}}, BatchSampler(engine.data_loader, batch_size)
    )
    return np.concatenate(stats["conv"]["out"])


def _images(n: int, shape: tuple[int, ...] = (3, 8, 6)) -> np.ndarray:
    return np.random.default_rng(5).uniform(-1, 1, (n, *shape)).astype(np.float32)


def _direct(model: ov.Model, images: np.ndarray) -> np.ndarray:
    """The model compiled with OpenVINO, one CHW image at a time."""
    compiled = _compiled(model)
    return np.concatenate([compiled(x[None])[0] for x in images])


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOG and r.levelno == logging.WARNING]


@pytest.fixture
def warnings_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.WARNING, logger=LOG):
        yield caplog


@pytest.mark.parametrize("requests", [1, 2])
@pytest.mark.parametrize("batched", [False, True], ids=["hwc", "nhwc"])
def test_hwc_images_are_transposed_to_chw_with_one_warning(
    batched: bool, requests: int, warnings_log: pytest.LogCaptureFixture
) -> None:
    chw = _images(4)  # C, H, W = 3, 8, 6: every axis differs
    hwc = np.ascontiguousarray(chw.transpose(0, 2, 3, 1))
    items = [x[None] if batched else x for x in hwc]
    model = _conv_model([1, 3, 8, 6])
    engine = _engine(requests, ListLoader(items), model)
    got = _conv_outputs(engine)
    np.testing.assert_array_equal(got, _conv_outputs(engine))  # a second pass, no new warning
    want = _direct(model, chw)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # The same as the CHW images through the engine; a reshape (not a transpose) differs.
    chw_engine = _engine(requests, ListLoader(list(chw)), model)
    np.testing.assert_array_equal(got, _conv_outputs(chw_engine))
    assert not np.allclose(want, _direct(model, hwc.reshape(chw.shape)), atol=1e-2)
    records = _warnings(warnings_log)
    assert len(records) == 1, [r.getMessage() for r in records]
    message = records[0].getMessage()
    assert "item 0" in message
    assert "'image'" in message
    assert "transposing" in message
    assert "[3, 8, 6]" in message
    # CHW images: no warning at all.
    warnings_log.clear()
    _conv_outputs(_engine(requests, ListLoader(list(chw)), model))
    assert _warnings(warnings_log) == []


def test_a_batch_mixing_hwc_and_chw_images(warnings_log: pytest.LogCaptureFixture) -> None:
    chw = _images(4)
    items = [x if i % 2 else np.ascontiguousarray(x.transpose(1, 2, 0)) for i, x in enumerate(chw)]
    model = _conv_model([2, 3, 8, 6])  # a static batch of 2
    engine = _engine(1, ListLoader(items), model)
    compiled = _compiled(model)
    want = np.concatenate([compiled(chw[i : i + 2])[0] for i in (0, 2)])
    np.testing.assert_allclose(_conv_outputs(engine, batch_size=2), want, rtol=1e-5, atol=1e-6)
    assert len(_warnings(warnings_log)) == 1


def test_a_full_batch_item_for_a_static_batch_input() -> None:
    chw = _images(4)
    model = _conv_model([2, 3, 8, 6])
    engine = _engine(1, ListLoader([chw[:2], chw[2:]]), model)  # each item: the whole batch
    compiled = _compiled(model)
    want = np.concatenate([compiled(chw[:2])[0], compiled(chw[2:])[0]])
    np.testing.assert_allclose(_conv_outputs(engine), want, rtol=1e-5, atol=1e-6)


def test_nhwc_batches_for_a_dynamic_batch_nchw_input(
    warnings_log: pytest.LogCaptureFixture,
) -> None:
    chw = _images(5)
    hwc = np.ascontiguousarray(chw.transpose(0, 2, 3, 1))
    model = _conv_model([-1, 3, 8, 6])
    engine = _engine(1, ListLoader([hwc[:2], hwc[2:5]]), model)  # [2, H, W, C], [3, H, W, C]
    np.testing.assert_allclose(
        _conv_outputs(engine, batch_size=2), _direct(model, chw), rtol=1e-5, atol=1e-6
    )
    assert len(_warnings(warnings_log)) == 1


def test_ambiguous_shapes_are_taken_as_chw(warnings_log: pytest.LogCaptureFixture) -> None:
    # C == H: [3, 3, 8] is CHW as given (no transpose); [3, 8, 3] is its HWC layout.
    images = _images(2, (3, 3, 8))
    model = _conv_model([1, 3, 3, 8])
    as_given = _engine(1, ListLoader(list(images)), model)
    np.testing.assert_allclose(
        _conv_outputs(as_given), _direct(model, images), rtol=1e-5, atol=1e-6
    )
    assert _warnings(warnings_log) == []
    hwc = [np.ascontiguousarray(x.transpose(1, 2, 0)) for x in images]
    np.testing.assert_allclose(
        _conv_outputs(_engine(1, ListLoader(hwc), model)),
        _direct(model, images),
        rtol=1e-5,
        atol=1e-6,
    )
    assert len(_warnings(warnings_log)) == 1
    # C == H == W: HWC and CHW cannot be told apart; the data is taken as CHW.
    warnings_log.clear()
    cubes = _images(2, (4, 4, 4))
    cube_model = _conv_model([1, 4, 4, 4], channels=4)
    np.testing.assert_allclose(
        _conv_outputs(_engine(1, ListLoader(list(cubes)), cube_model)),
        _direct(cube_model, cubes),
        rtol=1e-5,
        atol=1e-6,
    )
    assert _warnings(warnings_log) == []


# ---- shapes that stay errors -------------------------------------------------------------------


def _good(i: int) -> np.ndarray:
    return _images(i + 1)[i]


@pytest.mark.parametrize(
    ("shape", "items", "message"),
    [
        # W, H, C: not the HWC layout of [3, 8, 6]
        (
            [1, 3, 8, 6],
            [np.zeros((6, 8, 3), np.float32)],
            (
                r"data loader items 0\.\.0: model input 'image' has the static shape "
                r"\[1, 3, 8, 6\], the batch is \[1, 6, 8, 3\]; item 0 has the shape \[6, 8, 3\] "
                r"\(expected a sample \[3, 8, 6\] or k samples \[k, 3, 8, 6\]\)"
            ),
        ),
        # H, C, W
        ([1, 3, 8, 6], [np.zeros((8, 3, 6), np.float32)], r"item 0 has the shape \[8, 3, 6\]"),
        # the third item of a batch is wrong: it is the one named
        (
            [3, 3, 8, 6],
            [_good(0), _good(1), np.zeros((3, 8, 5), np.float32)],
            (
                r"items 0\.\.2: model input 'image' has the static shape \[3, 3, 8, 6\], "
                r"the batch joins 3 items; item 2 has the shape \[3, 8, 5\]"
            ),
        ),
        # an NHWC batch of another size than the static batch
        (
            [1, 3, 8, 6],
            [np.zeros((2, 8, 6, 3), np.float32)],
            (
                r"items 0\.\.0: model input 'image' has the static shape \[1, 3, 8, 6\], "
                r"the batch is \[2, 3, 8, 6\] \(samples per item: \[2\]\)"
            ),
        ),
        # a dynamic batch: the other axes are still checked, per item
        (
            [-1, 3, 8, 6],
            [_good(0), np.zeros((2, 3, 8, 7), np.float32)],
            (
                r"items 0\.\.1: model input 'image' has the shape \[\?,3,8,6\], the batch joins "
                r"2 items; item 1 has the shape \[2, 3, 8, 7\] \(expected a sample \[3, 8, 6\] "
                r"or k samples \[k, 3, 8, 6\]\)"
            ),
        ),
        # dynamic spatial axes: the items of a batch must agree
        (
            [-1, 3, -1, -1],
            [np.zeros((3, 8, 8), np.float32), np.zeros((3, 6, 6), np.float32)],
            (
                r"items 0\.\.1: model input 'image' has the shape \[\?,3,\?,\?\], the batch "
                r"joins 2 items; item 1 has the shape \[3, 6, 6\] \(item 0 has \[3, 8, 8\]: the "
                r"items of a batch must agree"
            ),
        ),
        # neither a sample nor a batch
        (
            [-1, 3, 8, 6],
            [np.zeros((1, 1, 3, 8, 6), np.float32)],
            (
                r"data loader item 0: model input 'image' has rank 4; expected a sample of shape "
                r"with 3 axes \(or 4 with samples along the batch axis 0\), got \[1, 1, 3, 8, 6\]"
            ),
        ),
    ],
    ids=["whc", "hcw", "third-item", "static-batch", "dynamic-batch", "disagree", "rank"],
)
@pytest.mark.parametrize("path", ["predict", "collect_statistics"])
def test_wrong_shapes_name_the_item_the_input_and_the_shapes(
    shape: list[int], items: list[np.ndarray], message: str, path: str
) -> None:
    engine = _engine(1, ListLoader(items), _conv_model(shape))
    sampler = BatchSampler(engine.data_loader, len(items))
    if path == "predict":
        with pytest.raises(ValueError, match=message):
            engine.predict({"conv": {"max": np.max}}, sampler)
    else:
        accumulators = {"conv": [StatisticAccumulator("max", "max")]}
        with pytest.raises(ValueError, match=message):
            engine.collect_statistics(accumulators, sampler)
