"""POT's face-detection sample helpers (``.utils``: the MTCNN box functions)."""

from __future__ import annotations
