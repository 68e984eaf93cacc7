"""Run IEEngine's statistics passes and metric evaluations on a Ray cluster.

The IEEngine config key ``"executor": {"type": "ray", "address": ..., "workers": N}`` hands
every inference pass of :meth:`IEEngine.collect_statistics` and :meth:`IEEngine.predict` to
Ray actors (``pip install fastpot[ray]``). Each actor holds a compiled copy of the model and
an unpickled copy of the data loader; the driver splits the sampler's batches (the same
batches, of the same items, as a run in one process) into shards and hands them out with
:class:`ray.util.ActorPool`.

Results are bit-identical to one process because nothing is computed differently, only
elsewhere, and everything is folded in batch order on the driver:

* statistics: for each batch the worker reads the very tensor the single-process path feeds
  each accumulator (in-graph reductions included). A small one (the ``[N]`` or ``[N, C]``
  result of an in-graph reduction) is returned as it is and the driver feeds it; a whole
  activation is fed on the worker into a fresh one-batch copy of the
  :class:`~fastpot.kernels.StatisticAccumulator`, which the driver merges into the caller's
  in batch order. Merging a one-batch accumulator is the same arithmetic as feeding it that
  batch (a per-batch mean added to the running sum, an extreme compared, per-sample values
  appended). Other accumulator objects always get the tensor.
* metrics: the worker returns the model's raw outputs and each item's ``(sample id,
  annotation, meta)``; the driver post-processes them and updates the metric in sample order,
  exactly as :meth:`IEEngine.predict` does in one process.

A worker process that dies is restarted by Ray (``max_restarts``) and its shard retried on
the new process (``max_task_retries``): shards are pure functions of (model, loader, batch
indices), so a retried shard gives the same values and results keep their order.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import openvino as ov

from fastpot.api._hints import did_you_mean
from fastpot.kernels.accumulator import StatisticAccumulator
from fastpot.samplers.sampler import BatchSampler, Sampler
from fastpot.utils.progress import Progress

if TYPE_CHECKING:
    from fastpot.engines.ie_engine import IEEngine

__all__ = ["RayExecutor", "RayExecutorConfig", "check_executor_config", "create_executor"]

logger = logging.getLogger("fastpot.engines.ray_executor")

#: How often Ray restarts a dead worker process (and retries its shard) before giving up.
MAX_RESTARTS = 3
#: Seconds to wait for the workers to start (an actor waits until its CPUs are free).
START_TIMEOUT = 120.0
#: Shards per worker in one pass: small enough to spread the work evenly and to lose little
#: to a dead worker, large enough that the per-task overhead stays small.
SHARDS_PER_WORKER = 4

#: A tensor of at most this many elements (the [N] or [N, C] result of an in-graph reduction)
#: travels as it is and the driver feeds it, as one process would; a larger one (a whole
#: activation, for quantiles or per-sample means) is reduced on the worker into a one-batch
#: accumulator, far smaller than the tensor.
SMALL_TENSOR = 4096

_KEYS = ("type", "address", "workers", "cpus_per_worker")

#: The actors of each (Ray job, workers, CPUs per worker), shared by the engines of a session.
_ACTORS: dict[tuple[Any, ...], list[Any]] = {}


@dataclass(frozen=True)
class RayExecutorConfig:
    """The checked ``executor`` config of an IEEngine.

    Attributes
    ----------
    address : str or None
        A Ray cluster's address (``"auto"``, ``"ray://host:10001"``, ...); None starts a
        local Ray instance with ``ray.init()`` unless Ray is already initialised in this
        process (then that instance is used).
    workers : int or None
        Number of actors; None: as many as the cluster's CPUs allow.
    cpus_per_worker : float
        CPUs each actor reserves; its OpenVINO CPU inference uses that many threads.
    """

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0


def check_executor_config(value: Any, place: str) -> RayExecutorConfig | None:
    """Check the ``executor`` value of an engine config.

    Parameters
    ----------
    value : mapping or None
        ``{"type": "ray", "address": str | None, "workers": int | None,
        "cpus_per_worker": number}``; None or an empty mapping: no executor.
    place : str
        Where the config comes from, for messages (``IEEngine config``).

    Returns
    -------
    RayExecutorConfig or None

    Raises
    ------
    TypeError
        Not a mapping, or a value of the wrong type.
    ValueError
        An unknown ``type`` or key, or a value out of range.
    """
    where = f"{place}.executor"
    if value is None or (isinstance(value, Mapping) and not value):
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"{where}: expected a mapping such as {{'type': 'ray'}}, got {value!r}")
    unknown = [k for k in value if k not in _KEYS]
    if unknown:
        key = unknown[0]
        raise ValueError(
            f"{where}: unknown key {key!r}{did_you_mean(key, _KEYS)} (keys: {', '.join(_KEYS)})"
        )
    kind = value.get("type")
    if kind != "ray":
        raise ValueError(f"{where}.type: {kind!r} is not an executor; the only one is 'ray'")
    address = value.get("address")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise TypeError(f"{where}.address: expected a Ray address string or None, got {address!r}")
    workers = value.get("workers")
    if workers is not None:
        if isinstance(workers, (bool, np.bool_)) or not isinstance(workers, (int, np.integer)):
            raise TypeError(f"{where}.workers: expected an integer, got {workers!r}")
        if workers < 1:
            raise ValueError(f"{where}.workers: {workers} must be at least 1")
    cpus = value.get("cpus_per_worker", 1)
    if isinstance(cpus, (bool, np.bool_)) or not isinstance(cpus, (int, float, np.number)):
        raise TypeError(f"{where}.cpus_per_worker: expected a number, got {cpus!r}")
    if not math.isfinite(float(cpus)) or cpus <= 0:
        raise ValueError(f"{where}.cpus_per_worker: {cpus} must be positive")
    return RayExecutorConfig(
        address=address,
        workers=None if workers is None else int(workers),
        cpus_per_worker=float(cpus),
    )


def create_executor(value: Any, place: str, engine_config: Mapping[str, Any]) -> RayExecutor | None:
    """Return the executor an engine config asks for (None without ``executor``).

    Raises
    ------
    ImportError
        Ray is not installed (naming the ``fastpot[ray]`` extra).
    """
    config = check_executor_config(value, place)
    if config is None:
        return None
    _ray()
    return RayExecutor(config, engine_config)


def _ray() -> Any:
    """Import ``ray``, or raise an ImportError that says how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise ImportError(
            "executor type 'ray' needs Ray: pip install 'fastpot[ray]' (or 'ray>=2.40')"
        ) from exc


# ---- what travels to the workers -------------------------------------------------------------


@dataclass(frozen=True)
class _Blob:
    """Bytes in Ray's object store under a content key (the worker caches by key)."""

    key: str
    refs: list[Any]  # [ObjectRef]: inside a list, so Ray hands it over unresolved


@dataclass(frozen=True)
class _Feed:
    """One accumulator of a statistics pass: what the worker feeds, and with what.

    ``template``: (stat, how, channel_axis, q, backend) of a
    :class:`~fastpot.kernels.StatisticAccumulator` (the worker feeds a fresh one per batch),
    or None for other accumulator objects (the worker returns the tensor itself).
    """

    kind: str  # "tensor" or "abs_max" (max(-min, max) of two in-graph reductions)
    keys: tuple[Any, ...]
    template: tuple[Any, ...] | None


@dataclass(frozen=True)
class _Job:
    """A pass as the workers see it; the shards are lists of batches of loader indices."""

    model: _Blob
    loader: _Blob
    extra: list[Any]  # outputs added to the model (IEEngine._statistics_model)
    feeds: list[_Feed] | None  # statistics pass; None: an inference pass
    outputs: int  # inference pass: how many of the model's outputs to return
    engine_config: dict[str, Any]
    threads: int


class _Tensor:
    """Stands in for an OpenVINO tensor: ``.data``."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data


class _Finished:
    """A worker's results of one request, read like a finished infer request."""

    def __init__(self, outputs: dict[int, np.ndarray]) -> None:
        self._outputs = outputs

    def get_output_tensor(self, index: int) -> _Tensor:
        return _Tensor(self._outputs[index])


class _Worker:
    """A Ray actor: a compiled model and a data loader, running shards of batches.

    The actor keeps the last model and loader it was sent (keyed by content hash), so a pass
    over the same model and loader sends only batch indices.
    """

    def __init__(self) -> None:
        self._model_key: str | None = None
        self._compiled: dict[tuple[str, ...], tuple[Any, dict[Any, int]]] = {}
        self._engine: IEEngine | None = None
        self._loader_key: str | None = None
        self._loader: Any = None

    def pid(self) -> int:
        """Return the worker's process id."""
        return os.getpid()

    def _prepare(self, job: _Job) -> tuple[IEEngine, Any, Any, dict[Any, int]]:
        ray = _ray()
        from fastpot.engines.ie_engine import IEEngine  # noqa: PLC0415 - imports this module

        model_key = f"{job.model.key}:{sorted(job.engine_config.items())}"
        if self._engine is None or self._model_key != model_key:
            xml, weights = ray.get(job.model.refs[0])
            engine = IEEngine(job.engine_config)
            core = ov.Core()
            engine.set_model(core.read_model(xml, ov.Tensor(np.frombuffer(weights, np.uint8))))
            self._engine, self._model_key, self._compiled = engine, model_key, {}
        engine = self._engine
        if self._loader_key != job.loader.key:
            try:
                self._loader = ray.cloudpickle.loads(ray.get(job.loader.refs[0]))
            except Exception as exc:
                raise TypeError(
                    f"the data loader cannot be unpickled on Ray worker (pid {os.getpid()}): "
                    f"{type(exc).__name__}: {exc}; its class must be importable there (install "
                    "its module on the workers, or ship it with a runtime_env)"
                ) from exc
            self._loader_key = job.loader.key
        key = tuple(map(str, job.extra))
        if key not in self._compiled:
            model, index = engine._statistics_model(job.extra)
            config = engine._compile_config(False)
            if str(engine.config["device"]).upper().startswith("CPU"):
                config["INFERENCE_NUM_THREADS"] = str(job.threads)
            compiled = engine._core.compile_model(model, str(engine.config["device"]), config)
            self._compiled[key] = (compiled, index)
        compiled, index = self._compiled[key]
        return engine, self._loader, compiled.create_infer_request(), index

    def run(self, job: _Job, shard: list[list[int]]) -> tuple[dict[Any, int], list[Any]]:
        """Infer the shard's batches; return the extra-output index and per-request results.

        A statistics pass gives, per request, one entry per feed: a one-batch
        :class:`~fastpot.kernels.StatisticAccumulator` or the tensor. An inference pass
        gives, per request, its items' ``(id, annotation, meta)`` and the wanted outputs.
        """
        engine, loader, request, index = self._prepare(job)
        results: list[Any] = []
        for indices in shard:
            batch = []
            for position in indices:
                try:
                    item = loader[position]
                except Exception as exc:  # the message of BatchSampler.batches
                    raise RuntimeError(
                        f"data loader item {position}: __getitem__ raised "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                batch.append((position, item))
            for feed in engine._feeds(batch):
                request.infer(feed.inputs)
                if job.feeds is None:
                    wanted = [*range(job.outputs), *index.values()]
                    outputs = {i: request.get_output_tensor(i).data.copy() for i in wanted}
                    results.append((feed.info, outputs))
                else:
                    results.append([_feed_result(f, request, index) for f in job.feeds])
        return index, results


def _feed_result(feed: _Feed, request: Any, index: dict[Any, int]) -> Any:
    """Return what one accumulator gets from one request (as the single-process path)."""
    if feed.kind == "abs_max":  # max|x| == max(-min x, max x) exactly
        low, high = (request.get_output_tensor(index[k]).data for k in feed.keys)
        tensor = np.maximum(-low, high)
    else:
        tensor = request.get_output_tensor(index[feed.keys[0]]).data
    if feed.template is None or tensor.size <= SMALL_TENSOR:
        return np.array(tensor, copy=True)
    stat, how, channel_axis, q, backend = feed.template
    one = StatisticAccumulator(stat, how, channel_axis=channel_axis, q=q, backend=backend)
    one.update(tensor)
    return one


def _template(acc: Any) -> tuple[Any, ...] | None:
    if type(acc) is not StatisticAccumulator:
        return None
    q = acc.q if acc.stat in ("quantile", "abs_quantile") else None  # 0.0 stands for "none"
    return (acc.stat, acc.how, acc.channel_axis, q, acc.backend)


# ---- the driver ------------------------------------------------------------------------------


class RayExecutor:
    """Runs IEEngine passes on Ray actors (created on first use, kept for later passes).

    Parameters
    ----------
    config : RayExecutorConfig
    engine_config : mapping
        The engine's config: the workers compile for its ``device`` and read items with its
        ``batch_dim``.
    """

    def __init__(self, config: RayExecutorConfig, engine_config: Mapping[str, Any]) -> None:
        self.config = config
        self._engine_config = {
            "device": str(engine_config["device"]),
            "batch_dim": int(engine_config.get("batch_dim", 0) or 0),
        }
        self._blobs: dict[str, tuple[str, Any]] = {}  # kind -> (key, ObjectRef)

    # ---- cluster -------------------------------------------------------------------------

    def actors(self) -> list[Any]:
        """Return the worker actors (Ray and the actors start on first call).

        Engines with the same executor settings in one Ray session share their actors (a
        pipeline that makes several engines, a cluster with room for N workers only).
        """
        ray = _ray()
        if not ray.is_initialized():
            ray.init(address=self.config.address, log_to_driver=False)
        cpus = float(self.config.cpus_per_worker)
        key = (ray.get_runtime_context().get_job_id(), self.config.workers, cpus)
        if key in _ACTORS:
            return _ACTORS[key]
        available = float(ray.cluster_resources().get("CPU", 0))
        workers = self.config.workers or max(1, int(available // cpus))
        if workers * cpus > available:
            logger.warning(
                "executor: %d workers x %g CPUs exceed the cluster's %g CPUs; workers wait "
                "until CPUs free up",
                workers,
                cpus,
                available,
            )
        remote = ray.remote(
            num_cpus=cpus, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS
        )(_Worker)
        actors = [remote.remote() for _ in range(workers)]
        # An actor waits for free CPUs: fail clearly instead of waiting for ever.
        started, _ = ray.wait(
            [a.pid.remote() for a in actors], num_returns=workers, timeout=START_TIMEOUT
        )
        if len(started) < workers:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            raise RuntimeError(
                f"executor 'ray': only {len(started)} of {workers} workers ({cpus:g} CPUs each) "
                f"started within {START_TIMEOUT:g} s; the cluster has "
                f"{ray.available_resources().get('CPU', 0):g} of {available:g} CPUs free (other "
                "actors may hold them): ask for fewer workers or CPUs per worker"
            )
        _ACTORS[key] = actors
        logger.info("executor: %d Ray workers (%g CPUs each)", workers, cpus)
        return actors

    def close(self) -> None:
        """Stop the workers of this executor's settings (a later pass starts new ones)."""
        ray = _ray()
        if ray.is_initialized():
            key = (ray.get_runtime_context().get_job_id(), self.config.workers)
            for actors_key in [k for k in _ACTORS if k[:2] == key]:
                for actor in _ACTORS.pop(actors_key):
                    ray.kill(actor, no_restart=True)
        self._blobs.clear()

    def _blob(self, kind: str, payload: Any) -> _Blob:
        """Put `payload` in the object store unless the same content is there already."""
        data = payload if isinstance(payload, bytes) else b"".join(payload)
        key = hashlib.sha256(data).hexdigest()
        held = self._blobs.get(kind)
        if held is None or held[0] != key:
            held = (key, _ray().put(payload))
            self._blobs[kind] = held
        return _Blob(held[0], [held[1]])

    def _model_blob(self, engine: IEEngine) -> _Blob:
        with tempfile.TemporaryDirectory(prefix="fastpot-ray-") as tmp:
            xml = os.path.join(tmp, "model.xml")
            ov.save_model(engine._model, xml, compress_to_fp16=False)
            with open(xml, "rb") as f, open(os.path.join(tmp, "model.bin"), "rb") as g:
                payload = (f.read(), g.read())
        return self._blob("model", payload)

    def _loader_blob(self, loader: Any) -> _Blob:
        try:
            data = _ray().cloudpickle.dumps(loader)
        except Exception as exc:
            cls = type(loader)
            raise TypeError(
                f"executor 'ray': the data loader {cls.__module__}.{cls.__qualname__} cannot be "
                f"pickled to send it to the Ray workers ({type(exc).__name__}: {exc}); loaders "
                "must be picklable: keep paths and settings in attributes and open files, "
                "sessions or readers lazily in __getitem__ (or implement __getstate__)"
            ) from exc
        return self._blob("loader", data)

    # ---- passes ----------------------------------------------------------------------------

    def _pass(
        self,
        engine: IEEngine,
        sampler: Sampler,
        extra: list[Any],
        feeds: list[_Feed] | None,
        outputs: int,
        print_progress: bool,
        label: str,
    ) -> Iterator[tuple[dict[Any, int], list[Any]]]:
        """Run a pass; yield each shard's ``(index, per-request results)`` in batch order."""
        ray = _ray()
        if engine._model is None:
            raise RuntimeError("Model was not set in Engine class")
        if not isinstance(sampler, BatchSampler):
            raise TypeError("sampler: IEEngine needs a BatchSampler")
        total = len(sampler)
        if total == 0:
            raise RuntimeError("Empty data loader! The sampler selects no items.")
        indices, size = sampler.indices, sampler.batch_size
        batches = [indices[i : i + size] for i in range(0, len(indices), size)]
        loader = self._loader_blob(sampler._data_loader)  # unpicklable: fails before any work
        actors = self.actors()
        job = _Job(
            model=self._model_blob(engine),
            loader=loader,
            extra=extra,
            feeds=feeds,
            outputs=outputs,
            engine_config=self._engine_config,
            threads=max(1, int(self.config.cpus_per_worker)),
        )
        per_shard = max(1, math.ceil(len(batches) / (len(actors) * SHARDS_PER_WORKER)))
        shards = [batches[i : i + per_shard] for i in range(0, len(batches), per_shard)]
        level = logging.INFO if print_progress else logging.DEBUG
        logger.log(level, "Start inference of %d images on %d Ray workers", total, len(actors))
        start = time.perf_counter()
        pool = ray.util.ActorPool(actors)
        results = pool.map(lambda actor, shard: actor.run.remote(job, shard), shards)
        with Progress(total, label, enabled=print_progress) as progress:
            for shard in shards:
                try:
                    result = next(results)
                except ray.exceptions.RayTaskError as exc:  # the worker's own exception
                    cause = exc.cause if isinstance(exc.cause, Exception) else exc
                    raise cause from None
                except ray.exceptions.RayActorError as exc:
                    self.close()  # a worker that cannot be restarted: start afresh next time
                    raise RuntimeError(
                        f"executor 'ray': a worker died {MAX_RESTARTS + 1} times on data loader "
                        f"items {shard[0][0]}..{shard[-1][-1]}: {exc}"
                    ) from None
                yield result
                progress.advance(sum(map(len, shard)))
        logger.log(level, "Inference finished in %.2f s", time.perf_counter() - start)

    def collect_statistics(
        self,
        engine: IEEngine,
        plan: list[tuple[Any, str, tuple[Any, ...]]],
        extra: list[Any],
        sampler: Sampler,
        print_progress: bool,
    ) -> None:
        """:meth:`IEEngine.collect_statistics` on the workers, folded in batch order here."""
        feeds = [_Feed(kind, keys, _template(acc)) for acc, kind, keys in plan]
        for _, requests in self._pass(
            engine, sampler, extra, feeds, 0, print_progress, "statistics"
        ):
            for values in requests:
                for (acc, _, _), value in zip(plan, values, strict=True):
                    if isinstance(value, StatisticAccumulator):
                        acc.merge(value)
                    else:
                        acc.update(value)

    def run(
        self,
        engine: IEEngine,
        sampler: Sampler,
        extra: list[Any],
        on_result: Callable[[int, list[Any], Any, dict[Any, int]], None],
        model_outputs: int,
        print_progress: bool,
        label: str,
    ) -> None:
        """:meth:`IEEngine._run` on the workers: `on_result` for every request, in order.

        The request `on_result` gets holds the first `model_outputs` outputs of the model
        and the outputs of the `extra` nodes (``get_output_tensor(i).data``).
        """
        number = 0
        passes = self._pass(engine, sampler, extra, None, model_outputs, print_progress, label)
        for index, requests in passes:
            for info, outputs in requests:
                on_result(number, info, _Finished(outputs), index)
                number += 1
