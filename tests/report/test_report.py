"""The quantization report (fastpot.report) on the zoo's plain_cnn, quantized through the POT API.

Expectations are independent of the report's code: FakeQuantize ranges and compressed weights
are read back from the saved IR's XML and .bin with ElementTree and NumPy, SQNR and observed
activation ranges are recomputed by running the models with OpenVINO directly, bias changes
are taken from the models' constants.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import re
import sys
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from PIL import Image

from fastpot import build_report, compress_model_weights, load_model, save_model
from fastpot.algorithms import AccuracyAwareQuantization
from fastpot.api import DataLoader, Metric
from fastpot.engines import IEEngine
from fastpot.graph import CompressedModel
from fastpot.pipeline import create_pipeline
from fastpot.report import HTML_FILE, JSON_FILE, QuantizationReport

ZOO = Path(__file__).resolve().parents[1] / "data" / "zoo"
MODEL = "plain_cnn"
CALIBRATION = 40  # images the quantization statistics use
ALGORITHMS = [
    {
        "name": "DefaultQuantization",
        "params": {"target_device": "ANY", "preset": "performance", "stat_subset_size": 40},
    }
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMG = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


def _model() -> CompressedModel:
    return load_model(
        {
            "model_name": MODEL,
            "model": str(ZOO / f"{MODEL}.xml"),
            "weights": str(ZOO / f"{MODEL}.bin"),
        }
    )


@cache
def _images() -> np.ndarray:
    with np.load(ZOO / f"{MODEL}.npz") as data:
        return data["image"].astype(np.float32)


class _Loader(DataLoader):
    def __init__(self, x: np.ndarray, labels: np.ndarray | None = None) -> None:
        self.x, self.labels = x, labels

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i : i + 1], None if self.labels is None else int(self.labels[i])


def _samples(count: int = 8) -> list[dict[str, np.ndarray]]:
    return [{"image": _images()[i : i + 1]} for i in range(count)]


@cache
def _quantized() -> tuple[ov.Model, CompressedModel]:
    """(FP32 model, DefaultQuantization result with weight FakeQuantizes) of plain_cnn."""
    engine = IEEngine({"device": "CPU"}, data_loader=_Loader(_images()[:CALIBRATION]))
    quantized = create_pipeline(ALGORITHMS, engine).run(_model())
    return _model().get_model(), quantized


@cache
def _saved_ir(folder: str) -> Path:
    """The quantized plain_cnn with compressed weights, saved as IR under `folder`."""
    model = _quantized()[1].copy()
    compress_model_weights(model)
    paths = save_model(model, folder, model_name=MODEL)
    return Path(paths[0]["model"])


@pytest.fixture(scope="module")
def saved_ir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _saved_ir(str(tmp_path_factory.mktemp("ir")))


@pytest.fixture(scope="module")
def compressed_report(saved_ir: Path) -> QuantizationReport:
    quantized = ov.Core().read_model(saved_ir)
    return build_report(_quantized()[0], quantized, _samples(), algorithms=ALGORITHMS)


@pytest.fixture(scope="module")
def fq_report() -> QuantizationReport:
    original, quantized = _quantized()
    return build_report(original, quantized, _samples(), algorithms=ALGORITHMS)


# ---- reading an IR without OpenVINO ----------------------------------------------------------

_DTYPES = {"f32": np.float32, "f16": np.float16, "i8": np.int8, "u8": np.uint8, "i64": np.int64}


class _IR:
    """Layers, edges and constants of an IR read with ElementTree and NumPy."""

    def __init__(self, xml: Path) -> None:
        root = ET.parse(xml).getroot()
        self.bin = xml.with_suffix(".bin").read_bytes()
        self.layers = {layer.get("id"): layer for layer in root.iter("layer")}
        self.inputs: dict[str, dict[int, str]] = {}
        for edge in root.iter("edge"):
            to = self.inputs.setdefault(edge.get("to-layer"), {})
            to[int(edge.get("to-port"))] = edge.get("from-layer")

    def of_type(self, kind: str) -> list[ET.Element]:
        return [layer for layer in self.layers.values() if layer.get("type") == kind]

    def producer(self, layer: ET.Element, port: int) -> ET.Element:
        return self.layers[self.inputs[layer.get("id")][port]]

    def constant(self, layer: ET.Element) -> np.ndarray:
        assert layer.get("type") == "Const", layer.get("name")
        data = layer.find("data")
        shape = [int(d) for d in data.get("shape").split(",") if d]
        offset, size = int(data.get("offset")), int(data.get("size"))
        dtype = _DTYPES[data.get("element_type")]
        return np.frombuffer(self.bin[offset : offset + size], dtype=dtype).reshape(shape)


def _values(record: dict) -> np.ndarray:
    return np.asarray(record["values"], dtype=np.float32).reshape(record["shape"])


def _infer_all(model: ov.Model, samples: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return [np.asarray(compiled(s)[0], dtype=np.float64) for s in samples]


def _sqnr(reference: list[np.ndarray], other: list[np.ndarray]) -> float:
    signal = sum(float(np.sum(r * r)) for r in reference)
    noise = sum(float(np.sum((r - o) ** 2)) for r, o in zip(reference, other, strict=True))
    return 10 * math.log10(signal / noise)


# ---- the compressed IR -----------------------------------------------------------------------


def test_every_fake_quantize_of_the_saved_ir_is_listed_with_its_ranges(
    saved_ir: Path, compressed_report: QuantizationReport
) -> None:
    ir = _IR(saved_ir)
    fqs = ir.of_type("FakeQuantize")
    listed = {fq["name"]: fq for fq in compressed_report.fake_quantizes}
    assert sorted(listed) == sorted(layer.get("name") for layer in fqs)
    for layer in fqs:
        record = listed[layer.get("name")]
        assert record["kind"] == "activation"  # weight FQs were folded into int8 constants
        assert record["levels"] == int(layer.find("data").get("levels"))
        for port, key in enumerate(("input_low", "input_high", "output_low", "output_high"), 1):
            expected = ir.constant(ir.producer(layer, port)).astype(np.float32)
            np.testing.assert_array_equal(_values(record[key]), expected, err_msg=key)
            assert record[key]["min"] == pytest.approx(float(expected.min()), rel=1e-7)
            assert record[key]["max"] == pytest.approx(float(expected.max()), rel=1e-7)
        assert record["granularity"] == "pertensor"  # ANY: per-tensor activations
        observed = record["observed"]
        assert observed is not None
        assert sum(observed["histogram"]["counts"]) == observed["histogram"]["sampled_values"]
    counts = compressed_report.counts
    assert counts["fake_quantize_nodes"] == len(fqs) == 5
    assert counts["activation_fake_quantizes"] == 5
    assert counts["weight_fake_quantizes"] == 0
    assert counts["compressed_weights"] == counts["weight_quantizers"] == 4
    assert counts["quantized_layers"] == 5  # conv1..3, gap (ReduceMean), fc


def test_compressed_weights_are_counted_apart_with_their_per_channel_range(
    saved_ir: Path, compressed_report: QuantizationReport
) -> None:
    ir = _IR(saved_ir)
    weights = {w["name"]: w for w in compressed_report.compressed_weights}
    multiplies = [m for m in ir.of_type("Multiply") if m.get("name").endswith("/mulpiply_by_scale")]
    assert sorted(weights) == sorted(
        m.get("name").split("/mulpiply_by_scale")[0] for m in multiplies
    )
    for multiply in multiplies:
        convert, scale_const = ir.producer(multiply, 0), ir.producer(multiply, 1)
        assert convert.get("type") == "Convert"
        stored = ir.constant(ir.producer(convert, 0))
        assert stored.dtype == np.int8
        scale = ir.constant(scale_const)
        dequantized = stored.astype(np.float32) * scale
        axes = tuple(range(1, stored.ndim))  # output channels first (Conv and MatMul weights)
        record = weights[multiply.get("name").split("/mulpiply_by_scale")[0]]
        assert record["storage_type"] == "i8"
        assert record["granularity"] == "perchannel"
        assert record["zero_point"] is None  # symmetric weights
        assert record["levels"] == 255  # symmetric 8-bit weights never store -128
        assert stored.min() > -128
        np.testing.assert_array_equal(_values(record["scale"]), scale)
        np.testing.assert_allclose(
            np.asarray(record["weight_low"]["values"]), dequantized.min(axis=axes), rtol=1e-6
        )
        np.testing.assert_allclose(
            np.asarray(record["weight_high"]["values"]), dequantized.max(axis=axes), rtol=1e-6
        )
        assert record["integer_range"] == [int(stored.min()), int(stored.max())]
    layers = {layer["name"]: layer for layer in compressed_report.layers}
    for name in ("conv1", "conv2", "conv3", "fc"):
        (weight,) = layers[name]["weight_quantizers"]
        assert weight["kind"] == "compressed"
        assert weights[weight["name"]]["layers"] == [name]
    assert layers["gap"]["weight_quantizers"] == []
    # conv3 reads the max pool of an FQ'd tensor: the FQ is found through the pool
    assert [a["name"] for a in layers["conv3"]["activation_fake_quantizes"]] == ["pool/fq_input_0"]


def test_sqnr_of_outputs_and_layers(
    saved_ir: Path, compressed_report: QuantizationReport, fq_report: QuantizationReport
) -> None:
    original = _quantized()[0]
    quantized = ov.Core().read_model(saved_ir)
    expected = _sqnr(_infer_all(original, _samples()), _infer_all(quantized, _samples()))
    (output,) = compressed_report.outputs
    assert output["name"] == "logits"
    assert output["sqnr_db"] == pytest.approx(expected, rel=1e-6)
    assert 10.0 < expected < 60.0
    for layer in compressed_report.layers:
        assert isinstance(layer["sqnr_db"], float), layer
        assert math.isfinite(layer["sqnr_db"])
        if layer["type"] == "Convolution":
            assert layer["sqnr_db"] > 10.0, layer
    # The compressed model computes what the FakeQuantize model computes.
    by_name = {layer["name"]: layer["sqnr_db"] for layer in fq_report.layers}
    for layer in compressed_report.layers:
        assert layer["sqnr_db"] == pytest.approx(by_name[layer["name"]], abs=1e-3)


def test_identical_models_have_infinite_sqnr_stored_as_a_string() -> None:
    original = _quantized()[0]
    report = build_report(original, original.clone(), _samples(2))
    assert report.counts["fake_quantize_nodes"] == 0
    assert report.layers == []
    assert report.outputs == [{"name": "logits", "sqnr_db": "inf"}]
    assert "inf" in report.to_json()
    assert "Infinity" not in report.to_json()


def test_bias_change_and_observed_input_range(compressed_report: QuantizationReport) -> None:
    original, quantized = _quantized()

    def bias(model: ov.Model, name: str) -> np.ndarray:
        (op,) = [op for op in model.get_ops() if op.get_friendly_name() == name]
        return np.asarray(op.get_data(), dtype=np.float64)

    layers = {layer["name"]: layer for layer in compressed_report.layers}
    for name in ("conv1", "conv2", "conv3", "fc"):
        before = bias(original, f"{name}/bias")
        after = bias(quantized.get_model(), f"{name}/bias")
        change = float(np.max(np.abs(after.reshape(before.shape) - before)))
        record = layers[name]["bias"]
        assert record["max_abs_change"] == pytest.approx(change, rel=1e-6, abs=1e-12)
        assert record["status"] == ("changed" if change > 0 else "unchanged")
        if change > 0:
            assert record["max_relative_change"] == pytest.approx(
                change / float(np.max(np.abs(before))), rel=1e-6
            )
    assert any(layers[n]["bias"]["status"] == "changed" for n in ("conv1", "conv2"))
    assert layers["gap"]["bias"]["status"] == "none"
    # conv1/fq_input_0 quantizes the model input: its observed range is that of the images.
    (first,) = [fq for fq in compressed_report.fake_quantizes if fq["name"] == "conv1/fq_input_0"]
    x = np.concatenate([s["image"] for s in _samples()])
    observed = first["observed"]
    assert observed["min"] == pytest.approx(float(x.min()), rel=1e-6)
    assert observed["max"] == pytest.approx(float(x.max()), rel=1e-6)
    assert observed["mean"] == pytest.approx(float(x.mean()), rel=1e-5, abs=1e-6)
    assert observed["values"] == x.size
    low, high = first["input_low"]["values"][0], first["input_high"]["values"][0]
    outside = observed["below_range_fraction"] + observed["above_range_fraction"]
    assert outside == pytest.approx(float(np.mean((x < low) | (x > high))), abs=1e-9)


# ---- the files -------------------------------------------------------------------------------


def _pngs(html: str) -> list[tuple[str, bytes]]:
    return [(alt, base64.b64decode(data)) for alt, data in IMG.findall(html)]


def test_save_writes_json_and_self_contained_html(
    tmp_path: Path, compressed_report: QuantizationReport
) -> None:
    out = tmp_path / "new" / "folder"
    html_path = compressed_report.save(out)
    assert html_path == out / HTML_FILE
    assert sorted(p.name for p in out.iterdir()) == [HTML_FILE, JSON_FILE]  # no temporaries

    def no_constants(name: str) -> None:
        raise AssertionError(f"non-JSON constant {name} in the report")

    data = json.loads((out / JSON_FILE).read_text(), parse_constant=no_constants)
    assert data == compressed_report.to_dict()
    assert QuantizationReport.load(out).to_dict() == data
    assert QuantizationReport.load(out / JSON_FILE).to_json() == compressed_report.to_json()

    html = html_path.read_text()
    for fq in compressed_report.fake_quantizes + compressed_report.compressed_weights:
        assert fq["name"] in html
    for layer in compressed_report.layers:
        assert f"<code>{layer['name']}</code>" in html
    assert "DefaultQuantization" in html
    assert "stat_subset_size" in html
    assert "<script" not in html
    assert "http://" not in html
    assert "https://" not in html
    images = _pngs(html)
    alts = [alt for alt, _ in images]
    assert sum(a.startswith("histogram of the input of") for a in alts) == 5
    assert sum(a.startswith("per-channel weight range of") for a in alts) == 4
    assert "SQNR per layer" in alts
    assert len(IMG.findall(html)) == html.count("<img")
    for alt, png in images:
        assert png.startswith(PNG_SIGNATURE), alt
        with Image.open(io.BytesIO(png)) as image:
            image.verify()
        with Image.open(io.BytesIO(png)) as image:
            width, height = image.size
        assert width >= 200, (alt, image.size)
        assert height >= 100, (alt, image.size)


def test_without_matplotlib_the_html_has_no_plots_and_says_why(
    tmp_path: Path, compressed_report: QuantizationReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    html = compressed_report.save(tmp_path).read_text()
    assert "<img" not in html
    assert "matplotlib is not installed" in html
    assert "fastpot[report]" in html
    assert "conv1/fq_input_0" in html
    assert json.loads((tmp_path / JSON_FILE).read_text()) == compressed_report.to_dict()


# ---- the uncompressed model ------------------------------------------------------------------


def test_weight_fake_quantizes_of_an_uncompressed_model(
    tmp_path: Path, fq_report: QuantizationReport
) -> None:
    quantized = _quantized()[1].get_model()
    fqs = [op for op in quantized.get_ordered_ops() if op.get_type_name() == "FakeQuantize"]
    assert [fq["name"] for fq in fq_report.fake_quantizes] == [f.get_friendly_name() for f in fqs]
    counts = fq_report.counts
    assert counts["fake_quantize_nodes"] == 9
    assert counts["activation_fake_quantizes"] == 5
    assert counts["weight_fake_quantizes"] == counts["weight_quantizers"] == 4
    assert counts["compressed_weights"] == 0
    for op, record in zip(fqs, fq_report.fake_quantizes, strict=True):
        weight = op.input_value(0).get_node().get_type_name() == "Constant"
        assert record["kind"] == ("weight" if weight else "activation")
        assert record["levels"] == op.get_attributes()["levels"]
        for port, key in enumerate(("input_low", "input_high", "output_low", "output_high"), 1):
            const = op.input_value(port).get_node().get_data()
            np.testing.assert_array_equal(_values(record[key]), const)
        if weight:
            assert record["granularity"] == "perchannel"
            assert record["levels"] == 255
            assert "observed" not in record
    layers = {layer["name"]: layer for layer in fq_report.layers}
    (weight,) = layers["conv1"]["weight_quantizers"]
    assert weight["kind"] == "fake_quantize"
    assert weight["name"] == "conv1/fq_weights_1"
    assert weight["low"] == pytest.approx(float(fq_report.fake_quantizes[1]["output_low"]["min"]))
    html = fq_report.save(tmp_path).read_text()
    alts = [alt for alt, _ in _pngs(html)]
    assert sum(a.startswith("per-channel weight range of") for a in alts) == 4


def test_models_are_not_modified_and_sample_forms_agree() -> None:
    original, quantized = _quantized()
    ov_quantized = quantized.get_model()
    before = (len(original.get_ops()), len(original.outputs), len(ov_quantized.get_ops()))
    x = [s["image"] for s in _samples(3)]
    by_name = build_report(original, quantized, [{"image": a} for a in x])
    by_index = build_report(original, ov_quantized, [{0: a} for a in x])
    plain = build_report(_model(), quantized, x, num_samples=3)
    assert by_name.outputs == by_index.outputs == plain.outputs
    assert [la["sqnr_db"] for la in by_name.layers] == [la["sqnr_db"] for la in plain.layers]
    after = (len(original.get_ops()), len(original.outputs), len(ov_quantized.get_ops()))
    assert before == after
    assert build_report(original, quantized, x, num_samples=1).to_dict()["samples"] == 1
    empty = build_report(original, quantized, [])
    assert empty.outputs == []
    assert all(la["sqnr_db"] is None for la in empty.layers)


def test_bad_inputs_are_named() -> None:
    original, quantized = _quantized()
    cascade = CompressedModel(
        [{"name": "a", "model": original.clone()}, {"name": "b", "model": original.clone()}]
    )
    with pytest.raises(ValueError, match=r"cascade.*once per sub-model"):
        build_report(cascade, quantized, _samples(1))
    with pytest.raises(ValueError, match="'picture' is not a model input"):
        build_report(original, quantized, [{"picture": _images()[:1]}])
    with pytest.raises(TypeError, match=r"openvino\.Model or a CompressedModel"):
        build_report("model.xml", quantized, _samples(1))


def test_min_max_log_counts_activation_and_weight_fake_quantizes_apart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = IEEngine({"device": "CPU"}, data_loader=_Loader(_images()[:8]))
    with caplog.at_level(logging.INFO, logger="fastpot.algorithms.min_max"):
        create_pipeline(
            [{"name": "MinMaxQuantization", "params": {"target_device": "ANY"}}], engine
        ).run(_model())
    assert "MinMaxQuantization: 9 FakeQuantize nodes (5 on activations, 4 on weights;" in (
        caplog.text
    )
    assert "become int8 constants" in caplog.text


# ---- AccuracyAwareQuantization ---------------------------------------------------------------


class _Accuracy(Metric):
    """Top-1 accuracy against the FP32 model's own labels; per sample 1.0 or 0.0."""

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
        return {"accuracy": {"direction": "higher-better", "type": "accuracy"}}


