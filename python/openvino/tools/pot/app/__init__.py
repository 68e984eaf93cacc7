"""POT's ``openvino.tools.pot.app`` (see ``.run``)."""
