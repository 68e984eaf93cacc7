"""fastpot: POT-compatible post-training INT8 quantization for OpenVINO, with a fast core.

The statistics and range kernels live in :mod:`fastpot.kernels`. The C++ library behind
them can be embedded in C++ tools: ``find_package(fastpot CONFIG)`` with
``-Dfastpot_DIR=$(python -m fastpot --cmake-dir)`` gives the target ``fastpot::core``.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

__all__ = ["__version__", "cmake_dir", "include_dir"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def cmake_dir() -> str:
    """Directory holding ``fastpot-config.cmake`` of the installed C++ package.

    Raises
    ------
    FileNotFoundError
        If fastpot was installed without its C++ package (e.g. an editable build).
    """
    path = _PACKAGE_DIR / "lib" / "cmake" / "fastpot"
    if not (path / "fastpot-config.cmake").is_file():
        raise FileNotFoundError(
            f"{path}: no fastpot-config.cmake here; install fastpot with 'pip install .' "
            "to get the C++ package"
        )
    return str(path)


def include_dir() -> str:
    """Directory of the installed C++ headers (``fastpot/fastpot.hpp`` lives below it)."""
    return str(_PACKAGE_DIR / "include")
