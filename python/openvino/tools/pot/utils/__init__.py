"""POT's ``openvino.tools.pot.utils`` (see ``.logger`` and ``.launcher``)."""
