"""Helpers of POT's API samples (``openvino.tools.pot.api.samples``), re-implemented.

POT 2023.3 shipped its samples' data loaders, metric and utilities inside the package, and
user scripts built on them import them from there. fastpot's drop-in re-exports these:

* :mod:`fastpot.samples.argument_parser`: ``get_common_argparser`` (``-m``, ``-w``, ``-d``);
* :mod:`fastpot.samples.coco`: ``COCOLoader`` (COCO json + images) and the ``MAP`` metric;
* :mod:`fastpot.samples.mtcnn`: the MTCNN box helpers of the face-detection sample;
* :mod:`fastpot.samples.kaldi_ark`: ``ArkDataLoader`` for Kaldi binary ``.ark`` files.
"""

from __future__ import annotations
