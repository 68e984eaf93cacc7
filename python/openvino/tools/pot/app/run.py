"""POT's ``openvino.tools.pot.app.run``: ``main()`` and ``app(argv)`` of the ``pot`` command."""

from __future__ import annotations

from fastpot.cli.app import app, main

__all__ = ["app", "main"]
