"""POT 2023.3's protected ``IEEngine`` members and ``engines.utils``, one by one (issue 11).

Custom POT engines (the face-detection sample's ``MTCNNEngine``, say) call these members
directly, so each is checked here against POT's formats, worked out by hand: statistics
accumulate as ``{node: {stat_name: [(dataset_index, value)]}}`` and come back sorted by
index; sampler batches split into ``[(img_id, annotation)]``, data and meta; a cascade's
sub-models are copies whose nodes are named ``<stage>_<node>``. The models are built here
with ``openvino.opset13`` (or read from ``tests/data/zoo/cascade``) and every value is
written out or computed with NumPy from the numbers fed in.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from openvino.tools.pot import DataLoader, IEEngine, Metric, load_model
from openvino.tools.pot.engines.utils import (
    add_tensor_names,
    align_stat_names_with_results,
    append_stats,
    cast_friendly_names,
    collect_model_outputs,
    get_clean_name,
    process_accumulated_stats,
    process_raw_output,
    restore_original_node_names,
    update_stats,
)
from openvino.tools.pot.graph.model_utils import add_outputs
from openvino.tools.pot.samplers.batch_sampler import BatchSampler

from fastpot.compat.pot_engine import TensorStatistic

CASCADE = Path(__file__).resolve().parents[1] / "data" / "zoo" / "cascade"
STAGES = ("pnet", "rnet", "onet")
MULTIPLIER = np.array([[2.0], [-1.0]], np.float32)  # "scale" = x * MULTIPLIER (rows of a sample)
# One sample x [2, 3], then by hand: scale = x * [[2], [-1]], relu = max(scale, 0).
X = np.array([[1.0, -2.0, 3.0], [4.0, -5.0, 6.0]], np.float32)
SCALE = np.array([[2.0, -4.0, 6.0], [-4.0, 5.0, -6.0]], np.float32)
RELU = np.array([[2.0, 0.0, 6.0], [0.0, 5.0, 0.0]], np.float32)


def per_sample_max(t: Any, **_: Any) -> np.ndarray:
    return np.asarray(t).max(axis=(1, 2))


def per_sample_min(t: Any, **_: Any) -> np.ndarray:  # (a Statistic passes its kwargs)
    return np.asarray(t).min(axis=(1, 2))


def _tiny_model() -> ov.Model:
    """x [?, 2, 3] -> "scale" (x * MULTIPLIER) -> "relu" -> Result "relu/sink_port_0".

    Tensor names: ``x`` (input), ``relu`` (the output); "scale" has none.
    """
    x = ops.parameter([-1, 2, 3], ov.Type.f32, name="x")
    x.output(0).get_tensor().set_names({"x"})
    scale = ops.multiply(x, ops.constant(MULTIPLIER), name="scale")
    relu = ops.relu(scale, name="relu")
    relu.output(0).get_tensor().set_names({"relu"})
    result = ops.result(relu)
    result.set_friendly_name("relu/sink_port_0")  # as POT's IR names Results
    return ov.Model([result], [x], "tiny")


def _compile(model: ov.Model) -> ov.CompiledModel:
    return ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


def _with_scale_output() -> ov.Model:
    """The tiny model with "scale" exported too, its output tensor named ``scale``."""
    model = _tiny_model()
    scale = next(op for op in model.get_ops() if op.get_friendly_name() == "scale")
    (added,) = model.add_outputs([scale.output(0)])
    added.get_tensor().set_names({"scale"})
    added.get_node().set_friendly_name("scale/sink_port_0")
    return model


def _cascade():
    return load_model(
        {
            "model_name": "cascade",
            "cascade": [
                {
                    "name": s,
                    "model": str(CASCADE / f"{s}.xml"),
                    "weights": str(CASCADE / f"{s}.bin"),
                }
                for s in STAGES
            ],
        }
    )


def _op_names(model: ov.Model) -> set[str]:
    return {op.get_friendly_name() for op in model.get_ops()}


class RecordingMetric(Metric):
    """Records every ``update``; ``value`` is one number per sample of the last batch."""

    def __init__(self) -> None:
        self.updates: list[tuple[Any, list[Any]]] = []
        self.resets = 0
        super().__init__()
        self.resets = 0  # count the engine's resets only

    @property
    def value(self) -> dict[str, list[float]]:
        _, targets = self.updates[-1]
        return {"score": [float(len(str(t))) for t in targets]}

    @property
    def avg_value(self) -> dict[str, float]:
        return {"score": float(len(self.updates))}

    def update(self, output: Any, target: Any) -> None:
        self.updates.append((output, list(target)))

    def reset(self) -> None:
        self.resets += 1
        self.updates = []

    def get_attributes(self) -> dict[str, dict[str, str]]:
        return {"score": {"direction": "higher-better", "type": "score"}}


class TinyLoader(DataLoader):
    """Item i: ``((i, f"label{i}"), x_i)`` with x_i = X * (i + 1) (POT's legacy form)."""

    def __init__(self, n: int = 4) -> None:
        super().__init__({})
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Any:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return (i, f"label{i}"), X * (i + 1)


def _engine(metric: Metric | None = None, **config: Any) -> IEEngine:
    engine = IEEngine({"device": "CPU", **config}, data_loader=TinyLoader(), metric=metric)
    engine.set_model(_tiny_model())
    return engine


# ---- engines.utils: names --------------------------------------------------------------------


def test_get_clean_name_strips_every_sink_port_suffix() -> None:
    assert get_clean_name("conv1/sink_port_0") == "conv1"
    assert get_clean_name("conv1/sink_port_12") == "conv1"
    assert get_clean_name("a/sink_port_1/sink_port_0") == "a"
    assert get_clean_name("conv1.1") == "conv1.1"
    assert get_clean_name("sink_port_0") == "sink_port_0"  # no "/": not a suffix


def test_cast_friendly_names_adds_the_result_name_to_its_tensor() -> None:
    model = _tiny_model()
    cast_friendly_names(model.outputs)
    assert model.outputs[0].get_names() == {"relu", "relu/sink_port_0"}
    assert model.inputs[0].get_names() == {"x"}


def test_add_tensor_names_names_added_outputs_after_statistics_keys() -> None:
    model = _tiny_model()
    ops_by_name = {op.get_friendly_name(): op for op in model.get_ops()}
    added = model.add_outputs([ops_by_name["scale"].output(0), ops_by_name["x"].output(0)])
    add_tensor_names(added, [("scale", 0), "x"])
    assert "scale.0" in added[0].get_names()  # (name, port) -> "name.port"
    assert "x" in added[1].get_names()
    # The names reach the inference results.
    compiled = _compile(model)
    raw = compiled.create_infer_request().infer({"x": X[None]})
    outputs = process_raw_output(raw)
    np.testing.assert_array_equal(outputs["scale.0"], SCALE[None])
    np.testing.assert_array_equal(outputs["x"], X[None])


def test_collect_model_outputs_lists_every_name_of_every_output() -> None:
    model = _with_scale_output()
    cast_friendly_names(model.outputs)
    names = collect_model_outputs(model)
    assert sorted(names) == ["relu", "relu/sink_port_0", "scale", "scale/sink_port_0"]


def test_process_raw_output_keys_every_tensor_name_without_sink_port() -> None:
    model = _tiny_model()
    cast_friendly_names(model.outputs)
    raw = _compile(model).create_infer_request().infer({"x": X[None]})
    outputs = process_raw_output(raw)
    assert sorted(outputs) == ["relu"]  # "relu" and "relu/sink_port_0" -> "relu"
    np.testing.assert_array_equal(outputs["relu"], RELU[None])
    assert sorted(IEEngine._process_raw_output(raw)) == ["relu"]


# ---- engines.utils: statistics ----------------------------------------------------------------


def _infer_tiny(batch: np.ndarray) -> Any:
    """Raw results of the tiny model with "scale" exported: keyed by OpenVINO output ports."""
    compiled = _compile(_with_scale_output())
    return compiled.create_infer_request().infer({"x": batch})


def test_append_stats_of_outputs_keyed_by_openvino_ports() -> None:
    raw = _infer_tiny(X[None])
    assert all(isinstance(k, ov.ConstOutput) for k in raw)
    layout = {
        "relu": {"max": per_sample_max},
        "scale": {"min": per_sample_min, "max": per_sample_max},
        "not_exported": {"max": per_sample_max},
    }
    accumulated: dict[Any, Any] = {}
    append_stats(accumulated, layout, raw, 4)
    assert list(accumulated) == ["relu", "scale", "not_exported"]
    assert accumulated["not_exported"] == {"max": []}  # every layer gets its (empty) lists
    ((index, value),) = accumulated["relu"]["max"]
    assert index == 4
    np.testing.assert_array_equal(value, [6.0])
    np.testing.assert_array_equal(accumulated["scale"]["min"][0][1], [-6.0])
    np.testing.assert_array_equal(accumulated["scale"]["max"][0][1], [6.0])

    append_stats(accumulated, layout, _infer_tiny(0.5 * X[None]), 1)  # maxima 3, minima -3
    assert [i for i, _ in accumulated["relu"]["max"]] == [4, 1]
    result = process_accumulated_stats(accumulated)
    np.testing.assert_array_equal(np.concatenate(result["relu"]["max"]), [3.0, 6.0])
    np.testing.assert_array_equal(np.concatenate(result["scale"]["min"]), [-3.0, -6.0])
    assert result["not_exported"] == {"max": []}


def test_append_stats_of_a_list_of_per_crop_dicts() -> None:
    """POT's sample hands one k-crop inference over as k dicts ``{port: value[i:i+1]}``.

    fastpot appends each crop as a sample of its own, all under the call's dataset index
    (POT 2023.3 stacked the crops on axis 2 into one value; see fastpot.compat.pot_engine).
    """
    crops = np.stack([X, 2 * X, 0.5 * X])  # relu maxima 6, 12, 3; scale minima -6, -12, -3
    raw = _infer_tiny(crops)
    per_crop = [{port: np.expand_dims(v[i], 0) for port, v in raw.items()} for i in range(3)]
    accumulated: dict[Any, Any] = {}
    layout = {"relu": {"max": per_sample_max}, "scale": {"min": per_sample_min}}
    append_stats(accumulated, layout, per_crop, 2)
    assert [i for i, _ in accumulated["relu"]["max"]] == [2, 2, 2]
    np.testing.assert_array_equal(
        np.concatenate([v for _, v in accumulated["relu"]["max"]]), [6.0, 12.0, 3.0]
    )
    np.testing.assert_array_equal(
        np.concatenate([v for _, v in accumulated["scale"]["min"]]), [-6.0, -12.0, -3.0]
    )


def test_append_stats_reads_in_place_statistics_from_their_own_outputs() -> None:
    """A statistic with ``inplace_statistics`` reads ``<type>_<layer>`` (or its layer_stat_name)."""
    model = _with_scale_output()
    model.outputs[1].get_tensor().set_names({"max_relu"})  # the "scale" tensor, renamed
    raw = _compile(model).create_infer_request().infer({"x": X[None]})
    inplace = TensorStatistic(per_sample_min, inplace_statistics=True, type="max")
    named = TensorStatistic(
        per_sample_min, inplace_statistics=True, type="max", layer_stat_name="relu"
    )
    layout = {"relu": {inplace: inplace, named: named, "plain": per_sample_min}}
    accumulated: dict[Any, Any] = {}
    append_stats(accumulated, layout, raw, 0)
    np.testing.assert_array_equal(accumulated["relu"][inplace][0][1], [-6.0])  # min of scale
    np.testing.assert_array_equal(accumulated["relu"][named][0][1], [0.0])  # min of relu
    np.testing.assert_array_equal(accumulated["relu"]["plain"][0][1], [0.0])


def test_process_accumulated_stats_sorts_by_index_and_renames() -> None:
    accumulated = {
        "conv.1": {"max": [(2, "b"), (0, "a"), (1, "c")]},
        "relu": {"min": [(1, "y"), (1, "z"), (0, "x")], "max": []},
    }
    result = process_accumulated_stats(accumulated, {"conv.1": ("conv", 1), "relu": "relu"})
    assert result == {
        ("conv", 1): {"max": ["a", "c", "b"]},
        "relu": {"min": ["x", "y", "z"], "max": []},
    }
    again = {"conv.1": {"max": [(5, 1.0), (3, 2.0)]}}
    assert process_accumulated_stats(again) == {"conv.1": {"max": [2.0, 1.0]}}


def test_update_stats_moves_a_key_in_the_layout_and_every_alias_table() -> None:
    layout = {"a": {"max": 1}, "b": {"min": 2}}
    aliases = {"MinMax": {"a": {"max": "max"}}, "FBC": {"b": {"min": "min"}}}
    update_stats(layout, aliases, "a", "a.0")
    assert layout == {"b": {"min": 2}, "a.0": {"max": 1}}
    assert aliases == {"MinMax": {"a.0": {"max": "max"}}, "FBC": {"b": {"min": "min"}}}


def test_align_stat_names_with_results_uses_port_0_names() -> None:
    layout = {"a": {"max": 1}, "b": {"max": 2}, ("c", 0): {"max": 3}}
    aliases = {"algo": {"a": {"max": "max"}, "b": {"max": "max"}}}
    output2node = {"Result_9": "d"}
    align_stat_names_with_results(
        ["a", "b.0", "c.0"], ["a", "b", "c"], output2node, layout, aliases
    )
    # "b" is reachable as "b.0" only; "a" keeps its name; "c" is already asked as (c, 0).
    assert set(layout) == {"a", "b.0", ("c", 0)}
    assert aliases == {"algo": {"a": {"max": "max"}, "b.0": {"max": "max"}}}
    assert output2node == {"Result_9": "d", "b.0": "b"}

    untouched = {"b": {"max": 2}}
    align_stat_names_with_results(["b.0"], ["b"], {}, untouched, {})  # no result map: no-op
    assert untouched == {"b": {"max": 2}}


def test_restore_original_node_names_renames_results_back() -> None:
    accumulated = {"b.0": {"max": [1.0]}, "a": {"max": [2.0]}}
    layout = {"b.0": {"max": "fn"}, "a": {"max": "fn"}}
    aliases = {"algo": {"b.0": {"max": "max"}}}
    restore_original_node_names({"b.0": "b"}, accumulated, layout, aliases)
    assert accumulated == {"a": {"max": [2.0]}, "b": {"max": [1.0]}}
    assert set(layout) == {"a", "b"}
    assert aliases == {"algo": {"b": {"max": "max"}}}

    same = {"x": {"max": [0.0]}}
    restore_original_node_names({}, same, {"x": {}}, {})
    restore_original_node_names({"x": "y"}, same, {}, {})  # no layout: no-op
    assert same == {"x": {"max": [0.0]}}


# ---- the engine's protected members ------------------------------------------------------------


def test_convert_stats_names_gives_ie_names_and_their_aliases() -> None:
    layout = {("conv", 1): {"max": 1}, "relu": {"min": 2}}
    ie_layout, aliases = IEEngine._convert_stats_names(layout)
    assert ie_layout == {"conv.1": {"max": 1}, "relu": {"min": 2}}
    assert aliases == {"conv.1": ("conv", 1), "relu": "relu"}


def test_process_batch_with_ids_and_annotations() -> None:
    a, b = np.zeros(2), np.ones(2)
    annotations, images, meta = IEEngine._process_batch([((3, "cat"), a), ((7, "dog"), b)])
    assert annotations == [(3, "cat"), (7, "dog")]
    assert images[0] is a
    assert images[1] is b
    assert meta == [{}, {}]
    annotations, images, meta = IEEngine._process_batch(
        [((3, "cat"), a, {"w": 1}), ((7, "dog"), b, {"w": 2})]
    )
    assert annotations == [(3, "cat"), (7, "dog")]
    assert meta == [{"w": 1}, {"w": 2}]


def test_process_batch_of_data_annotation_items_numbers_them_in_the_batch() -> None:
    a, b, c = np.zeros(2), np.ones(2), np.full(2, 2.0)
    annotations, images, meta = IEEngine._process_batch([(a, "x"), (b, "y"), (c, None)])
    assert annotations == [(0, "x"), (1, "y"), (2, None)]
    assert [i is j for i, j in zip(images, (a, b, c), strict=True)] == [True] * 3
    assert meta == [{}, {}, {}]
    _, _, meta = IEEngine._process_batch([(a, "x", {"h": 5}), (b, "y", {"h": 6})])
    assert meta == [{"h": 5}, {"h": 6}]


def test_process_batch_rejects_inconsistent_batches() -> None:
    a = np.zeros(2)
    with pytest.raises(RuntimeError, match="Some items contain annotation, and some do not"):
        IEEngine._process_batch([(a, "x"), a])
    with pytest.raises(RuntimeError, match="Some items contain meta data, and some do not"):
        IEEngine._process_batch([(a, "x"), (a, "y", {})])


def test_fill_input_stacks_samples_of_a_single_input() -> None:
    engine = _engine()
    compiled = _compile(_tiny_model())
    feed = engine._fill_input(compiled, [X, 2 * X])
    assert list(feed) == ["x"]
    np.testing.assert_array_equal(feed["x"], np.stack([X, 2 * X]))
    feed = engine._fill_input(engine._model, [X])  # an ov.Model works as well
    np.testing.assert_array_equal(feed["x"], X[None])


def test_fill_input_takes_already_batched_items_as_they_are() -> None:
    engine = _engine()
    batch = np.stack([X, 2 * X, 3 * X])
    np.testing.assert_array_equal(engine._fill_input(engine._model, [batch])["x"], batch)
    # Items with a batch axis of 1 give one sample each.
    feed = engine._fill_input(engine._model, [X[None], -X[None]])
    np.testing.assert_array_equal(feed["x"], np.stack([X, -X]))


def test_fill_input_of_dict_items_by_input_node_name() -> None:
    """Items ``{Parameter friendly name: sample}``; the feed is keyed by tensor name (POT)."""
    a = ops.parameter([-1, 2], ov.Type.f32, name="a")
    a.output(0).get_tensor().set_names({"a_tensor"})
    b = ops.parameter([-1, 3], ov.Type.f32, name="b")
    b.output(0).get_tensor().set_names({"b_tensor"})
    total = ops.add(
        ops.reduce_sum(a, ops.constant([1]), True), ops.reduce_sum(b, ops.constant([1]), True)
    )
    model = ov.Model([ops.result(total)], [a, b], "two")
    engine = IEEngine({"device": "CPU"})
    items = [{"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0, 5.0])}]
    items.append({"a": np.array([0.5, 0.0]), "b": np.array([1.0, 1.0, 1.0])})
    feed = engine._fill_input(model, items)
    assert sorted(feed) == ["a_tensor", "b_tensor"]
    np.testing.assert_array_equal(feed["a_tensor"], [[1.0, 2.0], [0.5, 0.0]])
    np.testing.assert_array_equal(feed["b_tensor"], [[3.0, 4.0, 5.0], [1.0, 1.0, 1.0]])
    out = _compile(model).create_infer_request().infer(feed)
    np.testing.assert_allclose(next(iter(out.values())), [[15.0], [3.5]])


def test_get_input_any_name_names_an_unnamed_input_after_its_node() -> None:
    named = ops.parameter([1, 2], ov.Type.f32, name="p")
    named.output(0).get_tensor().set_names({"p_tensor"})
    assert IEEngine._get_input_any_name(named.output(0)) == "p_tensor"
    unnamed = ops.parameter([1, 2], ov.Type.f32, name="q")
    assert unnamed.output(0).get_names() == set()
    assert IEEngine._get_input_any_name(unnamed.output(0)) == "q"
    assert unnamed.output(0).get_names() == {"q"}


def test_collect_statistics_indexes_by_the_first_annotation_id() -> None:
    engine = _engine()
    layout = {"relu": {"max": per_sample_max}}
    raw = _compile(_tiny_model()).create_infer_request().infer({"x": np.stack([X, 2 * X])})
    engine._collect_statistics(raw, layout, [(5, "a"), (6, "b")])
    engine._collect_statistics(raw, layout, [(0, "c")])
    engine._collect_statistics(raw, layout)  # no annotations: index 0
    indices = [i for i, _ in engine._accumulated_layer_stats["relu"]["max"]]
    assert indices == [5, 0, 0]
    np.testing.assert_array_equal(engine._accumulated_layer_stats["relu"]["max"][0][1], [6.0, 12.0])


def test_update_metrics_feeds_the_metric_and_records_per_sample_values() -> None:
    metric = RecordingMetric()
    engine = _engine(metric)
    output = [np.zeros((2, 1))]
    engine._update_metrics(output, [(10, "a"), (11, "bbb")], need_metrics_per_sample=True)
    assert metric.updates == [(output, ["a", "bbb"])]
    assert engine._per_sample_metrics == [
        {"sample_id": 10, "metric_name": "score", "result": 1.0},
        {"sample_id": 11, "metric_name": "score", "result": 3.0},
    ]
    engine._update_metrics(output, [(12, "cc")])  # no per-sample values asked
    assert len(metric.updates) == 2
    assert len(engine._per_sample_metrics) == 2
    engine._update_metrics(output, [(13, "d"), (14, None)], True)  # an annotation missing
    assert len(metric.updates) == 2
    assert len(engine._per_sample_metrics) == 2


def test_reset_forgets_statistics_and_per_sample_metrics() -> None:
    metric = RecordingMetric()
    engine = _engine(metric)
    engine._accumulated_layer_stats = {"relu": {"max": [(0, 1.0)]}}
    engine._per_sample_metrics = [{"sample_id": 0, "metric_name": "score", "result": 1.0}]
    engine._reset()
    assert engine._accumulated_layer_stats == {}
    assert engine._per_sample_metrics == []
    assert metric.resets == 1


@pytest.mark.parametrize(("total", "every"), [(25, 3), (10, 1), (5, 1), (100, 10), (101, 11)])
def test_print_inference_progress_every_tenth(total: int, every: int) -> None:
    assert every == math.ceil(total / 10)
    messages: list[str] = []
    returned = [
        IEEngine._print_inference_progress(
            lambda fmt, *args: messages.append(fmt % args), i, total, 1.0, 2.5
        )
        for i in range(total)
    ]
    due = [i for i in range(total) if (i + 1) % every == 0]
    assert [i for i, r in enumerate(returned) if r] == due
    assert messages == [f"{i + 1}/{total} batches are processed in 1.50s" for i in due]


def test_ie_runs_cpu_in_f32_and_device_is_the_configured_one() -> None:
    engine = IEEngine({"device": "CPU"})
    assert engine._device == "CPU"
    assert isinstance(engine._ie, ov.Core)
    assert engine._ie is engine._ie
    assert engine._ie.get_property("CPU", "INFERENCE_PRECISION_HINT") == ov.Type.f32
    compiled = engine._ie.compile_model(_tiny_model(), engine._device)
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32


def test_get_requests_number_of_statistics_and_evaluation_passes() -> None:
    engine = IEEngine({"device": "CPU", "stat_requests_number": 1, "eval_requests_number": None})
    assert engine._get_requests_number({"relu": {}}) == 1
    assert engine._get_requests_number(None) == 0  # the device's optimal number
    big = IEEngine({"device": "CPU", "stat_requests_number": 10_000, "eval_requests_number": 0})
    assert big._get_requests_number({"relu": {}}) == os.cpu_count()  # clipped
    assert big._get_requests_number({}) == 0


def test_process_infer_output_collects_statistics_then_updates_the_metric() -> None:
    metric = RecordingMetric()
    engine = _engine(metric)
    raw = _compile(engine._model).create_infer_request().infer({"x": X[None]})
    layout = {"relu": {"max": per_sample_max}}
    engine._process_infer_output(layout, raw, [(3, "lab")], [{}], need_metrics_per_sample=True)
    ((index, value),) = engine._accumulated_layer_stats["relu"]["max"]
    assert index == 3
    np.testing.assert_array_equal(value, [6.0])
    ((output, targets),) = metric.updates  # default postprocess_output: a list of the outputs
    assert targets == ["lab"]
    assert len(output) == 1
    np.testing.assert_array_equal(output[0], RELU[None])
    assert engine._per_sample_metrics == [{"sample_id": 3, "metric_name": "score", "result": 3.0}]


def test_predict_loop_accumulates_per_batch_by_first_id() -> None:
    metric = RecordingMetric()
    engine = _engine(metric, stat_requests_number=1)
    sampler = BatchSampler(engine.data_loader, batch_size=2)
    engine._predict({"relu": {"max": per_sample_max}}, sampler)
    pairs = engine._accumulated_layer_stats["relu"]["max"]
    assert [i for i, _ in pairs] == [0, 2]  # first item id of each batch
    np.testing.assert_array_equal(pairs[0][1], [6.0, 12.0])  # x1 = X, x2 = 2X
    np.testing.assert_array_equal(pairs[1][1], [18.0, 24.0])
    assert [t for _, t in metric.updates] == [["label0", "label1"], ["label2", "label3"]]


class OwnPredictEngine(IEEngine):
    """Overrides ``_predict`` only (calling the base loop): predict follows POT's flow."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.layouts: list[Any] = []

    def _predict(self, stats_layout, sampler, print_progress=False, need_metrics_per_sample=False):
        self.layouts.append(stats_layout)
        super()._predict(stats_layout, sampler, print_progress, need_metrics_per_sample)


def test_pot_predict_returns_statistics_sorted_by_dataset_index() -> None:
    metric = RecordingMetric()
    engine = OwnPredictEngine({"device": "CPU"}, data_loader=TinyLoader(), metric=metric)
    engine.set_model(_tiny_model())
    sampler = BatchSampler(engine.data_loader, subset_indices=[3, 0, 2])
    layout = {"scale": {"min": per_sample_min}, ("relu", 0): {"max": per_sample_max}}
    aliases = {"algo": {"scale": {"min": "min"}, ("relu", 0): {"max": "max"}}}
    metrics, stats = engine.predict(layout, sampler, aliases, metric_per_sample=True)
    # The loop saw POT's IE names; the results are under the original keys, in index order.
    assert set(engine.layouts[0]) == {"scale", "relu.0"}
    assert set(stats) == {"scale", ("relu", 0)}
    # Samples X * (i + 1) for i = 0, 2, 3: scale minima -6 (i + 1), relu maxima 6 (i + 1).
    np.testing.assert_array_equal(np.concatenate(stats["scale"]["min"]), [-6.0, -18.0, -24.0])
    np.testing.assert_array_equal(np.concatenate(stats[("relu", 0)]["max"]), [6.0, 18.0, 24.0])
    per_sample, average = metrics
    assert [e["sample_id"] for e in per_sample] == [0, 2, 3]
    assert average == {"score": 3.0}
    assert metric.resets == 1  # _reset after the pass
    assert engine._accumulated_layer_stats == {}


# ---- models: _set_model, insert_statistic, add_outputs ----------------------------------------


def test_set_model_of_a_cascade_gives_prefixed_copies() -> None:
    model = _cascade()
    originals = {e["name"]: _op_names(e["model"]) for e in model.models}
    engine = IEEngine({"device": "CPU"})
    copies = engine._set_model(model)
    assert engine._nx_model is model
    assert [c["name"] for c in copies] == list(STAGES)
    for entry, copy in zip(model.models, copies, strict=True):
        stage = entry["name"]
        assert copy["model"] is not entry["model"]
        assert copy["model"].get_friendly_name() == stage
        assert _op_names(copy["model"]) == {f"{stage}_{n}" for n in originals[stage]}
        assert f"{stage}_conv1" in _op_names(copy["model"])
        # Tensor names are kept; the original is untouched.
        assert copy["model"].inputs[0].get_names() == {"data"}
        assert {n for o in copy["model"].outputs for n in o.get_names()} >= {
            "probabilities",
            "regions",
        }
        assert _op_names(entry["model"]) == originals[stage]
    # A copy computes what the original does.
    x = np.random.default_rng(3).uniform(-1, 1, (2, 3, 24, 24)).astype(np.float32)
    got = _compile(copies[1]["model"]).create_infer_request().infer({"data": x})
    want = _compile(model.models[1]["model"]).create_infer_request().infer({"data": x})
    for g, w in zip(got.values(), want.values(), strict=True):
        np.testing.assert_array_equal(g, w)


def test_set_model_of_a_single_model_keeps_its_names() -> None:
    single = load_model({"model_name": "tiny", "model": str(CASCADE / "rnet.xml")})
    copies = IEEngine({"device": "CPU"})._set_model(single)
    assert len(copies) == 1
    assert set(copies[0]) == {"model"}
    assert _op_names(copies[0]["model"]) == _op_names(single.get_model())
    assert copies[0]["model"] is not single.get_model()


def test_insert_statistic_maps_nodes_per_sub_model() -> None:
    model = _cascade()
    engine = IEEngine({"device": "CPU"})
    layout = {
        "pnet_conv1": {"max": per_sample_max},
        ("rnet_conv2/relu", 0): {"max": per_sample_max},
        "onet_fc5/prelu": {"min": per_sample_min},
        "onet_data": {"min": per_sample_min},
    }
    same, names_map, node_to_result = engine._statistic_graph_builder.insert_statistic(
        model, layout, {"algo": {}}
    )
    assert same is model
    assert node_to_result == {}
    assert names_map == {
        "pnet": {"pnet_conv1": ("pnet_conv1", 0)},
        "rnet": {("rnet_conv2/relu", 0): ("rnet_conv2/relu", 0)},
        "onet": {"onet_fc5/prelu": ("onet_fc5/prelu", 0), "onet_data": ("onet_data", 0)},
    }


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ("pnet_nope", "no node named 'pnet_nope' in the cascade"),
        ("conv1", "no node named 'conv1' in the cascade"),  # unprefixed
        ("tnet_conv1", "no node named 'tnet_conv1'"),
        (("pnet_conv1", 1), "'pnet_conv1' has no output port 1"),
    ],
)
def test_insert_statistic_refuses_unknown_nodes(node: Any, message: str) -> None:
    builder = IEEngine({"device": "CPU"})._statistic_graph_builder
    with pytest.raises(ValueError, match=message):
        builder.insert_statistic(_cascade(), {node: {"max": per_sample_max}})


def test_insert_statistic_of_a_single_model_keys_it_by_its_name() -> None:
    single = load_model({"model_name": "x", "model": str(CASCADE / "rnet.xml")})
    builder = IEEngine({"device": "CPU"})._statistic_graph_builder
    _, names_map, _ = builder.insert_statistic(single, {"conv1": {}, ("fc4", 0): {}})
    assert names_map == {"rnet": {"conv1": ("conv1", 0), ("fc4", 0): ("fc4", 0)}}
    with pytest.raises(ValueError, match="no node named 'rnet_conv1' in the model"):
        builder.insert_statistic(single, {"rnet_conv1": {}})


def _producer(output: Any) -> str:
    return output.get_node().input_value(0).get_node().get_friendly_name()


def test_add_outputs_adds_only_each_stages_own_nodes() -> None:
    engine = IEEngine({"device": "CPU"})
    copies = engine._set_model(_cascade())
    before = {c["name"]: len(c["model"].outputs) for c in copies}
    names_map = {
        # A stray node of another stage in pnet's map is left to that stage (POT's filter).
        "pnet": {"pnet_conv1": ("pnet_conv1", 0), "rnet_conv1": ("rnet_conv1", 0)},
        "rnet": {("rnet_fc4", 0): ("rnet_fc4", 0), "rnet_data": ("rnet_data", 0)},
        "onet": {},
    }
    added = add_outputs(copies, names_map)
    assert sorted(added) == sorted(STAGES)
    assert [_producer(o) for o in added["pnet"]] == ["pnet_conv1"]
    assert [_producer(o) for o in added["rnet"]] == ["rnet_fc4", "rnet_data"]
    assert added["onet"] == []
    after = {c["name"]: len(c["model"].outputs) for c in copies}
    assert after == {"pnet": before["pnet"] + 1, "rnet": before["rnet"] + 2, "onet": before["onet"]}
    # The added outputs are model outputs, with POT's names they run.
    add_tensor_names(added["rnet"], names_map["rnet"].keys())
    x = np.zeros((1, 3, 24, 24), np.float32)
    outputs = process_raw_output(
        _compile(copies[1]["model"]).create_infer_request().infer({"data": x})
    )
    assert outputs["rnet_fc4.0"].shape == (1, 32)
    np.testing.assert_array_equal(outputs["rnet_data"], x)


def test_engine_add_outputs_of_the_model_being_run() -> None:
    engine = _engine()
    added = engine._add_outputs([("scale", 0)])
    assert [_producer(o) for o in added] == ["scale"]
    assert len(engine._model.outputs) == 2
    cascade_engine = IEEngine({"device": "CPU"})
    cascade_engine._model = cascade_engine._set_model(_cascade())
    added = cascade_engine._add_outputs(
        {"pnet": {}, "rnet": {"rnet_conv1": ("rnet_conv1", 0)}, "onet": {}}
    )
    assert [_producer(o) for o in added["rnet"]] == ["rnet_conv1"]
    assert added["pnet"] == []
    assert added["onet"] == []


def test_ie_launcher_runs_a_model_with_extra_outputs() -> None:
    import openvino.opset13 as op
    from openvino.tools.pot.utils.launcher import IELauncher

    x = op.parameter([1, 3], np.float32, name="x")
    h = op.relu(op.multiply(x, op.constant(np.float32(2.0))), name="h")
    out = op.add(h, op.constant(np.float32(1.0)), name="out")
    model = ov.Model([op.result(out)], [x], "m")
    launcher = IELauncher("CPU")
    launcher.set_model(model, output_names=["h"])
    data = np.array([[-1.0, 0.5, 2.0]], np.float32)
    result = launcher.infer({"x": data})
    values = {
        o.get_node().input_value(0).get_node().get_friendly_name(): v for o, v in result.items()
    }
    np.testing.assert_array_equal(values["h"], np.maximum(2 * data, 0))
    np.testing.assert_array_equal(values["out"], np.maximum(2 * data, 0) + 1)
    assert len(model.outputs) == 1  # the caller's model is not changed
