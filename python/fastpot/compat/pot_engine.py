"""POT 2023.3's protected ``IEEngine`` surface and ``engines.utils``, over fastpot's engine.

Custom POT engines (an MTCNN cascade, say) subclass ``IEEngine``, override ``set_model`` /
``predict`` / ``_predict`` and call what POT's own engine used inside: ``_set_model``,
``_nx_model``, ``_statistic_graph_builder.insert_statistic``, ``_convert_stats_names``,
``_process_batch``, ``_fill_input``, ``_collect_statistics``, ``_update_metrics``,
``_accumulated_layer_stats``, ``_per_sample_metrics``, ``_reset``, ``_ie``, ``_device``, and
the functions of ``openvino.tools.pot.engines.utils``. This module gives them POT's formats:

* statistics requests ``stats_layout = {node: {stat_name: fn}}``, a node named by its
  (cascade-prefixed ``<stage>_<node>``) friendly name for output 0, or ``(name, port)``;
* ``_set_model`` returns ``[{"model": ov.Model[, "name": stage]}]``, copies of the
  sub-models whose nodes carry the prefixed names (POT read them back from IR);
* statistics accumulate as ``{node: {stat_name: [(dataset_index, value), ...]}}`` and
  :func:`process_accumulated_stats` sorts them into ``{node: {stat_name: [value, ...]}}``.

One difference, on purpose: ``insert_statistic`` inserts no in-graph reductions. It only
names the tensors to export; fastpot's statistic functions reduce each exported tensor
themselves (per sample and channel), which gives the values POT's in-place statistics gave.
"""

from __future__ import annotations

import copy
import logging
import math
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import openvino as ov

from fastpot.graph.model import prefixed_copy

__all__ = [
    "PotEngineSurface",
    "Statistic",
    "StatisticGraphBuilder",
    "TensorStatistic",
    "add_outputs",
    "add_tensor_names",
    "align_stat_names_with_results",
    "append_stats",
    "cast_friendly_names",
    "collect_model_outputs",
    "compute_statistic",
    "convert_output_key",
    "get_clean_name",
    "process_accumulated_stats",
    "process_raw_output",
    "restore_original_node_names",
    "stage_model_name",
    "update_stats",
]

logger = logging.getLogger("fastpot.compat.pot_engine")


# ---- statistics objects (POT's statistics.statistics) ---------------------------------------


class Statistic:
    """A statistic function with bound extra arguments (POT's ``Statistic``).

    Equal statistics (same function, arguments and keyword arguments) hash alike, so they
    can be dictionary keys of a ``stats_layout``.
    """

    def __init__(self, func: Callable[..., Any], *argv: Any, **kwargs: Any) -> None:
        self.func = func
        self.argv = argv
        self.kwargs = kwargs

    def compute(self, *tensors: Any, **kwargs: Any) -> Any:
        """Compute the statistic (subclasses)."""
        raise NotImplementedError

    def __call__(self, *argv: Any, **kwargs: Any) -> Any:
        """Compute the statistic."""
        return self.compute(*argv, **kwargs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Statistic):
            return False
        return (self.func, self.argv, self.kwargs) == (other.func, other.argv, other.kwargs)

    def __hash__(self) -> int:
        return hash((self.func, self.argv, tuple(sorted(self.kwargs))))


class TensorStatistic(Statistic):
    """``func(tensor, *argv, **kwargs)`` of one tensor."""

    def compute(self, *tensors: Any, **kwargs: Any) -> Any:
        """Apply the function to the tensor(s), then the bound arguments."""
        return self.func(*tensors, *self.argv, **self.kwargs)


def compute_statistic(statistic: Callable[..., Any], *argv: Any, **kwargs: Any) -> Any:
    """``statistic(tensor)``, the tensor given directly or as ``(outputs dict, key)``."""
    if argv and isinstance(argv[0], Mapping):
        outputs, key = argv[0], argv[1]
        return statistic(outputs[key], **kwargs)
    return statistic(*argv, **kwargs)


