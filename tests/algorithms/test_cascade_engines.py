"""Custom POT engines beyond the golden cascade engine, through ``openvino.tools.pot`` (issue 11).

* An engine written like POT 2023.3's face-detection sample ``MTCNNEngine``: it overrides
  only ``set_model`` (``self._set_model``), ``_add_outputs`` (``graph.model_utils.
  add_outputs``, returning nothing, as the sample did) and ``_predict``, and relies on the
  base ``IEEngine.predict``. Per image it runs pnet on the whole image, rnet on a fixed set
  of three crops batched as one inference (handed to ``_collect_statistics`` as a list of
  per-crop dicts, as the sample's ``_transform_for_callback`` did) and onet on one crop.
  DefaultQuantization quantizes the zoo cascade through it: POT's FakeQuantize set per
  stage (from the cascade golden files), and activation ranges equal to a NumPy reference
  computed here from the FP32 stages run directly in OpenVINO on the same inputs
  (performance preset: ``high`` = mean over samples of the per-sample ``|x|`` maximum, range
  ``[-high * 128/127, high]``, or ``[0, high]`` when the tensor has no negative value; every
  crop of the batched rnet inference is a sample of its own).
* ``ignored`` given per sub-model; saving a compressed cascade per sub-model; the prefixed
  names of ``save_model(..., for_stat_collection=True)``.
* A single-model engine that runs the inference loop itself gives the ranges and biases of
  plain ``IEEngine``.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import pytest
from openvino.tools.pot import (
    DataLoader,
    IEEngine,
    compress_model_weights,
    create_pipeline,
    load_model,
    save_model,
)
from openvino.tools.pot.engines.utils import process_raw_output
from openvino.tools.pot.graph.model_utils import add_outputs

DATA = Path(__file__).resolve().parents[1] / "data"
ZOO = DATA / "zoo"
GOLDEN = DATA / "golden" / "pot-2023.3-cascade"
STAGES = ("pnet", "rnet", "onet")
N_IMAGES = 8
RNET_CORNERS = ((0, 0), (20, 8), (40, 40))  # top-left corners of the three 24 x 24 crops
ONET_CORNER = (8, 8)  # top-left corner of the 48 x 48 crop
PERFORMANCE_CPU = {"target_device": "CPU", "preset": "performance"}
logger = logging.getLogger(__name__)


def _cascade_config() -> dict[str, Any]:
    return {
        "model_name": "cascade",
        "cascade": [
            {
                "name": s,
                "model": str(ZOO / "cascade" / f"{s}.xml"),
                "weights": str(ZOO / "cascade" / f"{s}.bin"),
            }
            for s in STAGES
        ],
    }


def _images() -> np.ndarray:
    with np.load(ZOO / "cascade" / "images.npz") as f:
        return np.ascontiguousarray(f["images"][:N_IMAGES])  # [N, 64, 64, 3] uint8 RGB


def _chw(pixels: np.ndarray) -> np.ndarray:
    """HWC uint8 pixels -> CHW float32 network input, (x - 127.5) / 128."""
    return ((pixels.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)


def stage_inputs(image: np.ndarray) -> dict[str, np.ndarray]:
    """What each stage is fed for one image: pnet [3, 64, 64], rnet [3, 3, 24, 24], onet [3, 48, 48]."""
    x, y = ONET_CORNER
    return {
        "pnet": _chw(image),
        "rnet": np.stack([_chw(image[r : r + 24, c : c + 24]) for c, r in RNET_CORNERS]),
        "onet": _chw(image[y : y + 48, x : x + 48]),
    }


class ImageLoader(DataLoader):
    """Item i: ``(image i, None)``, the (data, annotation) form of POT 2023's samples."""

    def __init__(self, images: np.ndarray) -> None:
        super().__init__({})
        self._images = images

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self._images):
            raise IndexError(index)
        return self._images[index], None