def test_accuracy_aware_section(tmp_path: Path) -> None:
    x = _images()[:100]
    fp32 = _model().get_model()
    labels = np.concatenate(_infer_all(fp32, [{"image": x[i : i + 1]} for i in range(len(x))]))
    engine = IEEngine(
        {"device": "CPU"}, data_loader=_Loader(x, labels.argmax(axis=1)), metric=_Accuracy()
    )
    params = {
        "target_device": "ANY",
        "preset": "performance",
        "stat_subset_size": 100,
        "maximal_drop": 0.0,
        "max_iter_num": 2,
        "ranking_subset_size": 20,
        "intermediate_dir": str(tmp_path / "aa"),
    }
    algo = AccuracyAwareQuantization(params, engine)
    result = algo.run(_model())
    summary = algo.summary
    assert len(summary["steps"]) >= 1
    report = build_report(
        fp32,
        result,
        [{"image": x[i : i + 1]} for i in range(4)],
        algorithms=[{"name": "AccuracyAwareQuantization", "params": params}],
        accuracy_aware=summary,
    )
    assert report.accuracy_aware == json.loads(json.dumps(summary))
    # What AA reverted is absent from the report's FakeQuantize list.
    reverted = set(summary["result"]["reverted_fake_quantizes"])
    listed = {fq["name"] for fq in report.fake_quantizes}
    assert not listed & reverted
    left = {
        op.get_friendly_name()
        for op in result.get_model().get_ops()
        if op.get_type_name() == "FakeQuantize"
    }
    assert listed == left
    assert report.counts["fake_quantize_nodes"] == 9 - len(reverted)
    html = report.save(tmp_path / "report").read_text()
    assert "<h2>AccuracyAwareQuantization</h2>" in html
    assert "metric per AccuracyAware step" in [alt for alt, _ in _pngs(html)]
    for step in summary["steps"]:
        assert f"step {step['iteration']} ({step['metric']})" in html
        for name in step["reverted_layers"]:
            assert f"<code>{name}</code>" in html


