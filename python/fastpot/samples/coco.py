"""POT's object-detection sample helpers: ``COCOLoader`` and the COCO-style ``MAP`` metric.

:class:`COCOLoader` reads a COCO ``instances_*.json`` with the standard ``json`` module and
the images with Pillow (POT's used OpenCV). Item ``i`` is ``(image, [annotation, (height,
width)])``: the ``i``-th image of the json's ``images`` list as 640 x 640 x 3 BGR uint8 (HWC,
the input of the TensorFlow SSD the sample quantized), and its ground truth: ``boxes`` (N x 4
``x_min, y_min, x_max, y_max`` in pixels of the original image), ``labels`` (category ids),
``iscrowd``, ``x_mins``/``y_mins``/``x_maxs``/``y_maxs``, and the original image size.

:class:`MAP` takes DetectionOutput rows ``[image_id, label, score, x_min, y_min, x_max,
y_max]`` in coordinates relative to the image (rows from the first ``image_id == -1`` on are
padding), and computes COCO's mean average precision: for each category and each IoU
threshold 0.50, 0.55, ..., 0.95, detections are matched greedily by descending score to the
unmatched ground-truth box of highest IoU (crowd boxes may absorb several detections, which
then count neither as true nor false positives), precision is made monotone and sampled at
the 101 recall points 0, 0.01, ..., 1 (0 beyond the highest recall reached); AP is the mean
over the thresholds and recall points, and ``avg_value`` the mean over the categories that
have ground truth. ``value`` is the same per image (the mean over that image's categories).

Differences from POT's sample, all fixes that only matter where POT's code was wrong:

* a ground-truth box matched by the best-scoring detection can not be matched again (POT
  stored the detection index as the match flag, so index 0 left it unmatched);
* crowd boxes are re-ordered together with their IoU columns (POT re-ordered the flags only);
* ``x_maxs``/``y_maxs``/``x_mins``/``y_mins`` are the box columns (POT took the row-wise max
  and min of each box); the metric does not use them;
* ``len(loader)`` is the number of annotated images found in ``images_path`` (POT counted
  every file of the folder), and images are resized bilinearly with pixel centres aligned,
  as ``cv2.resize`` did, but with the arithmetic in float64;
* batches of more than one image are supported: image ``i`` of the batch gets the rows
  whose ``image_id`` is ``i``; POT's metric read the first image's annotation only.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from fastpot.api.data_loader import DataLoader
from fastpot.api.metric import Metric
from fastpot.samples._image import read_bgr, resize_bilinear

__all__ = ["MAP", "COCOLoader", "box_iou"]

INPUT_SIZE = 640  # POT's sample resized every image to 640 x 640
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


class COCOLoader(DataLoader):
    """COCO detection data: ``(image, [annotation, (height, width)])`` items.

    Parameters
    ----------
    config : dict
        ``images_path``: the image folder; ``annotation_path``: the COCO json file.

    Attributes
    ----------
    labels : list of int
        The category ids of the json, in its order (what :class:`MAP` takes).
    images : list of str
        The file names in ``images_path``.
    data : dict
        ``{index: {"file_name", "image_id", "height", "width"}}`` of the images served.
    bbox : dict
        ``{image_id: {"bbox": [box], "category_id": [id], "iscrowd": [flag]}}``.
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        for key in ("images_path", "annotation_path"):
            if not self.config.get(key):
                raise ValueError(f"COCOLoader config: missing {key!r}")
        self.images_path = str(self.config.images_path)
        self.annotation_path = str(self.config.annotation_path)
        if not os.path.isdir(self.images_path):
            raise FileNotFoundError(f"{self.images_path}: images_path is not a directory")
        self.images = sorted(os.listdir(self.images_path))
        self.labels: list[int] = []
        self.data, self.bbox = self.prepare_annotation()

    def prepare_annotation(
        self,
    ) -> tuple[dict[int, dict[str, Any]], dict[Any, dict[str, list[Any]]]]:
        """Read the json: the images present in ``images_path`` and the boxes per image id."""
        try:
            with open(self.annotation_path, encoding="utf-8") as file:
                content = json.load(file)
        except OSError as exc:
            raise FileNotFoundError(f"{self.annotation_path}: cannot read ({exc})") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.annotation_path}: invalid JSON ({exc})") from None
        for key in ("images", "annotations", "categories"):
            if key not in content:
                raise ValueError(f"{self.annotation_path}: not a COCO file (no {key!r} list)")
        self.labels = [category["id"] for category in content["categories"]]
        present = set(self.images)
        data: dict[int, dict[str, Any]] = {}
        for image in content["images"]:
            if image["file_name"] in present:
                data[len(data)] = {
                    "file_name": image["file_name"],
                    "image_id": image["id"],
                    "height": image["height"],
                    "width": image["width"],
                }
        if not data:
            raise FileNotFoundError(
                f"{self.images_path}: none of the {len(content['images'])} images of "
                f"{self.annotation_path} is in this folder"
            )
        boxes: dict[Any, dict[str, list[Any]]] = {}
        for entry in content["annotations"]:
            per_image = boxes.setdefault(
                entry["image_id"], {"bbox": [], "category_id": [], "iscrowd": []}
            )
            per_image["bbox"].append(self.prepare_bbox(*entry["bbox"]))
            per_image["category_id"].append(entry["category_id"])
            per_image["iscrowd"].append(entry.get("iscrowd", 0))
        return data, boxes

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[np.ndarray, list[Any]]:
        if not 0 <= index < len(self):
            raise IndexError(f"COCOLoader: index {index} out of range ({len(self)} images)")
        record = self.data[index]
        shape_image = (record["height"], record["width"])
        found = self.bbox.get(record["image_id"], {})
        boxes = np.array(found.get("bbox", []), dtype=np.float64).reshape(-1, 4)
        annotation = {
            "boxes": boxes,
            "labels": np.array(found.get("category_id", []), dtype=np.int64),
            "iscrowd": np.array(found.get("iscrowd", []), dtype=np.int64),
            "x_mins": boxes[:, 0],
            "y_mins": boxes[:, 1],
            "x_maxs": boxes[:, 2],
            "y_maxs": boxes[:, 3],
        }
        image = self._read_and_preprocess_image(os.path.join(self.images_path, record["file_name"]))
        return image, [annotation, shape_image]

    @staticmethod
    def _read_and_preprocess_image(image_path: str | Path) -> np.ndarray:
        """Read the image as 640 x 640 x 3 BGR uint8."""
        return resize_bilinear(read_bgr(image_path), INPUT_SIZE, INPUT_SIZE)

    @staticmethod
    def prepare_bbox(x: float, y: float, width: float, height: float) -> np.ndarray:
        """COCO's ``[x, y, width, height]`` as ``[x_min, y_min, x_max, y_max]``."""
        return np.array([x, y, x + width, y + height], dtype=np.float64)


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of `boxes_a` with every box of `boxes_b`.

    Boxes are ``[x_min, y_min, x_max, y_max]`` rows (continuous coordinates: a box's area is
    ``(x_max - x_min) * (y_max - y_min)``). Pairs whose union is empty get 0.

    Returns
    -------
    numpy.ndarray
        ``len(boxes_a) x len(boxes_b)`` float64.
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    intersection = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    iou: np.ndarray = np.divide(
        intersection, union, out=np.zeros_like(intersection), where=union > 0
    )
    return iou