# ---- names ----------------------------------------------------------------------------------


def convert_output_key(key: Any) -> str:
    """Return a statistics key as a tensor name: ``(name, port)`` -> ``"name.port"``."""
    if isinstance(key, tuple):
        if len(key) != 2:
            raise ValueError(f"statistics key {key!r}: only (node name, port) tuples are allowed")
        return f"{key[0]}.{key[1]}"
    return str(key)


def get_clean_name(name: str) -> str:
    """`name` without the ``/sink_port_N`` suffixes of Result names."""
    return re.sub(r"/sink_port_\d+", "", name)


def _port_names(port: Any) -> set[str]:
    if isinstance(port, str):
        return {port}
    names = port.get_names() if hasattr(port, "get_names") else port.get_tensor().get_names()
    return set(names)


def process_raw_output(raw_output: Mapping[Any, Any]) -> dict[str, Any]:
    """``{clean tensor name: array}`` for every name of every output of an inference result."""
    result: dict[str, Any] = {}
    for port, data in raw_output.items():
        for name in _port_names(port):
            result[get_clean_name(name)] = data
    return result


def add_tensor_names(nodes: Iterable[Any], names: Iterable[Any]) -> None:
    """Give each output in `nodes` the tensor name of the statistics key beside it."""
    for output, key in zip(nodes, names, strict=False):
        tensor = output.get_tensor()
        tensor.set_names({*tensor.get_names(), convert_output_key(key)})


def cast_friendly_names(nodes: Iterable[Any]) -> None:
    """Add each output's node friendly name to the output's tensor names."""
    for output in nodes:
        tensor = output.get_tensor()
        tensor.set_names({*tensor.get_names(), output.get_node().get_friendly_name()})


def collect_model_outputs(ov_model: Any) -> list[str]:
    """Every tensor name of every output of `ov_model`."""
    names: list[str] = []
    for output in ov_model.outputs:
        names.extend(output.get_tensor().get_names())
    return names


def update_stats(
    stats_layout: dict[Any, Any], stat_aliases: Any, old_key: Any, new_key: Any
) -> None:
    """Move the statistics of `old_key` to `new_key` in the layout and every alias table."""
    stats_layout[new_key] = stats_layout.pop(old_key)
    for algo in stat_aliases or {}:
        if old_key in stat_aliases[algo]:
            stat_aliases[algo][new_key] = stat_aliases[algo].pop(old_key)


def restore_original_node_names(
    output2node: Mapping[Any, Any],
    accumulated_stats: dict[Any, Any],
    stats_layout: dict[Any, Any],
    stat_aliases: Any,
) -> None:
    """Rename statistics collected under result names back to their nodes' names."""
    if not (output2node and stats_layout):
        return
    for out_name, node_name in output2node.items():
        accumulated_stats[node_name] = accumulated_stats.pop(out_name)
        update_stats(stats_layout, stat_aliases, out_name, node_name)


def align_stat_names_with_results(
    result_names: Iterable[str],
    nodes_name: Iterable[Any],
    output2node: dict[Any, Any],
    stats_layout: dict[Any, Any],
    stat_aliases: Any,
) -> None:
    """Rename a node's statistics to ``"<node>.0"`` where only that result name exists.

    (POT: a node that gained output ports when outputs were added is reached as
    ``<name>.0``.) Only acts when `output2node` maps results to nodes.
    """
    if not output2node:
        return
    results = set(result_names)
    for name in list(nodes_name):
        if name not in results and (name, 0) not in stats_layout:
            with_port = f"{name}.0"
            if with_port not in results:
                raise KeyError(f"statistics node {name!r}: no model output named {with_port!r}")
            update_stats(stats_layout, stat_aliases, name, with_port)
            output2node[with_port] = name


# ---- accumulation ---------------------------------------------------------------------------


