"""POT's ``openvino.tools.pot.statistics.functions.aggregation`` (fastpot.statistics.functions.aggregation)."""

from __future__ import annotations

from fastpot.statistics.functions.aggregation import *
from fastpot.statistics.functions.aggregation import __all__  # noqa: F401
