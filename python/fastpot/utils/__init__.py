"""Small shared utilities: attribute dicts, logging, progress."""

from __future__ import annotations
