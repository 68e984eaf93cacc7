#!/usr/bin/env python3
"""A POT-style engine for a 3-stage detection cascade (pnet -> rnet -> onet).

``CascadeEngine`` subclasses ``openvino.tools.pot.IEEngine`` and runs the cascade of
``../../models/make_cascade.py`` itself, the way POT's face-detection sample runs MTCNN, so
that DefaultQuantization / MinMaxQuantization can quantize all three stages in one
``pipeline.run(model)``:

  per image (NHWC uint8 RGB, normalised to (x - 127.5) / 128):
    pnet  on an image pyramid (``pyramid_scales``, bilinear resize), batch 1 per scale;
          every pnet cell is a 12x12 window (stride 2) refined by the 4 "regions" values;
          the ``pnet_top_k`` windows with the highest face probability are kept
    rnet  on those windows, squared, cropped and resized to 24x24 (bilinear, edge clamp);
          the ``rnet_top_k`` best (rnet probability) are refined by rnet's regions
    onet  on those, cropped to 48x48; the result per image is [[x1, y1, x2, y2, p_onet]].
  Ties in the top-k choices go to the earlier candidate (stable sort).

Statistics: every stage inference is one statistics sample. When statistics are collected,
rnet and onet run each crop as its own batch-1 inference (POT's in-place per-tensor
reductions reduce over the batch axis too, so a batched crop inference would merge the crops
into one sample); without statistics (``Pipeline.evaluate``) the crops of an image are one
dynamic batch.

POT's protected IEEngine surface used (POT 2023.3; ``IEEngine.set_model`` refuses cascades):
  ``_set_model``               saves the CompressedModel (prefixed node names) and reads one
                               ov.Model per stage -> ``self._model`` = [{'name', 'model'}]
  ``_nx_model``, ``_statistic_graph_builder.insert_statistic``
                               insert POT's in-place statistic ops into a copy of the cascade
  ``graph.model_utils.add_outputs``   adds the statistic outputs stage by stage
  ``engines.utils``: ``cast_friendly_names``, ``add_tensor_names``, ``collect_model_outputs``,
                     ``align_stat_names_with_results``, ``process_accumulated_stats``,
                     ``restore_original_node_names``  (same steps as IEEngine.predict)
  ``_convert_stats_names``     statistics names in IE form and back
  ``_process_batch``           splits a sampler batch into annotations / images / metadata
  ``_collect_statistics``      appends one inference's outputs to the accumulated statistics
  ``_update_metrics``, ``_reset``, ``_ie``, ``_device``, ``_metric``

Only numpy, openvino and openvino.tools.pot are imported, so the same file runs against a
re-implementation of the POT API. As a script it quantizes the cascade with whatever
``openvino.tools.pot`` is installed and saves ``cascade_<stage>__<config>.xml/.bin``, which
``barlib/golden_check.py --ir-dir OUT --only cascade_`` compares with the golden files::

    python cascade_engine.py --config default_performance_cpu --out OUT [--evaluate]
"""

import argparse
import copy
import json
import os
import sys
import time

import numpy as np
import openvino
from openvino.tools.pot import DataLoader, IEEngine, Metric, create_pipeline, load_model, save_model
from openvino.tools.pot.engines.utils import (
    add_tensor_names,
    align_stat_names_with_results,
    cast_friendly_names,
    collect_model_outputs,
    process_accumulated_stats,
    restore_original_node_names,
)
from openvino.tools.pot.graph.model_utils import add_outputs
from openvino.tools.pot.samplers.batch_sampler import BatchSampler

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ZOO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "models", "zoo"))
DEFAULT_GOLDEN_DIR = os.path.normpath(os.path.join(HERE, "..", "pot-2023.3-cascade"))

STAGES = ("pnet", "rnet", "onet")
STAGE_INPUT = {"rnet": 24, "onet": 48}
PNET_CELL, PNET_STRIDE = 12, 2
ENGINE_DEFAULTS = {"pyramid_scales": [0.6, 0.42, 0.3], "pnet_top_k": 6, "rnet_top_k": 3}


