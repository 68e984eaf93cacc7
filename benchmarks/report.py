"""Markdown tables from a pytest-benchmark JSON file of ``test_bench_kernels.py``.

Usage::

    python benchmarks/report.py .benchmarks/run.json > table.md

One table per group (``kernel|shape``): every backend and NumPy peer with its median time and
its speedup over the group's baseline (``np.quantile`` for quantile groups, the ``numpy``
reference backend otherwise). Memory-bound groups also get the achieved read bandwidth
(``x.nbytes / median``) and its ratio to the ``np.add.reduce`` bandwidth of the same run. A
line per group gives the numba / cpp time ratio, and a last section checks the issue's
targets.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BACKEND_ORDER = ("cpp", "numba", "numpy")
LIMIT = "np.add.reduce"
LIMIT_THREADS = "np.add.reduce/threads"  # the same read over one thread per CPU

# The targets: (group, what, threshold).
TARGET_MIN_MAX = ("min_max_per_channel|64x256x56x56", 0.8)  # x np.add.reduce bandwidth
TARGET_QUANTILE = ("quantile_per_sample|64x256x56x56", 25.0)  # x faster than np.quantile
TARGET_NUMBA = 3.0  # numba time / cpp time, at most


@dataclass(frozen=True)
class Row:
    """One benchmark of a group."""

    entry: str
    kind: str  # "backend" or "peer"
    median: float  # seconds
    rounds: int
    nbytes: int
    baseline: str
    bandwidth: bool

    @property
    def gbps(self) -> float:
        return self.nbytes / self.median / 1e9


def _row(bench: dict[str, object]) -> Row:
    info = bench.get("extra_info") or {}
    assert isinstance(info, dict)
    stats = bench["stats"]
    assert isinstance(stats, dict)
    entry = str(info.get("entry") or bench.get("param") or bench["name"])
    return Row(
        entry=entry,
        kind=str(info.get("kind", "backend" if entry in BACKEND_ORDER else "peer")),
        median=float(stats["median"]),
        rounds=int(stats["rounds"]),
        nbytes=int(info.get("nbytes", 0)),
        baseline=str(info.get("baseline", "numpy")),
        bandwidth=bool(info.get("bandwidth", False)),
    )


def load_groups(path: Path) -> tuple[dict[str, list[Row]], dict[str, object]]:
    """Rows by group, in file order, and the machine info of the run."""
    data = json.loads(path.read_text())
    groups: dict[str, list[Row]] = {}
    for bench in data.get("benchmarks", []):
        groups.setdefault(str(bench.get("group") or bench["name"]), []).append(_row(bench))
    machine = data.get("machine_info") or {}
    return groups, machine if isinstance(machine, dict) else {}


def _sort_key(row: Row) -> tuple[int, int, str]:
    if row.kind == "backend":
        rank = BACKEND_ORDER.index(row.entry) if row.entry in BACKEND_ORDER else len(BACKEND_ORDER)
        return (0, rank, row.entry)
    return (1, int(row.entry == LIMIT) + 2 * int(row.entry == LIMIT_THREADS), row.entry)


def fmt_time(seconds: float) -> str:
    """Median time with a unit, to 4 significant digits."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.4g} {unit}"
    return f"{seconds * 1e9:.4g} ns"


def _by_entry(rows: Sequence[Row]) -> dict[str, Row]:
    return {row.entry: row for row in rows}


def numba_cpp_ratio(rows: Sequence[Row]) -> float | None:
    """numba median / cpp median, when both ran."""
    entries = _by_entry(rows)
    if "numba" in entries and "cpp" in entries:
        return entries["numba"].median / entries["cpp"].median
    return None


