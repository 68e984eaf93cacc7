"""FakeQuantize groups and reverting layers to floating point.

A *group* starts from one FakeQuantize: walk down from it through agnostic operations to
the operations it quantizes (the *layers*), then up from every layer's inputs through
agnostic operations to every FakeQuantize feeding them, weights included. Reverting a group
removes all of those FakeQuantize nodes and, for weighted layers, restores the bias that
bias correction replaced and multiplies saturation-fixed weights back by 2, so a
layer comes back to floating point together with all of its inputs.

Every function takes an ``openvino.Model`` or a :class:`~fastpot.graph.CompressedModel`; in
a cascade the names of FakeQuantize nodes and layers carry their sub-model's prefix
``<stage>_`` (POT's names), so one name says which sub-model it is in. A group never spans
sub-models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import openvino as ov

from fastpot.graph.fq_removal import activation_fake_quantizes, remove_fake_quantize
from fastpot.graph.layers import find_layers, replace_constant, source_constant
from fastpot.graph.model import CompressedModel

__all__ = [
    "RevertGroup",
    "RevertInfo",
    "candidate_fake_quantizes",
    "fake_quantize_group",
    "quantized_operations",
    "revert_group",
]

# Between a weights constant's FakeQuantize and its layer there may be a Convert.
_TRANSPARENT = frozenset({"Convert"})
_FQ = "FakeQuantize"
AnyModel: TypeAlias = ov.Model | CompressedModel


def _views(model: Any) -> list[tuple[str, ov.Model]]:
    """``[(name prefix, sub-model)]``: ``[("", model)]`` for a single model."""
    if isinstance(model, ov.Model):
        return [("", model)]
    if not model.is_cascade:
        return [("", model.get_model())]
    return [(f"{entry['name']}_", entry["model"]) for entry in model.models]


def _resolve(model: Any, name: str) -> tuple[str, ov.Model, str]:
    """(prefix, sub-model, plain name) of a prefixed FakeQuantize or layer name."""
    views = sorted(_views(model), key=lambda v: -len(v[0]))  # longest prefix first
    for prefix, ov_model in views:
        if name.startswith(prefix):
            return prefix, ov_model, name[len(prefix) :]
    raise KeyError(f"{name!r} names no sub-model of the cascade")


@dataclass(frozen=True)
class RevertGroup:
    """FakeQuantize nodes removed together, and the operations that return to FP32."""

    fake_quantizes: tuple[str, ...]
    layers: tuple[str, ...]


@dataclass
class RevertInfo:
    """What the base algorithm changed besides inserting FakeQuantize nodes.

    Attributes
    ----------
    original_biases : dict
        ``{layer name: bias before bias correction}``.
    saturated : set
        Layers whose weights the saturation fix halved (their weights FQ doubles them back).
    """

    original_biases: dict[str, np.ndarray] = field(default_factory=dict)
    saturated: set[str] = field(default_factory=set)

    @classmethod
    def from_algorithm(cls, algorithm: Any, model: AnyModel) -> RevertInfo:
        """Collect the bookkeeping of `algorithm` and its sub-algorithms after ``run``.

        Layers halved by the saturation fix are read from MinMax's placement; if the base
        algorithm has none, they are recognised in `model` by a weights FakeQuantize whose
        output range is twice its input range.
        """
        info = cls()
        found_placement = False
        stack = [algorithm]
        seen: set[int] = set()
        while stack:
            algo = stack.pop()
            if id(algo) in seen:
                continue
            seen.add(id(algo))
            placements = getattr(algo, "placements", None) or {}
            if not placements and getattr(algo, "placement", None) is not None:
                placements = {None: algo.placement}
            for stage, placement in placements.items():
                if hasattr(placement, "saturated"):
                    prefix = f"{stage}_" if stage else ""
                    info.saturated |= {prefix + n for n in placement.saturated}
                    found_placement = True
            for name, bias in (getattr(algo, "original_biases", None) or {}).items():
                info.original_biases.setdefault(name, np.asarray(bias).copy())
            stack.extend(getattr(algo, "algorithms", None) or [])
        if not found_placement:
            info.saturated = {
                prefix + n for prefix, sub in _views(model) for n in _detect_saturated(sub)
            }
        return info


def _detect_saturated(model: ov.Model) -> set[str]:
    out = set()
    for layer in find_layers(model):
        fq = layer.weights_fq()
        if fq is None:
            continue
        sources = [source_constant(fq.input_value(i)) for i in range(1, 5)]
        ranges = [r for r in sources if r is not None]
        if len(ranges) < len(sources):
            continue
        il, ih, ol, oh = (np.asarray(r.get_data(), dtype=np.float32) for r in ranges)
        if np.any(ih != 0) and np.array_equal(ol, 2 * il) and np.array_equal(oh, 2 * ih):
            out.add(layer.name)
    return out


def _consumers(node: Any) -> list[Any]:
    return [t.get_node() for out in node.outputs() for t in out.get_target_inputs()]


def _layers_fed_by(fq: Any, agnostic: frozenset[str]) -> list[Any]:
    """Operations `fq` quantizes, reached downwards through agnostic operations."""
    found: dict[str, Any] = {}
    seen: set[str] = set()
    stack = _consumers(fq)
    while stack:
        node = stack.pop()
        key = node.get_name()
        if key in seen:
            continue
        seen.add(key)
        kind = node.get_type_name()
        if kind in agnostic or kind in _TRANSPARENT:
            stack.extend(_consumers(node))
        elif kind not in (_FQ, "Result"):
            found[key] = node
    return list(found.values())


def _input_fake_quantizes(layer: Any, agnostic: frozenset[str]) -> list[Any]:
    """FakeQuantize nodes on `layer`'s inputs, reached upwards through agnostic operations."""
    found: dict[str, Any] = {}
    seen: set[str] = set()
    stack = [v.get_node() for v in layer.input_values()]
    while stack:
        node = stack.pop()
        key = node.get_name()
        if key in seen:
            continue
        seen.add(key)
        kind = node.get_type_name()
        if kind == _FQ:
            found[key] = node
        elif kind in agnostic or kind in _TRANSPARENT:
            stack.extend(v.get_node() for v in node.input_values())
    return list(found.values())