# ---------------------------------------------------------------------------------------------
# numpy image helpers (float64 throughout; the network input is cast to float32 at the end)
# ---------------------------------------------------------------------------------------------
def crop_resize(image, box, out_h, out_w):
    """Bilinear resample of the window box = (x1, y1, x2, y2) of an HWC image to out_h x out_w;
    pixel centres are aligned, samples outside the image are clamped to the border."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    ys = y1 + (np.arange(out_h) + 0.5) * ((y2 - y1) / out_h) - 0.5
    xs = x1 + (np.arange(out_w) + 0.5) * ((x2 - x1) / out_w) - 0.5
    ys, xs = np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    y1i, x1i = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = image[y0][:, x0] * (1 - fx) + image[y0][:, x1i] * fx
    bottom = image[y1i][:, x0] * (1 - fx) + image[y1i][:, x1i] * fx
    return top * (1 - fy) + bottom * fy


def to_input(patch):
    """HWC float64 pixels -> [1, 3, H, W] float32 network input."""
    return np.ascontiguousarray(((patch - 127.5) / 128.0).transpose(2, 0, 1)[None]).astype(
        np.float32
    )


def refine(boxes, regions):
    """Shift box corners by regions (fractions of the box size)."""
    size = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, axis=1)
    return boxes + regions.astype(np.float64) * size


def square(boxes):
    """Square boxes around their centres (side = the longer side)."""
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)


def top_k(scores, k):
    """Indices of the k highest scores (ties: earlier first) and the margin between the k-th
    and the (k+1)-th score (inf if there are at most k)."""
    order = np.argsort(-scores, kind="stable")
    margin = float(scores[order[k - 1]] - scores[order[k]]) if len(scores) > k else float("inf")
    return order[:k], margin


def run_cascade(image, infer, params, batched):
    """Runs the cascade on one HWC image. ``infer(stage, x)`` returns that stage's outputs as
    {"probabilities": ..., "regions": ..., ...}. Returns ([[x1, y1, x2, y2, p]], trace)."""
    img = np.asarray(image, dtype=np.float64)
    h, w = img.shape[:2]
    boxes, scores = [], []
    for scale in params["pyramid_scales"]:
        sh, sw = max(PNET_CELL, int(round(h * scale))), max(PNET_CELL, int(round(w * scale)))
        out = infer("pnet", to_input(crop_resize(img, (0, 0, w, h), sh, sw)))
        prob, reg = out["probabilities"][0, 1], out["regions"][0]
        ry, rx = h / sh, w / sw
        ii, jj = np.meshgrid(np.arange(prob.shape[0]), np.arange(prob.shape[1]), indexing="ij")
        cells = np.stack(
            [
                jj * PNET_STRIDE * rx,
                ii * PNET_STRIDE * ry,
                (jj * PNET_STRIDE + PNET_CELL) * rx,
                (ii * PNET_STRIDE + PNET_CELL) * ry,
            ],
            axis=-1,
        ).reshape(-1, 4)
        boxes.append(refine(cells, reg.reshape(4, -1).T))
        scores.append(prob.reshape(-1).astype(np.float64))
    boxes, scores = np.concatenate(boxes), np.concatenate(scores)
    pick, pnet_margin = top_k(scores, params["pnet_top_k"])
    boxes = square(boxes[pick])
    trace = {"pnet_candidates": int(len(scores)), "pnet_margin": pnet_margin}

    for stage, keep in (("rnet", params["rnet_top_k"]), ("onet", None)):
        size = STAGE_INPUT[stage]
        crops = [to_input(crop_resize(img, b, size, size)) for b in boxes]
        if batched:
            outs = [infer(stage, np.concatenate(crops))]
        else:
            outs = [infer(stage, c) for c in crops]
        prob = np.concatenate([o["probabilities"] for o in outs])[:, 1].astype(np.float64)
        reg = np.concatenate([o["regions"] for o in outs])
        if keep is not None:
            pick, trace["rnet_margin"] = top_k(prob, keep)
            boxes = square(refine(boxes[pick], reg[pick]))
        else:
            result = np.concatenate([refine(boxes, reg), prob[:, None]], axis=1)
    return result, trace


# ---------------------------------------------------------------------------------------------
# Engine
# ---------------------------------------------------------------------------------------------
class CascadeEngine(IEEngine):
    """IEEngine for the pnet -> rnet -> onet cascade (see the module docstring).

    Engine config: ``device``, ``stat_requests_number`` / ``eval_requests_number`` (ignored:
    inference is synchronous) and optional ``pyramid_scales``, ``pnet_top_k``, ``rnet_top_k``.
    """

    def __init__(self, config, data_loader=None, metric=None):
        super().__init__(config, data_loader, metric)
        self._params = {k: self.config.get(k, v) for k, v in ENGINE_DEFAULTS.items()}
        self._outputs = {}
        self.trace = []  # per image of the last predict: candidates and top-k margins

    def set_model(self, model):
        """Reads every stage of the CompressedModel into OpenVINO (self._model: list of dicts)."""
        names = [m.get("name") for m in model.models]
        if not model.is_cascade or names != list(STAGES):
            raise RuntimeError(f"CascadeEngine expects a cascade {list(STAGES)}, got {names}")
        self._model = self._set_model(model)
        self._outputs = {}

    def _add_outputs(self, nodes_names_map):
        return add_outputs(self._model, nodes_names_map)

    def predict(
        self,
        stats_layout=None,
        sampler=None,
        stat_aliases=None,
        metric_per_sample=False,
        print_progress=False,
    ):
        if self._model is None:
            raise RuntimeError("Model was not set in Engine class")
        if sampler is None:
            sampler = BatchSampler(self.data_loader)
        stat_names_aliases, node_to_result_names = None, {}
        if stats_layout:
            with_stats, nodes_names_map, node_to_result_names = (
                self._statistic_graph_builder.insert_statistic(
                    copy.deepcopy(self._nx_model), stats_layout, stat_aliases
                )
            )
            self.set_model(with_stats)
            for stage in self._model:
                cast_friendly_names(stage["model"].outputs)
            added = self._add_outputs(nodes_names_map)
            output_names, node_names = [], []
            for stage in self._model:
                key = stage["model"].friendly_name
                add_tensor_names(added[key], nodes_names_map[key].keys())
                node_names.extend(nodes_names_map[key].keys())
                output_names.extend(collect_model_outputs(stage["model"]))
            align_stat_names_with_results(
                output_names, node_names, node_to_result_names, stats_layout, stat_aliases
            )
            stats_layout, stat_names_aliases = self._convert_stats_names(stats_layout)

        self._predict(stats_layout, sampler, print_progress, metric_per_sample)

        accumulated = process_accumulated_stats(
            accumulated_stats=self._accumulated_layer_stats, stat_names_aliases=stat_names_aliases
        )
        if stats_layout and stat_aliases:
            restore_original_node_names(
                node_to_result_names, accumulated, stats_layout, stat_aliases
            )
        metrics = None
        if self._metric:
            metrics = self._metric.avg_value
            if metric_per_sample:
                metrics = (sorted(self._per_sample_metrics, key=lambda i: i["sample_id"]), metrics)
        self._reset()
        return metrics, accumulated

    def _stage_output_map(self, stage, compiled):
        """logical output name -> compiled output, found by tensor name (POT keeps them)."""
        found = {}
        for output in compiled.outputs:
            names = output.get_names()
            for logical in ("probabilities", "regions", "landmarks"):
                if logical in names:
                    found[logical] = output
        missing = {"probabilities", "regions"} - set(found)
        if missing:
            raise RuntimeError(f"{stage}: outputs {sorted(missing)} not found")
        return found

    def _predict(self, stats_layout, sampler, print_progress=False, need_metrics_per_sample=False):
        requests = {}
        for stage in self._model:
            compiled = self._ie.compile_model(model=stage["model"], device_name=self._device)
            requests[stage["name"]] = (
                compiled.create_infer_request(),
                self._stage_output_map(stage["name"], compiled),
            )
        self.trace = []
        start = time.time()
        for batch_id, batch in enumerate(sampler):
            annotations, images, _ = self._process_batch(batch)
            for image, annotation in zip(images, annotations):

                def infer(stage, data):
                    request, outputs = requests[stage]
                    result = request.infer({0: data})
                    if stats_layout:
                        self._collect_statistics(
                            outputs=result, stats_layout=stats_layout, annotations=[annotation]
                        )
                    return {k: np.array(result[o]) for k, o in outputs.items()}

                detections, trace = run_cascade(
                    image, infer, self._params, batched=not stats_layout
                )
                self.trace.append(trace)
                self._update_metrics(
                    output=[detections],
                    annotations=[annotation],
                    need_metrics_per_sample=need_metrics_per_sample,
                )
            if print_progress and (batch_id + 1) % max(1, len(sampler) // 4) == 0:
                print(f"{batch_id + 1}/{len(sampler)} images in {time.time() - start:.1f}s")


# ---------------------------------------------------------------------------------------------
# Data loader and metric
# ---------------------------------------------------------------------------------------------
class ImageLoader(DataLoader):
    """Item i: ((i, i), image i) -- POT's ((img_id, annotation), image) form, HWC uint8."""

    def __init__(self, images):
        super().__init__({})
        self._images = images

    def __len__(self):
        return len(self._images)

    def __getitem__(self, index):
        if not 0 <= index < len(self._images):
            raise IndexError(index)
        return (index, index), self._images[index]


