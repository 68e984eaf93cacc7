"""Ignored sub-graph patterns: nodes never quantized.

Each pattern is a small matcher over :class:`GraphView` that returns the nodes it marks as
skipped. The table ``PATTERNS`` says which patterns apply to which device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastpot.graph._graph import GraphView

__all__ = ["PATTERNS", "skipped_by_patterns"]

_WEIGHTED = (
    "Convolution",
    "GroupConvolution",
    "ConvolutionBackpropData",
    "GroupConvolutionBackpropData",
    "MatMul",
)
_ACTIVATIONS = ("Relu", "PRelu", "Sigmoid")

Matcher = Callable[[GraphView], Iterable[str]]


def _single_successor(g: GraphView, key: str, types: Iterable[str]) -> str | None:
    succ = g.successors(key)
    if len(succ) == 1 and g.ov_type(succ[0]) in types:
        return succ[0]
    return None


def _bias_add(g: GraphView, key: str) -> str | None:
    """Return the bias Add directly after a weighted op (an Add with a constant input)."""
    for c, _ in g.output_consumers(key):
        if g.ov_type(c) == "Add" and g.has_constant_input(c):
            return c
    return None


def operation_with_bias(g: GraphView) -> Iterable[str]:
    """Weighted op -> Add(constant): the bias Add is not quantized."""
    for key in g.order:
        if g.ov_type(key) in _WEIGHTED:
            bias = _bias_add(g, key)
            if bias is not None:
                yield bias


def scale_shift_add(g: GraphView) -> Iterable[str]:
    """Multiply(constant) -> Add(constant): the shift Add is not quantized."""
    for key in g.order:
        if g.ov_type(key) == "Multiply" and g.has_constant_input(key):
            add = _single_successor(g, key, ("Add",))
            if add is not None and g.has_constant_input(add):
                yield add


def add_scale_shift(g: GraphView) -> Iterable[str]:
    """Add -> Multiply(constant) -> Add(constant) -> Result."""
    for key in g.order:
        if g.ov_type(key) != "Add":
            continue
        mul = _single_successor(g, key, ("Multiply",))
        if mul is None or not g.has_constant_input(mul):
            continue
        add = _single_successor(g, mul, ("Add",))
        if add is not None and g.has_constant_input(add) and _single_successor(g, add, ("Result",)):
            yield from (mul, add)


def mvn_scale_shift(g: GraphView) -> Iterable[str]:
    """MVN -> Multiply(constant) -> Add(constant): the affine part is not quantized."""
    for key in g.order:
        if g.ov_type(key) != "MVN":
            continue
        mul = _single_successor(g, key, ("Multiply",))
        if mul is not None and g.has_constant_input(mul):
            yield mul
            add = _single_successor(g, mul, ("Add",))
            if add is not None and g.has_constant_input(add):
                yield add


def normalize_l2(g: GraphView) -> Iterable[str]:
    """NormalizeL2 -> Multiply."""
    for key in g.order:
        if g.ov_type(key) == "NormalizeL2":
            mul = _single_successor(g, key, ("Multiply",))
            if mul is not None:
                yield mul


def input_preprocessing(g: GraphView) -> Iterable[str]:
    """Skip model-input preprocessing.

    Parameter [-> Convert] [-> Transpose] [-> reverse-channel Split -> Concat] ->
    ScaleShift / Add(constant) / Multiply(constant), and Parameter -> Subtract (mean
    subtraction).
    """
    for key in g.order:
        if g.ov_type(key) != "Parameter":
            continue
        for first in g.successors(key):
            chain: list[str] = []
            node = first
            if g.ov_type(node) == "Subtract":
                yield node
                continue
            if g.ov_type(node) == "Convert":
                chain.append(node)
                node = _single_successor(g, node, ("Transpose",)) or ""
                if not node:
                    continue
            if g.ov_type(node) == "Transpose":
                chain.append(node)
                nxt = _single_successor(g, node, ("Multiply", "Add", "Split", "VariadicSplit"))
                if nxt is None:
                    continue
                node = nxt
            if g.ov_type(node) in ("Split", "VariadicSplit"):
                concat = _single_successor(g, node, ("Concat",))
                if concat is None:
                    continue
                chain += [node, concat]
                nxt = _single_successor(g, concat, ("Multiply", "Add"))
                if nxt is None:
                    continue
                node = nxt
            if g.ov_type(node) in ("Multiply", "Add") and g.has_constant_input(node):
                chain.append(node)
                if g.ov_type(node) == "Multiply":
                    add = _single_successor(g, node, ("Add",))
                    if add is not None and g.has_constant_input(add):
                        chain.append(add)
                yield from chain


def softmax_decomposed(g: GraphView) -> Iterable[str]:
    """Exp -> ReduceSum -> [Power ->] Multiply / Divide (a decomposed Softmax)."""
    for key in g.order:
        if g.ov_type(key) != "Exp":
            continue
        succ = g.successors(key)
        sums = [s for s in succ if g.ov_type(s) == "ReduceSum"]
        for r in sums:
            for s in succ:
                if s == r:
                    continue
                if g.ov_type(s) == "Divide" and r in [p[0] for p in g.inputs(s)]:
                    yield from (key, r, s)
                if g.ov_type(s) == "Multiply":
                    for p in g.inputs(s):
                        if g.ov_type(p[0]) == "Power" and g.inputs(p[0])[0][0] == r:
                            yield from (key, r, p[0], s)


def _data_input(g: GraphView, key: str) -> str | None:
    """Return the producer of `key`'s input 0, or None."""
    ins = g.inputs(key)
    return ins[0][0] if ins else None


