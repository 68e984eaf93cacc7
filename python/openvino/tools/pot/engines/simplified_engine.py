"""POT's ``openvino.tools.pot.engines.simplified_engine``: ``SimplifiedEngine``.

fastpot's engine of the ``pot --engine simplified`` command line
(:mod:`fastpot.cli.simplified_engine`), with POT's constructor ``SimplifiedEngine(config,
data_loader=None, metric=None)``; items may be bare model inputs, as POT's took them.
"""

from __future__ import annotations

from fastpot.cli.simplified_engine import SimplifiedEngine

__all__ = ["SimplifiedEngine"]
