"""Small helpers the algorithms share: the statistics sampler and the models they edit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import openvino as ov

from fastpot.graph.model import CompressedModel
from fastpot.samplers import create_sampler

__all__ = ["Stage", "single_model", "stage_params", "stages", "stat_sampler", "subset_size"]


def subset_size(engine: Any, params: Mapping[str, Any]) -> int:
    """``stat_subset_size`` clipped to the loader (default: the whole loader)."""
    loader = engine.data_loader
    if loader is None:
        raise ValueError("engine: an engine with a data loader is needed to collect statistics")
    n = len(loader)
    size = params.get("stat_subset_size")
    if size in (None, {}):
        return n
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"stat_subset_size: {size!r} is not a positive integer")
    return min(size, n)


def stat_sampler(engine: Any, params: Mapping[str, Any], samples: int | None = None) -> Any:
    """Build the sampler statistics are collected with."""
    n = subset_size(engine, params) if samples is None else samples
    batch = params.get("stat_batch_size") or 1
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"stat_batch_size: {batch!r} is not a positive integer")
    return create_sampler(
        engine,
        n,
        shuffle_data=bool(params.get("shuffle_data", False)),
        seed=int(params.get("seed", 0) or 0),
        batch_size=min(batch, n),
    )


def single_model(model: CompressedModel, algorithm: str) -> ov.Model:
    """Return the OpenVINO model an algorithm edits (for algorithms without cascades)."""
    if not isinstance(model, CompressedModel):
        raise TypeError(f"{algorithm}: expected a CompressedModel (from load_model)")
    if model.is_cascade:
        raise NotImplementedError(
            f"{algorithm}: cascades are not supported by this algorithm; "
            "quantize each sub-model separately"
        )
    return model.get_model()


@dataclass(frozen=True)
class Stage:
    """One model an algorithm edits: the single model, or one sub-model of a cascade.

    Statistics of a cascade stage are requested and returned under POT's prefixed node
    names ``<stage>_<node>`` (the names a cascade engine sees); graph work uses the plain
    names of :attr:`model`.
    """

    model: ov.Model
    name: str | None = None

    @property
    def prefix(self) -> str:
        """``"<name>_"`` for a cascade stage, ``""`` for a single model."""
        return f"{self.name}_" if self.name else ""

    def node(self, key: tuple[str, int]) -> tuple[str, int]:
        """Return the statistics key of this stage's output `key` = (node name, port)."""
        return (self.prefix + key[0], key[1])


def stages(
    model: CompressedModel, algorithm: str, params: Mapping[str, Any] | None = None
) -> list[Stage]:
    """Return the models `algorithm` edits, in cascade order (one for a single model).

    With `params`, a cascade's per-sub-model ``ignored`` is checked against the stage names.
    """
    if not isinstance(model, CompressedModel):
        raise TypeError(f"{algorithm}: expected a CompressedModel (from load_model)")
    if not model.is_cascade:
        return [Stage(model.get_model())]
    if params is not None:
        _check_cascade_ignored(params, model)
    return [Stage(entry["model"], entry["name"]) for entry in model.models]


def stage_params(params: Mapping[str, Any], stage: Stage) -> Mapping[str, Any]:
    """`params` as they apply to `stage`: a cascade's ``ignored`` is given per sub-model.

    POT took ``ignored: {<sub-model name>: {scope, operations, skip_model}}`` for a cascade;
    a top-level key that names no sub-model is an error (it would silently ignore nothing).
    """
    if stage.name is None:
        return params
    ignored = params.get("ignored") or {}
    if not isinstance(ignored, Mapping):
        raise TypeError(f"ignored: expected a mapping, got {type(ignored).__name__}")
    own = ignored.get(stage.name) or {}
    return {**params, "ignored": own}


def _check_cascade_ignored(params: Mapping[str, Any], model: CompressedModel) -> None:
    """Refuse a cascade ``ignored`` whose keys are not sub-model names."""
    if not model.is_cascade:
        return
    ignored = params.get("ignored") or {}
    if not isinstance(ignored, Mapping):
        raise TypeError(f"ignored: expected a mapping, got {type(ignored).__name__}")
    names = [entry["name"] for entry in model.models]
    unknown = [k for k in ignored if k not in names]
    if unknown:
        raise ValueError(
            f"ignored: {sorted(unknown)} name no sub-model of the cascade; for a cascade give "
            f"the ignored params per sub-model, e.g. {{{names[0]!r}: {{'scope': [...]}}}}"
        )
