"""fastpot: POT-compatible post-training INT8 quantization for OpenVINO, with a fast core.

The statistics and range kernels live in :mod:`fastpot.kernels`. The C++ library behind
them can be embedded in C++ tools: ``find_package(fastpot CONFIG)`` with
``-Dfastpot_DIR=$(python -m fastpot --cmake-dir)`` gives the target ``fastpot::core``.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the lazily exported names, typed for static checkers
    from fastpot.algorithms import (
        AccuracyAwareQuantization,
        ActivationChannelAlignment,
        BiasCorrection,
        DefaultQuantization,
        FastBiasCorrection,
        MinMaxQuantization,
    )
    from fastpot.api import DataLoader, Engine, Metric
    from fastpot.engines import IEEngine
    from fastpot.graph import CompressedModel, compress_model_weights, load_model, save_model
    from fastpot.pipeline import Pipeline, create_pipeline
    from fastpot.quantization import (
        Dataset,
        DropType,
        IgnoredScope,
        ModelType,
        QuantizationPreset,
        TargetDevice,
        quantize,
        quantize_with_accuracy_control,
    )
    from fastpot.report import QuantizationReport, build_report
    from fastpot.utils.logger import get_logger, init_logger

__version__ = "0.1.0"

# POT's names, imported on first use so that `import fastpot.kernels` stays light.
_LAZY = {
    "CompressedModel": "fastpot.graph",
    "load_model": "fastpot.graph",
    "save_model": "fastpot.graph",
    "compress_model_weights": "fastpot.graph",
    "DataLoader": "fastpot.api",
    "Metric": "fastpot.api",
    "Engine": "fastpot.api",
    "IEEngine": "fastpot.engines",
    "create_pipeline": "fastpot.pipeline",
    "Pipeline": "fastpot.pipeline",
    "MinMaxQuantization": "fastpot.algorithms",
    "DefaultQuantization": "fastpot.algorithms",
    "ActivationChannelAlignment": "fastpot.algorithms",
    "FastBiasCorrection": "fastpot.algorithms",
    "BiasCorrection": "fastpot.algorithms",
    "AccuracyAwareQuantization": "fastpot.algorithms",
    "init_logger": "fastpot.utils.logger",
    "get_logger": "fastpot.utils.logger",
    # The NNCF-style one-call API.
    "quantize": "fastpot.quantization",
    "quantize_with_accuracy_control": "fastpot.quantization",
    "Dataset": "fastpot.quantization",
    "IgnoredScope": "fastpot.quantization",
    "TargetDevice": "fastpot.quantization",
    "QuantizationPreset": "fastpot.quantization",
    "ModelType": "fastpot.quantization",
    "DropType": "fastpot.quantization",
    # What happened to the model.
    "QuantizationReport": "fastpot.report",
    "build_report": "fastpot.report",
}

__all__ = [
    "AccuracyAwareQuantization",
    "ActivationChannelAlignment",
    "BiasCorrection",
    "CompressedModel",
    "DataLoader",
    "Dataset",
    "DefaultQuantization",
    "DropType",
    "Engine",
    "FastBiasCorrection",
    "IEEngine",
    "IgnoredScope",
    "Metric",
    "MinMaxQuantization",
    "ModelType",
    "Pipeline",
    "QuantizationPreset",
    "QuantizationReport",
    "TargetDevice",
    "__version__",
    "build_report",
    "cmake_dir",
    "compress_model_weights",
    "create_pipeline",
    "get_logger",
    "include_dir",
    "init_logger",
    "load_model",
    "quantize",
    "quantize_with_accuracy_control",
    "save_model",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fastpot' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


_PACKAGE_DIR = Path(__file__).resolve().parent


def _installed_dir() -> Path:
    # The compiled parts (extension, headers, CMake package) sit next to fastpot._core: in
    # the package itself for a wheel, in site-packages for an editable install.
    spec = find_spec("fastpot._core")
    if spec is not None and spec.origin:
        return Path(spec.origin).resolve().parent
    return _PACKAGE_DIR


def cmake_dir() -> str:
    """Directory holding ``fastpot-config.cmake`` of the installed C++ package.

    Raises
    ------
    FileNotFoundError
        If fastpot was installed without its C++ package.
    """
    path = _installed_dir() / "lib" / "cmake" / "fastpot"
    if not (path / "fastpot-config.cmake").is_file():
        raise FileNotFoundError(
            f"{path}: no fastpot-config.cmake here; install fastpot with 'pip install .' "
            "to get the C++ package"
        )
    return str(path)


def include_dir() -> str:
    """Directory of the installed C++ headers (``fastpot/fastpot.hpp`` lives below it)."""
    return str(_installed_dir() / "include")
