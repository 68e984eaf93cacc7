"""POT's ``openvino.tools.pot.version``: ``get_version()`` names fastpot's version."""

from __future__ import annotations

__all__ = ["get_version"]


def get_version() -> str:
    """Return ``"fastpot <version>"`` (POT returned its own build string)."""
    from fastpot import __version__  # noqa: PLC0415

    return f"fastpot {__version__}"
