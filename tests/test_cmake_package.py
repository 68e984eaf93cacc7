"""The C++ library as a C++ project consumes it: installed package and add_subdirectory."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import fastpot

ROOT = Path(__file__).resolve().parents[1]
CONSUMER = Path(__file__).resolve().parent / "cpp_consumer"

pytestmark = pytest.mark.slow


def _cmake() -> str:
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.fail("cmake is not on PATH (it is part of the test extras)")
    return cmake


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _build_and_run(build: Path, *defines: str) -> str:
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    _run(
        [
            _cmake(),
            "-S",
            str(CONSUMER),
            "-B",
            str(build),
            *generator,
            "-DCMAKE_BUILD_TYPE=Release",
            *defines,
        ]
    )
    _run([_cmake(), "--build", str(build), "--parallel", "2"])
    return _run([str(build / "fastpot_consumer")])


def test_find_package_against_the_installed_wheel(tmp_path: Path) -> None:
    cmake_dir = fastpot.cmake_dir()
    assert (Path(cmake_dir) / "fastpot-config.cmake").is_file()
    out = _build_and_run(
        tmp_path / "build", "-DFASTPOT_CONSUMER_MODE=package", f"-Dfastpot_DIR={cmake_dir}"
    )
    assert "fastpot consumer OK" in out, out


def test_add_subdirectory_of_the_source_tree(tmp_path: Path) -> None:
    if not (ROOT / "cpp" / "CMakeLists.txt").is_file():
        pytest.skip(f"{ROOT}: no fastpot source tree beside the tests")
    out = _build_and_run(
        tmp_path / "build",
        "-DFASTPOT_CONSUMER_MODE=subdirectory",
        f"-DFASTPOT_SOURCE_DIR={ROOT}",
    )
    assert "fastpot consumer OK" in out, out