class MTCNNStyleEngine(IEEngine):
    """POT's face-detection ``MTCNNEngine`` pattern, with fixed crops instead of detections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stage_calls: dict[str, int] = dict.fromkeys(STAGES, 0)

    def set_model(self, model):
        self._model = self._set_model(model)

    def _add_outputs(self, nodes_name):
        add_outputs(self._model, nodes_name)

    @staticmethod
    def _transform_for_callback(result):
        batch_size = len(next(iter(result.values())))
        if batch_size == 1:
            return result
        return [
            {k: np.expand_dims(v[i], axis=0) for k, v in result.items()} for i in range(batch_size)
        ]

    def _predict(self, stats_layout, sampler, print_progress=False, need_metrics_per_sample=False):
        compiled = {
            entry["name"]: self._ie.compile_model(entry["model"], self._device)
            for entry in self._model
        }
        start = time.time()
        for batch_id, batch in enumerate(sampler):
            batch_annotations, image_batch, _ = self._process_batch(batch)
            for image in image_batch:
                callback = (
                    partial(
                        self._collect_statistics,
                        stats_layout=stats_layout,
                        annotations=batch_annotations,
                    )
                    if stats_layout
                    else None
                )
                for stage, data in stage_inputs(image).items():
                    result = (
                        compiled[stage]
                        .create_infer_request()
                        .infer(self._fill_input(compiled[stage], [data]))
                    )
                    self.stage_calls[stage] += 1
                    if callback:
                        callback(self._transform_for_callback(result))
            if self._print_inference_progress(
                logger.debug, batch_id, len(sampler), start, time.time()
            ):
                start = time.time()


def _run_stage(stage: str, batch: np.ndarray, nodes: list[str]) -> list[np.ndarray]:
    """FP32 `stage` from the zoo IR on `batch`; the outputs of `nodes`."""
    core = ov.Core()
    model = core.read_model(ZOO / "cascade" / f"{stage}.xml")
    by_name = {op.get_friendly_name(): op for op in model.get_ops()}
    model.add_outputs([by_name[n].output(0) for n in nodes])
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled.create_infer_request().infer({0: batch})
    first = len(compiled.outputs) - len(nodes)
    return [np.array(result[compiled.outputs[first + i]]) for i in range(len(nodes))]


# FQ name -> the node whose output it quantizes (``data``: the model input).
CHECKED = {
    "pnet": {
        "conv1/fq_input_0": "data",
        "pool1/fq_input_0": "conv1/prelu",
        "conv4_1/fq_input_0": "conv3/prelu",
    },
    "rnet": {
        "conv1/fq_input_0": "data",
        "pool1/fq_input_0": "conv1/relu",
        "fc5_1/fq_input_0": "fc4/relu",
    },
    "onet": {
        "conv1/fq_input_0": "data",
        "pool1/fq_input_0": "conv1/prelu",
        "fc6_1/fq_input_0": "fc5/prelu",
    },
}


def _reference_ranges(images: np.ndarray) -> dict[str, dict[str, tuple[float, float]]]:
    """``{stage: {fq: (low, high)}}`` from the FP32 stages, per sample (crop), by hand."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for stage, fqs in CHECKED.items():
        nodes = [n for n in fqs.values() if n != "data"]
        per_node: dict[str, list[np.ndarray]] = {n: [] for n in fqs.values()}
        for image in images:
            batch = stage_inputs(image)[stage]
            batch = batch if batch.ndim == 4 else batch[None]
            values = dict(zip(nodes, _run_stage(stage, batch, nodes), strict=True))
            values["data"] = batch
            for node, rows in per_node.items():
                rows.extend(values[node].reshape(len(batch), -1))  # one row per sample
        out[stage] = {}
        for fq, node in fqs.items():
            rows = per_node[node]
            high = float(np.mean([np.abs(r).max() for r in rows], dtype=np.float64))
            signed = min(float(r.min()) for r in rows) < 0
            out[stage][fq] = (-high * 128 / 127 if signed else 0.0, high)
    return out


