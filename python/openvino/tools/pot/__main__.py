"""``python -m openvino.tools.pot`` runs the ``pot`` command line."""

from __future__ import annotations

import sys

from fastpot.cli.app import main

if __name__ == "__main__":
    sys.exit(main())
