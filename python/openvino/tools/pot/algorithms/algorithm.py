"""POT's ``openvino.tools.pot.algorithms.algorithm``: the ``Algorithm`` base class."""

from __future__ import annotations

from fastpot.algorithms.algorithm import Algorithm

__all__ = ["Algorithm"]
