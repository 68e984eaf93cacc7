"""``fastpot`` command line (also ``python -m fastpot``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fastpot command line; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="fastpot", description="POT-compatible post-training quantization for OpenVINO."
    )
    parser.add_argument(
        "--cmake-dir", action="store_true", help="print the directory of fastpot-config.cmake"
    )
    parser.add_argument("--version", action="store_true", help="print the version")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser(
        "demo",
        help="collect activation statistics of a bundled array set and print FakeQuantize ranges",
    )
    demo.add_argument("--backend", default="auto", help="auto, cpp, numba or numpy")
    demo.add_argument(
        "--compare", action="store_true", help="also time every backend on the same data"
    )
    args = parser.parse_args(argv)

    if args.cmake_dir:
        from fastpot import cmake_dir

        print(cmake_dir())
        return 0
    if args.version:
        from fastpot import __version__

        print(__version__)
        return 0
    if args.command == "demo":
        from fastpot.demo import run_demo

        return run_demo(backend=args.backend, compare=args.compare)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
