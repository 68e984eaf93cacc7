"""A read-only index over an ``ov.Model``: producers, consumers and POT's operation types."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import openvino as ov

__all__ = ["GraphView", "Port"]

Port = tuple[str, int]  # (node key, port index)

_GROUP_CONVOLUTIONS = {"GroupConvolution": "Convolution"}
_ELTWISE_WITH_CONSTANT = ("Add", "Multiply", "Subtract", "Divide")


class GraphView:
    """Topologically ordered nodes of a model with their connections.

    Nodes are keyed by OpenVINO's unique internal name; ``name(key)`` gives the friendly
    name that POT's scopes, statistics and FakeQuantize names use.
    """

    def __init__(self, model: ov.Model) -> None:
        self.model = model
        self.order: list[str] = []
        self.nodes: dict[str, Any] = {}
        self.producer: dict[Port, Port] = {}
        self.consumers: dict[Port, list[Port]] = defaultdict(list)
        for op in model.get_ordered_ops():
            key = op.get_name()
            self.order.append(key)
            self.nodes[key] = op
            for i in range(op.get_input_size()):
                src = op.input_value(i)
                src_port = (src.get_node().get_name(), src.get_index())
                self.producer[(key, i)] = src_port
                self.consumers[src_port].append((key, i))
        self._by_name = {self.name(k): k for k in self.order}
        self._foldable = self._constant_foldable()

    # ---- basic facts ---------------------------------------------------------------------

    def name(self, key: str) -> str:
        """Friendly name of a node."""
        return str(self.nodes[key].get_friendly_name())

    def key_of(self, name: str) -> str | None:
        """Key of the node with this friendly name, if any."""
        return self._by_name.get(name)

    def ov_type(self, key: str) -> str:
        """OpenVINO type name."""
        return str(self.nodes[key].get_type_name())

    def pot_type(self, key: str) -> str:
        """Return POT's type of a node.

        Depthwise GroupConvolutions are ``DepthWiseConvolution``, other GroupConvolutions
        ``Convolution``, GroupConvolutionBackpropData ``ConvolutionBackpropData``.
        """
        t = self.ov_type(key)
        if t == "GroupConvolution":
            shape = self.nodes[key].input_value(1).get_partial_shape()
            if shape.is_static and shape.rank.get_length() >= 3:
                dims = [d.get_length() for d in shape]
                if dims[1] == 1 and dims[2] == 1:  # one output and one input channel per group
                    return "DepthWiseConvolution"
            return "Convolution"
        if t == "GroupConvolutionBackpropData":
            return "ConvolutionBackpropData"
        return t

    def inputs(self, key: str) -> list[Port]:
        """Return the producers of every input port, in port order."""
        return [self.producer[(key, i)] for i in range(self.nodes[key].get_input_size())]

    def output_consumers(self, key: str) -> list[Port]:
        """Consumers of every output of a node."""
        out: list[Port] = []
        for port in range(self.nodes[key].get_output_size()):
            out.extend(self.consumers.get((key, port), []))
        return out

    def successors(self, key: str) -> list[str]:
        """Distinct consumer nodes, in first-seen order."""
        seen: dict[str, None] = {}
        for c, _ in self.output_consumers(key):
            seen.setdefault(c, None)
        return list(seen)

    # ---- constants -----------------------------------------------------------------------

    def is_constant_output(self, port: Port) -> bool:
        """Tell whether an output is a Constant, or a Constant seen through Convert (FP16)."""
        key = port[0]
        t = self.ov_type(key)
        if t == "Constant":
            return True
        if t == "Convert":
            return self.ov_type(self.producer[(key, 0)][0]) == "Constant"
        return False

    def constant_source(self, port: Port) -> str:
        """Return the Constant node behind a constant output (through a Convert)."""
        key = port[0]
        return self.producer[(key, 0)][0] if self.ov_type(key) == "Convert" else key

    def has_constant_input(self, key: str) -> bool:
        """Whether some input of the node is a constant."""
        return any(self.is_constant_output(p) for p in self.inputs(key))

    def is_eltwise_with_constant(self, key: str) -> bool:
        """Add/Multiply/Subtract/Divide with a constant operand."""
        return self.ov_type(key) in _ELTWISE_WITH_CONSTANT and self.has_constant_input(key)

    def is_foldable(self, port: Port) -> bool:
        """Tell whether the tensor is known without inputs (constants, shape computations)."""
        return port[0] in self._foldable

    def _constant_foldable(self) -> set[str]:
        foldable: set[str] = set()
        for key in self.order:
            t = self.ov_type(key)
            computed = (
                t not in ("Parameter", "Result", "ReadValue")
                and self.nodes[key].get_input_size() > 0
                and all(p[0] in foldable for p in self.inputs(key))
            )
            if t in ("Constant", "ShapeOf") or computed:
                foldable.add(key)
        return foldable

    def element_is_integral(self, port: Port) -> bool:
        """Integer or boolean tensor (such tensors are never quantized)."""
        et = self.nodes[port[0]].get_output_element_type(port[1])
        return bool(et.is_integral() or et == ov.Type.boolean)
