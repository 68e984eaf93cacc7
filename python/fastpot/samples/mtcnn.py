"""The MTCNN helpers of POT's face-detection sample (``api.samples.face_detection.utils``).

Boxes are rows ``[x1, y1, x2, y2, score, ...]`` in pixel coordinates where, as in the MATLAB
MTCNN these helpers come from, a box covers the pixels ``x1..x2`` inclusive (its width is
``x2 - x1 + 1``). Same names, arguments and return formats as POT's; written with NumPy, and
resizing is bilinear with pixel centres aligned, as ``cv2.resize`` did.

Differences from POT's functions:

* :func:`calculate_iou`: disjoint boxes overlap 0 (POT's clamped the intersection to a
  one-pixel row or column, giving them a small positive IoU); :func:`calculate_tp` accepts
  an image without ground-truth faces (all its detections are false positives);
* :func:`nms` breaks score ties by position (a stable sort), :func:`pad` leaves its input
  unchanged (POT's edited the boxes in place).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastpot.samples._image import resize_bilinear

__all__ = [
    "bbreg",
    "build_image_pyramid",
    "calculate_iou",
    "calculate_tp",
    "calibrate_bboxes",
    "cut_roi",
    "generate_bounding_box",
    "nms",
    "pad",
    "reshape_to_square",
]

STRIDE = 2  # P-Net's output stride
CELL_SIZE = 12  # P-Net's receptive field
SCORE_THRESHOLD = 0.7  # calibrate_bboxes keeps boxes scoring above this
NMS_THRESHOLD = 0.7  # ... and suppresses overlaps above this


def generate_bounding_box(
    mapping: np.ndarray, reg: np.ndarray, scale: float, threshold: float
) -> np.ndarray:
    """Candidate boxes of one pyramid level from P-Net's face-probability map.

    Parameters
    ----------
    mapping : numpy.ndarray
        The ``A x B`` face probabilities (P-Net's second channel).
    reg : numpy.ndarray
        The ``4 x A x B`` box regressions.
    scale : float
        The level's scale (map positions are divided by it to get image positions).
    threshold : float
        Minimum probability.

    Returns
    -------
    numpy.ndarray
        ``N x 9`` rows ``[p1, q1, p2, q2, score, r0, r1, r2, r3]`` for every position
        ``(a, b)`` with ``mapping[a, b] >= threshold``, ordered by ``b`` then ``a``:
        ``p1 = fix((2a + 1) / scale)``, ``q1 = fix((2b + 1) / scale)``,
        ``p2 = fix((2a + 12) / scale)``, ``q2 = fix((2b + 12) / scale)``, ``score =
        mapping[a, b]``, ``rk = reg[k, a, b]`` (``fix`` rounds toward zero).
    """
    probabilities = np.asarray(mapping)
    regions = np.asarray(reg)
    # A row-major scan of the transposed map is a column-major scan of the map.
    cols, rows = np.nonzero(np.greater_equal(probabilities.T, threshold))
    origin = np.stack([rows, cols], axis=1).astype(np.float64)
    top_left = np.fix((STRIDE * origin + 1) / scale)
    bottom_right = np.fix((STRIDE * origin + CELL_SIZE) / scale)
    score = probabilities[rows, cols].astype(np.float64)
    offsets = np.stack([regions[k][rows, cols] for k in range(4)], axis=1).astype(np.float64)
    return np.column_stack([top_left, bottom_right, score, offsets]).reshape(-1, 9)


def nms(boxes: np.ndarray, threshold: float, overlap_type: str = "union") -> Any:
    """Greedy non-maximum suppression.

    Repeatedly keeps the highest-scoring remaining box and drops the remaining boxes whose
    overlap with it exceeds `threshold`: intersection over the smaller area for
    ``overlap_type="min"``, else (``"union"``, as POT's for any other value) intersection
    over union; areas are counted in pixels (``(x2 - x1 + 1) * (y2 - y1 + 1)``).

    Parameters
    ----------
    boxes : numpy.ndarray
        ``N x (>= 5)`` rows ``[x1, y1, x2, y2, score, ...]``.

    Returns
    -------
    list of int or numpy.ndarray
        The kept row indices, highest score first; an empty array for no boxes.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.shape[0] == 0:
        return np.array([])
    x1, y1, x2, y2, scores = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    remaining = np.argsort(-scores, kind="stable")  # best first; ties: lower index first
    keep: list[int] = []
    while remaining.size:
        best, rest = remaining[0], remaining[1:]
        keep.append(int(best))
        width = np.clip(
            np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1, 0, None
        )
        height = np.clip(
            np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1, 0, None
        )
        inter = width * height
        if overlap_type == "min":
            overlap = inter / np.minimum(area[best], area[rest])
        else:
            overlap = inter / (area[best] + area[rest] - inter)
        remaining = rest[overlap <= threshold]
    return keep


def reshape_to_square(bbox: np.ndarray) -> np.ndarray:
    """Grow each box to a square of side ``max(x2 - x1, y2 - y1)`` around its centre.

    Edits `bbox` in place (columns 0-3) and returns it.
    """
    width = bbox[:, 2] - bbox[:, 0]
    height = bbox[:, 3] - bbox[:, 1]
    side = np.maximum(width, height)
    bbox[:, 0] += (width - side) * 0.5
    bbox[:, 1] += (height - side) * 0.5
    bbox[:, 2] = bbox[:, 0] + side
    bbox[:, 3] = bbox[:, 1] + side
    return bbox


def pad(boxes: np.ndarray, h: int, w: int) -> tuple[np.ndarray, ...]:
    """Where each box's pixels come from in an ``h x w`` image and go to in its crop.

    Boxes use 1-based inclusive coordinates. Returns ten int arrays (0-based, inclusive
    ends): ``dy, edy, dx, edx`` (the target rows/columns in the crop), ``y, ey, x, ex`` (the
    source rows/columns in the image, clipped to it) and ``tmpw, tmph`` (the crop widths
    and heights, ``x2 - x1 + 1`` and ``y2 - y1 + 1`` minus what lies past the right and
    bottom edges).
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    count = len(boxes)
    x, y, ex, ey = (boxes[:, k].copy() for k in range(4))
    crop_h = ey - y + 1
    crop_w = ex - x + 1
    dx, dy = np.ones(count), np.ones(count)

    right = ex > w
    crop_w[right] = crop_w[right] - ex[right] + w - 1
    ex[right] = w - 1
    bottom = ey > h
    crop_h[bottom] = crop_h[bottom] - ey[bottom] + h - 1
    ey[bottom] = h - 1
    left = x < 1
    dx[left] = 2 - x[left]
    x[left] = 1
    top = y < 1
    dy[top] = 2 - y[top]
    y[top] = 1

    def zero_based(values: np.ndarray) -> np.ndarray:
        based: np.ndarray = np.maximum(values - 1, 0).astype(int)
        return based

    return (
        zero_based(dy),
        zero_based(crop_h),
        zero_based(dx),
        zero_based(crop_w),
        zero_based(y),
        zero_based(ey),
        zero_based(x),
        zero_based(ex),
        crop_w.astype(int),
        crop_h.astype(int),
    )


def cut_roi(
    image: np.ndarray, bboxes: np.ndarray, dst_size: int, include_bound: bool = True
) -> np.ndarray:
    """Square crops of `image` around each box, zero-padded past its edges and resized.

    Each box is squared (:func:`reshape_to_square`, on a copy), truncated to integers, cut
    out per :func:`pad` into a zero crop of ``(tmph + b) x (tmpw + b)`` pixels (``b = 1`` with
    `include_bound`), and resized to ``dst_size x dst_size``.

    Returns
    -------
    numpy.ndarray
        ``N x dst_size x dst_size x 3`` float64.
    """
    squares = reshape_to_square(np.array(bboxes, dtype=np.float64))
    squares[:, 0:4] = np.fix(squares[:, 0:4])
    extra = int(include_bound)
    crops = []
    for dy, edy, dx, edx, y, ey, x, ex, crop_w, crop_h in zip(
        *pad(squares, *image.shape[:2]), strict=True
    ):
        crop = np.zeros((crop_h + extra, crop_w + extra, 3))
        crop[dy : edy + 1, dx : edx + 1] = image[y : ey + 1, x : ex + 1]
        crops.append(resize_bilinear(crop, dst_size, dst_size))
    return np.array(crops)


def bbreg(bbox: np.ndarray, reg: np.ndarray, include_bound: bool = True) -> np.ndarray:
    """Apply box regressions: ``x1 += r0 * w``, ``y1 += r1 * h``, ``x2 += r2 * w``, ``y2 += r3 * h``.

    ``w = x2 - x1 (+ 1 with include_bound)``, ``h`` likewise. Edits `bbox` in place and
    returns it.
    """
    width = bbox[:, 2] - bbox[:, 0] + int(include_bound)
    height = bbox[:, 3] - bbox[:, 1] + int(include_bound)
    bbox[:, 0] += reg[:, 0] * width
    bbox[:, 1] += reg[:, 1] * height
    bbox[:, 2] += reg[:, 2] * width
    bbox[:, 3] += reg[:, 3] * height
    return bbox


def calibrate_bboxes(
    bboxes: np.ndarray, scores: np.ndarray, regions: np.ndarray, nms_type: str | None = None
) -> np.ndarray:
    """R-Net/O-Net refinement: keep boxes scoring above 0.7, optionally NMS, then regress.

    The kept boxes get the new `scores` in column 4; with `nms_type` (``"union"`` or
    ``"min"``) boxes overlapping a better one by more than 0.7 are dropped (the survivors
    keep their order); then :func:`bbreg` applies `regions`. `bboxes` is not modified.

    Returns
    -------
    numpy.ndarray
        The refined boxes (same columns as `bboxes`).
    """
    scores = np.asarray(scores)
    passed = np.flatnonzero(scores > SCORE_THRESHOLD)
    kept = np.array(bboxes, dtype=np.float64)[passed]
    kept[:, 4] = scores[passed]
    offsets = np.asarray(regions)[passed]
    if nms_type:
        picked = np.sort(np.asarray(nms(kept, NMS_THRESHOLD, nms_type), dtype=int))
        kept, offsets = kept[picked], offsets[picked]
    return bbreg(kept, offsets)


def build_image_pyramid(
    image: np.ndarray, scale_factor: float, m: float, layout: str = "NCHW"
) -> tuple[list[np.ndarray], list[float]]:
    """P-Net's image pyramid.

    Level ``k`` has scale ``m * scale_factor**k`` and size ``ceil(H * scale) x ceil(W *
    scale)``; levels are added while ``min(H, W) * m * scale_factor**k >= 12``.

    Parameters
    ----------
    image : numpy.ndarray
        ``H x W x C``.
    layout : str
        ``"NCHW"``: each level as ``1 x C x W' x H'`` (the sample's transposed P-Net input,
        ``np.transpose([level], [0, 3, 2, 1])``); anything else: ``H' x W' x C``.

    Returns
    -------
    (list of numpy.ndarray, list of float)
        The float64 levels and their scales.
    """
    source = np.asarray(image, dtype=np.float64)
    height, width = source.shape[:2]
    smallest = min(height, width) * m
    levels, scales = [], []
    count = 0
    while smallest >= CELL_SIZE:
        scale = m * scale_factor**count
        scaled = resize_bilinear(source, int(np.ceil(width * scale)), int(np.ceil(height * scale)))
        levels.append(np.transpose(scaled[None], (0, 3, 2, 1)) if layout == "NCHW" else scaled)
        scales.append(scale)
        smallest *= scale_factor
        count += 1
    return levels, scales


def calculate_iou(
    prediction: np.ndarray, annotation: np.ndarray, over_area: bool = False
) -> np.ndarray:
    """Overlap of one box with each of `annotation`'s boxes, in inclusive pixel coordinates.

    Parameters
    ----------
    prediction : numpy.ndarray
        ``[x1, y1, x2, y2]``.
    annotation : numpy.ndarray
        ``N x 4``.
    over_area : bool
        Divide the intersection by the prediction's area instead of the union.

    Returns
    -------
    numpy.ndarray
        ``N`` float64 (0 where the denominator is 0).
    """
    box = np.asarray(prediction, dtype=np.float64).reshape(4)
    others = np.asarray(annotation, dtype=np.float64).reshape(-1, 4)

    def area(x1: Any, y1: Any, x2: Any, y2: Any) -> Any:
        return (x2 - x1 + 1) * (y2 - y1 + 1)

    width = np.clip(
        np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]) + 1, 0, None
    )
    height = np.clip(
        np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]) + 1, 0, None
    )
    intersection = width * height
    if over_area:
        denominator = np.full_like(intersection, area(*box))
    else:
        denominator = area(*box) + area(*others.T) - intersection
    ratio: np.ndarray = np.divide(
        intersection, denominator, out=np.zeros_like(intersection), where=denominator != 0
    )
    return ratio


def calculate_tp(
    prediction: np.ndarray, annotation: dict[str, Any], overlap_threshold: float = 0.5
) -> tuple[np.ndarray, int]:
    """Find the true positives among one image's detections (the sample's recall metric).

    Detections (rows ``[x1, y1, x2, y2, score]``) are taken by descending score. Each is
    compared with the ground truth (``annotation["bboxes"]``, N x 4): by IoU with regular
    boxes, by intersection over the detection's area with the ``annotation["difficult"]``
    ones (a list of indices). A detection is a true positive if its best regular overlap is
    at least `overlap_threshold` and that box is not taken yet; one that reaches the
    threshold only on a difficult box is neither (ignored).

    Returns
    -------
    (numpy.ndarray, int)
        1.0/0.0 per detection (in descending-score order) and the number of regular boxes.
    """
    gt_boxes = np.asarray(annotation["bboxes"], dtype=np.float64).reshape(-1, 4)
    difficult = np.zeros(len(gt_boxes), dtype=bool)
    difficult[np.asarray(annotation.get("difficult", []), dtype=int)] = True
    regular_count = int(len(gt_boxes) - np.count_nonzero(difficult))
    detections = np.asarray(prediction, dtype=np.float64)
    detections = detections.reshape(0, 5) if detections.size == 0 else detections
    detections = detections[np.argsort(-detections[:, 4], kind="stable")]
    tp = np.zeros(len(detections))
    if len(gt_boxes) == 0:
        return tp, regular_count
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for i, row in enumerate(detections):
        box = row[:4]
        overlaps = calculate_iou(box, gt_boxes)
        if difficult.any():
            overlaps[difficult] = calculate_iou(box, gt_boxes[difficult], over_area=True)
        best = -np.inf
        if (~difficult).any():
            best = overlaps[~difficult].max()
        if best < overlap_threshold and difficult.any():
            best = overlaps[difficult].max()
        if best < overlap_threshold:
            continue
        hit = overlaps == best
        if not difficult[hit].any() and not taken[hit].any():
            taken[hit] = True
            tp[i] = 1.0
    return tp, regular_count
