"""POT's ``openvino.tools.pot.statistics.functions.activations`` (fastpot.statistics.functions.activations)."""

from __future__ import annotations

from fastpot.statistics.functions.activations import *
from fastpot.statistics.functions.activations import __all__  # noqa: F401