def _layer_stat_name(layer: Any, stat: Any) -> Any:
    kwargs = getattr(stat, "kwargs", None)
    if isinstance(kwargs, Mapping) and kwargs.get("inplace_statistics"):
        return kwargs.get("layer_stat_name", f"{kwargs['type']}_{layer}")
    return layer


def append_stats(
    accumulated_layer_stats: dict[Any, dict[Any, list[Any]]],
    stats_layout: Mapping[Any, Mapping[Any, Any]],
    value: Any,
    dataset_index: Any,
    inference_for_shape: bool = False,
) -> None:
    """Append ``(dataset_index, fn(tensor))`` for every requested statistic found in `value`.

    `value` is one inference's outputs (``{output or name: array}``), or a list of them (the
    crops of a batch given one by one: each is a sample of its own).
    """
    del inference_for_shape  # POT's shape-only pass; every call here records full values
    if isinstance(value, list):
        for part in value:
            append_stats(accumulated_layer_stats, stats_layout, part, dataset_index)
        return
    outputs = process_raw_output(value)
    for layer, stats in stats_layout.items():
        record = accumulated_layer_stats.setdefault(layer, {name: [] for name in stats})
        for stat_name, fn in stats.items():
            key = _layer_stat_name(layer, stat_name)
            key = key if isinstance(key, str) else convert_output_key(key)
            if key in outputs:
                record.setdefault(stat_name, []).append(
                    (dataset_index, compute_statistic(fn, outputs, key))
                )


def process_accumulated_stats(
    accumulated_stats: dict[Any, dict[Any, list[Any]]],
    stat_names_aliases: Mapping[Any, Any] | None = None,
) -> dict[Any, dict[Any, list[Any]]]:
    """Sort each statistic's ``(dataset_index, value)`` pairs by index and keep the values.

    With `stat_names_aliases` (``{ie_name: original key}``) the keys are renamed back.
    Stable: values with equal indices keep their order.
    """
    for stats in accumulated_stats.values():
        for name, pairs in stats.items():
            pairs.sort(key=lambda pair: pair[0])
            stats[name] = [v for _, v in pairs]
    if stat_names_aliases is not None:
        return {stat_names_aliases.get(k, k): v for k, v in accumulated_stats.items()}
    return accumulated_stats


# ---- models ---------------------------------------------------------------------------------


def stage_model_name(model: Any, index: int) -> str:
    """Friendly name of the copy ``_set_model`` makes of sub-model `index` of `model`."""
    entry = model.models[index]
    if model.is_cascade:
        return str(entry["name"])
    return str(entry["model"].get_friendly_name())


def _ops_by_name(ov_model: Any) -> dict[str, Any]:
    return {op.get_friendly_name(): op for op in ov_model.get_ops()}


def _resolve_output(ov_model: Any, name: Any) -> Any:
    """Find the output `name`: a friendly name, ``(name, port)``, ``"name.port"``, a tensor name."""
    ops = _ops_by_name(ov_model)
    if isinstance(name, tuple):
        op_name, port = name
        if op_name in ops and 0 <= int(port) < ops[op_name].get_output_size():
            return ops[op_name].output(int(port))
    elif name in ops:
        return ops[name].output(0)
    else:
        base, _, port = str(name).rpartition(".")
        if base in ops and port.isdigit() and int(port) < ops[base].get_output_size():
            return ops[base].output(int(port))
        for op in ov_model.get_ops():
            for output in op.outputs():
                if name in output.get_names():
                    return output
    raise KeyError(f"model {ov_model.get_friendly_name()!r}: no node or tensor named {name!r}")


def _exported_output(ov_model: Any, name: Any) -> Any:
    """Return the model output (a Result's) that exports `name`, else `name`'s own output.

    A Result added by ``add_outputs`` has a tensor of its own (OpenVINO 2026): names given to
    the producer's tensor afterwards do not reach the compiled model's outputs.
    """
    source = _resolve_output(ov_model, name)
    for output in ov_model.outputs:
        fed = output.get_node().input_value(0)
        if fed.get_node() == source.get_node() and fed.get_index() == source.get_index():
            return output
    return source