def _chain(g: GraphView, key: str | None, types: tuple[str, ...]) -> list[str] | None:
    """Walk up from `key` through input 0 matching `types` in order; the nodes, or None."""
    found = []
    for t in types:
        if key is None or g.ov_type(key) != t:
            return None
        if t in ("Reshape",) and not g.has_constant_input(key):
            return None
        found.append(key)
        key = _data_input(g, key)
    return found


def _softmax_side(g: GraphView, key: str) -> list[str] | None:
    """Softmax [-> Reshape] feeding a MatMul (POT's IR reader reshaped N-D Softmax to 2-D)."""
    if g.ov_type(key) == "Softmax":
        return [key]
    if g.ov_type(key) == "Reshape" and g.has_constant_input(key):
        src = _data_input(g, key)
        if src is not None and g.ov_type(src) == "Softmax":
            return [key, src]
    return None


def _attention_matmuls(g: GraphView, value_chains: tuple[tuple[str, ...], ...]) -> Iterable[str]:
    """MatMul(Softmax [-> Reshape], value) where value comes through one of `value_chains`."""
    for key in g.order:
        if g.ov_type(key) != "MatMul":
            continue
        ins = [p[0] for p in g.inputs(key)]
        if len(ins) != 2:
            continue
        for a, b in (ins, ins[::-1]):
            soft = _softmax_side(g, a)
            if soft is None:
                continue
            for chain in value_chains:
                value = _chain(g, b, chain)
                if value is not None:
                    yield from (*soft, *value, key)
                    break
            else:
                continue
            break


def softmax_matmul(g: GraphView) -> Iterable[str]:
    """Skip attention's probability x value block (POT's generic patterns).

    ``softmax_reshape_matmul``: Softmax [-> Reshape] -> MatMul <- Transpose <- Reshape <- Add;
    ``stable_diffusion``: Softmax -> MatMul <- Reshape <- Transpose <- Reshape. Every node of
    the match is skipped: neither the probabilities nor the values are quantized. A value
    taken another way (a StridedSlice head split, say) leaves the MatMul quantized.
    """
    yield from _attention_matmuls(
        g, (("Transpose", "Reshape", "Add"), ("Reshape", "Transpose", "Reshape"))
    )


def softmax_gather_matmul(g: GraphView) -> Iterable[str]:
    """Skip vision transformers' probability x value block (POT's CPU/ANY/GPU pattern).

    ``softmax_reshape_transpose_gather_matmul``: Softmax -> MatMul <- Gather <- Transpose <-
    Reshape <- Add (q, k and v split from one fused projection with Gather).
    """
    yield from _attention_matmuls(g, (("Gather", "Transpose", "Reshape", "Add"),))


def swish_and_hswish(g: GraphView) -> Iterable[str]:
    """Skip h-swish internals.

    Add(constant) -> Clamp -> Multiply [-> Multiply(constant)], and the Clamp ->
    Multiply(constant) tail.
    """
    for key in g.order:
        t = g.ov_type(key)
        if t == "Add" and g.has_constant_input(key):
            clamp = _single_successor(g, key, ("Clamp",))
            if clamp is None:
                continue
            mul = _single_successor(g, clamp, ("Multiply",))
            if mul is None:
                continue
            yield from (key, clamp, mul)
            tail = _single_successor(g, mul, ("Multiply",))
            if tail is not None and g.has_constant_input(tail):
                yield tail
        elif t == "Clamp":
            mul = _single_successor(g, key, ("Multiply",))
            if mul is not None and g.has_constant_input(mul):
                yield mul


