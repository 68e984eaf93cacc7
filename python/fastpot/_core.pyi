"""Stub of the compiled module ``fastpot._core`` (private; use :mod:`fastpot.kernels`)."""

import numpy as np

__version__: str

def num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def reduce_per_sample(
    x: np.ndarray, stat: str, channel_axis: int | None = None, q: float = 0.0
) -> np.ndarray: ...
def min_max_per_sample(
    x: np.ndarray, channel_axis: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def aggregate(values: np.ndarray, how: str) -> np.ndarray: ...
def extremes_per_sample(
    x: np.ndarray, k: int, channel_axis: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]: ...
def extremes_count(size: int, bound: float) -> int: ...
def fq_params(
    min_values: np.ndarray | None,
    max_values: np.ndarray,
    mode: str,
    kind: str,
    bits: int = 8,
    level_low: int | None = None,
    level_high: int | None = None,
) -> tuple[np.ndarray, np.ndarray, int, int, int]: ...

class StatisticAccumulator:
    stat: str
    how: str
    channel_axis: int | None
    q: float
    samples: int
    batches: int
    channels: int
    def __init__(
        self, stat: str, how: str, channel_axis: int | None = None, q: float = 0.0
    ) -> None: ...
    def update(self, batch: np.ndarray) -> None: ...
    def merge(self, other: StatisticAccumulator) -> None: ...
    def result(self) -> np.ndarray: ...

class SampleRecorder:
    """Per-batch values of a statistic, or each group's extremes (``stat="extremes"``)."""

    stat: str
    channel_axis: int | None
    bound: float
    consistent: bool
    lengths: list[int]
    samples: int
    channels: int
    size: int
    width: int
    k: int
    def __init__(
        self, stat: str, channel_axis: int | None = None, q: float = 0.0, bound: float = 1e-3
    ) -> None: ...
    def update(self, batch: np.ndarray) -> None: ...
    def values(self) -> np.ndarray: ...
    def extremes(self) -> tuple[np.ndarray, np.ndarray]: ...