def _golden_fqs(stage: str) -> dict[str, dict[str, Any]]:
    data = json.loads((GOLDEN / f"cascade_{stage}__default_performance_cpu.json").read_text())
    assert data["pot_config"]["algorithms"][0]["params"]["preset"] == "performance"
    return {fq["name"]: fq for fq in data["fake_quantize"]}


def _fake_quantizes(model: ov.Model) -> dict[str, Any]:
    return {
        op.get_friendly_name(): op for op in model.get_ops() if op.get_type_name() == "FakeQuantize"
    }


def _constant(node: Any) -> np.ndarray:
    while node.get_type_name() == "Convert":
        node = node.input_value(0).get_node()
    assert node.get_type_name() == "Constant", node
    return np.asarray(node.get_data(), dtype=np.float32)


def _ranges(fq: Any) -> list[np.ndarray]:
    return [_constant(fq.input_value(i).get_node()) for i in range(1, 5)]


def _quantize(engine: IEEngine, params: dict[str, Any], model: Any = None) -> Any:
    algorithms = [{"name": "DefaultQuantization", "params": dict(params)}]
    return create_pipeline(algorithms, engine).run(model or load_model(_cascade_config()))


@pytest.fixture(scope="module")
def mtcnn_run() -> tuple[Any, MTCNNStyleEngine]:
    images = _images()
    engine = MTCNNStyleEngine({"device": "CPU"}, data_loader=ImageLoader(images))
    quantized = _quantize(engine, {**PERFORMANCE_CPU, "stat_subset_size": N_IMAGES})
    return quantized, engine


# ---- (a) an MTCNN-sample-style engine ----------------------------------------------------------


def test_mtcnn_style_engine_quantizes_every_stage_like_pot(mtcnn_run) -> None:
    quantized, engine = mtcnn_run
    assert quantized.is_cascade
    assert [m["name"] for m in quantized.models] == list(STAGES)
    assert engine.stage_calls == dict.fromkeys(STAGES, N_IMAGES)  # one statistics pass
    for entry in quantized.models:
        golden = _golden_fqs(entry["name"])
        ours = _fake_quantizes(entry["model"])
        assert sorted(ours) == sorted(golden), f"{entry['name']}: FakeQuantize set"
        for name, fq in golden.items():
            assert ours[name].get_attributes()["levels"] == fq["levels"], name


def test_mtcnn_style_engine_activation_ranges_equal_the_reference(mtcnn_run) -> None:
    quantized, _ = mtcnn_run
    reference = _reference_ranges(_images())
    for entry in quantized.models:
        stage = entry["name"]
        fqs = _fake_quantizes(entry["model"])
        for name, (low, high) in reference[stage].items():
            il, ih, ol, oh = _ranges(fqs[name])
            for got, want in ((il, low), (ol, low), (ih, high), (oh, high)):
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=0, err_msg=f"{stage} {name}")
    # Some ranges by hand: every image has a 255 pixel (input high (255 - 127.5) / 128).
    pnet = _fake_quantizes(quantized.get_model("pnet"))
    np.testing.assert_allclose(_ranges(pnet["conv1/fq_input_0"])[1], 0.99609375, rtol=1e-7)
    rnet = _fake_quantizes(quantized.get_model("rnet"))
    assert float(_ranges(rnet["pool1/fq_input_0"])[0]) == 0.0  # after ReLU: unsigned


def test_rnet_crops_are_samples_of_their_own(mtcnn_run) -> None:
    """The batched crops give the mean of the per-crop maxima, not of the per-image maxima."""
    quantized, _ = mtcnn_run
    per_crop, per_image = [], []
    for image in _images():
        (relu,) = _run_stage("rnet", stage_inputs(image)["rnet"], ["conv1/relu"])
        per_crop.extend(relu.reshape(len(relu), -1).max(axis=1))
        per_image.append(relu.max())
    high = float(_ranges(_fake_quantizes(quantized.get_model("rnet"))["pool1/fq_input_0"])[1])
    np.testing.assert_allclose(high, np.mean(per_crop, dtype=np.float64), rtol=1e-6)
    assert not np.isclose(high, np.mean(per_image), rtol=1e-3)


