"""The report as one self-contained HTML page, plots embedded as base64 PNG images.

Plots are drawn with matplotlib's object API (``Figure`` and the Agg canvas), never pyplot,
so a user's interactive backend and open figures are left alone. Without matplotlib (an
optional extra: ``pip install 'fastpot[report]'``) the page has every table and a note
instead of the plots. The page loads nothing from the network and needs no JavaScript.
"""

from __future__ import annotations

import base64
import html
import io
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["MAX_HISTOGRAMS", "MAX_WEIGHT_PLOTS", "plotting_available", "render_html"]

#: Histograms drawn at most (the first activation FakeQuantizes); the tables list them all.
MAX_HISTOGRAMS = 64
#: Per-channel weight range plots drawn at most (the first per-channel weight quantizers).
MAX_WEIGHT_PLOTS = 16

_NO_MATPLOTLIB = (
    "matplotlib is not installed, so this report has no plots (the tables are complete). "
    "Install it with: pip install 'fastpot[report]'"
)

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 24px;
       color: #1d232a; background: #fff; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 2px solid #d6dde6; }
h3 { font-size: 1.05em; margin-top: 1.2em; }
.meta { color: #5a6572; font-size: 0.9em; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 14px 0; }
.card { border: 1px solid #d6dde6; border-radius: 6px; padding: 10px 14px; min-width: 150px; }
.card .value { font-size: 1.5em; font-weight: 600; }
.card .label { color: #5a6572; font-size: 0.85em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 8px 0; }
th, td { border: 1px solid #d6dde6; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f1f4f8; position: sticky; top: 0; }
tr:nth-child(even) td { background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.good { color: #1b7a3d; } .fair { color: #a46200; } .poor { color: #b3261e; font-weight: 600; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 6px 10px; margin: 8px 0; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; }
.grid figure { margin: 0; border: 1px solid #e3e8ee; border-radius: 4px; padding: 4px; }
figcaption { font-size: 0.75em; color: #5a6572; max-width: 300px; overflow-wrap: anywhere; }
code { font-size: 0.95em; }
ul.params { margin: 0; padding-left: 1.1em; }
"""


# ---- plotting -------------------------------------------------------------------------------


def plotting_available() -> bool:
    """Whether matplotlib (Figure and the Agg canvas) can be imported."""
    return _matplotlib() is not None


def _matplotlib() -> tuple[Any, Any, Any] | None:
    try:
        from matplotlib import ticker  # noqa: PLC0415
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError:
        return None
    return Figure, FigureCanvasAgg, ticker


class _Plotter:
    """Draws figures off-screen and returns them as ``<img>`` tags."""

    def __init__(self, figure_cls: Any, canvas_cls: Any, ticker: Any) -> None:
        self._figure_cls = figure_cls
        self._canvas_cls = canvas_cls
        self._ticker = ticker

    def plain_log_ticks(self, axis: Any) -> None:
        axis.set_minor_locator(self._ticker.NullLocator())
        axis.set_major_formatter(self._ticker.LogFormatter(labelOnlyBase=True))

    def figure(self, width: float, height: float, dpi: int = 80) -> Any:
        return self._figure_cls(figsize=(width, height), dpi=dpi)

    def image(self, figure: Any, alt: str) -> str:
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            # A missing glyph in a layer name must not fail a run (or a warnings-as-errors test).
            warnings.simplefilter("ignore")
            self._canvas_cls(figure).print_png(buffer)
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        return f'<img alt="{_e(alt)}" src="data:image/png;base64,{encoded}">'


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _histogram_plot(plotter: _Plotter, fq: dict[str, Any]) -> str | None:
    observed = fq.get("observed")
    if not observed:
        return None
    hist = observed["histogram"]
    edges = np.asarray([_finite(e) or 0.0 for e in hist["edges"]], dtype=np.float64)
    counts = np.asarray(hist["counts"], dtype=np.float64)
    low, high = _finite(fq["input_low"]["min"]), _finite(fq["input_high"]["max"])
    fig = plotter.figure(3.7, 2.1)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.2, top=0.86)
    if counts.max(initial=0) > 0:
        # Log counts: post-ReLU tensors pile up at zero. One stairs artist (not 64 bars) and
        # no minor ticks or mathtext labels keep a thumbnail cheap to draw.
        ax.set_yscale("log", nonpositive="clip")
        ax.stairs(np.maximum(counts, 0.5), edges, baseline=0.5, fill=True, color="#4a78b5")
        plotter.plain_log_ticks(ax.yaxis)
    if low is not None and high is not None:
        ax.axvspan(low, high, color="#f0b400", alpha=0.15, lw=0)
        for x in (low, high):
            ax.axvline(x, color="#b3261e", ls="--", lw=1)
    ax.set_title(_short(fq["name"], 48), fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_xlabel("FP32 value (dashed: FakeQuantize input range)", fontsize=6)
    return plotter.image(fig, f"histogram of the input of {fq['name']}")


def _sqnr_plot(plotter: _Plotter, layers: Sequence[dict[str, Any]]) -> str | None:
    points = [(layer["name"], layer["sqnr_db"]) for layer in layers]
    points = [(n, v) for n, v in points if v is not None]
    if not points:
        return None
    values = [_finite(v) for _, v in points]
    finite = [v for v in values if v is not None]
    top = max(finite) if finite else 60.0
    shown = [top * 1.05 + 1 if v is None else v for v in values]  # identical outputs: tallest
    width = min(max(4.0, 0.22 * len(points) + 1.5), 24.0)
    fig = plotter.figure(width, 2.8)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.35, top=0.9)
    colors = [_sqnr_color(v) for v in values]
    ax.bar(range(len(points)), shown, color=colors)
    ax.set_ylabel("SQNR, dB", fontsize=8)
    ax.set_title("Quantization error of each layer's output (higher is better)", fontsize=9)
    ax.set_xticks(range(len(points)))
    labels = [_short(n, 24) for n, _ in points]
    ax.set_xticklabels(labels, rotation=70, ha="right", fontsize=6 if len(points) < 60 else 4)
    ax.tick_params(axis="y", labelsize=7)
    ax.axhline(20.0, color="#a46200", lw=0.8, ls=":")
    return plotter.image(fig, "SQNR per layer")


def _sqnr_color(value: float | None) -> str:
    if value is None or value >= 20.0:
        return "#2e8b57"
    return "#e0a000" if value >= 10.0 else "#c0392b"


def _weight_plot(plotter: _Plotter, name: str, low: Sequence[Any], high: Sequence[Any]) -> str:
    lo = np.asarray([_finite(v) or 0.0 for v in low], dtype=np.float64)
    hi = np.asarray([_finite(v) or 0.0 for v in high], dtype=np.float64)
    lo, hi = np.broadcast_arrays(lo, hi)
    channels = np.arange(lo.size)
    fig = plotter.figure(3.7, 2.1)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.2, top=0.86)
    ax.fill_between(channels, lo, hi, step="mid", color="#4a78b5", alpha=0.35, lw=0)
    ax.step(channels, hi, where="mid", color="#2c5282", lw=0.8)
    ax.step(channels, lo, where="mid", color="#2c5282", lw=0.8)
    ax.axhline(0.0, color="#777", lw=0.5)
    ax.set_title(_short(name, 48), fontsize=7)
    ax.set_xlabel("output channel", fontsize=6)
    ax.tick_params(labelsize=6)
    return plotter.image(fig, f"per-channel weight range of {name}")


def _accuracy_plot(plotter: _Plotter, summary: dict[str, Any]) -> str | None:
    points = _accuracy_points(summary)
    if len(points) < 1:
        return None
    metrics = sorted({m for _, values, _ in points for m in values})
    if not metrics:
        return None
    fig = plotter.figure(max(5.0, min(0.5 * len(points) + 3, 16.0)), 4.2)
    top, bottom = fig.subplots(2, 1, sharex=True)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.28, top=0.92, hspace=0.12)
    x = np.arange(len(points))
    allowed = summary.get("allowed_drop") or {}
    for metric in metrics:
        ys = [_finite(values.get(metric)) for _, values, _ in points]
        top.plot(x, [np.nan if y is None else y for y in ys], marker="o", ms=3, label=metric)
        drops = [_finite(d.get(metric)) if d else None for _, _, d in points]
        bottom.plot(x, [np.nan if d is None else d for d in drops], marker="o", ms=3)
        limit = _finite(allowed.get(metric))
        if limit is not None:
            bottom.axhline(limit, color="#b3261e", ls="--", lw=0.8)
    top.set_title("AccuracyAwareQuantization: metric at every step", fontsize=9)
    top.set_ylabel("metric", fontsize=8)
    bottom.set_ylabel("drop (dashed: allowed)", fontsize=8)
    top.legend(fontsize=7)
    bottom.set_xticks(x)
    bottom.set_xticklabels([_short(label, 28) for label, _, _ in points], rotation=35, ha="right")
    for ax in (top, bottom):
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    return plotter.image(fig, "metric per AccuracyAware step")


def _accuracy_points(
    summary: dict[str, Any],
) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """(label, metrics, drops) of the baseline, each configuration tried and each step."""
    points: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    baseline = summary.get("baseline")
    if isinstance(baseline, dict):
        points.append(("FP32 baseline", baseline, dict.fromkeys(baseline, 0.0)))
    for config in summary.get("configurations") or []:
        points.append((str(config.get("name")), config.get("metrics") or {}, config.get("drop")))
    for step in summary.get("steps") or []:
        label = f"step {step.get('iteration')}: {step.get('fake_quantize')}"
        points.append((label, step.get("metrics") or {}, step.get("drop")))
    return points


# ---- HTML -----------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _short(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "&mdash;"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _e(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}"


def _range_text(low: Any, high: Any) -> str:
    return f"[{_fmt(low)}, {_fmt(high)}]"


def _sqnr_cell(value: Any) -> str:
    number = _finite(value)
    if value is None:
        return '<td class="num">&mdash;</td>'
    if number is None:  # "inf": identical
        return f'<td class="num good">{_e(value)}</td>'
    css = "good" if number >= 20.0 else "fair" if number >= 10.0 else "poor"
    return f'<td class="num {css}">{number:.2f}</td>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "\n".join(
        "<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _num(value: Any, digits: int = 4) -> str:
    return f'<td class="num">{_fmt(value, digits)}</td>'


def _card(value: Any, label: str) -> str:
    return (
        f'<div class="card"><div class="value">{_e(value)}</div>'
        f'<div class="label">{_e(label)}</div></div>'
    )


def _params(params: Any) -> str:
    if not isinstance(params, dict) or not params:
        return "&mdash;"
    items = "".join(f"<li><code>{_e(k)}</code>: {_e(v)}</li>" for k, v in sorted(params.items()))
    return f'<ul class="params">{items}</ul>'


def _header(data: dict[str, Any]) -> str:
    model = data["model"]
    counts = data["counts"]
    outputs = data.get("outputs") or []
    cards = [
        _card(counts["fake_quantize_nodes"], "FakeQuantize nodes in the IR"),
        _card(counts["activation_fake_quantizes"], "on activations"),
        _card(counts["weight_fake_quantizes"], "on weights (still FakeQuantize)"),
        _card(counts["compressed_weights"], "weights compressed to integers"),
        _card(counts["quantized_layers"], "quantized layers"),
    ]
    for out in outputs:
        value = out["sqnr_db"]
        shown = f"{value:.2f} dB" if _finite(value) is not None else str(value)
        cards.append(_card(shown, f"SQNR of output {out['name']}"))
    weights = counts["weight_quantizers"]
    explanation = (
        f"{counts['activation_fake_quantizes']} activation FakeQuantize node(s) and "
        f"{weights} weight quantizer(s): {counts['weight_fake_quantizes']} still FakeQuantize, "
        f"{counts['compressed_weights']} stored as integer constants with a scale (weight "
        "FakeQuantizes become such constants when the weights are compressed, so the saved "
        "IR holds fewer FakeQuantize nodes than the quantization algorithm inserted)."
    )
    inputs = ", ".join(f"{i['name']} {i['shape']} {i['type']}" for i in model["inputs"])
    return (
        f"<h1>Quantization report: {_e(model['name'])}</h1>\n"
        f'<div class="meta">created {_e(data.get("created"))} &middot; fastpot '
        f"{_e(data.get('fastpot_version'))} &middot; OpenVINO {_e(data.get('openvino_version'))}"
        f" &middot; {_e(data.get('samples'))} sample(s) on {_e(data.get('device'))} &middot; "
        f"inputs: {_e(inputs)}</div>\n"
        f'<div class="cards">{"".join(cards)}</div>\n<p>{_e(explanation)}</p>'
    )


def _algorithms(data: dict[str, Any]) -> str:
    algorithms = data.get("algorithms") or []
    if not algorithms:
        return ""
    rows = [
        [f"<b>{_e(a.get('name'))}</b>", _params(a.get("params"))]
        for a in algorithms
        if isinstance(a, dict)
    ]
    return "<h2>Algorithms</h2>\n" + _table(["Algorithm", "Parameters"], rows)


def _bias_text(bias: dict[str, Any]) -> str:
    status = bias.get("status")
    if status == "changed":
        relative = _finite(bias.get("max_relative_change"))
        rel = f" ({_fmt(relative * 100, 3)}%)" if relative is not None else ""
        return f"changed: max |&Delta;| {_fmt(bias.get('max_abs_change'))}{rel}"
    if status == "added":
        return f"added (max |b| {_fmt(bias.get('max_abs_change'))})"
    return _e(status)


def _layers(data: dict[str, Any], plotter: _Plotter | None) -> str:
    layers = data.get("layers") or []
    parts = ["<h2>Quantized layers</h2>"]
    if plotter is not None:
        image = _sqnr_plot(plotter, layers)
        if image:
            parts.append(image)
    rows = []
    for layer in layers:
        acts = layer["activation_fake_quantizes"]
        weights = layer["weight_quantizers"]
        act_names = "<br>".join(f"<code>{_e(a['name'])}</code>" for a in acts) or "&mdash;"
        weight_names = []
        for weight in weights:
            kind = (
                f"compressed {weight['storage_type']}"
                if weight["kind"] == "compressed"
                else "FakeQuantize"
            )
            weight_names.append(f"<code>{_e(weight['name'])}</code><br><small>{_e(kind)}</small>")
        levels = [f"a: {a['levels']}" for a in acts]
        granularity = [f"a: {a['granularity']}" for a in acts]
        ranges = [f"a: {_range_text(a['low'], a['high'])}" for a in acts]
        for weight in weights:
            levels.append(f"w: {weight['levels']}")
            granularity.append(f"w: {weight['granularity']}")
            ranges.append(f"w: {_range_text(weight['low'], weight['high'])}")
        rows.append(
            [
                f"<code>{_e(layer['name'])}</code>",
                _e(layer["type"]),
                act_names,
                "<br>".join(weight_names) or "&mdash;",
                "<br>".join(levels),
                "<br>".join(granularity),
                '<td class="num">' + "<br>".join(ranges) + "</td>",
                _bias_text(layer["bias"]),
                _sqnr_cell(layer["sqnr_db"]),
            ]
        )
    headers = [
        "Layer",
        "Type",
        "Activation FQs",
        "Weight quantizer",
        "Levels",
        "Granularity",
        "Range (a: FQ input, w: weights)",
        "Bias change",
        "SQNR, dB",
    ]
    parts.append(_table(headers, rows))
    return "\n".join(parts)


def _activations(data: dict[str, Any], plotter: _Plotter | None) -> str:
    fqs = [fq for fq in data.get("fake_quantizes") or [] if fq["kind"] == "activation"]
    parts = ["<h2>Activation FakeQuantize nodes</h2>"]
    rows = []
    for fq in fqs:
        observed = fq.get("observed") or {}
        outside = None
        below, above = (
            _finite(observed.get("below_range_fraction")),
            _finite(observed.get("above_range_fraction")),
        )
        if below is not None and above is not None:
            outside = f"{(below + above) * 100:.3g}%"
        rows.append(
            [
                f"<code>{_e(fq['name'])}</code>",
                _num(fq["levels"]),
                _e(fq["granularity"]),
                '<td class="num">'
                + _range_text(fq["input_low"]["min"], fq["input_high"]["max"])
                + "</td>",
                '<td class="num">'
                + _range_text(fq["output_low"]["min"], fq["output_high"]["max"])
                + "</td>",
                '<td class="num">'
                + (_range_text(observed.get("min"), observed.get("max")) if observed else "&mdash;")
                + "</td>",
                _num(outside),
                ", ".join(f"<code>{_e(n)}</code>" for n in fq["layers"]) or "&mdash;",
            ]
        )
    parts.append(
        _table(
            [
                "FakeQuantize",
                "Levels",
                "Granularity",
                "Input range",
                "Output range",
                "Observed FP32 range",
                "Outside range",
                "Layers",
            ],
            rows,
        )
    )
    parts.append(
        "<p class='meta'>Per-channel ranges are summarised as [min over channels of the low "
        "end, max over channels of the high end]; the JSON holds every channel's values.</p>"
    )
    if plotter is not None and fqs:
        parts.append("<h3>Observed FP32 distributions</h3>")
        images = []
        for fq in fqs[:MAX_HISTOGRAMS]:
            image = _histogram_plot(plotter, fq)
            if image:
                images.append(f"<figure>{image}<figcaption>{_e(fq['name'])}</figcaption></figure>")
        if len(fqs) > MAX_HISTOGRAMS:
            parts.append(
                f'<div class="note">Histograms of the first {MAX_HISTOGRAMS} of {len(fqs)} '
                "activation FakeQuantize nodes; the JSON has all of them.</div>"
            )
        if images:
            parts.append('<div class="grid">' + "\n".join(images) + "</div>")
        else:
            parts.append("<p>No samples were measured: no histograms.</p>")
    return "\n".join(parts)


def _weights(data: dict[str, Any], plotter: _Plotter | None) -> str:
    rows = []
    series: list[tuple[str, list[Any], list[Any]]] = []
    for fq in data.get("fake_quantizes") or []:
        if fq["kind"] != "weight":
            continue
        rows.append(
            [
                f"<code>{_e(fq['name'])}</code>",
                "FakeQuantize",
                _num(fq["levels"]),
                _e(fq["granularity"]),
                '<td class="num">'
                + _range_text(fq["output_low"]["min"], fq["output_high"]["max"])
                + "</td>",
                "&mdash;",
                ", ".join(f"<code>{_e(n)}</code>" for n in fq["layers"]) or "&mdash;",
            ]
        )
        if fq["granularity"] == "perchannel":
            series.append((fq["name"], fq["output_low"]["values"], fq["output_high"]["values"]))
    for weight in data.get("compressed_weights") or []:
        zero_point = weight.get("zero_point")
        rows.append(
            [
                f"<code>{_e(weight['name'])}</code>",
                f"compressed {_e(weight['storage_type'])}",
                _num(weight["levels"]),
                _e(weight["granularity"]),
                '<td class="num">'
                + _range_text(weight["weight_low"]["min"], weight["weight_high"]["max"])
                + "</td>",
                "none"
                if zero_point is None
                else _range_text(zero_point.get("min"), zero_point.get("max")),
                ", ".join(f"<code>{_e(n)}</code>" for n in weight["layers"]) or "&mdash;",
            ]
        )
        if weight["granularity"] == "perchannel":
            series.append(
                (weight["name"], weight["weight_low"]["values"], weight["weight_high"]["values"])
            )
    if not rows:
        return ""
    parts = [
        "<h2>Weight quantizers</h2>",
        _table(
            ["Quantizer", "Kind", "Levels", "Granularity", "Range", "Zero point", "Layers"], rows
        ),
        (
            "<p class='meta'>Compressed weights: the range is that of the dequantized weights "
            "(integers minus zero point, times scale); their levels are inferred from the "
            "storage type (255 for signed 8-bit storage without zero point that never uses "
            "-128).</p>"
        ),
    ]
    if plotter is not None and series:
        parts.append("<h3>Per-channel weight ranges</h3>")
        images = [
            f"<figure>{_weight_plot(plotter, name, low, high)}"
            f"<figcaption>{_e(name)}</figcaption></figure>"
            for name, low, high in series[:MAX_WEIGHT_PLOTS]
        ]
        if len(series) > MAX_WEIGHT_PLOTS:
            parts.append(
                f'<div class="note">The first {MAX_WEIGHT_PLOTS} of {len(series)} per-channel '
                "weight quantizers are plotted.</div>"
            )
        parts.append('<div class="grid">' + "\n".join(images) + "</div>")
    return "\n".join(parts)


def _metrics_text(values: Any) -> str:
    if not isinstance(values, dict) or not values:
        return "&mdash;"
    return "<br>".join(f"{_e(k)}: {_fmt(v, 5)}" for k, v in values.items())


def _accuracy_aware(data: dict[str, Any], plotter: _Plotter | None) -> str:
    summary = data.get("accuracy_aware")
    if not summary:
        return ""
    parts = ["<h2>AccuracyAwareQuantization</h2>"]
    result = summary.get("result") or {}
    params = summary.get("parameters") or {}
    facts = [
        f"baseline: {_metrics_text(summary.get('baseline'))}",
        f"allowed drop: {_metrics_text(summary.get('allowed_drop'))}",
        f"maximal_drop {_e(params.get('maximal_drop'))} ({_e(params.get('drop_type'))})",
    ]
    if result:
        facts.append(
            f"result: {'reached' if result.get('reached') else 'NOT reached'}; drop "
            f"{_metrics_text(result.get('drop'))}; {len(result.get('reverted_layers') or [])} of "
            f"{_e(result.get('quantized_layers'))} layers reverted to floating point"
        )
    parts.append("<ul>" + "".join(f"<li>{f}</li>" for f in facts) + "</ul>")
    if plotter is not None:
        image = _accuracy_plot(plotter, summary)
        if image:
            parts.append(image)
    rows = [
        [
            _e(c.get("name")),
            _metrics_text(c.get("metrics")),
            _metrics_text(c.get("drop")),
            "kept" if c.get("kept") else "discarded",
            "&mdash;",
        ]
        for c in summary.get("configurations") or []
    ]
    for step in summary.get("steps") or []:
        reverted = step.get("reverted_fake_quantizes") or []
        layers = step.get("reverted_layers") or []
        rows.append(
            [
                f"step {_e(step.get('iteration'))} ({_e(step.get('metric'))})",
                _metrics_text(step.get("metrics")),
                _metrics_text(step.get("drop")),
                _e(step.get("action")),
                "FQs: "
                + (", ".join(f"<code>{_e(n)}</code>" for n in reverted) or "&mdash;")
                + "<br>layers: "
                + (", ".join(f"<code>{_e(n)}</code>" for n in layers) or "&mdash;"),
            ]
        )
    parts.append(_table(["Configuration / step", "Metrics", "Drop", "Outcome", "Reverted"], rows))
    if result:
        reverted_layers = result.get("reverted_layers") or []
        reverted_fqs = result.get("reverted_fake_quantizes") or []
        parts.append(
            "<h3>Reverted in the final model</h3><p>Layers: "
            + (", ".join(f"<code>{_e(n)}</code>" for n in reverted_layers) or "none")
            + "<br>FakeQuantize nodes: "
            + (", ".join(f"<code>{_e(n)}</code>" for n in reverted_fqs) or "none")
            + "</p>"
        )
    return "\n".join(parts)


def render_html(data: dict[str, Any]) -> str:
    """Render a report's content (``QuantizationReport.to_dict()``) as one HTML page.

    Parameters
    ----------
    data : dict
        The report's content.

    Returns
    -------
    str
        A self-contained page: inline CSS, plots as ``data:image/png;base64`` images (none,
        and a note saying why, when matplotlib is missing), no scripts, no external links.
    """
    loaded = _matplotlib()
    plotter = None if loaded is None else _Plotter(*loaded)
    notes = list(data.get("notes") or [])
    if plotter is None:
        notes.insert(0, _NO_MATPLOTLIB)
    body = [
        _header(data),
        "".join(f'<div class="note">{_e(n)}</div>' for n in notes),
        _algorithms(data),
        _layers(data, plotter),
        _activations(data, plotter),
        _weights(data, plotter),
        _accuracy_aware(data, plotter),
    ]
    title = _e(f"Quantization report: {data['model']['name']}")
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )
