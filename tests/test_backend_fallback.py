"""Backend selection when the compiled core cannot be imported (run in subprocesses)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("numba")

# Poison the extension module before fastpot imports it: `import fastpot._core` then raises
# ImportError exactly as a missing or incompatible build would.
PRELUDE = "import sys; sys.modules['fastpot._core'] = None\n"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "default", "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_auto_falls_back_to_numba_with_one_warning() -> None:
    result = _run(
        """
        import warnings
        import numpy as np
        import fastpot.kernels as k
        x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            a = k.reduce_per_sample(x, "max")
            b = k.reduce_per_sample(x, "min")
        assert k.available_backends() == ["numba", "numpy"], k.available_backends()
        assert k.resolve_backend() == "numba"
        messages = [str(w.message) for w in caught]
        assert len(messages) == 1, messages
        assert "C++ core is unavailable" in messages[0] and "numba" in messages[0], messages
        assert a.tolist() == [11.0, 23.0] and b.tolist() == [0.0, 12.0]
        print("OK")
        """
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_explicit_cpp_raises_when_core_is_missing() -> None:
    result = _run(
        """
        import numpy as np
        import fastpot.kernels as k
        from fastpot.errors import BackendUnavailableError
        try:
            k.reduce_per_sample(np.ones((2, 3), np.float32), "max", backend="cpp")
        except BackendUnavailableError as exc:
            assert "'cpp' is not available" in str(exc), exc
            print("OK")
        """
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
