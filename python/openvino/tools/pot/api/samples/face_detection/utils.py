"""POT's ``api.samples.face_detection.utils``: MTCNN box helpers (fastpot.samples.mtcnn)."""

from __future__ import annotations

from fastpot.samples.mtcnn import (
    bbreg,
    build_image_pyramid,
    calculate_iou,
    calculate_tp,
    calibrate_bboxes,
    cut_roi,
    generate_bounding_box,
    nms,
    pad,
    reshape_to_square,
)

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
