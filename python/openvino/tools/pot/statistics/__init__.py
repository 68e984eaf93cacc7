"""POT's ``openvino.tools.pot.statistics`` (only ``.functions`` is provided)."""