# ---- (b) ignored, per sub-model ----------------------------------------------------------------


def test_ignored_scope_of_one_sub_model(mtcnn_run) -> None:
    quantized, _ = mtcnn_run
    images = _images()[:2]
    engine = MTCNNStyleEngine({"device": "CPU"}, data_loader=ImageLoader(images))
    params = {**PERFORMANCE_CPU, "stat_subset_size": 2, "ignored": {"rnet": {"scope": ["conv2"]}}}
    ignored = _quantize(engine, params)
    for entry in ignored.models:
        stage = entry["name"]
        ours = set(_fake_quantizes(entry["model"]))
        full = set(_fake_quantizes(quantized.get_model(stage)))
        if stage != "rnet":
            assert ours == full, stage
            continue
        # conv2's weights and its input (the FQ before pool1, conv2's MaxPool) stay FP32.
        assert ours == full - {"conv2/fq_weights_1", "pool1/fq_input_0"}
        conv2 = next(op for op in entry["model"].get_ops() if op.get_friendly_name() == "conv2")
        assert conv2.input_value(1).get_node().get_type_name() == "Constant"
        pool1 = conv2.input_value(0).get_node()
        assert pool1.get_friendly_name() == "pool1"
        assert pool1.input_value(0).get_node().get_type_name() == "Relu"


@pytest.mark.parametrize("key", ["scope", "tnet"])
def test_ignored_key_that_names_no_sub_model_is_refused(key: str) -> None:
    engine = MTCNNStyleEngine({"device": "CPU"}, data_loader=ImageLoader(_images()[:1]))
    params = {**PERFORMANCE_CPU, "stat_subset_size": 1, "ignored": {key: ["conv2"]}}
    with pytest.raises(ValueError, match=f"'{key}'"):
        _quantize(engine, params)


# ---- (c) compression and saving per sub-model --------------------------------------------------


def _infer(model: ov.Model, batch: np.ndarray) -> dict[str, np.ndarray]:
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled.create_infer_request().infer({0: batch})
    return {k: np.array(v) for k, v in process_raw_output(result).items()}


def test_compressed_cascade_is_saved_per_sub_model_and_runs(mtcnn_run, tmp_path: Path) -> None:
    quantized, _ = mtcnn_run
    compressed = copy.deepcopy(quantized)
    compress_model_weights(compressed)
    paths = save_model(compressed, str(tmp_path), model_name="cascade")
    assert [p["name"] for p in paths] == list(STAGES)
    inputs = stage_inputs(_images()[0])
    for entry in paths:
        stage = entry["name"]
        assert Path(entry["model"]) == tmp_path / f"cascade_{stage}.xml"
        assert Path(entry["weights"]) == tmp_path / f"cascade_{stage}.bin"
        saved = ov.Core().read_model(entry["model"], entry["weights"])
        fq_model = quantized.get_model(stage)
        # Weights are stored as int8; the activation FakeQuantizes stay.
        types = {
            op.get_element_type() for op in saved.get_ops() if op.get_type_name() == "Constant"
        }
        assert ov.Type.i8 in types
        golden = _golden_fqs(stage)
        activations = {n for n, fq in golden.items() if fq["quantizes"] == "activations"}
        assert set(_fake_quantizes(saved)) == activations
        batch = inputs[stage] if inputs[stage].ndim == 4 else inputs[stage][None]
        got, want = _infer(saved, batch), _infer(fq_model, batch)
        for name in ("probabilities", "regions"):
            scale = float(np.max(np.abs(want[name])))
            np.testing.assert_allclose(
                got[name], want[name], rtol=0, atol=1e-5 * scale, err_msg=stage
            )
    # The quantized model in memory is untouched by compressing its copy.
    assert {"conv1/fq_weights_1"} <= set(_fake_quantizes(quantized.get_model("pnet")))


