"""``QuantizationReport``: the report's data, its JSON and HTML files."""

from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "HTML_FILE",
    "JSON_FILE",
    "QuantizationReport",
    "json_safe",
    "write_atomically",
]

FORMAT = "fastpot-quantization-report"
FORMAT_VERSION = 1
JSON_FILE = "quantization_report.json"
HTML_FILE = "quantization_report.html"


def json_safe(value: Any) -> Any:
    """Return a JSON-serialisable copy: NumPy values as Python ones, NaN/inf as strings.

    Mappings become dicts with string keys, sequences and sets lists; anything else that is
    not a number, string, bool or None becomes its ``str``.
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else str(f)
    if hasattr(value, "items"):  # other mappings (addict.Dict, POT's Config)
        return {str(k): json_safe(v) for k, v in value.items()}
    return str(value)


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename."""
    # A unique name next to the target (same file system, so the rename is atomic); opened
    # with "x" so that the file gets the usual permissions (umask), unlike mkstemp's 0600.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("x", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class QuantizationReport:
    """What quantization did to a model; made by :func:`fastpot.report.build_report`.

    Parameters
    ----------
    data : dict
        The report's content (the layout of ``quantization_report.json``, described in
        :mod:`fastpot.report.collect`).
    """

    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("format") != FORMAT:
            raise ValueError(f"QuantizationReport: not a {FORMAT} (format={data.get('format')!r})")
        self._data = json_safe(data)

    # ---- content ---------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        """The model's name."""
        return str(self._data["model"]["name"])

    @property
    def counts(self) -> dict[str, int]:
        """FakeQuantize, compressed-weight and layer counts."""
        return dict(self._data["counts"])

    @property
    def fake_quantizes(self) -> list[dict[str, Any]]:
        """Every FakeQuantize node of the quantized model, in model order."""
        return list(self._data["fake_quantizes"])

    @property
    def compressed_weights(self) -> list[dict[str, Any]]:
        """Every weight stored as integers, in model order."""
        return list(self._data["compressed_weights"])

    @property
    def layers(self) -> list[dict[str, Any]]:
        """Every quantized layer, in model order."""
        return list(self._data["layers"])

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """SQNR of every model output."""
        return list(self._data["outputs"])

    @property
    def accuracy_aware(self) -> dict[str, Any] | None:
        """AccuracyAwareQuantization's summary, if one was given."""
        value = self._data.get("accuracy_aware")
        return None if value is None else dict(value)

    def to_dict(self) -> dict[str, Any]:
        """Return a deep copy of the report's content (JSON-serialisable, no NaN)."""
        copied: dict[str, Any] = json.loads(self.to_json())
        return copied

    def to_json(self) -> str:
        """Return the report as JSON text (what ``quantization_report.json`` holds)."""
        return json.dumps(self._data, indent=1, allow_nan=False) + "\n"

    def to_html(self) -> str:
        """Return the report as one self-contained HTML page (plots when matplotlib is there)."""
        from fastpot.report.render import render_html  # noqa: PLC0415 - only when rendering

        return render_html(self._data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> QuantizationReport:
        """Read a report from its JSON file, or from the folder holding it."""
        file = Path(path)
        if file.is_dir():
            file = file / JSON_FILE
        return cls(json.loads(file.read_text(encoding="utf-8")))

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``quantization_report.json`` and ``quantization_report.html`` into `directory`.

        The folder is created if needed; each file is written atomically (a temporary file
        in the same folder, then renamed), so a reader never sees half a report.

        Returns
        -------
        pathlib.Path
            The HTML file.
        """
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(folder / JSON_FILE, self.to_json())
        html = folder / HTML_FILE
        write_atomically(html, self.to_html())
        return html

    def __repr__(self) -> str:
        c = self._data["counts"]
        return (
            f"QuantizationReport(model={self.model_name!r}, "
            f"activation_fake_quantizes={c['activation_fake_quantizes']}, "
            f"weight_quantizers={c['weight_quantizers']}, layers={c['quantized_layers']})"
        )