class MAP(Metric):
    """COCO mean average precision over IoU 0.50:0.95 (see the module notes).

    Parameters
    ----------
    num_classes : int
        Kept for POT compatibility (its sample passed 91 for COCO); the categories
        evaluated are `labels`.
    labels : sequence of int
        The category ids to evaluate (``COCOLoader.labels``).
    """

    def __init__(self, num_classes: int, labels: Any) -> None:
        self._classes_num = int(num_classes)
        self.labels = list(labels)
        self._name = "MAP"
        self.thresholds = IOU_THRESHOLDS.copy()
        super().__init__()

    # ---- Metric interface ----------------------------------------------------------------

    @property
    def value(self) -> dict[str, list[float]]:
        """``{"MAP": [AP of each image of the last batch]}``."""
        return {self._name: list(self._last_batch)}

    @property
    def avg_value(self) -> dict[str, float]:
        """``{"MAP": mean over categories of the AP over every image since reset}``."""
        precisions = [self.compute_precision_recall(r)[0] for r in self.matching_results]
        return {self._name: _nanmean(precisions)}

    def reset(self) -> None:
        """Forget every image."""
        self.matching_results: list[list[dict[str, Any]]] = [[] for _ in self.labels]
        self.average_precisions_per_image: list[float] = []
        self._last_batch: list[float] = []

    def get_attributes(self) -> dict[str, dict[str, str]]:
        """``{"MAP": {"direction": "higher-better", "type": "MAP"}}``."""
        return {self._name: {"direction": "higher-better", "type": self._name}}

    def update(self, output: Any, target: Any) -> list[list[dict[str, Any]]]:
        """Add a batch: `output` the model's outputs, `target` ``[[annotation, (h, w)], ...]``.

        Returns
        -------
        list
            Per image of the batch, the per-category matching results.
        """
        batch = list(target)
        self._last_batch = []
        per_image = []
        for index, (annotation, shape_image) in enumerate(batch):
            if len(batch) == 1:
                prediction = self.prepare_prediction(output, shape_image)
            else:
                prediction = self.prepare_prediction(output, shape_image, image_index=index)
            results = []
            for position, label in enumerate(self.labels):
                result = self.evaluate_image(annotation, prediction, label)
                self.matching_results[position].append(result)
                results.append(result)
            ap = _nanmean([self.compute_precision_recall([r])[0] for r in results])
            self.average_precisions_per_image.append(ap)
            self._last_batch.append(ap)
            per_image.append(results)
        return per_image

    # ---- steps (overridable) -------------------------------------------------------------

    @staticmethod
    def prepare_prediction(
        prediction: Any, shape: tuple[int, int], image_index: int | None = None
    ) -> dict[str, np.ndarray]:
        """Return one image's detections in pixels: ``{"boxes", "labels", "scores"}``.

        Parameters
        ----------
        prediction : array or list of arrays
            The model's outputs (the first one is used): DetectionOutput rows of 7 values.
        shape : (height, width)
            The original image size.
        image_index : int, optional
            Keep only the rows of this image (batches); by default every row.
        """
        if isinstance(prediction, (list, tuple)):
            prediction = prediction[0]
        rows = np.array(prediction, dtype=np.float64).reshape(-1, 7)
        padding = np.flatnonzero(rows[:, 0] == -1)
        if padding.size:
            rows = rows[: padding[0]]
        if image_index is not None:
            rows = rows[rows[:, 0] == image_index]
        height, width = shape
        boxes = rows[:, 3:7] * np.array([width, height, width, height], dtype=np.float64)
        return {
            "boxes": boxes,
            "labels": rows[:, 1],
            "scores": rows[:, 2],
            "x_mins": boxes[:, 0],
            "y_mins": boxes[:, 1],
            "x_maxs": boxes[:, 2],
            "y_maxs": boxes[:, 3],
        }

    def evaluate_image(
        self, annotation: dict[str, Any], prediction: dict[str, Any], label: Any
    ) -> dict[str, Any]:
        """Match one image's detections of `label` to its ground truth, at every threshold.

        Returns
        -------
        dict
            ``scores`` (D, by descending score), ``dt_matches`` and ``dt_ignore`` (T x D
            bool), ``gt_ignore`` (G bool, crowd boxes last).
        """
        chosen = np.asarray(prediction["labels"]) == label
        scores = np.asarray(prediction["scores"], dtype=np.float64)[chosen]
        order = np.argsort(-scores, kind="stable")
        scores = scores[order]
        detections = np.asarray(prediction["boxes"], dtype=np.float64).reshape(-1, 4)[chosen]
        detections = detections[order]

        gt_chosen = np.asarray(annotation["labels"]) == label
        gt_boxes = np.asarray(annotation["boxes"], dtype=np.float64).reshape(-1, 4)[gt_chosen]
        crowd = np.asarray(annotation["iscrowd"]).reshape(-1)[gt_chosen] > 0
        gt_order = np.argsort(crowd, kind="stable")  # regular boxes first, crowd boxes last
        gt_boxes, crowd = gt_boxes[gt_order], crowd[gt_order]

        iou = box_iou(detections, gt_boxes)
        n_thresholds, n_dt, n_gt = len(self.thresholds), len(detections), len(gt_boxes)
        dt_matches = np.zeros((n_thresholds, n_dt), dtype=bool)
        dt_ignore = np.zeros((n_thresholds, n_dt), dtype=bool)
        for t, threshold in enumerate(self.thresholds):
            gt_taken = np.zeros(n_gt, dtype=bool)
            for d in range(n_dt):
                best_iou = min(float(threshold), 1 - 1e-10)
                match = -1
                for g in range(n_gt):
                    if gt_taken[g] and not crowd[g]:
                        continue
                    if match > -1 and not crowd[match] and crowd[g]:
                        break  # already matched a regular box; crowd boxes come after
                    if iou[d, g] < best_iou:
                        continue
                    best_iou, match = iou[d, g], g
                if match == -1:
                    continue
                dt_matches[t, d] = True
                dt_ignore[t, d] = crowd[match]
                gt_taken[match] = True
        return {
            "scores": scores,
            "dt_matches": dt_matches,
            "dt_ignore": dt_ignore,
            "gt_ignore": crowd,
        }

    def compute_precision_recall(
        self, matching_results: list[dict[str, Any]]
    ) -> tuple[float, float]:
        """AP and recall (means over the IoU thresholds) of a category over some images.

        Returns
        -------
        (float, float)
            ``nan, nan`` when the images hold no regular ground-truth box of the category.
        """
        n_thresholds = len(self.thresholds)
        if not matching_results:
            return math.nan, math.nan
        n_positive = sum(int(np.count_nonzero(~r["gt_ignore"])) for r in matching_results)
        if n_positive == 0:
            return math.nan, math.nan
        scores = np.concatenate([r["scores"] for r in matching_results])
        order = np.argsort(-scores, kind="stable")
        matched = np.concatenate([r["dt_matches"] for r in matching_results], axis=1)[:, order]
        ignored = np.concatenate([r["dt_ignore"] for r in matching_results], axis=1)[:, order]
        true_pos = np.cumsum(matched & ~ignored, axis=1, dtype=np.float64)
        false_pos = np.cumsum(~matched & ~ignored, axis=1, dtype=np.float64)
        precisions = np.zeros((n_thresholds, len(RECALL_POINTS)))
        recalls = np.zeros(n_thresholds)
        for t in range(n_thresholds):
            recall = true_pos[t] / n_positive
            precision = true_pos[t] / (true_pos[t] + false_pos[t] + np.spacing(1))
            if recall.size == 0:
                continue
            recalls[t] = recall[-1]
            # Interpolated precision: the best precision at this recall or any higher one.
            precision = np.maximum.accumulate(precision[::-1])[::-1]
            at = np.searchsorted(recall, RECALL_POINTS, side="left")
            inside = at < recall.size
            precisions[t, inside] = precision[at[inside]]
        return float(precisions.mean()), float(recalls.mean())


def _nanmean(values: list[float]) -> float:
    """Mean of the non-NaN values; NaN (without a warning) if there are none."""
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan
