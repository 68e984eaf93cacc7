"""``IEEngine``: inference with the OpenVINO runtime.

Differences from POT, all deliberate: statistics run in float32 (``INFERENCE_PRECISION_HINT``
f32: CPUs with bf16 units would otherwise collect them in bfloat16); results are processed
in sample order in asynchronous mode too, so metric updates and per-sample metric values are
aligned with the data, and ``sample_id`` is the loader index (POT used the position inside
the batch); statistics are computed inside the inference callbacks straight from the
request's buffers, with the GIL released by the kernels.

``collect_statistics`` runs on the C++ dispatcher ``fastpot._dispatch`` when it loads: N infer
requests in flight, every batch's statistics reduced into the accumulators inside the
OpenVINO completion callbacks, in C++ and without the GIL. Without it (not built, another
OpenVINO, ``FASTPOT_DISPATCH=0``) the same statistics come from the Python path below.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, NamedTuple

import numpy as np
import openvino as ov
import openvino.opset13 as opset

from fastpot.api._hints import close_match, did_you_mean, warn_user
from fastpot.api.data_loader import DataLoader
from fastpot.api.engine import Engine
from fastpot.api.metric import Metric, check_metric_formats
from fastpot.compat.pot_engine import PotEngineSurface
from fastpot.engines.ray_executor import check_executor_config, create_executor
from fastpot.graph._graph import GraphView
from fastpot.graph.model import CompressedModel
from fastpot.graph.value_range import nonnegative_outputs
from fastpot.kernels.accumulator import StatisticAccumulator
from fastpot.samplers.sampler import BatchSampler, Sampler
from fastpot.utils.progress import Progress

__all__ = ["IEEngine"]

logger = logging.getLogger("fastpot.engines.ie_engine")

NodeKey = Any  # node name, or (node name, output port)


# ---- engine config checks ------------------------------------------------------------------

_VIRTUAL_DEVICES = ("AUTO", "MULTI", "HETERO", "BATCH")


def _device_names(core: ov.Core) -> list[str]:
    try:
        return list(core.available_devices)
    except RuntimeError:  # pragma: no cover - a plugin that fails to enumerate
        return []


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Exception from", "Check "))]
    return (useful or lines or [type(exc).__name__])[-1]


def check_device(device: Any, core: ov.Core, place: str = "config") -> None:
    """Check an OpenVINO device name before anything is compiled for it.

    ``AUTO``, ``MULTI``, ``HETERO`` and ``BATCH`` (with an optional ``:<devices>`` list,
    each checked) are accepted; any other name must be a device OpenVINO knows (``CPU``,
    ``GPU``, ``NPU``, optionally with ``.<id>``), whose plugin loads and that has a device
    available here.

    Parameters
    ----------
    device : str
        The ``device`` config value.
    core : openvino.Core
        The core the engine compiles with.
    place : str, optional
        Where the value comes from (``<place>.device`` in messages).

    Raises
    ------
    TypeError
        `device` is not a non-empty string.
    ValueError
        An unknown device (naming the close match and the available devices), one whose
        plugin cannot load, or one with no device available here.
    """
    if not isinstance(device, str):
        raise TypeError(f"{place}.device: expected a device name such as 'CPU', got {device!r}")
    if not device.strip():
        raise ValueError(f"{place}.device: empty; expected a device name such as 'CPU'")
    head, _, rest = device.partition(":")
    if head.upper() in _VIRTUAL_DEVICES and head == head.upper():
        names = [n for n in rest.replace(";", ",").split(",") if n.strip()]
    else:
        names = [device]
    for name in names:
        base = name.strip().split(".", 1)[0]
        shown = repr(device) if name == device else f"{name.strip()!r} (in {device!r})"
        try:
            versions = core.get_versions(base)
        except RuntimeError as exc:
            raise ValueError(
                f"{place}.device: {shown}: the OpenVINO plugin of {base} cannot be used here "
                f"({_first_line(exc)}); available devices: {', '.join(_device_names(core))}"
            ) from None
        if base not in versions:
            available = _device_names(core)
            known = sorted({*available, *(d.split(".")[0] for d in available), "CPU", "GPU"})
            raise ValueError(
                f"{place}.device: {shown} is not an OpenVINO device"
                f"{did_you_mean(base, known)} (available devices: {', '.join(available)}; also "
                "AUTO, MULTI:<devices>, HETERO:<devices>)"
            )
        try:
            present = list(core.get_property(base, "AVAILABLE_DEVICES"))
        except RuntimeError:
            continue  # a plugin that does not report its devices: let compiling tell
        if not present:
            raise ValueError(
                f"{place}.device: {shown}: OpenVINO finds no {base} device on this machine "
                f"(available devices: {', '.join(_device_names(core))})"
            )


def check_engine_config(config: Any, place: str, core: ov.Core | None = None) -> None:
    """Check the values of the keys IEEngine reads (``device`` with `core`).

    Parameters
    ----------
    config : mapping
        An engine config.
    place : str
        Where it comes from, e.g. ``IEEngine config`` or ``engine`` (a config file's section).
    core : openvino.Core, optional
        Check ``device`` with it (:func:`check_device`).

    Raises
    ------
    TypeError
        A value of the wrong type.
    ValueError
        A value out of range, or a device that cannot be used.
    """
    for key in ("stat_requests_number", "eval_requests_number", "batch_dim"):
        value = config.get(key)
        if value is None or (isinstance(value, Mapping) and not value):
            continue
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{place}.{key}: expected an integer, got {value!r}")
        if value < 0:
            meaning = (
                " (1: synchronous, 0 or None: the device's optimal number of requests)"
                if key != "batch_dim"
                else ""
            )
            raise ValueError(f"{place}.{key}: {value} must not be negative{meaning}")
    check_executor_config(config.get("executor"), place)
    cache_dir = config.get("cache_dir")
    if isinstance(cache_dir, Mapping) and not cache_dir:
        cache_dir = None  # an absent key of an addict-style config
    if cache_dir not in (None, False) and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(
            f"{place}.cache_dir: expected a folder path (or None / '' for no store), "
            f"got {cache_dir!r}"
        )
    if core is not None and "device" in config:
        check_device(config["device"], core, place)


def _warn_close_keys(config: Mapping[str, Any], known: tuple[str, ...], owner: str) -> None:
    """Warn about config keys that look like typos of known ones (difflib ratio >= 0.8).

    Other unknown keys are left alone: POT passed the whole engine section (``type``,
    ``data_source``, keys of custom engines) to every engine.
    """
    for key in config:
        if key in known or not isinstance(key, str):
            continue
        match = close_match(key, known, cutoff=0.8)
        if match is not None:
            warn_user(f"{owner} config: unknown key {key!r} is ignored; did you mean {match!r}?")


class _Input:
    """One model input: its names, rank, static shape (if any), dims and element type.

    ``dims``: each axis's static length, None for a dynamic one (None for a dynamic rank).
    """

    def __init__(self, port: Any) -> None:
        node = port.get_node()
        self.name = node.get_friendly_name()
        self.names = {self.name, *port.get_names()}
        shape = port.get_partial_shape()
        self.rank = shape.rank.get_length() if shape.rank.is_static else None
        self.static_shape = list(shape.to_shape()) if shape.is_static else None
        self.dims: list[int | None] | None = (
            [d.get_length() if d.is_static else None for d in shape]
            if shape.rank.is_static
            else None
        )
        self.shape_text = str(shape)
        self.dtype = np.dtype(port.get_element_type().to_dtype())


class _Array(NamedTuple):
    """One item's array for one input: batch axis included, or the input's full shape."""

    index: int  # type: ignore[assignment]  # loader index (the field shadows tuple.index)
    given: tuple[int, ...]  # the shape as the loader gave it
    array: np.ndarray
    whole: bool  # the input's full shape, fed as it is: one loader item


class _Request(NamedTuple):
    """One infer request: its items, input arrays, per-item (id, annotation, meta)."""

    items: list[tuple[int, Any]]
    inputs: dict[str, np.ndarray]
    info: list[tuple[Any, Any, Any]]
    whole: bool  # a full-shape item: one inference per item


class IEEngine(PotEngineSurface, Engine):
    """Runs an OpenVINO model over a data loader for statistics and metrics.

    Parameters
    ----------
    config : dict
        ``device`` (required), ``stat_requests_number``, ``eval_requests_number``
        (``1``: synchronous; ``None``/``0``: asynchronous with the device's optimal number
        of requests; ``n``: asynchronous with n), ``batch_dim`` (default 0), ``cache_dir``
        (a folder for the on-disk statistics store, :mod:`fastpot.statistics.store`;
        default: the environment variable ``FASTPOT_CACHE_DIR``, else no store; ``""``
        turns it off).
    data_loader : DataLoader, optional
    metric : Metric, optional

    Raises
    ------
    TypeError
        A config that is not a mapping or has no ``device`` (naming a key that looks like a
        typo of it), a value of the wrong type, a data loader without ``__len__`` /
        ``__getitem__`` (a generator), a class passed instead of an instance.
    ValueError
        A device OpenVINO does not know or cannot use here (naming the close match and the
        available devices; see :func:`check_device`), a negative request number.

    Notes
    -----
    Unknown config keys are not errors: POT handed the whole engine section to every engine,
    and custom engines read keys of their own (``pyramid_scales``, ...). A key within a small
    edit distance of one this class reads (``difflib`` ratio >= 0.8: ``stat_request_number``,
    ``devcie``) is a ``UserWarning`` naming the close match, for the classes that declare
    :attr:`config_keys` (IEEngine, SimplifiedEngine); subclasses get no warning unless they
    set ``config_keys`` themselves. The metric's formats (``avg_value``, ``value``,
    ``get_attributes()``) are checked on the first batch of a run
    (:func:`fastpot.api.metric.check_metric_formats`).
    """

    #: The config keys this class reads. A class that sets it (IEEngine, SimplifiedEngine)
    #: gets a warning for a config key that is not among them but close to one (a typo);
    #: subclasses that read keys of their own (POT's custom engines) inherit no warning.
    config_keys: ClassVar[tuple[str, ...]] = (
        "device",
        "stat_requests_number",
        "eval_requests_number",
        "batch_dim",
        "executor",
        "cache_dir",
    )

    def __init__(
        self, config: Any, data_loader: DataLoader | None = None, metric: Metric | None = None
    ) -> None:
        super().__init__(config, data_loader, metric)
        owner = type(self).__name__
        if "device" not in self.config:
            typo = close_match("device", [str(k) for k in self.config], cutoff=0.7)
            hint = f" ({typo!r} is not a config key: a typo of 'device'?)" if typo else ""
            raise TypeError(f"{owner} config: missing required key 'device'{hint}")
        self._core = ov.Core()
        check_engine_config(self.config, f"{owner} config", self._core)
        if "config_keys" in type(self).__dict__:
            _warn_close_keys(self.config, type(self).config_keys, owner)
        self._model: ov.Model | None = None
        self._nonnegative: set[tuple[str, int]] | None = None
        self._compiled: dict[tuple[Any, ...], tuple[Any, dict[Any, int]]] = {}
        self._dispatchers: dict[tuple[Any, ...], tuple[Any, dict[Any, int]]] = {}
        self._batch_dim = int(self.config.get("batch_dim", 0) or 0)
        # "executor": {"type": "ray", ...}: inference passes run on Ray workers.
        self._executor = create_executor(
            self.config.get("executor"), f"{owner} config", self.config
        )

    # ---- model ---------------------------------------------------------------------------

    def set_model(self, model: CompressedModel | ov.Model) -> None:
        """Use `model` for the next predictions (cascades need a custom engine)."""
        if isinstance(model, CompressedModel):
            if model.is_cascade:
                raise RuntimeError(
                    "Cascade models are not supported in current engine: subclass IEEngine "
                    "and run the sub-models in set_model/predict (as POT's custom engines do)"
                )
            self._nx_model = model
            model = model.get_model()
        elif isinstance(model, ov.Model):
            self._nx_model = CompressedModel([{"model": model}])
        if not isinstance(model, ov.Model):
            raise TypeError("model: expected a CompressedModel or an openvino.Model")
        self._model = model
        self._compiled.clear()
        self._dispatchers.clear()
        self._inputs = [_Input(p) for p in model.inputs]
        self._nonnegative = None

    def _requests_number(self, for_statistics: bool) -> int:
        key = "stat_requests_number" if for_statistics else "eval_requests_number"
        n = self.config.get(key)
        if n in (None, 0):
            return 0  # the device's optimal number
        n = int(n)
        cpus = os.cpu_count() or 1
        if not 1 <= n <= cpus:
            clipped = min(max(n, 1), cpus)
            logger.warning("%s: %d is outside [1, %d]; using %d", key, n, cpus, clipped)
            n = clipped
        return n

    def _statistics_model(self, extra: list[NodeKey]) -> tuple[ov.Model, dict[Any, int]]:
        """Copy the model with outputs added for `extra` nodes; return it and their indices.

        Statistics treat axis 0 of every tensor as the sample axis, as POT did, also for
        full-shape items (a recurrent state ``[2, 1, H]`` gives two per-sample values per
        inference, its h and c slices: POT's ranges for such tensors).
        """
        assert self._model is not None
        model = self._model.clone() if extra else self._model
        ops = {op.get_friendly_name(): op for op in model.get_ops()}
        index: dict[Any, int] = {}
        for key in extra:
            if isinstance(key, tuple) and key[0] == _REDUCE:
                index[key] = self._add_reduction(model, ops, key)
                continue
            name, port = key if isinstance(key, tuple) else (key, 0)
            op = ops.get(name)
            if op is None:
                raise ValueError(f"stats_layout: no node named {name!r} in the model")
            if not 0 <= port < op.get_output_size():
                raise ValueError(f"stats_layout: node {name!r} has no output port {port}")
            index[key] = self._output_index(model, op.output(port))
        return model, index

    def _compile_config(self, asynchronous: bool) -> dict[str, str]:
        config = {"PERFORMANCE_HINT": "THROUGHPUT" if asynchronous else "LATENCY"}
        if str(self.config.device).upper().startswith("CPU"):
            config["INFERENCE_PRECISION_HINT"] = "f32"
        return config

    def _compile(self, extra: Iterable[NodeKey], asynchronous: bool) -> tuple[Any, dict[Any, int]]:
        """Compile a copy of the model with outputs added for `extra` nodes."""
        extra = list(extra)
        cache_key = (tuple(map(str, extra)), asynchronous)
        if cache_key in self._compiled:
            return self._compiled[cache_key]
        model, index = self._statistics_model(extra)
        config = self._compile_config(asynchronous)
        compiled = self._core.compile_model(model, str(self.config.device), config)
        self._compiled[cache_key] = (compiled, index)
        return compiled, index

    def _dispatcher(self, extra: list[NodeKey], requests: int) -> tuple[Any, dict[Any, int]]:
        """Return a ``fastpot._dispatch.Dispatcher`` of the statistics copy of the model (cached).

        The copy crosses to C++ as IR files in a temporary directory (removed once compiled).
        """
        module = _dispatch_module()
        assert module is not None
        cache_key = (tuple(map(str, extra)), requests)
        if cache_key in self._dispatchers:
            return self._dispatchers[cache_key]
        model, index = self._statistics_model(extra)
        with tempfile.TemporaryDirectory(prefix="fastpot-stats-") as tmp:
            xml = os.path.join(tmp, "model.xml")
            ov.save_model(model, xml, compress_to_fp16=False)
            dispatcher = module.Dispatcher(
                xml,
                os.path.join(tmp, "model.bin"),
                str(self.config.device),
                self._compile_config(requests != 1),
                requests,
            )
        self._dispatchers[cache_key] = (dispatcher, index)
        return dispatcher, index

    def _dispatcher_while_loading(
        self, extra: list[NodeKey], requests: int, pending: Iterator[_Request]
    ) -> tuple[Any, dict[Any, int], list[_Request]]:
        """:meth:`_dispatcher` on a worker thread while the first requests are loaded.

        Compiling releases the GIL, so the data loader (decoding images, say) runs in the
        meantime; at most ``_PREFETCH_BYTES`` of inputs are held. Returns the dispatcher, its
        output index and the requests loaded so far (the rest stay in `pending`). A loader
        error is raised once the compile has finished.
        """
        loaded: list[_Request] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastpot-compile") as pool:
            future = pool.submit(self._dispatcher, extra, requests)
            held = 0
            while not future.done() and held < _PREFETCH_BYTES:
                request = next(pending, None)
                if request is None:
                    break
                loaded.append(request)
                held += sum(int(np.asarray(a).nbytes) for a in request.inputs.values())
            dispatcher, index = future.result()
        return dispatcher, index, loaded

    @staticmethod
    def _add_reduction(model: ov.Model, ops: dict[str, Any], key: tuple[Any, ...]) -> int:
        """Add a per-sample (and per-channel) reduction of a node's output as a Result.

        The plugin reduces the tensor where it is produced, so only [N] or [N, C] values
        leave it instead of the whole activation: ``Reduce{Min,Max,Mean}``, or for the
        quantile kinds a marked Result the dispatcher turns into its ``SampleQuantile``.
        Kind ``"sample"``: a 0-d output (no axis 0) as one sample ``[1]``.
        """
        _, kind, name, port, per_channel = key
        output = ops[name].output(port)
        if kind in ("quantile", "abs_quantile"):  # the last field is then q
            # An export marked for the dispatcher, which puts its SampleQuantile operation in
            # its place: [N] quantiles leave the plugin instead of the whole tensor.
            result = opset.result(output)
            result.set_friendly_name(f"{_QUANTILE_MARKER}|{kind}|{per_channel!r}|{name}:{port}")
            model.add_results([result])
            return len(model.outputs) - 1
        rank = output.get_partial_shape().rank.get_length()
        if kind == "sample":
            reduced = opset.unsqueeze(output, opset.constant(np.array([0], np.int64)))
        elif kind == "mean":
            # Per-channel means keep their dims ([N, C, 1, ...] or [N, 1, ..., C]), so the
            # caller's accumulator, with its own channel axis, reads them unchanged.
            channel = int(per_channel)
            axes = [a for a in range(1, rank) if a != channel]
            reduced = opset.reduce_mean(output, opset.constant(np.array(axes, np.int64)), True)
        else:
            reduce = opset.reduce_min if kind == "min" else opset.reduce_max
            axes = [a for a in range(1, rank) if not (per_channel and a == 1)]
            reduced = reduce(output, opset.constant(np.array(axes, np.int64)), False)
        model.add_results([opset.result(reduced)])
        return len(model.outputs) - 1

    @staticmethod
    def _output_index(model: ov.Model, output: Any) -> int:
        def find() -> int | None:
            for i, out in enumerate(model.outputs):
                if out.get_node().get_friendly_name().startswith(_QUANTILE_MARKER):
                    continue  # the dispatcher reduces it: not the tensor itself
                src = out.get_node().input_value(0)
                if src.get_node() == output.get_node() and src.get_index() == output.get_index():
                    return i
            return None

        found = find()
        if found is None:
            model.add_outputs([output])
            found = find()
        if found is None:  # add_outputs saw the marked Result and added nothing
            model.add_results([opset.result(output)])
            found = len(model.outputs) - 1
        return found

    # ---- items and batches -------------------------------------------------------------------

    def _split_item(self, index: int, item: Any) -> tuple[Any, Any, Any, Any]:
        """(sample id, data, annotation, meta) of one loader item."""
        if not isinstance(item, tuple):
            raise RuntimeError(  # noqa: TRY004 - POT's exception type for this case
                f"data loader item {index}: expected a tuple (data, annotation[, meta]), "
                f"got {type(item).__name__}"
            )
        if len(item) not in (2, 3):
            raise RuntimeError(
                f"data loader item {index}: expected 2 or 3 elements, got {len(item)}"
            )
        first, second = item[0], item[1]
        input_names = set().union(*(i.names for i in self._inputs))
        if isinstance(first, tuple) and len(first) == 2:  # ((sample_id, annotation), data)
            return first[0], second, first[1], None
        if isinstance(first, Mapping) and len(first) == 1 and not set(first) <= input_names:
            ((sample_id, annotation),) = first.items()
            # A data dict whose key is a typo of an input name: not POT's legacy form.
            typo = (
                close_match(sample_id, sorted(input_names), cutoff=0.8)
                if isinstance(sample_id, str) and isinstance(annotation, np.ndarray)
                else None
            )
            if typo is None and _is_data(second):  # ({sample_id: annotation}, data)
                return sample_id, second, annotation, None
            names = [i.name for i in self._inputs]
            raise ValueError(
                f"data loader item {index}: {sample_id!r} is not a model input"
                f"{did_you_mean(sample_id, sorted(input_names))} (inputs: {names}); an item is "
                "(data, annotation[, meta]) with data an array or {input_name: array} (a "
                "one-key dict is POT's legacy ({sample_id: annotation}, data) form only when "
                "the second element is the data)"
            )
        meta = item[2] if len(item) == 3 else None
        return index, first, second, meta

    def _feeds(self, batch: list[tuple[int, Any]]) -> list[_Request]:
        """Return the infer requests of one sampler batch: usually one, the batch stacked.

        An item gives each input one sample (the input's rank minus the batch axis), ``k``
        samples with the input's full rank (e.g. ``[k, 24, 24, 3]`` for a ``[?, 24, 24, 3]``
        input), or, for an input without a batch axis to stack on (a scalar ``[]``, or a
        static batch axis other than 1: a recurrent state ``[2, 1, 128]``, a static batch
        ``[4, 3, 8, 8]``), an array of the input's full shape, fed as it is (see
        :meth:`_sample_array`). Samples are joined along the batch axis in item order, so
        statistics see every sample; ``info`` (annotations, hence the metric's targets and
        per-sample ids) keeps one entry per loader item, as in POT. Full-shape items cannot
        be stacked, so a batch of several of them gives one request per item (statistics
        still read axis 0 of each tensor as samples, as POT's did).
        """
        per_input, info = self._arrays(batch)
        whole = any(a.whole for arrays in per_input.values() for a in arrays)
        if not whole or len(batch) == 1:
            return [self._stack(batch, per_input, info, whole)]
        self._warn_split(batch, per_input)
        return [
            self._stack([batch[i]], {n: [a[i]] for n, a in per_input.items()}, [info[i]], True)
            for i in range(len(batch))
        ]

    def _arrays(
        self, batch: list[tuple[int, Any]]
    ) -> tuple[dict[str, list[_Array]], list[tuple[Any, Any, Any]]]:
        """Each input's arrays (one per item, in item order) and the items' (id, label, meta)."""
        per_input: dict[str, list[_Array]] = {i.name: [] for i in self._inputs}
        info = []
        for index, item in batch:
            sample_id, data, annotation, meta = self._split_item(index, item)
            info.append((sample_id, annotation, meta))
            if isinstance(data, dict):
                for key, value in data.items():
                    target = next((i for i in self._inputs if key in i.names), None)
                    if target is None:
                        names = [i.name for i in self._inputs]
                        raise ValueError(
                            f"data loader item {index}: no model input named {key!r} "
                            f"(inputs: {names})"
                        )
                    per_input[target.name].append(self._sample_array(index, target, value))
                missing = [n for n, v in per_input.items() if len(v) != len(info)]
                if missing:
                    raise ValueError(
                        f"data loader item {index}: no data for model input(s) {missing}"
                    )
            else:
                if len(self._inputs) != 1:
                    names = [i.name for i in self._inputs]
                    raise ValueError(
                        f"data loader item {index}: the model has {len(names)} inputs {names}; "
                        "give the data as {input_name: array}"
                    )
                target = self._inputs[0]
                per_input[target.name].append(self._sample_array(index, target, data))
        return per_input, info

    def _stack(
        self,
        batch: list[tuple[int, Any]],
        per_input: dict[str, list[_Array]],
        info: list[tuple[Any, Any, Any]],
        whole: bool,
    ) -> _Request:
        """Join each input's arrays along the batch axis, check them: one request."""
        inputs = {}
        for spec in self._inputs:
            entries = per_input[spec.name]
            self._check_items(batch, spec, entries)
            arrays = [e.array for e in entries]
            # One item: a view, not a copy (the request copies its input anyway).
            stacked = arrays[0] if len(arrays) == 1 else np.concatenate(arrays, self._batch_dim)
            if spec.static_shape is not None and list(stacked.shape) != spec.static_shape:
                first = batch[0][0]
                counts = [a.shape[self._batch_dim] for a in arrays]
                detail = f" (samples per item: {counts})" if max(counts) != 1 else ""
                raise ValueError(
                    f"data loader items {first}..{batch[-1][0]}: model input {spec.name!r} "
                    f"has the static shape {spec.static_shape}, the batch is "
                    f"{list(stacked.shape)}{detail}"
                )
            inputs[spec.name] = stacked
        return _Request(batch, inputs, info, whole)

    def _warn_split(self, batch: list[tuple[int, Any]], per_input: dict[str, list[_Array]]) -> None:
        """Warn (once per engine) that a batch of full-shape items is inferred item by item."""
        if self.__dict__.get("_split_warned"):
            return
        self._split_warned = True
        names = [n for n, arrays in per_input.items() if any(a.whole for a in arrays)]
        shapes = [_dims_text(i.dims or []) for i in self._inputs if i.name in names]
        logger.warning(
            "data loader items %d..%d: model input(s) %s take items of their full shape %s, "
            "fed as they are: such items cannot be stacked into a batch, so each item of a "
            "batch of %d is inferred in a request of its own (warned once)",
            batch[0][0],
            batch[-1][0],
            names,
            shapes,
            len(batch),
        )

    def _check_items(
        self,
        batch: list[tuple[int, Any]],
        spec: _Input,
        entries: list[_Array],
    ) -> None:
        """Check the items' arrays (batch axis added) against the input's static axes.

        Each item is checked on its own, so the error names the item at fault and its shape;
        items must also agree with each other on the dynamic axes other than the batch axis.
        (A full-shape item was checked whole by :meth:`_sample_array` and is alone.)
        """
        if spec.dims is None or spec.rank == 0:
            return
        axis = self._batch_dim
        expected = [d for i, d in enumerate(spec.dims) if i != axis]

        def rest(array: np.ndarray) -> list[int]:
            return [n for i, n in enumerate(array.shape) if i != axis]

        def fail(index: int, given: tuple[int, ...], problem: str) -> ValueError:
            what = "static shape" if spec.static_shape is not None else "shape"
            shape = spec.static_shape if spec.static_shape is not None else spec.shape_text
            joined = (
                f"the batch is {list(entries[0].array.shape)}"
                if len(entries) == 1
                else f"the batch joins {len(entries)} items"
            )
            return ValueError(
                f"data loader items {batch[0][0]}..{batch[-1][0]}: model input {spec.name!r} "
                f"has the {what} {shape}, {joined}; item {index} has the shape {list(given)} "
                f"({problem})"
            )

        for index, given, array, _ in entries:
            if any(d is not None and d != n for d, n in zip(expected, rest(array), strict=True)):
                sample = _dims_text(expected)
                batched = _dims_text([*expected[:axis], "k", *expected[axis:]])
                raise fail(index, given, f"expected a sample {sample} or k samples {batched}")
        first = entries[0]
        for index, given, array, _ in entries[1:]:
            if rest(array) != rest(first.array):
                raise fail(
                    index,
                    given,
                    f"item {first.index} has {list(first.given)}: the items of a batch "
                    "must agree on every axis but the batch axis",
                )

    def _takes_whole(self, spec: _Input) -> bool:
        """Whether `spec` has no batch axis to stack on: full-rank items are fed as they are.

        A scalar input, or one whose batch axis is static and not 1 (a recurrent state
        ``[2, 1, H]``, a static batch ``[4, C, H, W]``). An input with a dynamic batch axis,
        or a static batch axis of 1, takes full-rank items as ``k`` samples.
        """
        if spec.rank == 0:
            return True
        if spec.dims is None or not 0 <= self._batch_dim < len(spec.dims):
            return False
        size = spec.dims[self._batch_dim]
        return size is not None and size != 1

    def _sample_array(self, index: int, spec: _Input, value: Any) -> _Array:
        """Return the item's shape as given and its array for `spec`, batch axis included.

        A sample (rank - 1 axes) gets a batch axis of 1; an array of the input's full rank
        is taken as samples along the batch axis, as it is; for an input without a batch
        axis to stack on (:meth:`_takes_whole`) it must have the input's full shape (a
        scalar input: a 0-d array, or a 1-element ``[1]``) and is fed as it is, one item
        (``whole``; statistics still read axis 0 of its tensors as samples, as POT did). For
        a 4-D input with static ``[N, C, H, W]`` axes 1..3 (batch axis 0), a sample ``[H, W,
        C]`` or batch ``[k, H, W, C]`` that does not already match ``[C, H, W]`` is
        transposed to CHW, with one warning per engine and input. Shapes where ``[H, W, C]
        == [C, H, W]`` (``C == H == W``) are taken as CHW: they cannot be told apart.
        """
        array = _cast_item(index, spec, value)
        given = array.shape
        if array.size == 0:
            raise ValueError(
                f"data loader item {index}: model input {spec.name!r} got an empty array "
                f"{list(given)}"
            )
        if spec.rank and not 0 <= self._batch_dim < spec.rank:
            raise ValueError(
                f"{type(self).__name__} config.batch_dim: {self._batch_dim} is not an axis of "
                f"model input {spec.name!r} (shape {spec.shape_text})"
            )
        if spec.rank is None:
            return _Array(index, given, np.expand_dims(array, axis=self._batch_dim), False)
        if spec.rank == 0:
            if array.shape in ((), (1,)):
                return _Array(index, given, array.reshape(()), True)
            raise ValueError(
                f"data loader item {index}: model input {spec.name!r} is a scalar (shape []); "
                f"expected a 0-d array (or one element [1]), fed as it is, got {list(given)}"
            )
        if array.ndim == spec.rank - 1:
            array = self._hwc_to_chw(index, spec, array, batched=False)
            return _Array(index, given, np.expand_dims(array, axis=self._batch_dim), False)
        whole = self._takes_whole(spec)
        if array.ndim == spec.rank:
            array = self._hwc_to_chw(index, spec, array, batched=True)
            assert spec.dims is not None
            if whole and any(
                d is not None and d != n for d, n in zip(spec.dims, array.shape, strict=True)
            ):
                raise ValueError(
                    f"data loader item {index}: model input {spec.name!r} has the shape "
                    f"{_dims_text(spec.dims)}; expected an array of that shape (fed as it is) "
                    f"or a sample {self._sample_text(spec)}, got {list(given)}"
                )
            return _Array(index, given, array, whole)
        if whole:
            raise ValueError(
                f"data loader item {index}: model input {spec.name!r} has the shape "
                f"{_dims_text(spec.dims or [])}; expected an array of that shape (fed as it "
                f"is) or a sample {self._sample_text(spec)}, got {list(array.shape)}"
            )
        raise ValueError(
            f"data loader item {index}: model input {spec.name!r} has rank {spec.rank}; "
            f"expected a sample of shape with {spec.rank - 1} axes (or {spec.rank} with "
            f"samples along the batch axis {self._batch_dim}), got {list(array.shape)}"
        )

    def _sample_text(self, spec: _Input) -> str:
        """``[1, 128]``: the shape of one sample of `spec` (its dims without the batch axis)."""
        assert spec.dims is not None
        return _dims_text([d for i, d in enumerate(spec.dims) if i != self._batch_dim])

    def _hwc_to_chw(self, index: int, spec: _Input, array: np.ndarray, batched: bool) -> np.ndarray:
        """`array` transposed to (N)CHW if it is the (N)HWC layout of a 4-D NCHW input."""
        dims = spec.dims
        if self._batch_dim != 0 or dims is None or len(dims) != 4 or None in dims[1:]:
            return array
        chw = list(dims[1:])
        hwc = [chw[1], chw[2], chw[0]]
        sample = list(array.shape[1:] if batched else array.shape)
        if sample == chw or sample != hwc:
            return array
        warned: set[str] = self.__dict__.setdefault("_hwc_warned", set())
        if spec.name not in warned:
            warned.add(spec.name)
            logger.warning(
                "data loader item %d: model input %r has the shape %s, samples [C, H, W] = %s; "
                "the item's %s is HWC: transposing it, and every later HWC item of this "
                "input, to CHW (warned once)",
                index,
                spec.name,
                spec.shape_text,
                chw,
                f"batch {list(array.shape)}" if batched else f"sample {list(array.shape)}",
            )
        axes = (0, 3, 1, 2) if batched else (2, 0, 1)
        return np.ascontiguousarray(np.transpose(array, axes))

    # ---- inference ---------------------------------------------------------------------------

    @staticmethod
    def postprocess_output(outputs: dict[str, np.ndarray], metadata: list[Any]) -> Any:
        """Turn raw outputs into what the metric expects (default: list of arrays)."""
        return list(outputs.values())

    def _requests(self, sampler: BatchSampler) -> Iterator[_Request]:
        """Every infer request of the sampler's batches (:meth:`_feeds`), in item order."""
        for batch in sampler.batches():
            yield from self._feeds(batch)

    def _run(
        self,
        sampler: Sampler,
        extra: list[NodeKey],
        asynchronous_requests: int,
        on_result: Callable[[int, list[Any], Any, dict[Any, int]], None],
        print_progress: bool,
        label: str,
    ) -> None:
        """Infer every request; `on_result(request_no, info, request, extra_index)` for each.

        A request is a sampler batch, or one item of a batch of full-shape items.
        """
        if self._model is None:
            raise RuntimeError("Model was not set in Engine class")
        if not isinstance(sampler, BatchSampler):
            raise TypeError("sampler: IEEngine needs a BatchSampler")
        total = len(sampler)
        if total == 0:
            raise RuntimeError("Empty data loader! The sampler selects no items.")
        synchronous = asynchronous_requests == 1
        requests = self._requests(sampler)
        compiled, index = self._compile(extra, not synchronous)
        logger.log(
            logging.INFO if print_progress else logging.DEBUG, "Start inference of %d images", total
        )
        start = time.perf_counter()
        with Progress(total, label, enabled=print_progress) as progress:
            if synchronous:
                infer = compiled.create_infer_request()
                for number, request in enumerate(requests):
                    infer.infer(request.inputs)
                    on_result(number, request.info, infer, index)
                    progress.advance(len(request.items))
            else:
                self._run_async(
                    compiled,
                    index,
                    requests,
                    asynchronous_requests,
                    on_result,
                    progress,
                )
        logger.log(
            logging.INFO if print_progress else logging.DEBUG,
            "Inference finished in %.2f s",
            time.perf_counter() - start,
        )

    def _run_async(
        self,
        compiled: Any,
        index: dict[Any, int],
        requests: Iterable[_Request],
        jobs: int,
        on_result: Callable[..., None],
        progress: Progress,
    ) -> None:
        """Keep `jobs` requests in flight, handling each one's results in submission order.

        No completion callbacks: OpenVINO threads that run Python callbacks need the GIL,
        and destroying a compiled model from Python (GIL held) while one of them still
        finishes up deadlocks. Here one thread starts and waits (``wait`` releases the GIL),
        and the kernels that consume a finished request run while the others infer.
        """
        if jobs == 0:
            jobs = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        idle = [compiled.create_infer_request() for _ in range(max(jobs, 1))]
        in_flight: deque[tuple[Any, int, list[Any], int]] = deque()

        def finish_oldest() -> None:
            request, batch_no, info, size = in_flight.popleft()
            request.wait()
            on_result(batch_no, info, request, index)
            progress.advance(size)
            idle.append(request)

        try:
            for number, item in enumerate(requests):
                if not idle:
                    finish_oldest()
                request = idle.pop()
                request.start_async(item.inputs)
                in_flight.append((request, number, item.info, len(item.items)))
            while in_flight:
                finish_oldest()
        finally:
            for request, *_ in in_flight:  # never leave requests running (errors, Ctrl-C)
                request.wait()

    def predict(
        self,
        stats_layout: dict[NodeKey, dict[str, Callable[[np.ndarray], Any]]] | None = None,
        sampler: Sampler | None = None,
        stat_aliases: dict[NodeKey, dict[str, str]] | None = None,
        metric_per_sample: bool = False,
        print_progress: bool = False,
    ) -> tuple[Any, dict[NodeKey, dict[str, list[Any]]]]:
        """Run the model over the sampler's items.

        Returns
        -------
        (metrics, statistics)
            ``metrics``: None without a metric, else ``metric.avg_value``, or with
            `metric_per_sample` ``([{"sample_id", "metric_name", "result"}, ...], avg)``
            sorted by sample id. ``statistics``: ``{node: {stat_name: [value per batch]}}``
            in batch order, each value the callable applied to the node's output tensor
            (batch axis included). A batch of full-shape items (:meth:`_feeds`) is inferred
            one item per request: one value per item, of the tensor as it is.
        """
        if self._model is None:
            raise RuntimeError("Model was not set in Engine class")
        if self._runs_pot_flow():  # a POT-style subclass runs the model itself
            return self._pot_predict(
                stats_layout, sampler, stat_aliases, metric_per_sample, print_progress
            )
        loader = self.data_loader
        if sampler is None:
            if loader is None:
                raise RuntimeError("IEEngine has no data loader")
            sampler = BatchSampler(loader)
        stats_layout = stats_layout or {}
        extra = list(stats_layout)
        per_batch_stats: dict[NodeKey, dict[str, dict[int, Any]]] = {
            node: {name: {} for name in fns} for node, fns in stats_layout.items()
        }
        metric = self._metric
        use_metric = metric is not None
        per_sample: list[dict[str, Any]] = []
        model_outputs = self._model_output_names()

        def on_result(batch_no: int, info: list[Any], request: Any, index: dict[Any, int]) -> None:
            # Batches arrive in submission order (see _run_async), so metric updates and
            # per-sample values follow the data order in every mode.
            for node, fns in stats_layout.items():
                tensor = request.get_output_tensor(index[node]).data
                for name, fn in fns.items():
                    per_batch_stats[node][name][batch_no] = fn(tensor)
            if use_metric:
                outputs = {
                    name: request.get_output_tensor(i).data.copy()
                    for i, name in enumerate(model_outputs)
                }
                self._update_metric(info, outputs, metric_per_sample, per_sample)

        requests = self._requests_number(
            for_statistics=bool(stats_layout) and not self.calculate_metrics
        )
        if self._executor is not None:
            outputs = len(model_outputs) if use_metric else 0
            self._executor.run(
                self, sampler, extra, on_result, outputs, print_progress, "inference"
            )
        else:
            self._run(sampler, extra, requests, on_result, print_progress, "inference")

        stats: dict[NodeKey, dict[str, list[Any]]] = {}
        for node, by_name in per_batch_stats.items():
            aliases = (stat_aliases or {}).get(node, {})
            stats[node] = {
                aliases.get(name, name): [values[b] for b in sorted(values)]
                for name, values in by_name.items()
            }
        metrics: Any = None
        if use_metric:
            assert metric is not None
            metrics = metric.avg_value
            if metric_per_sample:
                per_sample.sort(key=lambda e: e["sample_id"])
                metrics = (per_sample, metrics)
            metric.reset()
        return metrics, stats

    def _model_output_names(self) -> list[str]:
        assert self._model is not None
        return [
            out.get_node().input_value(0).get_node().get_friendly_name()
            for out in self._model.outputs
        ]

    def _update_metric(
        self,
        info: list[Any],
        outputs: dict[str, np.ndarray],
        per_sample_wanted: bool,
        per_sample: list[dict[str, Any]],
    ) -> None:
        metric = self._metric
        assert metric is not None
        annotations = [a for _, a, _ in info]
        if any(a is None for a in annotations):
            if self.calculate_metrics and not self.__dict__.get("_unlabelled_warned"):
                self._unlabelled_warned = True
                missing = next(i for (i, a, _) in info if a is None)
                logger.warning(
                    "data loader item %s: annotation is None: metric %s is not updated with "
                    "unlabelled items, so evaluations leave them out (warned once)",
                    missing,
                    type(metric).__name__,
                )
            return
        processed = self.postprocess_output(outputs, [m for _, _, m in info])
        metric.update(processed, annotations)
        checked: set[tuple[int, bool]] = self.__dict__.setdefault("_metrics_checked", set())
        if (id(metric), per_sample_wanted) not in checked:  # formats, on the first batch
            check_metric_formats(metric, len(info), per_sample_wanted)
            checked.add((id(metric), per_sample_wanted))
        if per_sample_wanted:
            for name, raw in metric.value.items():
                values = list(np.atleast_1d(raw))
                if len(values) != len(info):
                    raise ValueError(
                        f"metric value {name!r}: {len(values)} values for a batch of {len(info)}"
                    )
                for (sample_id, _, _), value in zip(info, values, strict=True):
                    per_sample.append(
                        {"sample_id": sample_id, "metric_name": name, "result": value}
                    )

    # ---- statistics into accumulators (used by fastpot's algorithms) -------------------------

    def collect_statistics(
        self,
        accumulators: dict[NodeKey, list[Any]],
        sampler: Sampler,
        print_progress: bool = False,
    ) -> None:
        """Feed every batch's node outputs into streaming accumulators.

        `accumulators` maps a node (name or ``(name, port)``) to objects with an
        ``update(array)`` method (e.g. :class:`fastpot.kernels.StatisticAccumulator`).
        ``min``/``max``/``abs_max`` accumulators (per tensor, or per channel on axis 1) are
        fed from in-graph ``ReduceMin``/``ReduceMax`` results (exact, and far less memory
        traffic than exporting the activation; ``abs_max = max(-min, max)``); every other
        statistic reads the exported tensor, except per-tensor ``quantile``/``abs_quantile``
        on the dispatcher: those are reduced inside the plugin by fastpot's
        ``SampleQuantile`` operation (the same kernel, one value per sample leaves the
        plugin; ``FASTPOT_PLUGIN_QUANTILE=0`` exports instead). As with POT's in-graph
        statistics, NaN activations do not give NaN through the in-graph min/max/mean
        reductions (OpenVINO's CPU reductions do not propagate NaN); the quantiles do, as
        ``np.quantile``.

        Items of an input's full shape (an input without a batch axis, see :meth:`_feeds`)
        are one item each, but their tensors' axis 0 stays the statistics' sample axis, as in
        POT: an LSTM's ``[2, 1, H]`` state gives one per-sample value for h and one for c. A
        0-d tensor (a scalar input's value, say) has no axis 0: it is one sample, fed to
        :class:`~fastpot.kernels.StatisticAccumulator` objects as ``[1]`` (other objects get
        it as it is).

        With ``fastpot._dispatch`` and C++ accumulators (the default backend) the batches
        are reduced into the accumulators inside the inference callbacks, in C++, and folded
        in sample order; otherwise (``FASTPOT_DISPATCH=0``, the module cannot load, other
        accumulator objects) requests are driven from Python. Both give the statistics of a
        synchronous loop, bit for bit.
        """
        if self._model is None:
            raise RuntimeError("Model was not set in Engine class")
        ops = {op.get_friendly_name(): op for op in self._model.get_ops()}
        plan: list[tuple[Any, str, tuple[Any, ...]]] = []  # (accumulator, kind, keys)
        extra: list[Any] = []

        def need(key: Any) -> Any:
            if key not in extra:
                extra.append(key)
            return key

        # The C++ dispatcher runs the pass when every accumulator has a C++ state; only there
        # are per-tensor quantiles reduced inside the plugin (its SampleQuantile).
        dispatched = (
            self._executor is None
            and _dispatch_module() is not None
            and all(_native(acc) is not None for accs in accumulators.values() for acc in accs)
        )
        plugin_quantiles = dispatched and _plugin_quantiles_enabled(str(self.config.device))
        for node, accs in accumulators.items():
            name, port = node if isinstance(node, tuple) else (node, 0)
            if name not in ops:
                raise ValueError(f"accumulators: no node named {name!r} in the model")
            if not 0 <= port < ops[name].get_output_size():
                raise ValueError(f"accumulators: node {name!r} has no output port {port}")
            shape = ops[name].output(port).get_partial_shape()
            rank = shape.rank.get_length() if shape.rank.is_static else 0
            for acc in accs:
                if shape.rank.is_static and rank == 0 and isinstance(acc, StatisticAccumulator):
                    # No axis 0 to hold the samples: the scalar is one sample, [1].
                    plan.append((acc, "tensor", (need((_REDUCE, "sample", name, port, False)),)))
                    continue
                stat: Any = getattr(acc, "stat", None)  # accumulators are duck-typed
                axis = getattr(acc, "channel_axis", None)
                per_channel = axis == 1
                in_graph = stat in ("min", "max", "abs_max") and (
                    (axis is None and rank >= 2) or (per_channel and rank >= 3)
                )
                if stat == "mean" and axis is not None and rank >= 3:
                    # Bias correction's per-channel means: ReduceMean in the plugin (float32
                    # sums, about 1e-7 relative to the host's) instead of the whole tensor.
                    channel = axis + rank if axis < 0 else axis
                    plan.append((acc, "tensor", (need((_REDUCE, "mean", name, port, channel)),)))
                    continue
                if (
                    plugin_quantiles
                    and stat in ("quantile", "abs_quantile")
                    and axis is None
                    and shape.rank.is_static
                    and rank >= 1
                ):
                    key = (_REDUCE, stat, name, port, float(acc.q))
                    plan.append((acc, "tensor", (need(key),)))
                    continue
                if not in_graph:
                    plan.append((acc, "tensor", (need(node),)))
                    continue
                keys = {k: (_REDUCE, k, name, port, per_channel) for k in ("min", "max")}
                if stat == "abs_max" and (name, port) in self._nonnegative_outputs():
                    # max|x| == max x for a tensor >= 0 by construction: one reduction.
                    plan.append((acc, "tensor", (need(keys["max"]),)))
                elif stat == "abs_max":
                    plan.append((acc, "abs_max", (need(keys["min"]), need(keys["max"]))))
                else:
                    plan.append((acc, "tensor", (need(keys[stat]),)))

        if self._executor is not None:
            self._executor.collect_statistics(self, plan, extra, sampler, print_progress)
            return
        requests = self._requests_number(for_statistics=True)
        if dispatched:
            self._collect_dispatched(plan, extra, sampler, requests, print_progress)
            return
        if _dispatch_module() is not None:
            logger.debug("collect_statistics: accumulators without a C++ state, Python path")

        def read(request: Any, index: dict[Any, int], key: Any) -> np.ndarray:
            data: np.ndarray = request.get_output_tensor(index[key]).data
            return data

        def on_result(batch_no: int, info: list[Any], request: Any, index: dict[Any, int]) -> None:
            for acc, kind, keys in plan:
                if kind == "abs_max":  # max|x| == max(-min x, max x) exactly
                    low, high = (read(request, index, k) for k in keys)
                    acc.update(_neg_max(low, high))
                else:
                    acc.update(read(request, index, keys[0]))

        self._run(sampler, extra, requests, on_result, print_progress, "statistics")

    def _nonnegative_outputs(self) -> set[tuple[str, int]]:
        """(name, port) of the model's outputs that are >= 0 by construction (ReLU, ...)."""
        if self._nonnegative is None:
            assert self._model is not None
            g = GraphView(self._model)
            self._nonnegative = {(g.name(k), p) for k, p in nonnegative_outputs(g)}
        return self._nonnegative

    def _collect_dispatched(
        self,
        plan: list[tuple[Any, str, tuple[Any, ...]]],
        extra: list[Any],
        sampler: Sampler,
        requests: int,
        print_progress: bool,
    ) -> None:
        """`collect_statistics` on the C++ dispatcher: Python only loads and stacks batches."""
        if not isinstance(sampler, BatchSampler):
            raise TypeError("sampler: IEEngine needs a BatchSampler")
        total = len(sampler)
        if total == 0:
            raise RuntimeError("Empty data loader! The sampler selects no items.")
        pending = self._requests(sampler)
        dispatcher, index, loaded = self._dispatcher_while_loading(extra, requests, pending)
        feeds = [(kind, index[keys[0]], index[keys[-1]], _native(acc)) for acc, kind, keys in plan]
        dispatcher.begin(feeds)
        level = logging.INFO if print_progress else logging.DEBUG
        logger.log(level, "Start inference of %d images", total)
        start = time.perf_counter()
        items: list[tuple[int, int]] = []  # loader indices of every request, for error messages
        try:
            with Progress(total, "statistics", enabled=print_progress) as progress:
                for request in itertools.chain(loaded, pending):
                    span = (request.items[0][0], request.items[-1][0])
                    items.append(span)
                    arrays = [_c_contiguous(request.inputs[spec.name]) for spec in self._inputs]
                    try:
                        dispatcher.submit(arrays)
                    except (ValueError, TypeError) as exc:
                        raise type(exc)(f"data loader items {span[0]}..{span[1]}: {exc}") from None
                    progress.advance(len(request.items))
                dispatcher.finish()
        except RuntimeError as exc:
            dispatcher.drain()
            message = str(exc)
            if message.startswith("batch "):  # a failed inference or reduction: name its items
                number = int(message.split(":", 1)[0].split()[1])
                if number < len(items):
                    first, last = items[number]
                    raise RuntimeError(f"data loader items {first}..{last}: {message}") from None
            raise
        except BaseException:  # loader errors, bad items, Ctrl-C: no request keeps running
            dispatcher.drain()
            raise
        logger.log(level, "Inference finished in %.2f s", time.perf_counter() - start)


_REDUCE = "__fastpot_reduce__"
_PREFETCH_BYTES = 64 << 20  # inputs loaded while the statistics model compiles
_QUANTILE_MARKER = "__fastpot_quantile__"  # cpp/dispatch/sample_quantile.hpp reads it


def _plugin_quantiles_enabled(device: str) -> bool:
    """In-plugin per-sample quantiles: on the CPU plugin, unless ``FASTPOT_PLUGIN_QUANTILE=0``.

    Only the CPU plugin runs an operation it does not know through its ``evaluate``; on any
    other device (or AUTO, which may pick one) the tensors are exported as before.
    """
    if os.environ.get("FASTPOT_PLUGIN_QUANTILE", "1") == "0":
        return False
    name = device.strip().upper()
    return name == "CPU" or name.startswith("CPU.")


_DISPATCH: list[Any] = []  # [module or None], filled on first use


def _dispatch_module() -> Any:
    """``fastpot._dispatch``, or None (``FASTPOT_DISPATCH=0``, or it cannot load: one warning)."""
    if os.environ.get("FASTPOT_DISPATCH", "1").strip() == "0":
        return None
    if not _DISPATCH:
        try:
            _DISPATCH.append(importlib.import_module("fastpot._dispatch"))
        except ImportError as exc:
            logger.warning(
                "fastpot._dispatch cannot be loaded (%s: %s); collecting statistics with the "
                "Python fallback (slower, identical statistics)",
                type(exc).__name__,
                exc,
            )
            _DISPATCH.append(None)
    return _DISPATCH[0]


def _cast_item(index: int, spec: _Input, value: Any) -> np.ndarray:
    """`value` as an array of the input's element type, refusing casts that lose data.

    Complex values for a real input (NumPy would drop the imaginary part with only a
    ``ComplexWarning``), strings, dates and None, non-integral or non-finite floats for an
    integer input, integers outside a narrower integer type's range, and floats that would
    overflow a narrower float type are errors naming the item and the input.
    """
    where = f"data loader item {index}: model input {spec.name!r} needs {spec.dtype} data"
    try:
        given = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: {exc}") from None
    kind, target = given.dtype.kind, spec.dtype.kind
    if kind == "c" and target != "c":
        raise TypeError(
            f"{where}, got complex values ({given.dtype}); pass the real part (np.real) or "
            "the magnitude (np.abs) explicitly"
        )
    if kind in "USMmV":
        raise TypeError(f"{where}, got {given.dtype} values")
    if kind == "O" and any(v is None for v in given.flat):  # NumPy would cast None to NaN
        raise TypeError(f"{where}, got None" + (" values" if given.ndim else ""))
    if target in "iu" and kind == "f" and given.size:
        whole = np.isfinite(given) & (given == np.trunc(given))
        if not whole.all():
            bad = given[~whole].flat[0]
            raise TypeError(
                f"{where}, got {given.dtype} values that are not whole numbers (e.g. {bad!r}); "
                "round or cast them explicitly"
            )
    if (
        target in "iu"
        and kind in "iuf"
        and given.size
        and not np.can_cast(given.dtype, spec.dtype, "safe")
    ):
        info = np.iinfo(spec.dtype)
        low, high = given.min(), given.max()
        if low < info.min or high > info.max:
            raise ValueError(
                f"{where}, got values in [{low}, {high}] outside its range [{info.min}, {info.max}]"
            )
    try:
        with np.errstate(over="raise"):
            array = given.astype(spec.dtype, copy=False)
    except FloatingPointError:
        finite = given[np.isfinite(given)] if kind == "f" else given
        raise ValueError(
            f"{where}, got values up to {np.abs(finite).max():g}, beyond its range (the cast "
            "would make them infinite)"
        ) from None
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: {exc}") from None
    return array


def _is_data(value: Any) -> bool:
    """Whether `value` can be an item's data: an array, ``{input_name: array}`` or a list."""
    if isinstance(value, (np.ndarray, Mapping)):
        return True
    return isinstance(value, (list, tuple)) and len(value) > 0


def _c_contiguous(array: np.ndarray) -> np.ndarray:
    """`array` if it is C-contiguous, else a C-contiguous copy (0-d arrays stay 0-d)."""
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def _neg_max(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Return ``max(-low, high)`` exactly as the C++ dispatcher forms it.

    A NaN in either gives NaN, and a zero is +0.0 (``max|x|`` of all-zero data is +0.0, as
    ``np.abs(x).max()``): the Python and the dispatched paths feed abs_max accumulators the
    same bits.
    """
    neg = -low
    with np.errstate(invalid="ignore"):
        out = np.where(neg < high, high, neg) + high.dtype.type(0)  # -0.0 + 0.0 is +0.0
    return np.where(np.isnan(high), high, out)


def _native(acc: Any) -> Any:
    """Return the C++ state of a :class:`fastpot.kernels.StatisticAccumulator`, or None.

    The statistics superset's recorders (:mod:`fastpot.statistics.superset`) hand over
    their ``native_recorder`` (a ``fastpot._core.SampleRecorder``), which the dispatcher
    feeds as it feeds accumulators.
    """
    if type(acc) is not StatisticAccumulator:
        return getattr(acc, "native_recorder", None)
    return getattr(acc, "_native", None)


def _dims_text(dims: list[Any]) -> str:
    """``[?, 24, 24, 3]``: a shape with ``?`` for dynamic axes."""
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
