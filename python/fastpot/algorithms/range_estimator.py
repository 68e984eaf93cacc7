"""Which statistics give an FQ's range: POT's range-estimator presets and overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastpot.kernels._validation import AGGREGATIONS

__all__ = ["Estimator", "activation_estimators", "weight_estimators"]

_PRESETS = ("default", "quantile")
_ESTIMATOR_KEYS = ("type", "aggregator", "outlier_prob", "granularity", "clipping_value")
_QUANTILE_TYPES = ("quantile", "abs_quantile")
_TYPES = ("min", "max", "abs_max", "quantile", "abs_quantile")
_AGGREGATORS = AGGREGATIONS  # POT's aggregators are the kernels'
DEFAULT_OUTLIER_PROB = 1e-4


@dataclass(frozen=True)
class Estimator:
    """One end (``min`` or ``max``) of a range: statistic type, aggregator and options."""

    type: str
    aggregator: str | None  # None for weights (no samples to aggregate)
    outlier_prob: float | None = None
    granularity: str | None = None  # None: the FQ's granularity
    clipping_value: float | None = None

    @property
    def stat_name(self) -> str:
        """POT's statistic name, ``<type>[_<outlier_prob>]``."""
        return self.type if self.outlier_prob is None else f"{self.type}_{self.outlier_prob}"

    def quantile_level(self, end: str) -> float | None:
        """Return ``q`` of a quantile type: ``outlier_prob`` (min) or ``1 - outlier_prob``."""
        if self.type not in _QUANTILE_TYPES:
            return None
        assert self.outlier_prob is not None
        if end == "min" and self.type == "quantile":
            return self.outlier_prob
        return 1.0 - self.outlier_prob


def _preset_activations(preset: str, mode: str, granularity: str) -> dict[str, dict[str, Any]]:
    per_channel = granularity == "perchannel"
    symmetric = mode == "symmetric"
    high_type = "abs_max" if symmetric else "max"
    low: dict[str, Any] = {
        "type": "min",
        "aggregator": "min" if symmetric or per_channel else "mean",
    }
    high: dict[str, Any] = {"type": high_type, "aggregator": "max" if per_channel else "mean"}
    if symmetric and per_channel:
        low["granularity"] = "pertensor"  # only its sign matters
    if preset == "quantile":
        if not symmetric:
            low.update(type="quantile", outlier_prob=DEFAULT_OUTLIER_PROB)
        high.update(
            type="abs_quantile" if symmetric else "quantile", outlier_prob=DEFAULT_OUTLIER_PROB
        )
    return {"min": low, "max": high}


def _preset_weights(preset: str, mode: str) -> dict[str, dict[str, Any]]:
    if mode == "symmetric":
        high: dict[str, Any] = {"type": "abs_max"}
        if preset == "quantile":
            high = {"type": "abs_quantile", "outlier_prob": DEFAULT_OUTLIER_PROB}
        return {"max": high}
    if preset == "quantile":
        q = {"type": "quantile", "outlier_prob": DEFAULT_OUTLIER_PROB}
        return {"min": dict(q), "max": dict(q)}
    return {"min": {"type": "min"}, "max": {"type": "max"}}


def _override(params: Mapping[str, Any], group: str) -> Mapping[str, Any]:
    group_cfg = params.get(group) or {}
    return group_cfg.get("range_estimator") or params.get("range_estimator") or {}


def _build(
    base: dict[str, dict[str, Any]], override: Mapping[str, Any], where: str, weights: bool
) -> dict[str, Estimator]:
    for key in override:
        if key not in ("preset", "min", "max"):
            raise ValueError(
                f"{where}.range_estimator: unknown key {key!r} (expected preset, min, max)"
            )
    out = {}
    for end in ("min", "max"):
        entry = dict(base.get(end, {}))
        user = override.get(end) or {}
        for key in user:
            if key not in _ESTIMATOR_KEYS:
                raise ValueError(
                    f"{where}.range_estimator.{end}: unknown key {key!r} "
                    f"(expected one of {_ESTIMATOR_KEYS})"
                )
        entry.update(user)
        if not entry:
            continue
        kind = entry.get("type")
        if kind not in _TYPES:
            raise ValueError(f"{where}.range_estimator.{end}.type: {kind!r} is not one of {_TYPES}")
        if kind in _QUANTILE_TYPES and entry.get("outlier_prob") is None:
            raise ValueError(
                f"{where}.range_estimator.{end}: type {kind!r} needs 'outlier_prob' "
                "(POT failed with KeyError('outlier_prob'))"
            )
        if kind not in _QUANTILE_TYPES:
            entry.pop("outlier_prob", None)
        elif not 0 <= float(entry["outlier_prob"]) < 1:  # also checked with the params
            raise ValueError(
                f"{where}.range_estimator.{end}.outlier_prob: {entry['outlier_prob']!r} is "
                "outside the valid range [0, 1)"
            )
        agg = None if weights else entry.get("aggregator")
        if not weights and agg not in _AGGREGATORS:
            raise ValueError(
                f"{where}.range_estimator.{end}.aggregator: {agg!r} is not one of {_AGGREGATORS}"
            )
        clip = entry.get("clipping_value")
        out[end] = Estimator(
            type=kind,
            aggregator=agg,
            outlier_prob=None
            if entry.get("outlier_prob") is None
            else float(entry["outlier_prob"]),
            granularity=entry.get("granularity"),
            clipping_value=None if clip is None else float(clip),
        )
    return out


def _preset_name(params: Mapping[str, Any], group: str) -> str:
    preset = _override(params, group).get("preset", "default")
    if preset not in _PRESETS:
        raise ValueError(f"{group}.range_estimator.preset: {preset!r} is not one of {_PRESETS}")
    return str(preset)


def activation_estimators(
    params: Mapping[str, Any], mode: str, granularity: str
) -> dict[str, Estimator]:
    """``{"min": Estimator, "max": Estimator}`` for an activation FQ of this configuration."""
    preset = _preset_name(params, "activations")
    base = _preset_activations(preset, mode, granularity)
    return _build(base, _override(params, "activations"), "activations", weights=False)


def weight_estimators(params: Mapping[str, Any], mode: str) -> dict[str, Estimator]:
    """Estimators of a weights FQ (symmetric: only ``max``)."""
    preset = _preset_name(params, "weights")
    base = _preset_weights(preset, mode)
    return _build(base, _override(params, "weights"), "weights", weights=True)
