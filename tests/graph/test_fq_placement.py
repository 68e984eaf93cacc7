"""FakeQuantize placement, weight ranges and the saturation fix against POT 2023.3's golden
files (tests/data/golden, copied from ../shared/golden)."""

from __future__ import annotations

import contextlib
import json
from functools import cache
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from fastpot.graph.fq_insertion import insert_fake_quantize, plan_fake_quantize

DATA = Path(__file__).resolve().parents[1] / "data"
ZOO = DATA / "zoo"
GOLDEN = DATA / "golden" / "pot-2023.3"
RUNS = sorted(p for p in GOLDEN.glob("*.json") if p.name != "index.json")


@cache
def _golden(path: Path) -> dict:
    return json.loads(path.read_text())


def _read(model: str) -> ov.Model:
    return ov.Core().read_model(ZOO / f"{model}.xml")


def _array(record: dict) -> np.ndarray:
    return np.asarray(record["values"], dtype=np.float32).reshape(record["shape"])


def _params(golden: dict) -> dict:
    return golden["pot_config"]["algorithms"][0]["params"]


def _ours(placement) -> dict[str, tuple]:
    g = placement.graph
    out = {}
    for p in placement.plans:
        if p.group == "weights":
            producer, port = g.name(g.constant_source(p.source)), 0
        else:
            producer, port = g.name(p.source[0]), p.source[1]
        consumers = frozenset((g.name(c), q) for c, q in p.consumers)
        axis = None
        if p.channel_axes:
            axis = p.channel_axes[0] if p.group == "weights" else 1
        out[p.name] = (p.group, p.levels, producer, port, consumers, p.granularity, axis)
    return out


def _theirs(golden: dict) -> dict[str, tuple]:
    out = {}
    for fq in golden["fake_quantize"]:
        group = fq["quantizes"]
        if group == "weights":  # look through the Reshape POT puts before GroupConvolution
            consumers = frozenset((c["name"], c["port"]) for c in fq["weights_of"])
        else:
            consumers = frozenset((c["name"], c["port"]) for c in fq["consumers"])
        port = 0 if group == "weights" else fq["producer"]["output_port"]
        out[fq["name"]] = (
            group,
            fq["levels"],
            fq["producer"]["name"],
            port,
            consumers,
            fq["granularity"],
            fq["channel_axis"],
        )
    return out


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.stem)
def test_fake_quantize_set_matches_pot(run: Path) -> None:
    golden = _golden(run)
    placement = plan_fake_quantize(_read(golden["model"]), _params(golden))
    ours, theirs = _ours(placement), _theirs(golden)
    missing = sorted(set(theirs) - set(ours))
    extra = sorted(set(ours) - set(theirs))
    assert not missing, f"{run.stem}: FQs POT placed that fastpot did not: {missing}"
    assert not extra, f"{run.stem}: FQs fastpot placed that POT did not: {extra}"
    for name in theirs:
        assert ours[name] == theirs[name], f"{run.stem} {name}: {ours[name]} != POT {theirs[name]}"
    assert len(ours) == golden["summary"]["num_fake_quantize"]


def _rescaled_by_alignment(golden: dict) -> set[str]:
    """Weights POT changed other than by exact halving (channel alignment, issue 5)."""
    changed = set()
    for c in golden["changed_constants"]:
        if c["role"] != "weights":
            continue
        old, new = _array(c["old"]), _array(c["new"])
        if not np.array_equal(new, old / np.float32(2)):
            changed.add(c["original_name"])
    return changed


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.stem)
def test_weight_ranges_and_saturation_fix_match_pot(run: Path) -> None:
    golden = _golden(run)
    model = _read(golden["model"])
    originals = {
        op.get_friendly_name(): op.get_data().copy()
        for op in model.get_ops()
        if op.get_type_name() == "Constant"
    }
    placement = plan_fake_quantize(model, _params(golden))
    nodes = insert_fake_quantize(model, placement)
    skip = _rescaled_by_alignment(golden)
    halved = {
        c["original_name"]: _array(c["new"])
        for c in golden["changed_constants"]
        if c["role"] == "weights"
    }
    compared = 0
    for fq in golden["fake_quantize"]:
        if fq["quantizes"] != "weights" or fq["producer"]["name"] in skip:
            continue
        node = nodes[fq["name"]]
        ranges = [node.input_value(i).get_node().get_data() for i in range(1, 5)]
        for got, key in zip(
            ranges, ("input_low", "input_high", "output_low", "output_high"), strict=True
        ):
            want = _array(fq[key])
            assert np.array_equal(got.ravel(), want.ravel()), f"{run.stem} {fq['name']} {key}"
        assert node.get_attributes()["levels"] == fq["levels"]
        weights = node.input_value(0).get_node().get_data()
        name = fq["producer"]["name"]
        if name in halved:  # saturation fix: the stored weights are halved exactly
            assert fq["weights_changed_by_pot"]
            assert np.array_equal(weights, halved[name]), f"{run.stem} {name}: halved weights"
            assert np.array_equal(ranges[3], ranges[1] * 2), f"{run.stem} {fq['name']}: out = 2 in"
        else:
            assert np.array_equal(weights, originals[name]), f"{run.stem} {name}: weights changed"
        compared += 1
    assert compared > 0


