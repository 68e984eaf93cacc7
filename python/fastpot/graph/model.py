"""``CompressedModel``: one OpenVINO model, or a cascade of named sub-models."""

from __future__ import annotations

import copy
from typing import Any

import openvino as ov

__all__ = ["CompressedModel", "prefixed_copy"]


def prefixed_copy(model: ov.Model, prefix: str) -> ov.Model:
    """Return a copy of `model` whose operations are renamed ``<prefix><name>``.

    POT kept a cascade's sub-models with node names prefixed ``<stage>_`` while it collected
    statistics; custom engines and ``save_model(..., for_stat_collection=True)`` see those.
    Tensor names are kept.
    """
    clone = model.clone()
    for op in clone.get_ops():
        op.set_friendly_name(prefix + op.get_friendly_name())
    return clone


class CompressedModel:
    """The model POT's algorithms work on.

    It holds OpenVINO models as they are (no renaming: POT prefixed every node of a cascade
    sub-model with ``<name>_`` in memory; here the name is only stored next to the model).

    Parameters
    ----------
    models : list of dict
        ``[{"model": ov.Model}]`` for a single model, or ``[{"name": str, "model":
        ov.Model}, ...]`` for a cascade (two or more entries).
    name : str, optional
        The config's ``model_name``.
    """

    def __init__(self, models: list[dict[str, Any]], name: str | None = None) -> None:
        if not models:
            raise ValueError("models: a CompressedModel needs at least one model")
        for i, entry in enumerate(models):
            if not isinstance(entry.get("model"), ov.Model):
                raise TypeError(f"models[{i}]['model']: expected an openvino.Model")
        if len(models) > 1:
            names = [entry.get("name") for entry in models]
            for i, sub_name in enumerate(names):
                if not sub_name:
                    raise ValueError(f"models[{i}]['name']: a cascade sub-model needs a name")
                if sub_name in names[:i]:
                    raise ValueError(f"models[{i}]['name']: duplicate name {sub_name!r}")
        self.models = models
        self.name = name
        self._meta_data: list[dict[str, Any]] = [{} for _ in models]

    @property
    def is_cascade(self) -> bool:
        """True for two or more sub-models (a one-entry cascade is a single model)."""
        return len(self.models) > 1

    @property
    def meta_data(self) -> list[dict[str, Any]]:
        """Per-model metadata dicts, one per entry of :attr:`models` (settable)."""
        return self._meta_data

    @meta_data.setter
    def meta_data(self, value: list[dict[str, Any]]) -> None:
        if len(value) != len(self.models):
            raise ValueError(f"meta_data: expected {len(self.models)} entries, got {len(value)}")
        self._meta_data = value

    def get_model(self, name: str | None = None) -> ov.Model:
        """Return the single model, or the cascade sub-model called `name`.

        Parameters
        ----------
        name : str, optional
            Sub-model name; required for a cascade.

        Returns
        -------
        openvino.Model
            The model itself (not a copy).

        Raises
        ------
        ValueError
            No name given for a cascade.
        KeyError
            No sub-model has this name.
        """
        if name is None:
            if self.is_cascade:
                names = [m["name"] for m in self.models]
                raise ValueError(f"name: required for a cascade (one of {names})")
            return self.models[0]["model"]
        for entry in self.models:
            if entry.get("name") == name:
                return entry["model"]
        names = [entry.get("name") for entry in self.models]
        raise KeyError(f"name: no sub-model called {name!r} (have {names})")

    def number_of_nodes(self) -> int:
        """Count the operations in all models."""
        return sum(len(m["model"].get_ops()) for m in self.models)

    def node_labels(self) -> list[str]:
        """Friendly names of all operations."""
        return [op.get_friendly_name() for m in self.models for op in m["model"].get_ops()]

    def get_final_output_nodes(self) -> list[Any]:
        """Return the Result nodes of the last sub-model."""
        return list(self.models[-1]["model"].get_results())

    def save(
        self, save_path: str, model_name: str | None = None, for_stat_collection: bool = False
    ) -> list[dict[str, str]]:
        """Save like :func:`fastpot.graph.save_model`."""
        from fastpot.graph.io import save_model  # noqa: PLC0415 - io imports this module

        return save_model(self, save_path, model_name, for_stat_collection)

    def copy(self) -> CompressedModel:
        """Return an independent deep copy (the OpenVINO models are cloned)."""
        models = [{**entry, "model": entry["model"].clone()} for entry in self.models]
        clone = CompressedModel(models, self.name)
        clone.meta_data = copy.deepcopy(self._meta_data)
        return clone

    def __deepcopy__(self, memo: dict[int, Any]) -> CompressedModel:
        return self.copy()

    def __repr__(self) -> str:
        kind = f"cascade of {len(self.models)}" if self.is_cascade else "single model"
        return f"CompressedModel(name={self.name!r}, {kind})"
