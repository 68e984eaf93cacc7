"""POT's ``openvino.tools.pot.api.samples``: the helpers its API samples imported (fastpot.samples)."""

from __future__ import annotations
