"""``fastpot`` command line (also ``python -m fastpot``).

* ``fastpot demo`` — quantize the bundled digits CNN and compare FP32 with INT8;
* ``fastpot demo-kernels [--compare]`` — the statistics kernels on bundled activations;
* ``fastpot quantize ARGS...`` — the ``pot`` command line (same arguments as ``pot``);
* ``fastpot --cmake-dir`` / ``--version``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fastpot command line; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "quantize":
        from fastpot.cli.app import main as pot_main

        return pot_main(args_list[1:], prog="fastpot quantize")

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
        help="quantize the bundled digits CNN (POT-style API) and compare FP32 with INT8",
    )
    demo.add_argument("--device", default="CPU", help="OpenVINO device (default CPU)")
    demo.add_argument("--output-dir", help="keep the INT8 IR in this directory")
    demo.add_argument(
        "--seconds", type=float, default=1.0, help="time each model for this long (default 1)"
    )
    kernels = sub.add_parser(
        "demo-kernels",
        help="collect activation statistics of a bundled array set and print FakeQuantize ranges",
    )
    kernels.add_argument("--backend", default="auto", help="auto, cpp, numba or numpy")
    kernels.add_argument(
        "--compare", action="store_true", help="also time every backend on the same data"
    )
    sub.add_parser(
        "quantize", help="the pot command line: fastpot quantize -q default -m ... (see pot -h)"
    )
    args = parser.parse_args(args_list)

    if args.cmake_dir:
        from fastpot import cmake_dir

        print(cmake_dir())
        return 0
    if args.version:
        from fastpot.cli.app import version_line

        print(version_line("fastpot"))
        return 0
    if args.command == "demo":
        from fastpot.demo import run_demo

        result = run_demo(device=args.device, output_dir=args.output_dir, seconds=args.seconds)
        return 0 if result.drop_pp < 1.0 else 1
    if args.command == "demo-kernels":
        from fastpot.demo_kernels import run_demo as run_kernels_demo

        return run_kernels_demo(backend=args.backend, compare=args.compare)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
