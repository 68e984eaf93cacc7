"""POT's speech sample helpers (``.data_loader.ArkDataLoader``, ``.utils.ArkEngine``)."""

from __future__ import annotations
