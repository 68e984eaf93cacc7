"""POT's ``openvino.tools.pot.pipeline`` (see ``.initializer`` and ``.pipeline``)."""
