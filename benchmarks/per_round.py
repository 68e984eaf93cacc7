"""Per-round ratios to plain inference, shared by the engine and quantize benchmarks.

Before every timed round the benchmark runs plain inference once more, untimed, and keeps
its time; the ratio of each round to the plain pass of the same minute is far steadier on
this shared machine than a ratio of medians taken minutes apart.
"""

from __future__ import annotations

import statistics
from typing import Any


def record_ratios_to_plain(benchmark: Any, plain_times: list[float]) -> None:
    """Store ``ratio_to_plain`` (median) and ``ratios_to_plain`` (sorted) in ``extra_info``.

    `plain_times` holds one plain time per round, warm-up rounds first; with timing disabled
    (``--benchmark-disable``) no rounds are recorded and nothing is stored.
    """
    stats = getattr(benchmark, "stats", None)
    data = list(getattr(getattr(stats, "stats", None), "data", []) or [])
    if data:
        pairs = zip(data, plain_times[-len(data) :], strict=True)
        ratios = sorted(t / base for t, base in pairs)
        benchmark.extra_info["ratio_to_plain"] = statistics.median(ratios)
        benchmark.extra_info["ratios_to_plain"] = ratios
