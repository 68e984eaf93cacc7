"""Drop-in ``openvino.tools.pot``: POT's import paths, backed by fastpot.

Scripts written for OpenVINO's Post-training Optimization Tool run unchanged::

    from openvino.tools.pot import DataLoader, IEEngine, create_pipeline, load_model

Every name resolves to fastpot's implementation on first use. As in POT, ``__all__`` holds
only the algorithm classes (so ``from openvino.tools.pot import *`` imports those alone).
Names fastpot does not implement are importable and raise ``NotImplementedError`` saying so;
POT sub-modules that are out of scope raise ``ModuleNotFoundError`` with a hint. Nothing is
logged on import (POT printed a deprecation warning).
"""

from __future__ import annotations

from contextlib import suppress
from importlib import import_module
from typing import TYPE_CHECKING, Any

from openvino.tools.pot._unsupported import install_finder, missing_class

if TYPE_CHECKING:  # the names _IMPLEMENTED resolves lazily, typed for static checkers
    # `import X as X`: an explicit re-export (``__all__`` holds only POT's algorithm list).
    from fastpot.algorithms import AccuracyAwareQuantization as AccuracyAwareQuantization
    from fastpot.algorithms import ActivationChannelAlignment as ActivationChannelAlignment
    from fastpot.algorithms import BiasCorrection as BiasCorrection
    from fastpot.algorithms import DefaultQuantization as DefaultQuantization
    from fastpot.algorithms import FastBiasCorrection as FastBiasCorrection
    from fastpot.algorithms import MinMaxQuantization as MinMaxQuantization
    from fastpot.api import DataLoader as DataLoader
    from fastpot.api import Engine as Engine
    from fastpot.api import Metric as Metric
    from fastpot.engines import IEEngine as IEEngine
    from fastpot.graph import compress_model_weights as compress_model_weights
    from fastpot.graph import load_model as load_model
    from fastpot.graph import save_model as save_model
    from fastpot.pipeline.initializer import create_pipeline as create_pipeline

install_finder()


def _legacy_runtime() -> None:
    """Make ``openvino.runtime`` an attribute of ``openvino``, as POT-era scripts expect.

    POT's clients write ``openvino.runtime.get_version()`` after ``import openvino``. The
    import finds the installed OpenVINO's own ``openvino.runtime`` first if there is one,
    else fastpot's legacy namespace (``_fastpot_legacy_runtime``; absent: nothing to do).
    """
    with suppress(ImportError):
        import_module("openvino.runtime")


_legacy_runtime()

# As in POT: only the algorithm classes (18 quantization, then 3 sparsity names).
__all__ = [
    "MinMaxQuantization",
    "RangeOptimization",
    "FastBiasCorrection",
    "BiasCorrection",
    "ActivationChannelAlignment",
    "DataFreeQuantization",
    "DefaultQuantization",
    "AccuracyAwareQuantization",
    "AccuracyAwareGNA",
    "AccuracyAwareCommon",
    "INT4MixedQuantization",
    "TunableQuantization",
    "QuantNoiseEstimator",
    "OutlierChannelSplitting",
    "WeightBiasCorrection",
    "ParamsGridSearchAlgorithm",
    "OverflowCorrection",
    "RangeSupervision",
    "WeightSparsity",
    "MagnitudeSparsity",
    "BaseWeightSparsity",
]
QUANTIZATION_ALGORITHMS = __all__[:18]
SPARSITY_ALGORITHMS = __all__[18:]

# name -> module of fastpot that defines it
_IMPLEMENTED = {
    "DataLoader": "fastpot.api",
    "Metric": "fastpot.api",
    "Engine": "fastpot.api",
    "IEEngine": "fastpot.engines",
    "load_model": "fastpot.graph",
    "save_model": "fastpot.graph",
    "compress_model_weights": "fastpot.graph",
    "create_pipeline": "fastpot.pipeline.initializer",
    "MinMaxQuantization": "fastpot.algorithms",
    "DefaultQuantization": "fastpot.algorithms",
    "ActivationChannelAlignment": "fastpot.algorithms",
    "FastBiasCorrection": "fastpot.algorithms",
    "BiasCorrection": "fastpot.algorithms",
    "AccuracyAwareQuantization": "fastpot.algorithms",
}

_DEFAULT = (
    "use DefaultQuantization (or MinMaxQuantization) with the 'performance' or 'mixed' preset"
)
_ACCURACY_AWARE = "use AccuracyAwareQuantization"
_SPARSITY = "sparsity algorithms are out of scope; prune with NNCF"
# POT algorithm name -> what to use instead
_MISSING = {
    "RangeOptimization": "range optimisation (nevergrad) is out of scope; "
    "use DefaultQuantization with range_estimator presets",
    "DataFreeQuantization": "data-free quantization is out of scope; "
    "use DefaultQuantization with a small calibration DataLoader",
    "AccuracyAwareGNA": "the GNA devices are not supported",
    "AccuracyAwareCommon": _ACCURACY_AWARE,
    "INT4MixedQuantization": "INT4 mixed quantization is out of scope; "
    "use NNCF's weight compression",
    "TunableQuantization": "hyper-parameter tuning is out of scope; " + _DEFAULT,
    "QuantNoiseEstimator": "quantization noise estimation is out of scope",
    "OutlierChannelSplitting": "outlier channel splitting is out of scope; " + _DEFAULT,
    "WeightBiasCorrection": "use FastBiasCorrection or BiasCorrection",
    "ParamsGridSearchAlgorithm": "hyper-parameter tuning is out of scope; " + _DEFAULT,
    "OverflowCorrection": "overflow correction is out of scope; " + _DEFAULT,
    "RangeSupervision": "range supervision is out of scope",
    "WeightSparsity": _SPARSITY,
    "MagnitudeSparsity": _SPARSITY,
    "BaseWeightSparsity": _SPARSITY,
}


def __getattr__(name: str) -> Any:
    if name in _IMPLEMENTED:
        module = import_module(_IMPLEMENTED[name])
        try:
            value = getattr(module, name)
        except AttributeError:
            value = missing_class(name, f"{name} is not in this fastpot build yet")
    elif name in _MISSING:
        value = missing_class(name, _MISSING[name])
    else:
        raise AttributeError(f"module 'openvino.tools.pot' has no attribute {name!r}")
    globals()[name] = value  # resolve once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_IMPLEMENTED, *_MISSING})
