"""Stub of the compiled module ``fastpot._dispatch`` (private; used by ``IEEngine``).

The asynchronous inference dispatcher: compiles an IR with the OpenVINO C++ runtime, keeps
``requests`` infer requests in flight, and in each completion callback (an OpenVINO thread,
no GIL) reduces the requested outputs into ``fastpot._core.StatisticAccumulator`` objects
(or records them into ``fastpot._core.SampleRecorder`` objects),
folding batches in submission order.
"""

from collections.abc import Sequence

import numpy as np

from fastpot._core import SampleRecorder, StatisticAccumulator

openvino_version: str

class Dispatcher:
    def __init__(
        self, xml: str, bin: str, device: str, properties: dict[str, str], requests: int
    ) -> None: ...
    @property
    def requests(self) -> int: ...
    @property
    def input_names(self) -> list[str]: ...
    @property
    def outputs(self) -> int: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def submitted(self) -> int: ...
    @property
    def callback_seconds(self) -> float: ...
    @property
    def plugin_quantiles(self) -> int: ...
    def begin(
        self,
        feeds: list[tuple[str, int, int, StatisticAccumulator | SampleRecorder]],
        keep: Sequence[int] = ...,
    ) -> None: ...
    def submit(self, inputs: Sequence[np.ndarray]) -> int: ...
    def finish(self) -> None: ...
    def drain(self) -> None: ...
    def take_outputs(self) -> list[list[np.ndarray]]: ...
