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


def test_pot_api_names_are_exported_lazily() -> None:
    import fastpot.algorithms
    import fastpot.api
    import fastpot.engines
    import fastpot.pipeline
    import fastpot.utils.logger

    expected = {
        "DataLoader": fastpot.api.DataLoader,
        "Metric": fastpot.api.Metric,
        "Engine": fastpot.api.Engine,
        "IEEngine": fastpot.engines.IEEngine,
        "create_pipeline": fastpot.pipeline.create_pipeline,
        "Pipeline": fastpot.pipeline.Pipeline,
        "init_logger": fastpot.utils.logger.init_logger,
        "get_logger": fastpot.utils.logger.get_logger,
    }
    for name in (
        "MinMaxQuantization",
        "DefaultQuantization",
        "ActivationChannelAlignment",
        "FastBiasCorrection",
        "BiasCorrection",
    ):
        expected[name] = getattr(fastpot.algorithms, name)
    for name, value in expected.items():
        assert getattr(fastpot, name) is value, name
        assert name in fastpot.__all__
        assert name in dir(fastpot)


def test_import_fastpot_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, fastpot; "
        "print(sorted(m for m in ('openvino', 'fastpot.engines', 'fastpot.algorithms') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
