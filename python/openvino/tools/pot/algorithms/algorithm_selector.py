"""POT's ``openvino.tools.pot.algorithms.algorithm_selector``: ``COMPRESSION_ALGORITHMS``.

Register a custom algorithm with ``@COMPRESSION_ALGORITHMS.register("MyAlgorithm")`` on an
``Algorithm`` subclass; ``create_pipeline`` then finds it by name.
"""

from __future__ import annotations

from fastpot.algorithms.registry import COMPRESSION_ALGORITHMS

__all__ = ["COMPRESSION_ALGORITHMS"]
