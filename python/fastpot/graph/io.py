"""``load_model`` and ``save_model`` (POT spec 1.7-1.8).

fastpot reads models as they are: no load-time graph rewrites (POT transposed MatMul
weights, added zero biases and reshaped GroupConvolution weights for its own graph; none of
that changes results). Saving is atomic: files are written under temporary names in the
target directory and renamed into place, the ``.bin`` before the ``.xml``.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import openvino as ov

from fastpot.graph.model import CompressedModel

__all__ = ["load_model", "save_model"]

_MODEL_KEYS = ("model_name", "model", "weights", "cascade")
_CASCADE_KEYS = ("name", "model", "weights")
_DEVICES = ("ANY", "CPU", "CPU_SPR", "GPU", "NPU", "GNA", "GNA3", "GNA3.5")


def _check_keys(config: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in config:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (expected {allowed})"
            raise ValueError(f"{where}: unknown key {key!r}{hint}")


def _read(core: ov.Core, model: Any, weights: Any, where: str) -> ov.Model:
    if isinstance(model, ov.Model):
        return model
    if model is None:
        raise ValueError(f"{where}: missing required key 'model'")
    xml = Path(str(model))
    if not xml.is_file():
        raise FileNotFoundError(f"{xml}: the model file does not exist ({where}.model)")
    if xml.suffix.lower() == ".onnx":
        try:
            return core.read_model(str(xml))
        except RuntimeError as exc:
            raise ValueError(f"{xml}: cannot read the ONNX model: {exc}") from exc
    if weights is None:
        weights = xml.with_suffix(".bin")
    bin_path = Path(str(weights))
    if not bin_path.is_file():
        raise FileNotFoundError(f"{bin_path}: the weights file does not exist ({where}.weights)")
    try:
        return core.read_model(str(xml), str(bin_path))
    except RuntimeError as exc:
        raise ValueError(f"{xml}: cannot read the model: {str(exc).splitlines()[0]}") from exc


def load_model(model_config: Any, target_device: str = "ANY") -> CompressedModel:
    """Load a model for quantization.

    Parameters
    ----------
    model_config : dict or openvino.Model
        ``{"model_name", "model": "x.xml", "weights": "x.bin"}``, ``{"model_name",
        "cascade": [{"name", "model", "weights"}, ...]}``, an ONNX path under ``model``, or
        an in-memory ``openvino.Model`` (as the config or under ``model``).
    target_device : str
        ANY, CPU, CPU_SPR, GPU, NPU, GNA, GNA3 or GNA3.5 (only checked here).

    Returns
    -------
    CompressedModel

    Raises
    ------
    ValueError
        Unknown or missing keys (named, with the closest valid key), unreadable files,
        duplicate cascade names, an unknown target device.
    FileNotFoundError
        A model or weights file that does not exist.
    """
    if target_device not in _DEVICES:
        raise ValueError(
            f"target_device: unsupported value {target_device!r} (expected one of {_DEVICES})"
        )
    core = ov.Core()
    if isinstance(model_config, ov.Model):
        return CompressedModel([{"model": model_config}], model_config.get_friendly_name())
    if not isinstance(model_config, Mapping):
        raise TypeError("model_config: expected a dict or an openvino.Model")
    _check_keys(model_config, _MODEL_KEYS, "model_config")
    name = model_config.get("model_name")
    cascade = model_config.get("cascade")
    if cascade:
        entries = []
        seen: set[str] = set()
        for i, sub in enumerate(cascade):
            where = f"model_config.cascade[{i}]"
            _check_keys(sub, _CASCADE_KEYS, where)
            sub_name = sub.get("name")
            if not sub_name:
                raise ValueError(f"{where}: missing required key 'name'")
            if sub_name in seen:
                raise ValueError(f"{where}: duplicate cascade name {sub_name!r}")
            seen.add(sub_name)
            model = _read(core, sub.get("model"), sub.get("weights"), where)
            entries.append({"name": sub_name, "model": model})
        if len(entries) == 1:  # a one-entry cascade is a single model
            entries = [{"model": entries[0]["model"]}]
        return CompressedModel(entries, name)
    model = _read(core, model_config.get("model"), model_config.get("weights"), "model_config")
    return CompressedModel([{"model": model}], name)


def _write_atomically(model: ov.Model, xml: Path) -> None:
    """Write ``xml`` and its ``.bin`` so that an interruption leaves any old pair intact."""
    bin_path = xml.with_suffix(".bin")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{xml.stem}.", suffix=".tmp.xml", dir=xml.parent)
    os.close(fd)
    tmp_xml = Path(tmp_name)
    tmp_bin = tmp_xml.with_suffix(".bin")
    try:
        ov.save_model(model, str(tmp_xml), compress_to_fp16=False)
        os.replace(tmp_bin, bin_path)  # the bin first: an xml is never without its weights
        os.replace(tmp_xml, xml)
    except BaseException:
        for leftover in (tmp_xml, tmp_bin):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        raise


def save_model(
    model: CompressedModel,
    save_path: str | os.PathLike[str],
    model_name: str | None = None,
    for_stat_collection: bool = False,
) -> list[dict[str, str]]:
    """Save a model as OpenVINO IR (FP32 weights, written atomically).

    Parameters
    ----------
    model : CompressedModel
    save_path : path
        Directory, created if needed.
    model_name : str, optional
        File stem. Default: the IR's own network name (single model); for cascades the stems
        are ``<model_name>_<sub>``, or ``<sub>`` without a name.
    for_stat_collection : bool
        Accepted for POT compatibility; it changes nothing here.

    Returns
    -------
    list of dict
        ``[{"model": xml, "weights": bin}]``, or ``[{"name", "model", "weights"}, ...]``
        for cascades. No ``.mapping`` files are written (fastpot never renames tensors).
    """
    del for_stat_collection
    directory = Path(save_path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except PermissionError as exc:
        raise PermissionError(f"{directory}: cannot create the output directory") from exc
    if not os.access(directory, os.W_OK):
        raise PermissionError(f"{directory}: the output directory is not writable")
    results = []
    for entry in model.models:
        sub = entry.get("name")
        if model.is_cascade:
            stem = f"{model_name}_{sub}" if model_name else str(sub)
        else:
            stem = model_name or entry["model"].get_friendly_name()
        xml = directory / f"{stem}.xml"
        _write_atomically(entry["model"], xml)
        record = {"model": str(xml), "weights": str(xml.with_suffix(".bin"))}
        results.append({"name": sub, **record} if model.is_cascade else record)
    return results
