"""POT's ``openvino.tools.pot.utils.logger``: ``init_logger``, ``get_logger`` (fastpot.utils.logger).

Loggers live in fastpot's ``logging`` hierarchy under ``"fastpot"``; ``get_logger(__name__)``
from a POT-style script gives ``fastpot.pot.<...>`` (or ``fastpot.<name>``), which
``init_logger`` configures together with fastpot's own loggers.
"""

from __future__ import annotations

from fastpot.utils.logger import get_logger, init_logger

__all__ = ["get_logger", "init_logger"]