def group_table(group: str, rows: Sequence[Row]) -> list[str]:
    """The markdown lines of one group."""
    rows = sorted(rows, key=_sort_key)
    entries = _by_entry(rows)
    baseline_name = rows[0].baseline
    baseline = entries.get(baseline_name)
    bandwidth = rows[0].bandwidth
    limit = entries.get(LIMIT) if bandwidth else None
    limit_threads = entries.get(LIMIT_THREADS) if bandwidth else None

    header = ["backend / peer", "median", f"speedup vs {baseline_name}"]
    if bandwidth:
        header += ["read GB/s", f"x {LIMIT} BW"]
        if limit_threads:
            header.append(f"x {LIMIT_THREADS} BW")
    lines = [f"### `{group}`", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for row in rows:
        name = f"`{row.entry}`" if row.kind == "peer" else f"**{row.entry}**"
        cells = [name, f"{fmt_time(row.median)} ({row.rounds} r)"]
        cells.append(f"{baseline.median / row.median:.2f}x" if baseline else "n/a")
        if bandwidth:
            cells.append(f"{row.gbps:.2f}")
            cells.append(f"{row.gbps / limit.gbps:.2f}" if limit else "n/a")
            if limit_threads:
                cells.append(f"{row.gbps / limit_threads.gbps:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    ratio = numba_cpp_ratio(rows)
    lines.append("")
    if limit and limit_threads:
        # A noise check on a shared machine: ~1 means the other CPUs were busy (or one core
        # already saturates memory); the multithreaded backends are then capped too.
        lines.append(
            f"- parallel read speedup ({LIMIT_THREADS} / {LIMIT}): "
            f"{limit_threads.gbps / limit.gbps:.2f}x"
        )
    if ratio is None:
        lines.append("- numba / cpp time ratio: n/a (numba or cpp not in this run)")
    else:
        lines.append(f"- numba / cpp time ratio: **{ratio:.2f}**")
    lines.append("")
    return lines


def target_lines(groups: dict[str, list[Row]]) -> list[str]:
    """Pass/fail lines for the issue's targets (those whose groups are in the run)."""
    lines = ["### Targets", ""]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**MISSED**"

    group, threshold = TARGET_MIN_MAX
    entries = _by_entry(groups.get(group, []))
    if "cpp" in entries and LIMIT in entries:
        value = entries["cpp"].gbps / entries[LIMIT].gbps
        lines.append(
            f"- fused per-channel min/max `{group}`, cpp: {entries['cpp'].gbps:.2f} GB/s = "
            f"{value:.2f}x the {LIMIT} read bandwidth ({entries[LIMIT].gbps:.2f} GB/s); "
            f"target >= {threshold}x: {verdict(value >= threshold)}"
        )
        if LIMIT_THREADS in entries:
            lines.append(
                f"  (and {entries['cpp'].gbps / entries[LIMIT_THREADS].gbps:.2f}x the "
                f"{LIMIT_THREADS} bandwidth, {entries[LIMIT_THREADS].gbps:.2f} GB/s)"
            )
    group, threshold = TARGET_QUANTILE
    entries = _by_entry(groups.get(group, []))
    if "cpp" in entries and "np.quantile" in entries:
        value = entries["np.quantile"].median / entries["cpp"].median
        lines.append(
            f"- per-sample quantile(q=1-1e-4) `{group}`, cpp: {value:.1f}x faster than "
            f"np.quantile; target >= {threshold:g}x: {verdict(value >= threshold)}"
        )
    for group in (TARGET_MIN_MAX[0], TARGET_QUANTILE[0]):
        ratio = numba_cpp_ratio(groups.get(group, []))
        if ratio is None:
            lines.append(f"- numba within {TARGET_NUMBA:g}x of cpp on `{group}`: n/a (not run)")
        else:
            lines.append(
                f"- numba within {TARGET_NUMBA:g}x of cpp on `{group}`: numba/cpp = "
                f"{ratio:.2f}; {verdict(ratio <= TARGET_NUMBA)}"
            )
    lines.append("")
    return lines


def render(path: Path) -> str:
    """The whole markdown report of one JSON file."""
    groups, machine = load_groups(path)
    cpu = machine.get("cpu") if isinstance(machine.get("cpu"), dict) else {}
    assert isinstance(cpu, dict)
    lines = [f"## Kernel benchmarks ({path.name})", ""]
    if cpu or machine:
        lines.append(
            f"Machine: {cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} logical CPUs, "
            f"Python {machine.get('python_version', '?')}. Times are medians "
            "(`r` = timed rounds)."
        )
        lines.append("")
    if not groups:
        lines.append("(no benchmarks in this file: was it run with --benchmark-disable?)")
        return "\n".join(lines) + "\n"
    for group, rows in groups.items():
        lines += group_table(group, rows)
    lines += target_lines(groups)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("json", type=Path, help="file written by pytest --benchmark-json")
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.json))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
