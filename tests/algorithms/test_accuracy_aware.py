"""AccuracyAwareQuantization (issue 6) with a real classifier and a real accuracy metric.

The classifier is the zoo's ``plain_cnn`` (conv x3, max pool, global average pool, FC) on its
200 calibration images; the labels are the FP32 model's own top-1, so FP32 accuracy is 1.0
and the INT8 model (DefaultQuantization, performance preset) loses 0.10 of it. Expectations
are computed independently: returned models are compiled with OpenVINO directly and scored
against the labels; reverted layers are compared with the FP32 constants and outputs.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from fastpot import load_model
from fastpot.algorithms import AccuracyAwareQuantization, DefaultQuantization
from fastpot.algorithms.accuracy_aware.reverting import (
    RevertInfo,
    candidate_fake_quantizes,
    fake_quantize_count,
    fake_quantize_group,
    revert_group,
)
from fastpot.algorithms.accuracy_aware.search import greedy_revert
from fastpot.algorithms.accuracy_aware.statistics_cache import (
    CachingStatisticsCollector,
    model_fingerprint,
)
from fastpot.algorithms.algorithm import UnsupportedParameterError
from fastpot.api import DataLoader, Metric
from fastpot.engines import IEEngine
from fastpot.graph.hardware import hardware_config
from fastpot.graph.layers import find_layers
from fastpot.pipeline import create_pipeline
from fastpot.statistics.collector import StatisticsCollector

ZOO = Path(__file__).resolve().parents[1] / "data" / "zoo"
MODEL = "plain_cnn"
BASE = {"target_device": "CPU", "preset": "performance", "ranking_subset_size": 50}
LOG = "fastpot.algorithms.accuracy_aware"


def _model():
    return load_model(
        {
            "model_name": MODEL,
            "model": str(ZOO / f"{MODEL}.xml"),
            "weights": str(ZOO / f"{MODEL}.bin"),
        }
    )


def _infer(ov_model: ov.Model, x: np.ndarray) -> np.ndarray:
    compiled = ov.Core().compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return np.concatenate([compiled(x[i : i + 1])[0] for i in range(len(x))])


@cache
def _data() -> tuple[np.ndarray, np.ndarray]:
    with np.load(ZOO / f"{MODEL}.npz") as d:
        x = d[d.files[0]].astype(np.float32)
    labels = _infer(_model().get_model(), x).argmax(axis=1)
    return x, labels


class _Loader(DataLoader):
    def __init__(self, x: np.ndarray, labels: np.ndarray) -> None:
        self.x, self.labels = x, labels

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i : i + 1], int(self.labels[i])


class Accuracy(Metric):
    """Top-1 accuracy; per sample 1.0 or 0.0."""

    direction = "higher-better"

    def reset(self) -> None:
        self.hits: list[float] = []
        self.last: list[float] = []

    def update(self, output, target) -> None:
        pred = np.argmax(output[0], axis=-1)
        self.last = [float(p == t) for p, t in zip(pred, target, strict=True)]
        self.hits += self.last

    @property
    def value(self):
        return {"accuracy": self.last}

    @property
    def avg_value(self):
        return {"accuracy": float(np.mean(self.hits))}

    def get_attributes(self):
        return {"accuracy": {"direction": self.direction, "type": "accuracy"}}


class ErrorRate(Accuracy):
    """1 - accuracy: lower is better."""

    @property
    def value(self):
        return {"error": [1.0 - v for v in self.last]}

    @property
    def avg_value(self):
        return {"error": 1.0 - float(np.mean(self.hits))}

    def get_attributes(self):
        return {"error": {"direction": "higher-worse", "type": "error"}}


class CountingEngine(IEEngine):
    """IEEngine that counts its inference runs (and can scramble per-sample order)."""

    def __init__(self, *args, scramble: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.predicts = 0
        self.stat_runs = 0
        self.scramble = scramble

    def predict(self, *args, **kwargs):
        self.predicts += 1
        metrics, stats = super().predict(*args, **kwargs)
        if self.scramble and kwargs.get("metric_per_sample"):
            entries, avg = metrics
            metrics = (entries[::-1], avg)  # same entries, reversed positions
        return metrics, stats

    def collect_statistics(self, *args, **kwargs):
        self.stat_runs += 1
        return super().collect_statistics(*args, **kwargs)


def _engine(metric: Metric | None = None, labels: np.ndarray | None = None, **kwargs):
    x, true = _data()
    loader = _Loader(x, true if labels is None else labels)
    return CountingEngine(
        {"device": "CPU"}, loader, Accuracy() if metric is None else metric, **kwargs
    )


def _accuracy(model, labels: np.ndarray | None = None) -> float:
    x, true = _data()
    pred = _infer(model.get_model(), x).argmax(axis=1)
    return float(np.mean(pred == (true if labels is None else labels)))


def _fq_names(model) -> set[str]:
    return {
        op.get_friendly_name() for op in model.get_ops() if op.get_type_name() == "FakeQuantize"
    }


@cache
def _run(**params):
    """AA on a fresh copy of plain_cnn; cached per parameter set (the runs are deterministic)."""
    engine = _engine()
    model = _model()
    before = model_fingerprint(model)
    algo = AccuracyAwareQuantization({**BASE, **params}, engine)
    result = algo.run(model)
    assert model_fingerprint(model) == before, "AA modified its input model"
    return algo, result, engine


# ---- the search on a real metric -------------------------------------------------------------


def test_reaches_maximal_drop_with_few_evaluations(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=LOG):
        algo, result, engine = _run.__wrapped__(maximal_drop=0.02)
    s = algo.summary
    quantized = s["configurations"][0]
    assert quantized["name"] == "default"
    assert quantized["drop"]["accuracy"] == pytest.approx(0.10)  # INT8 loses 20 of 200
    assert s["result"]["reached"] is True
    # The returned model, scored independently, meets the target and matches the summary.
    acc = _accuracy(result)
    assert 1.0 - acc <= 0.02
    assert acc == pytest.approx(s["result"]["metrics"]["accuracy"])
    assert s["result"]["drop"]["accuracy"] == pytest.approx(1.0 - acc)
    # The steps, in order: each reverts one group; the last one reaches the target.
    steps = s["steps"]
    assert steps, "no layer was reverted"
    assert steps[-1]["action"] == "reached"
    assert all(st["action"] == "kept" for st in steps[:-1])
    assert [layer for st in steps for layer in st["reverted_layers"]] == s["result"][
        "reverted_layers"
    ]
    # Layers reverted are FP32 in the result: none of their FQs is left.
    left = _fq_names(result.get_model())
    for st in steps:
        assert not left & set(st["reverted_fake_quantizes"])
    assert len(left) == 9 - len(s["result"]["reverted_fake_quantizes"])
    # Counts: FP32 baseline + fully quantized + one full evaluation per step, one
    # statistics pass, ranking evaluations on the 50-sample subset.
    counts = s["counts"]
    assert counts["full_evaluations"] == 2 + len(steps)
    assert counts["statistics_passes"] == 1
    assert engine.stat_runs == 1
    # (a ranking of a single group needs no evaluation)
    ranked = sum(len(r["order"]) for r in s["rankings"] if len(r["order"]) > 1)
    assert counts["subset_evaluations"] == ranked
    assert engine.predicts == counts["full_evaluations"] + counts["subset_evaluations"]
    assert counts["inferred_samples"] == 200 * counts["full_evaluations"] + 50 * ranked
    assert all(r["subset_size"] == 50 for r in s["rankings"])
    text = caplog.text
    assert "Baseline metrics: {'accuracy': 1.0}" in text
    assert (
        f" {len(s['result']['reverted_layers'])} out of 5 layers have been reverted back to "
        "the floating-point precision" in text
    )
    assert "could not achieve" not in text
    print("reached:", json.dumps(s["result"]), json.dumps(counts))


def test_ranking_is_sorted_by_score_then_name() -> None:
    algo, _, _ = _run(maximal_drop=0.02)
    first = algo.summary["rankings"][0]["order"]
    keys = [(e["score"], e["fake_quantize"]) for e in first]
    assert keys == sorted(keys, reverse=True)
    # The groups of the fully quantized model partition its nine FakeQuantize nodes and
    # cover its five quantized operations, one layer each.
    fqs = [n for e in first for n in e["fake_quantizes"]]
    assert len(fqs) == len(set(fqs)) == 9
    assert sorted(layer for e in first for layer in e["layers"]) == [
        "conv1",
        "conv2",
        "conv3",
        "fc",
        "gap",
    ]
    # Each score is the accuracy on the ranking subset with that group reverted: the
    # first step reverts the top-ranked group.
    assert algo.summary["steps"][0]["fake_quantize"] == first[0]["fake_quantize"]


def test_stops_within_max_iter_num_and_returns_the_best(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=LOG):
        algo, result, _ = _run.__wrapped__(maximal_drop=0.0, max_iter_num=2)
    s = algo.summary
    assert s["result"]["reached"] is False
    assert s["result"]["iterations"] == 2
    assert len(s["steps"]) == 2
    assert s["result"]["hit_iteration_limit"] is True
    assert "AccuracyAwareQuantization could not achieve the required accuracy drop." in caplog.text
    assert "Reached maximum number of iterations." in caplog.text
    # The best model evaluated is returned: the highest accuracy of all evaluated states.
    evaluated = [c["metrics"]["accuracy"] for c in s["configurations"]] + [
        st["metrics"]["accuracy"] for st in s["steps"]
    ]
    assert _accuracy(result) == pytest.approx(max(evaluated))
    assert s["counts"]["full_evaluations"] == 4


def test_unreachable_drop_with_given_baseline_returns_best(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A baseline no model can reach: AA reverts until no FakeQuantize is left, then returns
    # the best model it evaluated. With every metric given a baseline_value, the FP32 model
    # is evaluated only on the metric_subset_ratio subset (100 of 200 samples).
    with caplog.at_level(logging.INFO, logger=LOG):
        algo, result, _ = _run.__wrapped__(
            maximal_drop=0.01,
            metrics=({"name": "accuracy", "baseline_value": 1.05},),
            metric_subset_ratio=0.5,
        )
    s = algo.summary
    assert s["baseline"] == {"accuracy": 1.05}
    assert s["result"]["reached"] is False
    assert s["result"]["all_reverted"] is True
    assert "AccuracyAwareQuantization could not achieve the required accuracy drop." in caplog.text
    assert s["steps"][-1]["action"] == "all reverted"
    best = max(
        [c["metrics"]["accuracy"] for c in s["configurations"]]
        + [st["metrics"]["accuracy"] for st in s["steps"]]
    )
    assert _accuracy(result) == pytest.approx(best)
    assert s["result"]["drop"]["accuracy"] == pytest.approx(1.05 - best)
    # No full FP32 evaluation: quantized + steps only; FP32 on 100 samples once.
    assert s["counts"]["full_evaluations"] == 1 + len(s["steps"])
    ranked = [len(r["order"]) for r in s["rankings"]]
    assert s["counts"]["subset_evaluations"] == 1 + sum(n for n in ranked if n > 1)
    # Of the equally good states, the one with the fewest reverted layers is returned.
    first_best = next(st for st in s["steps"] if st["metrics"]["accuracy"] == best)
    assert s["result"]["reverted_layers"] == first_best["all_reverted_layers"]
    assert len(_fq_names(result.get_model())) == 9 - len(s["result"]["reverted_fake_quantizes"])
    assert all(r["subset_size"] == 50 for r in s["rankings"])


def test_relative_drop_with_a_higher_worse_metric() -> None:
    # Error rate (higher-worse) on labels where every other sample is wrong for the FP32
    # model: baseline error 0.5; relative maximal_drop 0.04 allows 0.02 more error.
    _, labels = _data()
    noisy = labels.copy()
    noisy[1::2] = (noisy[1::2] + 1) % 10
    engine = _engine(ErrorRate(), labels=noisy)
    algo = AccuracyAwareQuantization(
        {**BASE, "maximal_drop": 0.04, "drop_type": "relative"}, engine
    )
    result = algo.run(_model())
    s = algo.summary
    assert s["baseline"]["error"] == pytest.approx(0.5)
    assert s["allowed_drop"]["error"] == pytest.approx(0.02)
    first = s["configurations"][0]["drop"]["error"]
    assert first > 0.02  # drop = quantized error - baseline error
    error = 1.0 - _accuracy(result, noisy)
    assert s["result"]["reached"] is True
    assert error - 0.5 <= 0.02 + 1e-12
    assert s["result"]["drop"]["error"] == pytest.approx(error - 0.5)
    print("relative:", first, "->", s["result"]["drop"], len(s["steps"]), "steps")


def test_async_per_sample_values_are_matched_by_sample_id() -> None:
    # The engine returns the per-sample entries in reversed order: AA must match them by
    # sample_id and take exactly the same decisions.
    reference, _, _ = _run(maximal_drop=0.02)
    engine = _engine(scramble=True)
    algo = AccuracyAwareQuantization({**BASE, "maximal_drop": 0.02}, engine)
    algo.run(_model())
    assert algo.summary["rankings"] == reference.summary["rankings"]
    assert algo.summary["steps"] == reference.summary["steps"]
    assert algo.summary["result"] == reference.summary["result"]


# ---- use_prev_if_drop_increase: the decision logic with scripted drops ------------------------


class _Scripted:
    """States are tuples of reverted names; drops and rankings come from tables."""

    def __init__(self, drops: dict, rankings: dict) -> None:
        self.drops = drops
        self.tables = rankings
        self.evaluated: list[tuple[str, ...]] = []
        self.rankings: list[tuple[str, ...]] = []

    def importance(self, state, metric):
        self.rankings.append(state)
        default = [n for n in ("a", "b", "c", "d") if n not in state]
        return list(self.tables.get(state, default))

    def revert(self, state, fq):
        return (*state, fq)

    def evaluate(self, state):
        self.evaluated.append(state)
        return {"m": self.drops[state]}

    def fake_quantizes_left(self, state):
        return 4 - len(state)


def _search(use_prev: bool, max_iter: int = 10):
    hooks = _Scripted(DROPS, {("a",): ["c", "d", "b"]})
    result = greedy_revert(
        (),
        {"m": DROPS[()]},
        {"m": 0.01},
        {"m": 1.0},
        hooks,
        max_iter_num=max_iter,
        use_prev_if_drop_increase=use_prev,
    )
    return result, hooks


DROPS = {
    (): 0.10,
    ("a",): 0.06,  # better: kept, next group of the same ranking
    ("a", "b"): 0.08,  # worse than ("a",)
    ("a", "c"): 0.03,
    ("a", "c", "d"): 0.005,  # within 0.01
    ("a", "b", "c"): 0.05,
    ("a", "b", "c", "d"): 0.0,
}


def test_use_prev_if_drop_increase_true_undoes_the_step() -> None:
    result, hooks = _search(use_prev=True)
    steps = [(s.fake_quantize, s.action, s.state) for s in result.steps]
    # b makes it worse: undone, new ranking on ("a",) (not on ("a", "b")).
    assert steps == [
        ("a", "kept", ("a",)),
        ("b", "undone", ("a", "b")),
        ("c", "kept", ("a", "c")),
        ("d", "reached", ("a", "c", "d")),
    ]
    assert hooks.rankings == [(), ("a",)]
    assert result.state == ("a", "c", "d")
    assert result.reached
    assert result.iterations == 4


def test_use_prev_if_drop_increase_false_keeps_the_step() -> None:
    result, hooks = _search(use_prev=False)
    steps = [(s.fake_quantize, s.action, s.state) for s in result.steps]
    assert steps == [
        ("a", "kept", ("a",)),
        ("b", "kept (drop increased)", ("a", "b")),
        ("c", "kept", ("a", "b", "c")),
        ("d", "all reverted", ("a", "b", "c", "d")),
    ]
    assert hooks.rankings == [(), ("a", "b")]  # re-ranked on the worse model, which stays
    assert result.reached
    assert result.all_reverted


def test_search_stops_at_max_iter_num() -> None:
    result, hooks = _search(use_prev=True, max_iter=1)
    assert result.iterations == 1
    assert result.hit_iteration_limit
    assert not result.reached
    assert hooks.evaluated == [("a",)]


# ---- reverting ---------------------------------------------------------------------------------


@cache
def _quantized():
    engine = _engine()
    algo = DefaultQuantization({"target_device": "CPU", "preset": "performance"}, engine)
    model = _model()
    collector = StatisticsCollector(engine)
    algo.register_statistics(model, collector)
    algo.algo_collector = collector
    model = algo.run(model)
    return model, RevertInfo.from_algorithm(algo, model.get_model())


def _constants(model: ov.Model) -> dict[str, np.ndarray]:
    return {
        op.get_friendly_name(): np.asarray(op.get_data()).copy()
        for op in model.get_ops()
        if op.get_type_name() == "Constant"
        and "/" in op.get_friendly_name()
        and op.get_friendly_name().split("/")[1] in ("weights", "bias")
    }


def test_reverting_one_layer_restores_its_weights_bias_and_inputs() -> None:
    quantized, info = _quantized()
    fp32 = _constants(_model().get_model())
    assert "conv1" in info.saturated  # first layer: weights halved by the saturation fix
    assert set(info.original_biases) == {"conv2"}  # FBC corrected conv2 only
    agnostic = hardware_config("CPU").agnostic
    for layer, fq in (("conv1", "conv1/fq_input_0"), ("conv2", "conv2/fq_input_0")):
        model = quantized.copy().get_model()
        before = _fq_names(model)
        group = fake_quantize_group(model, fq, agnostic)
        assert group.layers == (layer,)
        assert set(group.fake_quantizes) == {f"{layer}/fq_input_0", f"{layer}/fq_weights_1"}
        q_consts = _constants(model)
        revert_group(model, group, info)
        assert _fq_names(model) == before - set(group.fake_quantizes)
        consts = _constants(model)
        for kind in ("weights", "bias"):
            name = f"{layer}/{kind}"
            np.testing.assert_array_equal(consts[name], fp32[name], err_msg=name)
        if layer == "conv1":
            np.testing.assert_array_equal(q_consts["conv1/weights"] * 2, fp32["conv1/weights"])
        else:
            assert not np.array_equal(q_consts["conv2/bias"], fp32["conv2/bias"])
        # Other layers keep their (quantized) constants.
        for name, value in q_consts.items():
            if not name.startswith(f"{layer}/"):
                np.testing.assert_array_equal(consts[name], value, err_msg=name)


def test_max_pool_group_walks_through_agnostic_ops() -> None:
    quantized, _ = _quantized()
    group = fake_quantize_group(
        quantized.get_model(), "pool/fq_input_0", hardware_config("CPU").agnostic
    )
    assert group.layers == ("conv3",)  # the FQ above the MaxPool quantizes conv3's input
    assert set(group.fake_quantizes) == {"pool/fq_input_0", "conv3/fq_weights_1"}


def test_reverting_every_group_gives_the_fp32_model() -> None:
    quantized, info = _quantized()
    model = quantized.copy().get_model()
    agnostic = hardware_config("CPU").agnostic
    while fake_quantize_count(model):
        revert_group(
            model, fake_quantize_group(model, candidate_fake_quantizes(model)[0], agnostic), info
        )
    fp32_model = _model().get_model()
    for name, value in _constants(fp32_model).items():
        np.testing.assert_array_equal(_constants(model)[name], value, err_msg=name)
    assert [op.get_type_name() for op in model.get_ordered_ops()] == [
        op.get_type_name() for op in fp32_model.get_ordered_ops()
    ]
    assert model.output(0).get_node().input_value(0).get_node().get_friendly_name() == "logits"
    x, _ = _data()
    np.testing.assert_allclose(_infer(model, x), _infer(fp32_model, x), rtol=1e-5, atol=1e-5)
    assert {layer.name for layer in find_layers(model)} == {"conv1", "conv2", "conv3", "fc"}


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("residual_concat", {}),
        ("mobilenet_like", {"saturation_fix": "all", "use_fast_bias": False}),
        ("transformer_block", {"model_type": "transformer"}),
        ("two_input", {"preset": "mixed"}),
        ("conv_nobias_bn", {}),
    ],
)
def test_reverting_every_group_gives_fp32_across_the_zoo(name: str, params: dict) -> None:
    # Concat/residual sharing, depthwise convolutions with every layer saturation-fixed and
    # BiasCorrection, a transformer, two inputs, unfused BatchNorm: reverting group after
    # group until no FakeQuantize is left restores the FP32 function exactly.
    model = load_model(
        {"model_name": name, "model": str(ZOO / f"{name}.xml"), "weights": str(ZOO / f"{name}.bin")}
    )
    with np.load(ZOO / f"{name}.npz") as d:
        arrays = {k: d[k][:48] for k in d.files}

    class Loader(DataLoader):
        def __init__(self) -> None:  # no config needed
            pass

        def __len__(self) -> int:
            return 48

        def __getitem__(self, i: int):
            return {k: v[i : i + 1] for k, v in arrays.items()}, None

    engine = IEEngine({"device": "CPU"}, Loader())
    base = DefaultQuantization({"target_device": "CPU", **params}, engine)
    base.algo_collector = StatisticsCollector(engine)
    quantized = base.run(model.copy())
    info = RevertInfo.from_algorithm(base, quantized.get_model())
    ov_model = quantized.get_model()
    agnostic = hardware_config("CPU").agnostic
    groups = 0
    while fake_quantize_count(ov_model):
        fq = candidate_fake_quantizes(ov_model)[0]
        revert_group(ov_model, fake_quantize_group(ov_model, fq, agnostic), info)
        groups += 1
    assert groups > 1

    def outputs(m: ov.Model) -> np.ndarray:
        compiled = ov.Core().compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return np.concatenate(
            [compiled({k: v[i : i + 1] for k, v in arrays.items()})[0] for i in range(48)]
        )

    np.testing.assert_array_equal(outputs(ov_model), outputs(model.get_model()))


# ---- statistics are collected once ---------------------------------------------------------


def test_mixed_preset_retry_reuses_the_statistics() -> None:
    algo, _, engine = _run(maximal_drop=0.02, convert_to_mixed_preset=True)
    s = algo.summary
    assert [c["name"] for c in s["configurations"]][:2] == ["default", "mixed preset"]
    assert s["counts"]["statistics_passes"] == 1
    assert engine.stat_runs == 1
    assert s["counts"]["statistics_reused"] > 0


def test_grid_search_reuses_the_statistics() -> None:
    algo, result, engine = _run(maximal_drop=0.02, tune_hyperparams=True)
    s = algo.summary
    points = s["grid_search"]["points"]
    assert len(points) == 12  # 1 weights + 9 activation estimators, then use_fast_bias x2
    assert s["grid_search"]["subset_size"] == 50
    # Twelve quantizations: one pass for every MinMax/FBC configuration, plus BiasCorrection's
    # own (smaller-subset) pass for use_fast_bias false.
    assert s["counts"]["statistics_passes"] == 2
    # BiasCorrection also infers the quantized model once per dependency level (4 layers in
    # a chain); those passes are that algorithm's work, counted apart.
    assert s["counts"]["bias_correction_passes"] == 4
    assert engine.stat_runs == 2 + 4
    # "use_fast_bias true" on top of the best first-space point is that point again: 11
    # quantizations and subset evaluations, not 12.
    assert points[-2]["point"].endswith("+ use_fast_bias True")
    assert points[-2]["error"] == min(p["error"] for p in points[:10])
    assert s["counts"]["subset_evaluations"] == 11
    assert all(p["metrics"]["accuracy"] == pytest.approx(1 - p["error"]) for p in points)
    assert s["result"]["reached"] is True
    assert 1.0 - _accuracy(result) <= 0.02
    assert s["result"]["drop"]["accuracy"] == pytest.approx(1.0 - _accuracy(result))
    print("grid:", [c["name"] for c in s["configurations"]], s["result"]["drop"], s["counts"])


def test_caching_collector_runs_one_pass_for_repeated_requests() -> None:
    engine = _engine()
    model = _model()
    collector = CachingStatisticsCollector(engine)
    first = DefaultQuantization({"target_device": "CPU"}, engine)
    first.algo_collector = collector
    a = first.run(model.copy())
    second = DefaultQuantization({"target_device": "CPU"}, engine)
    second.algo_collector = collector
    b = second.run(model.copy())
    assert collector.passes == 1
    assert engine.stat_runs == 1
    assert model_fingerprint(a) == model_fingerprint(b)


def test_channel_alignment_needs_its_own_pass_and_reverts_exactly() -> None:
    # signed_zero_channel has a linear conv1 -> 1x1 conv2 pair: ActivationChannelAlignment's
    # statistics are taken on the unaligned FP32 model (a pass of its own), MinMax's on the
    # aligned one. The mixed-preset retry reuses both.
    name = "signed_zero_channel"
    model = load_model(
        {"model_name": name, "model": str(ZOO / f"{name}.xml"), "weights": str(ZOO / f"{name}.bin")}
    )
    with np.load(ZOO / f"{name}.npz") as d:
        x = d[d.files[0]].astype(np.float32)
    fp32_out = _infer(model.get_model(), x)
    labels = fp32_out.argmax(axis=1)
    engine = CountingEngine({"device": "CPU"}, _Loader(x, labels), Accuracy())
    algo = AccuracyAwareQuantization(
        {
            "target_device": "CPU",
            "maximal_drop": 0.0,
            "max_iter_num": 0,
            "convert_to_mixed_preset": True,
            "metrics": [{"name": "accuracy", "baseline_value": 1.01}],
        },
        engine,
    )
    algo.run(model)
    s = algo.summary
    assert [c["name"] for c in s["configurations"]] == ["default", "mixed preset"]
    assert s["counts"]["statistics_passes"] == 2
    assert engine.stat_runs == 2
    assert "channel-alignment pairs need one more pass" in s["counts"]["statistics_note"]
    assert s["result"]["hit_iteration_limit"] is True
    assert s["steps"] == []
    # Reverting every group of the aligned, quantized model gives the FP32 function back
    # (the realigned conv2 had its weights halved by the saturation fix too).
    base = DefaultQuantization({"target_device": "CPU"}, engine)
    base.algo_collector = StatisticsCollector(engine)
    quantized = base.run(model.copy())
    info = RevertInfo.from_algorithm(base, quantized.get_model())
    assert info.saturated == {"conv1", "conv2"}
    ov_model = quantized.get_model()
    agnostic = hardware_config("CPU").agnostic
    while fake_quantize_count(ov_model):
        fq = candidate_fake_quantizes(ov_model)[0]
        revert_group(ov_model, fake_quantize_group(ov_model, fq, agnostic), info)
    np.testing.assert_allclose(_infer(ov_model, x), fp32_out, rtol=1e-5, atol=1e-5)


def test_min_max_as_base_algorithm() -> None:
    algo, result, engine = _run(maximal_drop=0.02, base_algorithm="MinMaxQuantization")
    s = algo.summary
    assert s["parameters"]["base_algorithm"] == "MinMaxQuantization"
    assert s["counts"]["statistics_passes"] == 1
    assert engine.stat_runs == 1
    assert s["result"]["reached"] is True
    assert 1.0 - _accuracy(result) <= 0.02


def test_unknown_parameter_warns_with_the_close_name() -> None:
    with pytest.warns(UserWarning, match="did you mean 'maximal_drop'"):
        AccuracyAwareQuantization({**BASE, "maximal_dorp": 0.1}, _engine())


# ---- files -------------------------------------------------------------------------------------


def test_intermediate_dir_holds_model_and_summary(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "aa"
    engine = _engine()
    pipeline = create_pipeline(
        [
            {
                "name": "AccuracyAwareQuantization",
                "params": {**BASE, "maximal_drop": 0.5, "intermediate_dir": str(out)},
            }
        ],
        engine,
    )
    result = pipeline.run(_model())
    assert sorted(p.name for p in out.iterdir()) == [
        "accuracy_aware_summary.json",
        "intermediate_model.bin",
        "intermediate_model.xml",
    ]
    algo = pipeline.algo_seq[0]
    assert json.loads((out / "accuracy_aware_summary.json").read_text()) == algo.summary
    assert algo.summary["intermediate_dir"] == str(out)
    assert algo.summary["result"]["reached"] is True  # 0.10 <= 0.5: the INT8 model itself
    assert fake_quantize_count(result.get_model()) == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aa"]  # nothing in the CWD


def test_default_intermediate_dir_is_temporary(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    algo = AccuracyAwareQuantization({**BASE, "maximal_drop": 0.5}, _engine())
    algo.run(_model())
    assert algo.summary["intermediate_dir"] is None
    assert list(tmp_path.iterdir()) == []


# ---- bad input: clear errors before any work ----------------------------------------------


class NoValue(Metric):
    def reset(self) -> None:
        self.n = 0

    def update(self, output, target) -> None:
        self.n += 1

    @property
    def avg_value(self):
        return {"accuracy": 1.0}

    def get_attributes(self):
        return {"accuracy": {"direction": "higher-better", "type": "accuracy"}}


class RaisingValue(NoValue):
    @property
    def value(self):
        raise NotImplementedError("no per-sample values")


class LowerBetter(Accuracy):
    direction = "lower-better"


@pytest.mark.parametrize(
    ("metric", "params", "error", "match"),
    [
        (NoValue(), {}, ValueError, "per-sample 'value'"),
        (RaisingValue(), {}, ValueError, "per-sample 'value'"),
        (LowerBetter(), {}, ValueError, "direction 'lower-better'"),
        (None, {"target_device": "CPU_SPR"}, ValueError, "CPU_SPR is not supported"),
        (None, {"target_device": "GNA"}, UnsupportedParameterError, "AccuracyAwareGNA"),
        (None, {"target_device": "NPU"}, ValueError, "npu.json"),
        (None, {"metrics": [{"name": "top5"}]}, ValueError, "no 'top5'"),
        (None, {"drop_type": "percent"}, ValueError, "drop_type"),
        (None, {"maximal_drop": -0.1}, ValueError, "maximal_drop"),
        (None, {"metric_subset_ratio": 0}, ValueError, "metric_subset_ratio"),
        (None, {"base_algorithm": "NoSuchAlgorithm"}, KeyError, "NoSuchAlgorithm"),
        (None, {"annotation_free": True}, UnsupportedParameterError, "Accuracy-Checker"),
    ],
)
def test_bad_input_fails_before_any_work(metric, params, error, match) -> None:
    engine = _engine(metric)
    with pytest.raises(error, match=match):
        AccuracyAwareQuantization({**BASE, **params}, engine)
    assert engine.predicts == 0
    assert engine.stat_runs == 0


def test_engine_without_metric_is_refused() -> None:
    x, labels = _data()
    engine = CountingEngine({"device": "CPU"}, _Loader(x, labels))
    with pytest.raises(ValueError, match="the engine has no metric"):
        AccuracyAwareQuantization(BASE, engine)
    assert engine.predicts == 0