# ---- the pot command line --------------------------------------------------------------------


def _cli_config(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    images = tmp_path / "images"
    images.mkdir()
    for i in range(6):
        pixels = rng.integers(0, 256, (32 + i, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"img_{i}.png")
    config = {
        "model": {
            "model_name": "cnn",
            "model": str(ZOO / f"{MODEL}.xml"),
            "weights": str(ZOO / f"{MODEL}.bin"),
        },
        "engine": {"type": "simplified", "data_source": str(images), "device": "CPU"},
        "compression": {
            "target_device": "ANY",
            "algorithms": [{"name": "DefaultQuantization", "params": {"stat_subset_size": 6}}],
        },
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def test_pot_writes_the_report_next_to_the_optimized_ir(tmp_path: Path) -> None:
    from fastpot.cli.app import app

    config = _cli_config(tmp_path)
    result = app(["-c", str(config), "--output-dir", str(tmp_path / "out"), "-d"])
    optimized = result["output_dir"] / "optimized"
    assert sorted(p.name for p in optimized.iterdir()) == [
        "cnn.bin",
        "cnn.xml",
        HTML_FILE,
        JSON_FILE,
    ]
    report = QuantizationReport.load(optimized)
    ir = _IR(optimized / "cnn.xml")
    assert sorted(fq["name"] for fq in report.fake_quantizes) == sorted(
        layer.get("name") for layer in ir.of_type("FakeQuantize")
    )
    assert report.counts["compressed_weights"] == 4
    assert report.model_name == "cnn"
    assert report.to_dict()["samples"] == 6  # the simplified engine's images
    assert [a["name"] for a in report.to_dict()["algorithms"]] == ["DefaultQuantization"]
    assert "exec_log_dir" not in json.dumps(report.to_dict()["algorithms"])
    assert all(isinstance(layer["sqnr_db"], float) for layer in report.layers)
    log = (result["output_dir"] / "log.txt").read_text()
    assert f"Quantization report: {optimized / HTML_FILE}" in log


def test_a_failing_report_costs_only_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fastpot.report
    from fastpot.cli.app import app

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no report today")

    monkeypatch.setattr(fastpot.report, "build_report", broken)
    config = _cli_config(tmp_path)
    result = app(["-c", str(config), "--output-dir", str(tmp_path / "out"), "-d"])
    optimized = result["output_dir"] / "optimized"
    assert (optimized / "cnn.xml").is_file()
    assert not (optimized / JSON_FILE).exists()
    log = (result["output_dir"] / "log.txt").read_text()
    assert "Quantization report not written: RuntimeError: no report today" in log


def test_ctrl_c_while_reporting_removes_the_partial_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fastpot.report
    from fastpot.cli.app import app

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fastpot.report, "build_report", interrupted)
    config = _cli_config(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        app(["-c", str(config), "--output-dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("zoo", "name"), [("zoo", "mobilenet_like"), ("zoo_patterns", "lstm_state")]
)
def test_depthwise_and_recurrent_models(zoo: str, name: str) -> None:
    folder = ZOO.parent / zoo
    manifest = json.loads((folder / "manifest.json").read_text())["models"][name]
    shapes = {i["name"]: i["shape"] for i in manifest["inputs"]}
    with np.load(folder / manifest["calibration"]) as npz:
        data = {k: npz[k][:16] for k in npz.files}
    # An input stored with its full shape (a recurrent state) is fed as it is.
    samples = [
        {k: v[i] if list(v.shape[1:]) == shapes[k] else v[i : i + 1] for k, v in data.items()}
        for i in range(16)
    ]

    class Items(DataLoader):
        def __init__(self) -> None:
            pass

        def __len__(self) -> int:
            return len(samples)

        def __getitem__(self, i: int):
            return samples[i], None

    config = {
        "model_name": name,
        "model": str(folder / manifest["xml"]),
        "weights": str(folder / manifest["bin"]),
    }
    engine = IEEngine({"device": "CPU"}, data_loader=Items())
    algorithms = [{"name": "DefaultQuantization", "params": {"target_device": "CPU"}}]
    quantized = create_pipeline(algorithms, engine).run(load_model(config))
    compress_model_weights(quantized)
    report = build_report(load_model(config), quantized, samples, num_samples=4)
    ops = quantized.get_model().get_ordered_ops()
    fqs = [op.get_friendly_name() for op in ops if op.get_type_name() == "FakeQuantize"]
    assert [fq["name"] for fq in report.fake_quantizes] == fqs
    scales = [op for op in ops if op.get_friendly_name().endswith("/mulpiply_by_scale")]
    assert report.counts["compressed_weights"] == len(scales) > 0
    # every compressed weight belongs to exactly the layers that read it
    for weight in report.compressed_weights:
        assert len(weight["layers"]) == 1, weight["name"]
    by_layer = {la["name"]: la for la in report.layers}
    for weight in report.compressed_weights:
        quantizers = by_layer[weight["layers"][0]]["weight_quantizers"]
        assert weight["name"] in [w["name"] for w in quantizers]
    for layer in report.layers:
        if layer["weight_quantizers"]:
            assert isinstance(layer["sqnr_db"], float), layer["name"]
            assert layer["sqnr_db"] > 10.0, layer["name"]
    if name == "lstm_state":  # W and R of the LSTMSequence
        assert len(by_layer["lstm"]["weight_quantizers"]) == 2
    else:  # depthwise GroupConvolutions with per-channel activation FakeQuantizes
        assert by_layer["dw1"]["type"] == "GroupConvolution"
        (act,) = by_layer["dw1"]["activation_fake_quantizes"]
        assert act["granularity"] == "perchannel"
