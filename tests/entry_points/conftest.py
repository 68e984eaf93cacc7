"""Fixtures for the entry-point tests: the drop-in package, zoo models, image folders.

``openvino.tools.pot`` is installed by the wheel. An editable development install predating
the drop-in may not expose it: then (and never on CI, where ``CI=true`` and the package is
installed normally) the fixtures put ``python/openvino/tools`` on ``openvino.tools.__path__``
so that the same modules are tested.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
DROPIN_SOURCE = REPO / "python" / "openvino" / "tools"
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _natively_importable() -> bool:
    return importlib.util.find_spec("openvino.tools.pot") is not None


NATIVE = _natively_importable()

# Prefix for `python -c`: make the drop-in importable in a development tree, then run a script
# with its own argv, as `python script.py ...` would.
_BOOTSTRAP = (
    "import runpy, sys, openvino.tools as t; t.__path__.append({src!r}); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


@pytest.fixture(scope="session")
def dropin_python() -> list[str]:
    """Command prefix that runs a POT script with ``openvino.tools.pot`` importable."""
    if NATIVE:
        return [sys.executable]
    if ON_CI:
        pytest.fail(
            "openvino.tools.pot is not importable from the installed fastpot on CI: the wheel "
            "must ship openvino/tools/pot"
        )
    return [sys.executable, "-c", _BOOTSTRAP.format(src=str(DROPIN_SOURCE))]


@pytest.fixture(scope="session")
def dropin() -> object:
    """The ``openvino.tools.pot`` module, imported in this process."""
    if not NATIVE:
        if ON_CI:
            pytest.fail("openvino.tools.pot is not importable from the installed fastpot on CI")
        import openvino.tools

        if str(DROPIN_SOURCE) not in openvino.tools.__path__:
            openvino.tools.__path__.append(str(DROPIN_SOURCE))
    import openvino.tools.pot

    return openvino.tools.pot


@pytest.fixture(scope="session")
def zoo(data_dir: Path) -> Path:
    return data_dir / "zoo"


def _write_images(folder: Path, count: int, seed: int = 7) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 256, (36 + i % 5, 44, 3), dtype=np.uint8)
        path = folder / f"img_{i:03d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def make_images():
    """``make_images(folder, count, seed=7)``: write random RGB PNGs, return their paths."""
    return _write_images


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Ten random PNG images of slightly different sizes (and one non-image file)."""
    folder = tmp_path / "images"
    _write_images(folder, 10)
    (folder / "notes.txt").write_text("not an image\n")
    return folder
