"""POT's ``api.samples.object_detection.metric``: the COCO ``MAP`` metric (fastpot.samples.coco)."""

from __future__ import annotations

from fastpot.samples.coco import MAP

__all__ = ["MAP"]
