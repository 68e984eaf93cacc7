"""POT's ``api.samples.object_detection.data_loader``: ``COCOLoader`` (fastpot.samples.coco)."""

from __future__ import annotations

from fastpot.samples.coco import COCOLoader

__all__ = ["COCOLoader"]
