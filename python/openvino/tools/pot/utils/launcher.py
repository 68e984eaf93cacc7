"""POT's ``openvino.tools.pot.utils.launcher``: ``IELauncher`` (fastpot.compat.launcher)."""

from __future__ import annotations

from fastpot.compat.launcher import IELauncher

__all__ = ["IELauncher"]
