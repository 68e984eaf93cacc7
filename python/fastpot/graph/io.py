"""``load_model`` and ``save_model`` (POT spec 1.7-1.8).

fastpot reads models as they are: no load-time graph rewrites (POT transposed MatMul
weights, added zero biases and reshaped GroupConvolution weights for its own graph; none of
that changes results). Saving is atomic: files are written under temporary names in the
target directory and renamed into place, the ``.bin`` before the ``.xml``.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import openvino as ov

from fastpot.graph.model import CompressedModel, prefixed_copy

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


def _reason(exc: Exception) -> str:
    """Return the informative lines of an OpenVINO error (not its source locations)."""
    lines = [
        line.strip()
        for line in str(exc).splitlines()
        if line.strip()
        and not line.startswith("Exception from ")
        and not re.match(r"Check '.*' failed at ", line)
    ]
    return "; ".join(lines) or str(exc)


def _read(core: ov.Core, model: Any, weights: Any, where: str) -> ov.Model:
    if isinstance(model, ov.Model):
        return model
    if model is None:
        raise ValueError(f"{where}: missing required key 'model'")
    xml = Path(os.fspath(model))
    if not xml.is_file():
        raise FileNotFoundError(f"{xml}: the model file does not exist ({where}.model)")
    if xml.suffix.lower() == ".onnx":
        try:
            return core.read_model(str(xml))
        except RuntimeError as exc:
            raise ValueError(f"{xml}: cannot read the ONNX model: {_reason(exc)}") from exc
    bin_path = xml.with_suffix(".bin") if weights is None else Path(os.fspath(weights))
    if not bin_path.is_file():
        raise FileNotFoundError(f"{bin_path}: the weights file does not exist ({where}.weights)")
    try:
        return core.read_model(str(xml), str(bin_path))
    except RuntimeError as exc:
        raise ValueError(
            f"{xml} (weights {bin_path}): cannot read the model: {_reason(exc)}"
        ) from exc


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
        raise TypeError(
            f"model_config: expected a dict or an openvino.Model, got {type(model_config).__name__}"
        )
    _check_keys(model_config, _MODEL_KEYS, "model_config")
    name = model_config.get("model_name")
    if "cascade" not in model_config:
        model = _read(core, model_config.get("model"), model_config.get("weights"), "model_config")
        return CompressedModel([{"model": model}], name)

    cascade = model_config["cascade"]
    if "model" in model_config or "weights" in model_config:
        raise ValueError("model_config: give either 'cascade' or 'model'/'weights', not both")
    if isinstance(cascade, (str, bytes, Mapping)) or not isinstance(cascade, Sequence):
        raise TypeError("model_config.cascade: expected a list of {name, model, weights} dicts")
    if not cascade:
        raise ValueError("model_config.cascade: the list is empty")
    entries = []
    seen: set[str] = set()
    for i, sub in enumerate(cascade):
        where = f"model_config.cascade[{i}]"
        if not isinstance(sub, Mapping):
            raise TypeError(f"{where}: expected a dict with keys {_CASCADE_KEYS}")
        _check_keys(sub, _CASCADE_KEYS, where)
        sub_name = sub.get("name")
        if not sub_name:
            raise ValueError(f"{where}: missing required key 'name'")
        if sub_name in seen:
            raise ValueError(f"{where}: duplicate cascade name {sub_name!r}")
        seen.add(sub_name)
        model = _read(core, sub.get("model"), sub.get("weights"), where)
        entries.append({"name": sub_name, "model": model})
    if len(entries) == 1:  # a one-entry cascade is a single model (as in POT)
        entries = [{"model": entries[0]["model"]}]
    return CompressedModel(entries, name)


def _write_atomically(model: ov.Model, xml: Path) -> None:
    """Write ``xml`` and its ``.bin`` so that a failure leaves any old pair intact.

    Both files are written into a temporary directory next to ``xml`` (same file system),
    then renamed into place, the ``.bin`` first so that an ``.xml`` never appears without
    its weights. If the second rename fails, the previous ``.bin`` (kept as a hard link or
    a copy) is put back, or the new one removed if there was none.
    """
    bin_path = xml.with_suffix(".bin")
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{xml.stem}.", suffix=".tmp", dir=xml.parent))
    tmp_xml = tmp_dir / xml.name
    backup = tmp_dir / "previous.bin"
    had_bin = bin_path.exists()
    bin_replaced = False
    try:
        ov.save_model(model, str(tmp_xml), compress_to_fp16=False)
        if had_bin:
            try:
                os.link(bin_path, backup)
            except OSError:  # no hard links on this file system
                shutil.copy2(bin_path, backup)
        os.replace(tmp_xml.with_suffix(".bin"), bin_path)
        bin_replaced = True
        os.replace(tmp_xml, xml)
    except BaseException:
        if bin_replaced:  # undo the first rename
            if had_bin:
                os.replace(backup, bin_path)
            else:
                bin_path.unlink()
        raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _stem(model: CompressedModel, entry: dict[str, Any], model_name: str | None) -> str:
    if model.is_cascade:
        stem = f"{model_name}_{entry['name']}" if model_name else str(entry["name"])
    else:
        stem = model_name or entry["model"].get_friendly_name()
    if (
        not stem
        or stem in (".", "..")
        or any(sep and sep in stem for sep in ("/", os.sep, os.altsep))
    ):
        raise ValueError(f"model_name: {stem!r} is not usable as a file name (pass model_name=...)")
    return stem


def save_model(
    model: CompressedModel | ov.Model,
    save_path: str | os.PathLike[str],
    model_name: str | None = None,
    for_stat_collection: bool = False,
) -> list[dict[str, str]]:
    """Save a model as OpenVINO IR (FP32 weights, written atomically).

    Parameters
    ----------
    model : CompressedModel or openvino.Model
        The model to save.
    save_path : str or os.PathLike
        Directory, created if needed.
    model_name : str, optional
        File stem. Default: the model's own name (the IR's ``<net name>``, i.e.
        ``ov.Model.get_friendly_name()``), not ``model_config.model_name``, as in POT. For
        cascades the stems are ``<model_name>_<sub>``, or ``<sub>`` without a name.
    for_stat_collection : bool
        For a cascade, save the sub-models with POT's statistics-time node names
        ``<sub>_<node>`` (what a custom engine's ``_set_model`` reads back); no effect on a
        single model.

    Returns
    -------
    list of dict
        ``[{"model": xml, "weights": bin}]``, or ``[{"name", "model", "weights"}, ...]``
        for cascades.

    Raises
    ------
    PermissionError
        ``save_path`` cannot be created or written to.
    NotADirectoryError
        ``save_path`` is an existing file.
    ValueError
        The file stem is empty or contains a path separator.

    Notes
    -----
    Deliberate differences from POT: no ``.mapping`` files are written (fastpot does not
    rename tensors, so there is nothing to map); weights are always stored as they are in
    memory (``compress_to_fp16=False``); each IR is written under temporary names and
    renamed into place, so an interrupted save leaves no half-written model and keeps a
    previous one.
    """
    if isinstance(model, ov.Model):
        model = CompressedModel([{"model": model}])
    directory = Path(save_path)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory}: save_path exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except PermissionError as exc:
        raise PermissionError(f"{directory}: cannot create the output directory") from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"{directory}: the output directory is not writable")
    stems = [_stem(model, entry, model_name) for entry in model.models]
    results = []
    for entry, stem in zip(model.models, stems, strict=True):
        xml = directory / f"{stem}.xml"
        ov_model = entry["model"]
        if for_stat_collection and model.is_cascade:
            ov_model = prefixed_copy(ov_model, f"{entry['name']}_")
        try:
            _write_atomically(ov_model, xml)
        except PermissionError as exc:
            raise PermissionError(f"{xml}: cannot write the model ({exc})") from exc
        record = {"model": str(xml), "weights": str(xml.with_suffix(".bin"))}
        results.append({"name": entry["name"], **record} if model.is_cascade else record)
    return results
