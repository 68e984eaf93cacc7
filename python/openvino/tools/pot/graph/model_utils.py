"""POT's ``openvino.tools.pot.graph.model_utils``: load, save, compress (fastpot.graph).

``add_outputs(models, node_names)`` is POT's: statistics outputs for the sub-models an
engine's ``_set_model`` returned (fastpot.compat.pot_engine).

POT's NetworkX node queries are not implemented; their replacements work on the
``openvino.Model`` (``CompressedModel.get_model()``): ``model.get_ops()``,
``op.get_type_name()``, ``op.get_friendly_name()``, ``model.add_outputs(...)``.
"""

from __future__ import annotations

from openvino.tools.pot._unsupported import missing_function

from fastpot.compat.pot_engine import add_outputs
from fastpot.graph import compress_model_weights, load_model, save_model

_MODULE = "openvino.tools.pot.graph.model_utils"
_HINT = (
    "fastpot models hold openvino.Model objects: use CompressedModel.get_model().get_ops() "
    "with op.get_type_name() / op.get_friendly_name()"
)

get_nodes_by_type = missing_function("get_nodes_by_type", _HINT, _MODULE)
get_node_by_name = missing_function("get_node_by_name", _HINT, _MODULE)
get_all_operation_nodes = missing_function("get_all_operation_nodes", _HINT, _MODULE)

__all__ = [
    "add_outputs",
    "compress_model_weights",
    "get_all_operation_nodes",
    "get_node_by_name",
    "get_nodes_by_type",
    "load_model",
    "save_model",
]