def _fake_quantizes_by_name(model: ov.Model) -> dict[str, Any]:
    return {op.get_friendly_name(): op for op in model.get_ops() if op.get_type_name() == _FQ}


def fake_quantize_group(model: AnyModel, fq_name: str, agnostic: frozenset[str]) -> RevertGroup:
    """Return the group reverted together with FakeQuantize `fq_name` (names in model order)."""
    prefix, sub, plain = _resolve(model, fq_name)
    fqs = _fake_quantizes_by_name(sub)
    if plain not in fqs:
        raise KeyError(f"no FakeQuantize called {fq_name!r} in the model")
    layers = _layers_fed_by(fqs[plain], agnostic)
    group = {plain}
    for layer in layers:
        group |= {fq.get_friendly_name() for fq in _input_fake_quantizes(layer, agnostic)}
    order = {op.get_friendly_name(): i for i, op in enumerate(sub.get_ordered_ops())}
    return RevertGroup(
        fake_quantizes=tuple(prefix + n for n in sorted(group, key=order.__getitem__)),
        layers=tuple(
            prefix + n
            for n in sorted((n.get_friendly_name() for n in layers), key=order.__getitem__)
        ),
    )


def candidate_fake_quantizes(model: AnyModel) -> list[str]:
    """Every FakeQuantize name: activation ones first, then weights, each in model order."""
    activations: list[str] = []
    weights: list[str] = []
    for prefix, sub in _views(model):
        own = [fq.get_friendly_name() for fq in activation_fake_quantizes(sub)]
        chosen = set(own)
        activations += [prefix + n for n in own]
        weights += [
            prefix + op.get_friendly_name()
            for op in sub.get_ordered_ops()
            if op.get_type_name() == _FQ and op.get_friendly_name() not in chosen
        ]
    return activations + weights


def quantized_operations(model: AnyModel, agnostic: frozenset[str]) -> list[str]:
    """Names of the operations fed by at least one FakeQuantize, in model order."""
    out: list[str] = []
    for prefix, sub in _views(model):
        names: set[str] = set()
        for fq in _fake_quantizes_by_name(sub).values():
            names |= {n.get_friendly_name() for n in _layers_fed_by(fq, agnostic)}
        out += [
            prefix + op.get_friendly_name()
            for op in sub.get_ordered_ops()
            if op.get_friendly_name() in names
        ]
    return out


def revert_group(model: AnyModel, group: RevertGroup, info: RevertInfo) -> None:
    """Revert `group` in `model` (in place).

    The group's FakeQuantize nodes are bypassed (output-facing names restored), and each
    weighted layer of the group gets its original bias back and, if the saturation fix
    halved its weights, the weights multiplied by 2.
    """
    if not group.fake_quantizes and not group.layers:
        return
    prefix, sub, _ = _resolve(model, (group.fake_quantizes or group.layers)[0])
    fqs = _fake_quantizes_by_name(sub)
    plain_fqs = [n[len(prefix) :] for n in group.fake_quantizes]
    remove_fake_quantize(sub, [fqs[n] for n in plain_fqs if n in fqs])
    layers = {prefix + layer.name: layer for layer in find_layers(sub)}
    for name in group.layers:
        layer = layers.get(name)
        if layer is None:
            continue
        if name in info.saturated:
            const = source_constant(layer.node.input_value(1))
            if const is not None:
                data = np.asarray(const.get_data())
                replace_constant(
                    const, (data.astype(np.float32) * np.float32(2)).astype(data.dtype)
                )
        if name in info.original_biases and layer.bias is not None:
            replace_constant(layer.bias, info.original_biases[name])
    sub.validate_nodes_and_infer_types()


def fake_quantize_count(model: AnyModel) -> int:
    """Count the FakeQuantize nodes left in `model`."""
    return sum(1 for _, sub in _views(model) for op in sub.get_ops() if op.get_type_name() == _FQ)
