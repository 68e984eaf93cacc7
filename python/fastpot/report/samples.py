"""Model inputs for the report's inference pass: normalising feed dicts, reading an engine.

A *sample* is one feed of the model: ``{input: array}`` keyed by an input's tensor name, its
Parameter's friendly name or its index, or a plain array for a single-input model.
:func:`feeds_by_index` turns such samples into ``{input index: array}`` for one model;
:func:`samples_from_engine` takes the first items of an engine's data loader, turned into
feed dicts the way the engine itself feeds them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import openvino as ov

__all__ = ["Sample", "feeds_by_index", "sample_list", "samples_from_engine"]

Sample = Mapping[Any, np.ndarray] | np.ndarray


def sample_list(samples: Any) -> list[Any]:
    """Return `samples` as a list of samples; one mapping or one array counts as one sample."""
    if samples is None:
        return []
    if isinstance(samples, (Mapping, np.ndarray)):
        return [samples]
    if isinstance(samples, Sequence) and not isinstance(samples, (str, bytes)):
        return list(samples)
    raise TypeError(
        "samples: expected a sequence of feed dicts {input_name: array} (or of arrays for a "
        f"single-input model), got {type(samples).__name__}"
    )


def _input_index(model: ov.Model, key: Any, position: int) -> int:
    """Index of the model input that `key` names (an index, a tensor or Parameter name)."""
    inputs = list(model.inputs)
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if 0 <= int(key) < len(inputs):
            return int(key)
        raise ValueError(
            f"samples[{position}]: input index {key} out of range (the model has "
            f"{len(inputs)} inputs)"
        )
    for index, port in enumerate(inputs):
        if key in port.get_names() or key == port.get_node().get_friendly_name():
            return index
    names = [port.get_any_name() for port in inputs]
    raise ValueError(f"samples[{position}]: {key!r} is not a model input (inputs: {names})")


def feeds_by_index(model: ov.Model, samples: Any) -> list[dict[int, np.ndarray]]:
    """Return `samples` as ``{input index: array}`` feeds of `model`.

    Parameters
    ----------
    model : openvino.Model
        The model the feeds are for.
    samples : sequence of mapping or numpy.ndarray
        Feed dicts keyed by input tensor name, Parameter name or index; a plain array feeds
        the only input of a single-input model. One mapping or one array is one sample.

    Returns
    -------
    list of dict
        One feed per sample, every input of the model given.

    Raises
    ------
    TypeError
        `samples` is not a sequence of mappings or arrays.
    ValueError
        A key names no input, an input is missing, or a plain array is given to a model
        with several inputs.
    """
    feeds = []
    count = len(model.inputs)
    for position, sample in enumerate(sample_list(samples)):
        if isinstance(sample, Mapping):
            feed = {
                _input_index(model, key, position): np.asarray(value)
                for key, value in sample.items()
            }
        else:
            if count != 1:
                raise ValueError(
                    f"samples[{position}]: a plain array, but the model has {count} inputs; "
                    "give {input_name: array}"
                )
            feed = {0: np.asarray(sample)}
        missing = [model.inputs[i].get_any_name() for i in range(count) if i not in feed]
        if missing:
            raise ValueError(f"samples[{position}]: no data for model input(s) {missing}")
        feeds.append(feed)
    return feeds


def samples_from_engine(engine: Any, model: ov.Model, count: int = 8) -> list[dict[Any, Any]]:
    """Feed dicts of the first `count` items of `engine`'s data loader, for `model`.

    For an :class:`~fastpot.engines.IEEngine` (the simplified engine of ``pot`` included)
    the items are converted exactly as the engine feeds them (layout, batch axis, dtype).
    Other engines' items are taken as ``(data, annotation[, meta])`` with data an array or
    an ``{input_name: array}`` dict.

    Parameters
    ----------
    engine : Engine
        An engine with a data loader. For an IEEngine, its model is set to `model`.
    model : openvino.Model
        The FP32 model the samples are for.
    count : int
        How many loader items to read at most.

    Returns
    -------
    list of dict
        One feed dict per item, keyed by input name (by index 0 for a bare array).
    """
    from fastpot.engines.ie_engine import IEEngine  # noqa: PLC0415 - heavy, only when used

    loader = getattr(engine, "data_loader", None)
    if loader is None:
        return []
    total = min(count, len(loader))
    samples: list[dict[Any, Any]] = []
    if isinstance(engine, IEEngine):
        engine.set_model(model)
        for index in range(total):
            for request in engine._feeds([(index, loader[index])]):
                samples.append(dict(request.inputs))
        return samples
    for index in range(total):
        item = loader[index]
        data = item[0] if isinstance(item, tuple) else item
        samples.append(dict(data) if isinstance(data, Mapping) else {0: np.asarray(data)})
    return samples
