"""POT's ``openvino.tools.pot.graph``: model loading and saving (fastpot.graph).

POT's NetworkX graph-editing helpers (``connect_nodes``, ``connect_nodes_by_name``,
``remove_node_by_name``, ``GraphTransformer``) are not implemented: fastpot models are
``openvino.Model`` objects, edited with OpenVINO's own API.
"""

from __future__ import annotations

from openvino.tools.pot._unsupported import missing_class, missing_function

from fastpot.graph import load_model, save_model

_HINT = (
    "fastpot models are openvino.Model objects (CompressedModel.get_model()); "
    "edit them with OpenVINO's API (e.g. Output.replace, Model.add_outputs)"
)
_MODULE = "openvino.tools.pot.graph"

connect_nodes = missing_function("connect_nodes", _HINT, _MODULE)
connect_nodes_by_name = missing_function("connect_nodes_by_name", _HINT, _MODULE)
remove_node_by_name = missing_function("remove_node_by_name", _HINT, _MODULE)
GraphTransformer = missing_class(
    "GraphTransformer", "use fastpot.graph.plan_fake_quantize / insert_fake_quantize", _MODULE
)

__all__ = [
    "GraphTransformer",
    "connect_nodes",
    "connect_nodes_by_name",
    "load_model",
    "remove_node_by_name",
    "save_model",
]
