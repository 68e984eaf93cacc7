"""POT's ``openvino.tools.pot.algorithms`` (see ``.algorithm`` and ``.algorithm_selector``).

The algorithm classes themselves are imported from ``openvino.tools.pot``.
"""