def _named_ops(model: ov.Model) -> set[str]:
    """Friendly names of every operation but the constants."""
    return {op.get_friendly_name() for op in model.get_ops() if op.get_type_name() != "Constant"}


def test_save_for_stat_collection_writes_prefixed_names(mtcnn_run, tmp_path: Path) -> None:
    quantized, _ = mtcnn_run
    paths = save_model(quantized, str(tmp_path), model_name="cascade", for_stat_collection=True)
    for entry in paths:
        stage = entry["name"]
        assert Path(entry["model"]).name == f"cascade_{stage}.xml"
        saved = ov.Core().read_model(entry["model"])
        names = {op.get_friendly_name() for op in saved.get_ops()}
        original = {op.get_friendly_name() for op in quantized.get_model(stage).get_ops()}
        assert all(n.startswith(f"{stage}_") for n in names)
        assert {f"{stage}_conv1", f"{stage}_conv1/fq_input_0", f"{stage}_data"} <= names
        assert _named_ops(saved) == {f"{stage}_{n}" for n in _named_ops(quantized.get_model(stage))}
        assert saved.inputs[0].get_names() == {"data"}
        assert "probabilities" in {n for o in saved.outputs for n in o.get_names()}
        assert f"{stage}_conv1" not in original  # the model in memory keeps its names


# ---- (d) a single-model engine with its own loop -----------------------------------------------


class NpzLoader(DataLoader):
    def __init__(self, path: Path) -> None:
        super().__init__({})
        with np.load(path) as f:
            self._x = f["image"]

    def __len__(self) -> int:
        return len(self._x)

    def __getitem__(self, i: int) -> Any:
        return self._x[i], None


class OwnLoopEngine(IEEngine):
    """Overrides ``_predict`` only: its own synchronous loop over POT's protected members."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches = 0

    def _predict(self, stats_layout, sampler, print_progress=False, need_metrics_per_sample=False):
        compiled = self._ie.compile_model(self._model, self._device)
        request = compiled.create_infer_request()
        for batch in sampler:
            annotations, images, _ = self._process_batch(batch)
            result = request.infer(self._fill_input(compiled, images))
            self.batches += 1
            if stats_layout:
                self._collect_statistics(result, stats_layout, annotations)


def test_single_model_engine_with_its_own_loop_matches_ie_engine() -> None:
    config = {
        "model_name": "plain_cnn",
        "model": str(ZOO / "plain_cnn.xml"),
        "weights": str(ZOO / "plain_cnn.bin"),
    }
    params = {**PERFORMANCE_CPU, "stat_subset_size": 32}
    runs = {}
    for cls in (IEEngine, OwnLoopEngine):
        engine = cls(
            {"device": "CPU", "stat_requests_number": 1},
            data_loader=NpzLoader(ZOO / "plain_cnn.npz"),
        )
        runs[cls.__name__] = _quantize(engine, params, load_model(config)).get_model()
        if cls is OwnLoopEngine:
            assert engine.batches == 32  # its loop ran (one statistics pass of 32 batches)
    plain, own = runs["IEEngine"], runs["OwnLoopEngine"]
    fq_plain, fq_own = _fake_quantizes(plain), _fake_quantizes(own)
    assert sorted(fq_own) == sorted(fq_plain)
    assert len(fq_plain) > 0
    for name, fq in fq_plain.items():
        for got, want in zip(_ranges(fq_own[name]), _ranges(fq), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=0, err_msg=name)
    # FastBiasCorrection's biases, from the same statistics.
    biases = 0
    own_ops = {op.get_friendly_name(): op for op in own.get_ops()}
    for op in plain.get_ops():
        if (
            op.get_type_name() != "Add"
            or op.input_value(1).get_node().get_type_name() != "Constant"
        ):
            continue
        want = _constant(op.input_value(1).get_node())
        got = _constant(own_ops[op.get_friendly_name()].input_value(1).get_node())
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * float(np.max(np.abs(want))))
        biases += 1
    assert biases >= 3
