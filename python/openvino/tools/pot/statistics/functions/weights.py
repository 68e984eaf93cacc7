"""POT's ``openvino.tools.pot.statistics.functions.weights`` (fastpot.statistics.functions.weights)."""

from __future__ import annotations

from fastpot.statistics.functions.weights import *
from fastpot.statistics.functions.weights import __all__  # noqa: F401
