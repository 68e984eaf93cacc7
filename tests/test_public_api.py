"""POT's names import from fastpot directly."""

from __future__ import annotations

import pytest

import fastpot
from fastpot import graph


def test_pot_model_names_are_exported() -> None:
    for name in ("CompressedModel", "load_model", "save_model", "compress_model_weights"):
        assert getattr(fastpot, name) is getattr(graph, name)
        assert name in fastpot.__all__
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = fastpot.no_such_name  # type: ignore[attr-defined]
