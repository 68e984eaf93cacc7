"""POT's object-detection sample helpers (``.data_loader.COCOLoader``, ``.metric.MAP``)."""

from __future__ import annotations
