"""``create_pipeline``: algorithms from a POT-style config list (spec 1.10)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastpot.algorithms.registry import COMPRESSION_ALGORITHMS
from fastpot.pipeline.pipeline import Pipeline

__all__ = ["create_pipeline"]


def create_pipeline(
    algo_config: Sequence[Mapping[str, Any]], engine: Any, interface: str = "API"
) -> Pipeline:
    """Build a :class:`Pipeline` of ``[{"name": AlgoName, "params": {...}}, ...]``.

    Unknown algorithm names raise ``KeyError`` naming the closest registered one; unknown
    parameters are reported with a warning that names the close match (POT ignored them).
    """
    import fastpot.algorithms  # noqa: F401, PLC0415 - registers the built-in algorithms

    if isinstance(algo_config, Mapping):
        algo_config = [algo_config]
    pipeline = Pipeline(engine)
    for i, entry in enumerate(algo_config):
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise ValueError(f"algo_config[{i}]: expected {{'name': ..., 'params': {{...}}}}")
        unknown = set(entry) - {"name", "params"}
        if unknown:
            raise ValueError(f"algo_config[{i}]: unknown key(s) {sorted(unknown)}")
        cls = COMPRESSION_ALGORITHMS.get(str(entry["name"]))
        pipeline.add_algo(cls(entry.get("params") or {}, engine))
    return pipeline