class MeanFaceProbability(Metric):
    """Mean onet face probability over the final detections of every image."""

    def __init__(self):
        super().__init__()
        self._name = "mean_face_probability"
        self._values = []

    @property
    def value(self):
        return {self._name: self._values[-1:]}

    @property
    def avg_value(self):
        return {self._name: float(np.mean(self._values)) if self._values else 0.0}

    def update(self, output, target):
        for detections in output:
            self._values.append(float(np.mean(detections[:, 4])) if len(detections) else 0.0)

    def reset(self):
        self._values = []

    def get_attributes(self):
        return {self._name: {"direction": "higher-better", "type": "mean probability"}}


# ---------------------------------------------------------------------------------------------
# Script: quantize the cascade with the installed openvino.tools.pot
# ---------------------------------------------------------------------------------------------
def cascade_model_config(zoo_dir, relative=False):
    """POT model config of the cascade (file names relative to the zoo if ``relative``)."""
    base = "" if relative else zoo_dir
    return {
        "model_name": "cascade",
        "cascade": [
            {
                "name": s,
                "model": os.path.join(base, "cascade", f"{s}.xml"),
                "weights": os.path.join(base, "cascade", f"{s}.bin"),
            }
            for s in STAGES
        ],
    }


def load_images(zoo_dir):
    with np.load(os.path.join(zoo_dir, "cascade", "images.npz")) as f:
        return np.ascontiguousarray(f["images"])