def _add_outputs_to(ov_model: Any, names: Iterable[Any]) -> list[Any]:
    outputs = [_resolve_output(ov_model, n) for n in names]
    return list(ov_model.add_outputs(outputs)) if outputs else []


def add_outputs(models: list[dict[str, Any]], node_names: Mapping[str, Any]) -> dict[str, Any]:
    """Add the statistics outputs to every sub-model; returns ``{model name: [outputs]}``.

    `models` is what ``_set_model`` returned; `node_names` is ``insert_statistic``'s
    ``{model friendly name: {stats key: node to export}}``. For a cascade only the nodes
    whose (prefixed) name starts with the sub-model's name are added to it.
    """
    added: dict[str, Any] = {}
    for entry in models:
        ov_model = entry["model"]
        key = ov_model.get_friendly_name()
        wanted = list((node_names.get(key) or {}).values())
        if len(models) > 1 and "name" in entry:
            wanted = [n for n in wanted if convert_output_key(n).startswith(entry["name"])]
        added[key] = _add_outputs_to(ov_model, wanted)
    return added


class StatisticGraphBuilder:
    """POT's ``_statistic_graph_builder``: names the tensors a statistics pass exports."""

    def insert_statistic(
        self, model: Any, stats_layout: Mapping[Any, Any], stat_aliases: Any = None
    ) -> tuple[Any, dict[str, dict[Any, Any]], dict[Any, Any]]:
        """Return ``(model, nodes_names_map, node_to_result_names)``.

        ``nodes_names_map`` is ``{sub-model friendly name (as _set_model names it):
        {stats key: (node name, port)}}``; no reduction is inserted (see the module
        docstring), so `model` comes back as it was and ``node_to_result_names`` is empty.
        """
        del stat_aliases
        owners: list[tuple[str, str, dict[str, Any]]] = []  # (prefix, map key, ops)
        for i, entry in enumerate(model.models):
            prefix = f"{entry['name']}_" if model.is_cascade else ""
            owners.append((prefix, stage_model_name(model, i), _ops_by_name(entry["model"])))
        names_map: dict[str, dict[Any, Any]] = {key: {} for _, key, _ in owners}
        for node in stats_layout:
            name, port = node if isinstance(node, tuple) else (node, 0)
            for prefix, key, ops in owners:
                plain = name[len(prefix) :] if name.startswith(prefix) else None
                if plain is not None and plain in ops:
                    if not 0 <= int(port) < ops[plain].get_output_size():
                        raise ValueError(f"stats_layout: node {name!r} has no output port {port}")
                    names_map[key][node] = (name, int(port))
                    break
            else:
                where = "the cascade" if model.is_cascade else "the model"
                raise ValueError(f"stats_layout: no node named {name!r} in {where}")
        return model, names_map, {}


# ---- the engine surface -----------------------------------------------------------------


