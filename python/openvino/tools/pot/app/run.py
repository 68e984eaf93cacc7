"""POT's ``openvino.tools.pot.app.run``: ``main()``, ``app(argv)`` and ``optimize(config)``."""

from __future__ import annotations

from fastpot.cli.app import app, main, optimize

__all__ = ["app", "main", "optimize"]
