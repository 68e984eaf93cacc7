"""POT's ``openvino.tools.pot.statistics`` (``.functions``, ``.collector`` and ``.statistics`` are provided)."""
