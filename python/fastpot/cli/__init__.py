"""The ``pot`` command line.

Arguments and the run in :mod:`.app`, config files in :mod:`.config`, the simplified image
engine in :mod:`.simplified_engine`.
"""