def force_fp32(engine_cls):
    """Original POT (OpenVINO < 2024) only: INFERENCE_PRECISION_HINT=f32 on every Core it
    creates (this engine's and the bias-correction launcher's), as for the golden files."""
    if int(openvino.runtime.get_version().split(".")[0]) >= 2024:
        return engine_cls
    from openvino.tools.pot.utils import launcher

    init = launcher.IELauncher.__init__
    if not getattr(init, "_fp32", False):

        def launcher_init(self, *args, **kwargs):
            init(self, *args, **kwargs)
            self._ie.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})

        launcher_init._fp32 = True
        launcher.IELauncher.__init__ = launcher_init

    class FP32CascadeEngine(engine_cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._ie.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    return FP32CascadeEngine


def quantize(algorithms, engine_config, zoo_dir, out_dir, stem_config, evaluate=False):
    """Quantize the cascade; save cascade_<stage>__<stem_config>.xml/.bin into out_dir.
    Returns a dict with timings, the saved paths and (optionally) metrics."""
    images = load_images(zoo_dir)
    engine_cls = force_fp32(CascadeEngine)
    t0 = time.perf_counter()
    model = load_model(cascade_model_config(zoo_dir))
    engine = engine_cls(
        config=dict(engine_config), data_loader=ImageLoader(images), metric=MeanFaceProbability()
    )
    pipeline = create_pipeline(copy.deepcopy(algorithms), engine)
    t1 = time.perf_counter()
    quantized = pipeline.run(model)
    t2 = time.perf_counter()
    trace = list(engine.trace)
    os.makedirs(out_dir, exist_ok=True)
    paths = save_model(quantized, out_dir, model_name="cascade")
    t3 = time.perf_counter()
    saved = {}
    for entry in paths:
        stem = os.path.join(out_dir, f"cascade_{entry['name']}__{stem_config}")
        os.replace(entry["model"], stem + ".xml")
        os.replace(entry["weights"], stem + ".bin")
        saved[entry["name"]] = {"model": stem + ".xml", "weights": stem + ".bin"}
    result = {
        "timing_seconds": {
            "load_and_setup": round(t1 - t0, 4),
            "quantize": round(t2 - t1, 4),
            "save": round(t3 - t2, 4),
        },
        "saved": saved,
        "stat_trace": trace,
        "is_cascade": bool(quantized.is_cascade),
        "stages": [m["name"] for m in quantized.models],
    }
    if evaluate:
        result["metric"] = {
            "fp32": pipeline.evaluate(load_model(cascade_model_config(zoo_dir))),
            "quantized": pipeline.evaluate(quantized),
        }
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config",
        default="default_performance_cpu",
        help="golden configuration name (its algorithms are read from "
        "<golden-dir>/cascade_pnet__<config>.json)",
    )
    parser.add_argument(
        "--out", required=True, help="folder for cascade_<stage>__<config>.xml/.bin"
    )
    parser.add_argument("--zoo-dir", default=DEFAULT_ZOO_DIR)
    parser.add_argument("--golden-dir", default=DEFAULT_GOLDEN_DIR)
    parser.add_argument("--evaluate", action="store_true", help="also run Pipeline.evaluate")
    args = parser.parse_args(argv)
    with open(os.path.join(args.golden_dir, f"cascade_pnet__{args.config}.json")) as f:
        pot_config = json.load(f)["pot_config"]
    res = quantize(
        pot_config["algorithms"],
        pot_config["engine"],
        args.zoo_dir,
        args.out,
        args.config,
        evaluate=args.evaluate,
    )
    res.pop("stat_trace")
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
