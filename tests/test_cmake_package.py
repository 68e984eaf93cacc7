"""fastpot's C++ core as a C++ project consumes it: the installed CMake package, and
add_subdirectory() of the source tree.

Both build ``tests/cpp_consumer`` (which links ``fastpot::core``) and run it; the executable
checks the library's results against values it computes itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

import fastpot

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CONSUMER = TESTS / "cpp_consumer"
EXECUTABLE = "fastpot_consumer"
TIMEOUT = 600  # seconds, per command

pytestmark = pytest.mark.slow


def _which(name: str) -> str | None:
    # The venv's scripts directory first: the test extras install cmake and ninja there, and
    # it is not on PATH when the venv's python is run without activating the venv.
    search = os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")])
    return shutil.which(name, path=search)


def _cmake() -> str:
    cmake = _which("cmake")
    if cmake is None:
        pytest.fail("cmake not found in the venv or on PATH (it is part of the test extras)")
    return cmake


def _text(stream: str | bytes | None) -> str:
    if isinstance(stream, bytes):
        return stream.decode(errors="replace")
    return stream or ""


def _run(cmd: list[str]) -> str:
    shown = " ".join(cmd)
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"{shown}: no result after {TIMEOUT} s\n"
            f"--- stdout ---\n{_text(exc.stdout)}\n--- stderr ---\n{_text(exc.stderr)}"
        )
    assert result.returncode == 0, (
        f"{shown} exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
    return result.stdout


def _configure_build_run(build: Path, *defines: str) -> str:
    """Configure the consumer project in ``build``, build it, run it; return its stdout."""
    cmake = _cmake()
    ninja = _which("ninja")
    generator = ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"] if ninja else []
    _run(
        [
            cmake,
            "-S",
            str(CONSUMER),
            "-B",
            str(build),
            *generator,
            "-DCMAKE_BUILD_TYPE=Release",
            *defines,
        ]
    )
    _run([cmake, "--build", str(build), "--config", "Release", "--parallel"])
    # Single-config generators put the executable in the build directory, multi-config ones
    # (e.g. a CMAKE_GENERATOR from the environment) in a per-configuration subdirectory.
    candidates = [build / EXECUTABLE, build / "Release" / EXECUTABLE]
    executable = next((path for path in candidates if path.is_file()), None)
    assert executable is not None, f"{EXECUTABLE} was not built in {build}"
    return _run([str(executable)])


def _cached_path(build: Path, variable: str) -> Path:
    prefix = f"{variable}:"
    for line in (build / "CMakeCache.txt").read_text().splitlines():
        if line.startswith(prefix):
            return Path(line.partition("=")[2]).resolve()
    raise AssertionError(f"{variable} is not in {build / 'CMakeCache.txt'}")


@pytest.mark.parametrize("locate_by", ["fastpot_DIR", "CMAKE_PREFIX_PATH"])
def test_find_package_against_the_installed_wheel(tmp_path: Path, locate_by: str) -> None:
    cmake_dir = Path(fastpot.cmake_dir())
    assert (cmake_dir / "fastpot-config.cmake").is_file()
    # fastpot_DIR names the package directory itself; CMAKE_PREFIX_PATH names the prefix it is
    # installed under (<site-packages>/fastpot, as scikit-build-core's cmake.root entry point
    # does) and lets find_package() search <prefix>/lib/cmake/fastpot.
    location = cmake_dir if locate_by == "fastpot_DIR" else cmake_dir.parents[2]
    build = tmp_path / "build"
    out = _configure_build_run(
        build, "-DFASTPOT_CONSUMER_MODE=package", f"-D{locate_by}={location}"
    )
    assert "fastpot consumer OK" in out, out
    assert _cached_path(build, "fastpot_DIR") == cmake_dir.resolve()


def test_add_subdirectory_of_the_source_tree(tmp_path: Path) -> None:
    if not (ROOT / "cpp" / "CMakeLists.txt").is_file():
        pytest.skip(f"no fastpot source tree at {ROOT} (only the tests were copied)")
    out = _configure_build_run(
        tmp_path / "build",
        "-DFASTPOT_CONSUMER_MODE=subdirectory",
        f"-DFASTPOT_SOURCE_DIR={ROOT}",
    )
    assert "fastpot consumer OK" in out, out
