"""Tensors that are non-negative by construction (ReLU outputs and what carries them).

Symmetric activation quantization uses a tensor's minimum only for its sign, so
the minimum of a tensor known to be non-negative need not be measured at all.
"""

from __future__ import annotations

import numpy as np

from fastpot.graph._graph import GraphView, Port

__all__ = ["nonnegative_outputs"]

# Outputs >= 0 whatever the input (NaN aside).
_ALWAYS = {"Relu", "Sigmoid", "Softmax", "SoftMax", "Exp", "Abs", "HSigmoid", "SoftPlus"}
# Outputs >= 0 when every data input is (value-preserving or order-preserving ops).
_CARRIERS = {
    "MaxPool",
    "AvgPool",
    "ReduceMax",
    "ReduceMin",
    "ReduceMean",
    "ReduceSum",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Flatten",
    "Concat",
    "Split",
    "VariadicSplit",
    "StridedSlice",
    "Slice",
    "Tile",
    "Broadcast",
    "DepthToSpace",
    "SpaceToDepth",
    "ShuffleChannels",
    "Sqrt",
    "Add",
    "Multiply",
    "Maximum",
    "Minimum",
    "Convert",
}
_DATA_INPUTS = {  # inputs that carry values (the others are shapes, axes, indices)
    "MaxPool": (0,),
    "AvgPool": (0,),
    "ReduceMax": (0,),
    "ReduceMin": (0,),
    "ReduceMean": (0,),
    "ReduceSum": (0,),
    "Reshape": (0,),
    "Squeeze": (0,),
    "Unsqueeze": (0,),
    "Transpose": (0,),
    "Flatten": (0,),
    "Split": (0,),
    "VariadicSplit": (0,),
    "StridedSlice": (0,),
    "Slice": (0,),
    "Tile": (0,),
    "Broadcast": (0,),
    "DepthToSpace": (0,),
    "SpaceToDepth": (0,),
    "ShuffleChannels": (0,),
    "Sqrt": (0,),
    "Convert": (0,),
}


def nonnegative_outputs(g: GraphView) -> set[Port]:
    """Output ports of `g` whose values are >= 0 for every input (NaN aside)."""
    out: set[Port] = set()
    for key in g.order:
        t = g.ov_type(key)
        node = g.nodes[key]
        if t == "Constant":
            data = node.get_data()
            if data.dtype.kind == "f" and data.size and bool(np.all(data >= 0)):
                out.add((key, 0))
            continue
        if t == "Clamp":
            if float(node.get_attributes()["min"]) >= 0:
                out.add((key, 0))
            continue
        if t in _ALWAYS:
            out.update((key, i) for i in range(node.get_output_size()))
            continue
        if t not in _CARRIERS:
            continue
        inputs = g.inputs(key)
        data = _DATA_INPUTS.get(t, tuple(range(len(inputs))))
        if all(inputs[i] in out for i in data if i < len(inputs)):
            out.update((key, i) for i in range(node.get_output_size()))
    return out
