"""Per-sample quantiles reduced inside the plugin (the dispatcher's SampleQuantile operation).

The quantile statistics pass marks each tensor it needs a per-tensor quantile of; the C++
dispatcher replaces the marked export by an OpenVINO operation that runs fastpot's quantile
kernel on the plugin's stream thread, so only [N] values leave the plugin. The results must
be those of exporting the tensor and reducing it on the host (bit for bit) and NumPy's
``np.quantile`` (the oracle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as opset
import pytest

from fastpot.engines import IEEngine
from fastpot.kernels import StatisticAccumulator, reference
from fastpot.samplers import create_sampler

from .test_dispatcher import MODELS, SAMPLES, ZooLoader, _model, _nodes, _reference_outputs

LEVELS = (0.0, 1e-4, 0.01, 0.5, 1 - 1e-4, 1.0)
AGGREGATORS = ("mean", "min", "max", "median")


def _quantile_accumulators(nodes: list[tuple[str, int]]) -> dict[str, list[StatisticAccumulator]]:
    return {
        name: [
            StatisticAccumulator(stat, how, q=q)
            for stat in ("quantile", "abs_quantile")
            for q in LEVELS
            for how in AGGREGATORS
        ]
        for name, _ in nodes
    }


def _pass(name: str, requests: int | None, batch: int = 1) -> tuple[IEEngine, dict]:
    engine = IEEngine({"device": "CPU", "stat_requests_number": requests}, ZooLoader(name))
    model = _model(name)
    if batch > 1:
        first = model.get_model().inputs[0]
        model.get_model().reshape({first.get_any_name(): [-1, *first.get_shape()[1:]]})
    engine.set_model(model)
    accs = _quantile_accumulators(_nodes(engine._model))
    engine.collect_statistics(accs, create_sampler(engine, SAMPLES, batch_size=batch))
    return engine, accs


def _dispatcher(engine: IEEngine):
    assert len(engine._dispatchers) == 1, "one dispatcher per pass"
    (dispatcher, _), *_ = engine._dispatchers.values()
    return dispatcher


@pytest.mark.parametrize("requests", [1, None], ids=["sync", "async"])
@pytest.mark.parametrize("name", MODELS)
def test_in_plugin_quantiles_equal_exported_ones_and_numpy(
    name: str, requests: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, accs = _pass(name, requests)
    # Every (tensor, statistic, level) is one in-plugin reduction: aggregators share it.
    expected_ops = len(accs) * 2 * len(LEVELS)
    assert _dispatcher(engine).plugin_quantiles == expected_ops

    monkeypatch.setenv("FASTPOT_PLUGIN_QUANTILE", "0")
    exported_engine, exported = _pass(name, requests)
    assert _dispatcher(exported_engine).plugin_quantiles == 0
    for node, group in accs.items():
        for a, b in zip(group, exported[node], strict=True):
            label = f"{node} {a.stat} q={a.q} {a.how}"
            assert a.samples == b.samples == SAMPLES, label
            np.testing.assert_array_equal(a.result(), b.result(), err_msg=label)

    tensors = _reference_outputs(name, list(accs))
    for node, group in accs.items():
        x = np.concatenate(tensors[node]).reshape(SAMPLES, -1).astype(np.float64)
        for acc in group:
            values = np.abs(x) if acc.stat == "abs_quantile" else x
            per_sample = np.quantile(values, acc.q, axis=1)
            want = reference.aggregate(per_sample, acc.how)
            np.testing.assert_allclose(
                float(acc.result()), float(want), rtol=2e-6, atol=1e-7, err_msg=f"{node} {acc.q}"
            )


def test_batches_of_four_keep_their_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dynamic batch axis: the operation gives one value per sample of each batch."""
    engine, accs = _pass("plain_cnn", 2, batch=4)
    assert _dispatcher(engine).plugin_quantiles > 0
    monkeypatch.setenv("FASTPOT_PLUGIN_QUANTILE", "0")
    _, exported = _pass("plain_cnn", 2, batch=4)
    tensors = _reference_outputs("plain_cnn", list(accs))
    for node, group in accs.items():
        x = np.concatenate(tensors[node]).reshape(SAMPLES, -1).astype(np.float64)
        for acc, other in zip(group, exported[node], strict=True):
            assert acc.batches == 3
            assert acc.samples == SAMPLES
            np.testing.assert_array_equal(acc.result(), other.result())
            values = np.abs(x) if acc.stat == "abs_quantile" else x
            per_sample = np.quantile(values, acc.q, axis=1)
            if acc.how == "mean":  # POT's mean of per-batch means
                want = np.mean([per_sample[i : i + 4].mean() for i in range(0, SAMPLES, 4)])
            else:
                want = reference.aggregate(per_sample, acc.how)
            np.testing.assert_allclose(float(acc.result()), float(want), rtol=2e-6, atol=1e-7)


