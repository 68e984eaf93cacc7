"""POT's ``openvino.tools.pot.graph.nx_model``: ``CompressedModel`` (fastpot.graph.model).

fastpot's ``CompressedModel`` holds ``openvino.Model`` objects, not NetworkX graphs.
"""

from __future__ import annotations

from fastpot.graph.model import CompressedModel

__all__ = ["CompressedModel"]