def se_block(g: GraphView) -> Iterable[str]:
    """Skip squeeze-excitation branches.

    ReduceMean -> Conv -> bias -> act -> Conv -> bias -> Sigmoid -> Multiply: the branch is
    not quantized (the final Multiply is).
    """
    for key in g.order:
        if g.ov_type(key) != "ReduceMean":
            continue
        chain = [key]
        node: str | None = key
        for types in (
            _WEIGHTED,
            ("Add",),
            ("Relu", "PRelu", "Swish"),
            _WEIGHTED,
            ("Add",),
            ("Sigmoid",),
        ):
            node = _single_successor(g, node, types) if node else None
            if node is None:
                break
            chain.append(node)
        if node is not None and _single_successor(g, node, ("Multiply",)):
            yield from chain


def equal_logical_not(g: GraphView) -> Iterable[str]:
    """Equal -> LogicalNot."""
    for key in g.order:
        if g.ov_type(key) == "Equal":
            ln = _single_successor(g, key, ("LogicalNot",))
            if ln is not None:
                yield from (key, ln)


def weighted_then_scale_shift(g: GraphView) -> Iterable[str]:
    """Skip a ScaleShift or constant eltwise after a weighted op (CPU).

    Weighted op [-> bias] [-> ReLU/PReLU/Sigmoid] -> ScaleShift or eltwise with a constant:
    the ScaleShift / eltwise is not quantized, unless a node on the chain has several
    consumers.
    """
    for key in g.order:
        if g.ov_type(key) not in _WEIGHTED:
            continue
        node = key
        succ = g.successors(node)
        if len(succ) != 1:
            continue
        nxt = succ[0]
        if g.ov_type(nxt) == "Add" and g.has_constant_input(nxt):  # bias
            node = nxt
            succ = g.successors(node)
            if len(succ) != 1:
                continue
            nxt = succ[0]
        if g.ov_type(nxt) in _ACTIVATIONS:
            node = nxt
            succ = g.successors(node)
            if len(succ) != 1:
                continue
            nxt = succ[0]
        if g.is_eltwise_with_constant(nxt):
            yield nxt
            if g.ov_type(nxt) == "Multiply":
                add = _single_successor(g, nxt, ("Add",))
                if add is not None and g.has_constant_input(add):
                    yield add


def upstream_of_nms_and_topk(g: GraphView) -> Iterable[str]:
    """Skip everything upstream of NonMaxSuppression / TopK.

    The walk stops at the nearest weighted op or constant.
    """
    for key in g.order:
        if not g.ov_type(key).startswith(("NonMaxSuppression", "TopK")):
            continue
        stack = [p[0] for p in g.inputs(key)]
        seen: set[str] = set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            t = g.ov_type(node)
            if t in ("Constant", "Parameter") or t in _WEIGHTED:
                continue
            yield node
            stack.extend(p[0] for p in g.inputs(node))


_GENERIC: tuple[Matcher, ...] = (
    operation_with_bias,
    scale_shift_add,
    add_scale_shift,
    mvn_scale_shift,
    normalize_l2,
    input_preprocessing,
    softmax_decomposed,
    softmax_matmul,
    swish_and_hswish,
    se_block,
    equal_logical_not,
    upstream_of_nms_and_topk,
)

PATTERNS: dict[str, tuple[Matcher, ...]] = {
    "ANY": (*_GENERIC, weighted_then_scale_shift, softmax_gather_matmul),
    "CPU": (*_GENERIC, weighted_then_scale_shift, softmax_gather_matmul),
    "GPU": (*_GENERIC, weighted_then_scale_shift, softmax_gather_matmul),
    "CPU_SPR": (*_GENERIC, weighted_then_scale_shift),
}


def skipped_by_patterns(g: GraphView, device: str) -> set[str]:
    """Keys of nodes that the device's ignored patterns exclude from quantization."""
    skipped: set[str] = set()
    for matcher in PATTERNS[device]:
        skipped.update(matcher(g))
    return skipped