def test_nan_samples_give_nan_as_numpy() -> None:
    """A sample with a NaN activation: its quantile is NaN, as np.quantile's."""
    x = opset.parameter([1, 8], ov.Type.f32, name="x")
    scaled = opset.multiply(x, np.float32(2.0))
    scaled.set_friendly_name("scaled")
    model = ov.Model([opset.result(opset.relu(scaled))], [x], "nan_model")
    data = np.arange(24, dtype=np.float32).reshape(3, 1, 8) - 4
    data[1, 0, 3] = np.nan

    class Loader:
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int):
            return {"x": data[i]}, None

    from fastpot.graph import CompressedModel

    engine = IEEngine({"device": "CPU"}, Loader())
    engine.set_model(CompressedModel([{"model": model}]))
    acc = StatisticAccumulator("quantile", "max", q=0.5)
    engine.collect_statistics({"scaled": [acc]}, create_sampler(engine, 3))
    assert _dispatcher(engine).plugin_quantiles == 1
    per_sample = reference.reduce_per_sample(2 * data[:, 0], "quantile", None, 0.5)
    assert np.isnan(per_sample[1])
    np.testing.assert_array_equal(acc.result(), reference.aggregate(per_sample, "max"))


def test_a_malformed_marker_is_refused_with_its_name(tmp_path: Path) -> None:
    from fastpot import _dispatch

    x = opset.parameter([1, 4], ov.Type.f32, name="x")
    bad = opset.result(opset.relu(x))
    bad.set_friendly_name("__fastpot_quantile__|median|0.5|relu:0")
    model = ov.Model([bad], [x], "bad_marker")
    ov.save_model(model, tmp_path / "m.xml")
    with pytest.raises(
        ValueError, match=r"malformed quantile marker '__fastpot_quantile__\|median"
    ):
        _dispatch.Dispatcher(str(tmp_path / "m.xml"), str(tmp_path / "m.bin"), "CPU", {}, 1)
    bad.set_friendly_name("__fastpot_quantile__|quantile|1.5|relu:0")
    ov.save_model(model, tmp_path / "n.xml")
    with pytest.raises(ValueError, match="bad quantile level"):
        _dispatch.Dispatcher(str(tmp_path / "n.xml"), str(tmp_path / "n.bin"), "CPU", {}, 1)


@pytest.mark.parametrize(
    ("device", "env", "expected"),
    [
        ("CPU", None, True),
        ("cpu", None, True),
        ("CPU", "0", False),
        ("GPU", None, False),
        ("AUTO", None, False),
        ("HETERO:GPU,CPU", None, False),
    ],
)
def test_only_the_cpu_plugin_gets_the_operation(
    device: str, env: str | None, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other plugins cannot run an operation they do not know: they keep the export."""
    from fastpot.engines.ie_engine import _plugin_quantiles_enabled

    if env is None:
        monkeypatch.delenv("FASTPOT_PLUGIN_QUANTILE", raising=False)
    else:
        monkeypatch.setenv("FASTPOT_PLUGIN_QUANTILE", env)
    assert _plugin_quantiles_enabled(device) is expected