@pytest.mark.parametrize(
    "run", [r for r in RUNS if r.stem.endswith("__minmax_performance_cpu")], ids=lambda p: p.stem
)
def test_inserted_model_computes_like_pots_ir(run: Path) -> None:
    """MinMax changes nothing but FQs and the saturation fix: with POT's activation ranges
    copied into our FQs, our model must compute what POT's saved IR computes."""
    golden = _golden(run)
    ir = GOLDEN / "ir" / f"{run.stem}.xml"
    assert ir.is_file(), f"{ir}: POT's quantized IR is missing from tests/data"
    model = _read(golden["model"])
    nodes = insert_fake_quantize(model, plan_fake_quantize(model, _params(golden)))
    for fq in golden["fake_quantize"]:
        if fq["quantizes"] != "activations":
            continue
        node = nodes[fq["name"]]
        for i, key in enumerate(("input_low", "input_high", "output_low", "output_high"), 1):
            value = _array(fq[key]).reshape(node.input_value(i).get_shape())
            node.input(i).replace_source_output(ov.opset13.constant(value).output(0))
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    ours = core.compile_model(model, "CPU", config)
    theirs = core.compile_model(core.read_model(ir), "CPU", config)
    data = np.load(ZOO / f"{golden['model']}.npz")
    for i in range(4):
        feed = {name: data[name][i : i + 1] for name in data.files}
        a = ours(feed)
        b = theirs(feed)
        for out_a, out_b in zip(a.values(), b.values(), strict=True):
            scale = float(np.abs(out_b).max()) or 1.0
            assert np.allclose(out_a, out_b, rtol=1e-4, atol=1e-4 * scale), f"{run.stem} sample {i}"


def test_ignoring_maxpool_also_unquantizes_its_consumer() -> None:
    """Spec 4.7: ignoring an agnostic op ignores its direct consumers too."""
    model = _read("plain_cnn")
    base = {p.name for p in plan_fake_quantize(model, {"target_device": "CPU"}).plans}
    pools = [op.get_friendly_name() for op in model.get_ops() if op.get_type_name() == "MaxPool"]
    assert pools
    after_pool = {
        t.get_node().get_friendly_name()
        for op in model.get_ops()
        if op.get_friendly_name() in pools
        for t in op.output(0).get_target_inputs()
    }
    ignored = plan_fake_quantize(
        model, {"target_device": "CPU", "ignored": {"operations": [{"type": "MaxPool"}]}}
    )
    names = {p.name for p in ignored.plans}
    assert not any(n.startswith(tuple(f"{c}/" for c in after_pool)) for n in names), names
    assert names < base


def test_ignored_scope_by_name_and_skip_model() -> None:
    model = _read("plain_cnn")
    plans = plan_fake_quantize(model, {"target_device": "CPU", "ignored": {"scope": ["fc"]}}).plans
    assert not [p for p in plans if p.name.startswith("fc/")]
    everything = {"target_device": "CPU", "ignored": {"skip_model": True}}
    assert plan_fake_quantize(model, everything).plans == []


def test_concat_unification_group() -> None:
    golden = _golden(GOLDEN / "residual_concat__default_performance_cpu.json")
    placement = plan_fake_quantize(_read("residual_concat"), _params(golden))
    assert placement.unified_groups == [
        ["branch_b/fq_input_0", "concat/fq_input_0", "concat/fq_input_1"]
    ]
    ranges = {
        fq["name"]: (_array(fq["input_low"]), _array(fq["input_high"]))
        for fq in golden["fake_quantize"]
    }
    first = ranges["concat/fq_input_0"]
    for name in placement.unified_groups[0]:  # POT gave every member the same range
        assert np.array_equal(ranges[name][0], first[0])
        assert np.array_equal(ranges[name][1], first[1])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"target_device": "CPU", "ignored": {"scope": ["no_such_node"]}}, "no_such_node"),
        ({"target_device": "VPU"}, "target_device"),
        ({"target_device": "NPU"}, "npu.json"),
        ({"target_device": "CPU", "preset": "fast"}, "preset"),
        ({"target_device": "CPU", "ignored": {"scopes": ["fc"]}}, "scopes"),
        ({"target_device": "CPU", "weights": {"granularity": "pertensor", "bits": 4}}, "lacks"),
    ],
)
def test_bad_configs_name_the_problem(params: dict, message: str) -> None:
    # A weights override that matches no hardware config warns (as POT logged) first.
    warns = (
        pytest.warns(UserWarning, match="does not support configuration")
        if "weights" in params
        else contextlib.nullcontext()
    )
    with pytest.raises(ValueError, match=message), warns:
        plan_fake_quantize(_read("plain_cnn"), params)


def test_cpu_spr_prunes_one_fq_in_front_of_an_add() -> None:
    """Spec 4.8 on residual_concat.

    residual_add reads branch_a1/fq_input_0 (shared with branch_a1: two consumers) and
    residual_add/fq_input_1 (one consumer, produced by branch_a2's bias Add, which has a
    constant input): CPU_SPR drops the latter; CPU keeps both.
    """
    model = _read("residual_concat")
    cpu = {p.name for p in plan_fake_quantize(model, {"target_device": "CPU"}).plans}
    spr = {p.name for p in plan_fake_quantize(model, {"target_device": "CPU_SPR"}).plans}
    assert cpu - spr == {"residual_add/fq_input_1"}
    assert spr <= cpu