class PotEngineSurface:
    """The protected members of POT's ``IEEngine`` that custom engines use (a mixin).

    Mixed into :class:`fastpot.engines.IEEngine`, which provides ``config``, ``_core``,
    ``_metric``, ``_model`` and ``_requests_number``.
    """

    _statistic_graph_builder = StatisticGraphBuilder()
    _nx_model: Any = None
    _output_layers: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._accumulated_layer_stats: dict[Any, dict[Any, list[Any]]] = {}
        self._per_sample_metrics: list[dict[str, Any]] = []
        self._fp32_core = False
        self._tmp: Any = None

    # ---- attributes ----------------------------------------------------------------------

    @property
    def _ie(self) -> ov.Core:
        """The engine's ``openvino.Core``; CPU inference in f32, like fastpot's statistics."""
        core: ov.Core = self._core  # type: ignore[attr-defined]
        if not self._fp32_core:
            self._fp32_core = True
            if "CPU" in core.available_devices:
                core.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return core

    @property
    def _device(self) -> str:
        return str(self.config.device)  # type: ignore[attr-defined]

    @property
    def _tmp_dir(self) -> Any:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fastpot-engine-")
        return self._tmp

    # ---- models --------------------------------------------------------------------------

    def _set_model(self, model: Any) -> list[dict[str, Any]]:
        """Return copies of every sub-model for inference, ``[{"model"[, "name"]}]`` (POT).

        The copies of a cascade's sub-models carry POT's prefixed node names
        ``<stage>_<node>`` (tensor names are kept) and are named after their stage.
        """
        self._nx_model = model
        result = []
        for i, entry in enumerate(model.models):
            prefix = f"{entry['name']}_" if model.is_cascade else ""
            ov_model = prefixed_copy(entry["model"], prefix)
            ov_model.set_friendly_name(stage_model_name(model, i))
            item = {"model": ov_model}
            if model.is_cascade:
                item["name"] = entry["name"]
            result.append(item)
        return result

    def _add_outputs(self, nodes_name: Any) -> Any:
        """Add outputs to the model being run (names, or ``insert_statistic``'s map)."""
        if isinstance(self._model, list):  # type: ignore[attr-defined]
            return add_outputs(self._model, nodes_name)  # type: ignore[attr-defined]
        return _add_outputs_to(self._model, nodes_name)  # type: ignore[attr-defined]

    @staticmethod
    def _convert_stats_names(
        stats_layout: Mapping[Any, Any],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(layout with string keys, {string key: original key})``."""
        aliases = {convert_output_key(key): key for key in stats_layout}
        return {convert_output_key(k): v for k, v in stats_layout.items()}, aliases

    # ---- batches -------------------------------------------------------------------------

    @staticmethod
    def _process_batch(batch: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
        """``([(img_id, annotation)], [data], [meta])`` of a sampler batch (POT's item forms).

        ``((img_id, annotation), data[, meta])`` keeps its ids; ``(data, annotation[, meta])``
        gets the position in the batch as id.
        """
        if not all(isinstance(item, tuple) for item in batch):
            raise RuntimeError(
                "Inconsistent data in the batch. Some items contain annotation, and some do not."
            )
        if all(isinstance(item[0], tuple) for item in batch):
            images = [item[1] for item in batch]
            annotations: list[Any] = [item[0] for item in batch]
        else:
            images = [item[0] for item in batch]
            annotations = [(i, item[1]) for i, item in enumerate(batch)]
        if all(len(item) == 2 for item in batch):
            meta: list[Any] = [{} for _ in batch]
        elif all(len(item) == 3 for item in batch):
            meta = [item[2] for item in batch]
        else:
            raise RuntimeError(
                "Inconsistent data in the batch. Some items contain meta data, and some do not."
            )
        if all(isinstance(a, dict) for a in annotations):
            annotations = [pair for a in annotations for pair in a.items()]
        return annotations, images, meta

    @staticmethod
    def _get_input_any_name(input_node: Any) -> str:
        """Return a tensor name of an input (its node's friendly name if it has none)."""
        try:
            return str(input_node.get_any_name())
        except RuntimeError:
            input_node.get_tensor().set_names({input_node.get_node().get_friendly_name()})
            return str(input_node.get_any_name())

    def _fill_input(self, model: Any, image_batch: list[Any]) -> dict[str, np.ndarray]:
        """``{input name: batch array}`` for `image_batch` (arrays, or dicts per input).

        Items that already have the input's rank are joined along the batch axis; items
        one axis short are stacked into one.
        """
        batch_dim = int(self.config.get("batch_dim", 0) or 0)  # type: ignore[attr-defined]
        inputs = list(model.inputs)

        def joined(port: Any, parts: list[Any]) -> np.ndarray:
            arrays = [np.asarray(p) for p in parts]
            rank = port.get_partial_shape().rank
            if rank.is_static and arrays[0].ndim == rank.get_length():
                return np.concatenate(arrays, axis=batch_dim)
            return np.stack(arrays, axis=batch_dim)

        if isinstance(image_batch[0], Mapping):
            by_name = {}
            for port in inputs:
                for name in (port.get_node().get_friendly_name(), *port.get_names()):
                    by_name[get_clean_name(name)] = port
            feed = {}
            for name in image_batch[0]:
                if name not in by_name:
                    raise ValueError(f"no model input named {name!r} (inputs: {sorted(by_name)})")
                port = by_name[name]
                feed[self._get_input_any_name(port)] = joined(port, [d[name] for d in image_batch])
            return feed
        if len(inputs) != 1:
            raise ValueError(
                f"the model has {len(inputs)} inputs: give each item's data as a dict "
                "{input name: array}"
            )
        return {self._get_input_any_name(inputs[0]): joined(inputs[0], list(image_batch))}

    # ---- statistics and metrics ------------------------------------------------------------

    def _collect_statistics(
        self, outputs: Any, stats_layout: Mapping[Any, Any], annotations: Any = None
    ) -> None:
        """Append one inference's statistics (POT: indexed by the first annotation's id)."""
        dataset_index = annotations[0][0] if annotations is not None and annotations[0][0] else 0
        append_stats(self._accumulated_layer_stats, stats_layout, outputs, dataset_index)

    def _update_metrics(
        self, output: Any, annotations: list[Any], need_metrics_per_sample: bool = False
    ) -> None:
        """Feed the metric (if every annotation is set); record per-sample values if asked."""
        metric = self._metric  # type: ignore[attr-defined]
        labels = [a for _, a in annotations]
        if metric is None or any(a is None for a in labels):
            return
        metric.update(output, labels)
        if need_metrics_per_sample:
            for metric_name, values in metric.value.items():
                for i, (sample_id, _) in enumerate(annotations):
                    self._per_sample_metrics.append(
                        {"sample_id": sample_id, "metric_name": metric_name, "result": values[i]}
                    )

    def _reset(self) -> None:
        """Forget accumulated statistics and per-sample metrics; reset the metric."""
        if self._metric is not None:  # type: ignore[attr-defined]
            self._metric.reset()  # type: ignore[attr-defined]
        self._per_sample_metrics = []
        self._accumulated_layer_stats = {}

    @staticmethod
    def _print_inference_progress(
        log_fn: Callable[..., Any],
        current_id: int,
        total_dataset_size: int,
        start_time: float,
        finish_time: float,
    ) -> bool:
        """Log every tenth of the run; True when the caller should restart its timer."""
        if (current_id + 1) % max(math.ceil(total_dataset_size / 10), 1) == 0:
            log_fn(
                "%d/%d batches are processed in %.2fs",
                current_id + 1,
                total_dataset_size,
                finish_time - start_time,
            )
            return True
        return False

    @staticmethod
    def _process_raw_output(raw_output: Mapping[Any, Any]) -> dict[str, Any]:
        """``{clean tensor name: array}`` of an inference result."""
        return process_raw_output(raw_output)

    def _get_requests_number(self, stats_layout: Any) -> int:
        """Infer requests for this pass (0: the device's optimal number)."""
        return int(self._requests_number(for_statistics=bool(stats_layout)))  # type: ignore[attr-defined]

    def _process_infer_output(
        self,
        stats_layout: Any,
        predictions: Any,
        batch_annotations: list[Any],
        batch_meta: list[Any],
        need_metrics_per_sample: bool,
    ) -> None:
        """Statistics of one batch, then the metric on its post-processed outputs."""
        if stats_layout:
            self._collect_statistics(predictions, stats_layout, batch_annotations)
        model = self._model  # type: ignore[attr-defined]
        names = [o.get_node().input_value(0).get_node().get_friendly_name() for o in model.outputs]
        values = list(predictions.values())
        outputs = dict(zip(names, values[: len(names)], strict=False))
        if batch_annotations:
            logits = self.postprocess_output(outputs, batch_meta)  # type: ignore[attr-defined]
            self._update_metrics(logits, batch_annotations, need_metrics_per_sample)

    def _predict(
        self,
        stats_layout: Any,
        sampler: Any,
        print_progress: bool = False,
        need_metrics_per_sample: bool = False,
    ) -> None:
        """Run every batch of `sampler` through ``self._model`` (POT's inner loop)."""
        log = logger.info if print_progress else logger.debug
        compiled = self._ie.compile_model(self._model, self._device)  # type: ignore[attr-defined]
        request = compiled.create_infer_request()
        log("Start inference of %d images", len(sampler))
        start = time.time()
        for batch_id, batch in enumerate(sampler):
            annotations, images, meta = self._process_batch(batch)
            predictions = request.infer(self._fill_input(compiled, images))
            self._process_infer_output(
                stats_layout, predictions, annotations, meta, need_metrics_per_sample
            )
            if self._print_inference_progress(log, batch_id, len(sampler), start, time.time()):
                start = time.time()
        log("Inference finished")

    # ---- POT's predict ------------------------------------------------------------------

    def _runs_pot_flow(self) -> bool:
        """Whether ``predict`` must follow POT's steps (a subclass runs the model itself)."""
        return type(self)._predict is not PotEngineSurface._predict or isinstance(
            self._model,  # type: ignore[attr-defined]
            list,
        )

    def _pot_predict(
        self,
        stats_layout: Any,
        sampler: Any,
        stat_aliases: Any,
        metric_per_sample: bool,
        print_progress: bool,
    ) -> tuple[Any, dict[Any, Any]]:
        """POT's ``IEEngine.predict``: export the requested tensors, run ``_predict``."""
        from fastpot.samplers.sampler import BatchSampler  # noqa: PLC0415

        if sampler is None:
            sampler = BatchSampler(self.data_loader)  # type: ignore[attr-defined]
        aliases = None
        node_to_result: dict[Any, Any] = {}
        if stats_layout:
            stats_layout = dict(stats_layout)
            with_stats, names_map, node_to_result = self._statistic_graph_builder.insert_statistic(
                copy.deepcopy(self._nx_model), stats_layout, stat_aliases
            )
            self.set_model(with_stats)  # type: ignore[attr-defined]
            models = self._model if isinstance(self._model, list) else [{"model": self._model}]  # type: ignore[attr-defined]
            output_names: list[str] = []
            node_names: list[Any] = []
            for entry in models:
                cast_friendly_names(entry["model"].outputs)
            if isinstance(self._model, list):  # type: ignore[attr-defined]
                self._add_outputs(names_map)
            else:
                key = self._model.get_friendly_name()  # type: ignore[attr-defined]
                self._add_outputs(list(names_map[key].values()))
            for entry in models:
                key = entry["model"].get_friendly_name()
                name: Any = entry.get("name")  # a cascade entry's name (a plain model has none)
                wanted = names_map.get(key) or names_map.get(name, {})
                # Found again by node rather than taken from _add_outputs' return value:
                # POT's own samples override _add_outputs without returning anything.
                add_tensor_names(
                    [_exported_output(entry["model"], n) for n in wanted.values()], wanted.keys()
                )
                node_names.extend(wanted.keys())
                output_names.extend(collect_model_outputs(entry["model"]))
            align_stat_names_with_results(
                output_names, node_names, node_to_result, stats_layout, stat_aliases
            )
            stats_layout, aliases = self._convert_stats_names(stats_layout)
        self._predict(stats_layout, sampler, print_progress, metric_per_sample)
        accumulated = process_accumulated_stats(self._accumulated_layer_stats, aliases)
        if stats_layout and stat_aliases:
            restore_original_node_names(node_to_result, accumulated, stats_layout, stat_aliases)
        metrics = None
        if self._metric is not None:  # type: ignore[attr-defined]
            metrics = self._metric.avg_value  # type: ignore[attr-defined]
            if metric_per_sample:
                per_sample = sorted(self._per_sample_metrics, key=lambda e: e["sample_id"])
                metrics = (per_sample, metrics)
        self._reset()
        return metrics, accumulated
