"""Which tensors fastpot treats as non-negative by construction (graph.value_range)."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from fastpot.graph._graph import GraphView
from fastpot.graph.value_range import nonnegative_outputs


def _names(model: ov.Model) -> set[str]:
    g = GraphView(model)
    return {g.name(k) for k, _ in nonnegative_outputs(g)}


def test_relu_clamp_and_what_carries_them() -> None:
    x = ops.parameter([1, 4, 8, 8], np.float32, name="x")
    relu = ops.relu(x, name="relu")
    pool = ops.max_pool(relu, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2], name="pool").output(0)
    clamp_pos = ops.clamp(x, 0.0, 6.0, name="relu6")
    clamp_neg = ops.clamp(x, -1.0, 1.0, name="hardtanh")
    both = ops.add(
        pool, ops.max_pool(clamp_pos, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2]).output(0), name="sum"
    )
    mixed = ops.add(
        pool,
        ops.max_pool(clamp_neg, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2]).output(0),
        name="mixed",
    )
    scaled = ops.multiply(relu, ops.constant(np.full([1, 4, 1, 1], 0.5, np.float32)), name="scaled")
    negated = ops.multiply(relu, ops.constant(np.float32(-1.0)), name="negated")
    prelu = ops.prelu(x, ops.constant(np.float32(0.1)), name="prelu")
    model = ov.Model([both, mixed, scaled, negated, prelu], [x])
    names = _names(model)
    assert {"relu", "pool", "relu6", "sum", "scaled"} <= names
    assert not {"x", "hardtanh", "mixed", "negated", "prelu"} & names
