"""A statistics collector that keeps every result, so re-quantization needs no new pass.

AccuracyAwareQuantization quantizes the same FP32 model several times (the base
configuration, the mixed preset, every point of the hyper-parameter grid). Statistics depend
only on the model they are taken on, the sampler and the request, so results are cached
under ``(model fingerprint, sampler, request)``; requests of configurations that will run
later can be registered up front (:meth:`CachingStatisticsCollector.prefetch`) so that the
first pass collects them too.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np
import openvino as ov

from fastpot.graph.model import CompressedModel
from fastpot.statistics.collector import StatisticsCollector, StatRequest

__all__ = ["CachingStatisticsCollector", "model_fingerprint"]

logger = logging.getLogger("fastpot.algorithms.accuracy_aware")


def model_fingerprint(model: CompressedModel | ov.Model) -> str:
    """Return a digest of `model`'s operations, connections, output types and constants.

    Operation names count (statistics are keyed by them) except for constants, which are
    identified by their values: two models built the same way compare equal even when
    OpenVINO gave their new constants different automatic names.
    """
    models = [e["model"] for e in model.models] if isinstance(model, CompressedModel) else [model]
    h = hashlib.blake2b(digest_size=16)
    for m in models:
        ordinal: dict[str, int] = {}
        for i, op in enumerate(m.get_ordered_ops()):
            ordinal[op.get_name()] = i
            kind = op.get_type_name()
            name = "" if kind == "Constant" else op.get_friendly_name()
            h.update(f"{kind}|{name}|".encode())
            for value in op.input_values():
                h.update(f"<{ordinal[value.get_node().get_name()]}.{value.get_index()}".encode())
            for out in op.outputs():
                h.update(f">{out.get_element_type()}{out.get_partial_shape()}".encode())
            if kind == "Constant":
                h.update(np.ascontiguousarray(op.get_data()).tobytes())
            elif kind == "FakeQuantize":
                h.update(str(op.get_attributes().get("levels")).encode())
    return h.hexdigest()


def _sampler_key(sampler: Any) -> tuple[Any, ...]:
    indices = getattr(sampler, "indices", None)
    return (
        type(sampler).__name__,
        len(sampler),
        tuple(indices) if indices is not None else None,
        getattr(sampler, "batch_size", None),
    )


class CachingStatisticsCollector(StatisticsCollector):
    """:class:`StatisticsCollector` that runs a pass only for statistics it has not seen.

    Parameters
    ----------
    engine : Engine
        The engine statistics are collected with.
    superset : bool
        Record each pass's superset (:mod:`fastpot.statistics.superset`): requests of
        other range estimators over the same model are then derived without a pass.

    Attributes
    ----------
    passes : int
        Inference passes run (inherited counter).
    reused : int
        Requests served from the cache instead of a pass.
    """

    def __init__(self, engine: Any, superset: bool = False) -> None:
        super().__init__(engine, superset=superset)
        self._cache: dict[tuple[str, tuple[Any, ...], StatRequest], Any] = {}
        self._extra: dict[str, dict[StatRequest, None]] = {}
        self._fingerprint = ""
        self.reused = 0

    def prefetch(self, algo_name: str, requests: list[StatRequest]) -> None:
        """Collect `requests` too whenever `algo_name` registers (with its sampler)."""
        self._extra.setdefault(algo_name, {}).update(dict.fromkeys(requests))

    def compute_statistics(self, model: Any, print_progress: bool = False) -> None:
        """Serve registered requests from the cache; one pass per sampler group for the rest."""
        self._fingerprint = model_fingerprint(model)
        super().compute_statistics(model, print_progress)

    def _collect_group(self, model: Any, names: list[str], sampler: Any, progress: bool) -> None:
        skey = _sampler_key(sampler)
        wanted: dict[StatRequest, None] = {}
        for n in names:
            wanted.update(dict.fromkeys(self._registered[n][0]))
            wanted.update(self._extra.get(n, {}))
        missing = [r for r in wanted if (self._fingerprint, skey, r) not in self._cache]
        self.reused += len(wanted) - len(missing)
        if missing:
            for r, value in self._measure(model, missing, sampler, progress).items():
                self._cache[(self._fingerprint, skey, r)] = value
        else:
            logger.debug("statistics for %s served from the cache", ", ".join(names))
        for n in names:
            self._results[n] = {
                r: self._cache[(self._fingerprint, skey, r)]
                for r in (*self._registered[n][0], *self._extra.get(n, {}))
            }
