"""The command line every POT API sample started from (``get_common_argparser``)."""

from __future__ import annotations

from argparse import ArgumentParser

__all__ = ["get_common_argparser"]


def get_common_argparser() -> ArgumentParser:
    """Return a parser with the options shared by POT's API samples.

    Options, as in POT: ``-m/--model`` (the IR ``.xml``; required), ``-w/--weights`` (the
    ``.bin``; optional, the samples derive it from the ``.xml`` name when absent) and
    ``-d/--dataset`` (the data directory; required). Option prefixes are not accepted
    (``allow_abbrev=False``), so samples can add options such as ``--annotation-path``
    without clashes. Every option defaults to None.

    Returns
    -------
    argparse.ArgumentParser
        Samples add their own options, then call ``parse_args()``.
    """
    parser = ArgumentParser(
        description="Post-training quantization sample (POT API, run by fastpot)",
        allow_abbrev=False,
    )
    parser.add_argument("-m", "--model", required=True, help="the model's IR .xml file")
    parser.add_argument(
        "-w",
        "--weights",
        required=False,
        help="the model's IR .bin file (default: the .xml path with .bin)",
    )
    parser.add_argument("-d", "--dataset", required=True, help="directory holding the data")
    return parser
