"""Where FakeQuantize nodes go, and inserting them into an ``ov.Model``.

:func:`plan_fake_quantize` computes POT's FakeQuantize set for a model and a quantization
config without touching the model: which tensor each FQ quantizes and which consumer ports
read it, its group (weights / activations), its hardware configuration, levels and
granularity, and the Concat unification groups. :func:`insert_fake_quantize` then adds the
nodes, filling weight ranges (which depend only on the weights) and applying the saturation
fix; activation ranges are filled later from statistics.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from fastpot.api._hints import did_you_mean, warn_user
from fastpot.graph._graph import GraphView, Port
from fastpot.graph.hardware import HardwareConfig, QuantConfig, hardware_config
from fastpot.graph.patterns import skipped_by_patterns
from fastpot.kernels import fq_params, reduce_per_sample

__all__ = [
    "FQPlan",
    "QuantizationScheme",
    "insert_fake_quantize",
    "plan_fake_quantize",
    "weight_channels",
]

_WEIGHTED_TYPES = ("Convolution", "ConvolutionBackpropData", "MatMul", "DepthWiseConvolution")
_INPUT_ONLY = (
    "Interpolate",
    "Power",
    "ReduceMean",
    "NormalizeL2",
    "Assign",
    "PRelu",
    "Relu",
    "Sigmoid",
    "Tanh",
    "Clamp",
    "MVN",
)
_SINGLE_BRANCH_EXCEPTIONS = ("Concat", "Pad", "ConvertLike")
_TRANSFORMER_IGNORED = (
    "Add",
    "Power",
    "Squeeze",
    "Subtract",
    "ReduceMean",
    "SquaredDifference",
    "MVN",
    "Multiply",
)
_PRESETS = ("performance", "mixed", "accuracy")
_OVERRIDE_KEYS = ("bits", "mode", "granularity", "level_low", "level_high")


@dataclass
class QuantizationScheme:
    """The parts of a POT algorithm config that decide FakeQuantize placement."""

    target_device: str = "ANY"
    preset: str = "performance"
    model_type: str | None = None
    ignored: Mapping[str, Any] | None = None
    weights: Mapping[str, Any] | None = None
    activations: Mapping[str, Any] | None = None
    saturation_fix: str = "first_layer"

    def __post_init__(self) -> None:
        if self.model_type not in (None, "transformer"):
            raise ValueError(
                f"model_type: {self.model_type!r} is not a model type POT knew (None or "
                f"'transformer'){did_you_mean(self.model_type, ['transformer'])}"
            )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> QuantizationScheme:
        """Build from POT algorithm params (unknown keys are ignored here)."""
        model_type = params.get("model_type")
        return cls(
            target_device=str(params.get("target_device", "ANY")),
            preset=str(params.get("preset", "performance")),
            model_type=None if model_type in (None, "None") else str(model_type),
            ignored=params.get("ignored") or None,
            weights=params.get("weights") or None,
            activations=params.get("activations") or None,
            saturation_fix=str(params.get("saturation_fix", "first_layer")),
        )


@dataclass
class FQPlan:
    """One FakeQuantize to insert."""

    name: str
    group: str  # "weights" | "activations"
    source: Port  # output that is quantized
    consumers: list[Port]  # input ports that read the FQ
    config: QuantConfig | None = None
    levels: int = 0
    channel_axes: tuple[int, ...] = ()  # kept axes of per-channel ranges ((): per tensor)
    unified_group: int | None = None

    @property
    def granularity(self) -> str:
        """``perchannel`` or ``pertensor``."""
        return "perchannel" if self.channel_axes else "pertensor"


@dataclass
class Placement:
    """Result of :func:`plan_fake_quantize`."""

    graph: GraphView
    hardware: HardwareConfig
    scheme: QuantizationScheme
    plans: list[FQPlan]
    unified_groups: list[list[str]] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)
    #: Layers whose weights the saturation fix halved (filled by insert_fake_quantize).
    saturated: set[str] = field(default_factory=set)


# ---- skipped / ignored nodes -------------------------------------------------------------------


# OpenVINO operation types (opsets 1-17), for close matches of a misspelt ignored type; any
# type OpenVINO's NodeFactory knows, or the model holds, is accepted as well.
_OV_TYPES = frozenset(
    {
        "Abs",
        "Acos",
        "Acosh",
        "AdaptiveAvgPool",
        "AdaptiveMaxPool",
        "Add",
        "Asin",
        "Asinh",
        "Assign",
        "Atan",
        "Atanh",
        "AvgPool",
        "BatchNormInference",
        "BatchToSpace",
        "BinaryConvolution",
        "BitwiseAnd",
        "BitwiseLeftShift",
        "BitwiseNot",
        "BitwiseOr",
        "BitwiseRightShift",
        "BitwiseXor",
        "Broadcast",
        "Bucketize",
        "CTCGreedyDecoder",
        "CTCGreedyDecoderSeqLen",
        "CTCLoss",
        "Ceiling",
        "Clamp",
        "Col2Im",
        "Concat",
        "Constant",
        "Convert",
        "ConvertLike",
        "ConvertPromoteTypes",
        "Convolution",
        "ConvolutionBackpropData",
        "Cos",
        "Cosh",
        "CumSum",
        "DFT",
        "DeformableConvolution",
        "DeformablePSROIPooling",
        "DepthToSpace",
        "DetectionOutput",
        "Divide",
        "Einsum",
        "Elu",
        "EmbeddingBagOffsets",
        "EmbeddingBagOffsetsSum",
        "EmbeddingBagPacked",
        "EmbeddingBagPackedSum",
        "EmbeddingSegmentsSum",
        "Equal",
        "Erf",
        "ErfInv",
        "Exp",
        "ExperimentalDetectronDetectionOutput",
        "ExperimentalDetectronGenerateProposalsSingleImage",
        "ExperimentalDetectronPriorGridGenerator",
        "ExperimentalDetectronROIFeatureExtractor",
        "ExperimentalDetectronTopKROIs",
        "ExtractImagePatches",
        "Eye",
        "FakeConvert",
        "FakeQuantize",
        "Floor",
        "FloorMod",
        "GRN",
        "GRUCell",
        "GRUSequence",
        "Gather",
        "GatherElements",
        "GatherND",
        "GatherTree",
        "Gelu",
        "GenerateProposals",
        "Greater",
        "GreaterEqual",
        "GridSample",
        "GroupConvolution",
        "GroupConvolutionBackpropData",
        "GroupNormalization",
        "HSigmoid",
        "HSwish",
        "HardSigmoid",
        "I420toBGR",
        "I420toRGB",
        "IDFT",
        "IRDFT",
        "ISTFT",
        "Identity",
        "If",
        "Interpolate",
        "Inverse",
        "IsFinite",
        "IsInf",
        "IsNaN",
        "LRN",
        "LSTMCell",
        "LSTMSequence",
        "Less",
        "LessEqual",
        "Log",
        "LogSoftmax",
        "LogicalAnd",
        "LogicalNot",
        "LogicalOr",
        "LogicalXor",
        "Loop",
        "MVN",
        "MatMul",
        "MatrixNms",
        "MaxPool",
        "Maximum",
        "Minimum",
        "Mish",
        "Mod",
        "MulticlassNms",
        "Multinomial",
        "Multiply",
        "NMSRotated",
        "NV12toBGR",
        "NV12toRGB",
        "Negative",
        "NonMaxSuppression",
        "NonZero",
        "NormalizeL2",
        "NotEqual",
        "OneHot",
        "PRelu",
        "PSROIPooling",
        "Pad",
        "Parameter",
        "Power",
        "PriorBox",
        "PriorBoxClustered",
        "Proposal",
        "RDFT",
        "RNNCell",
        "RNNSequence",
        "ROIAlign",
        "ROIAlignRotated",
        "ROIPooling",
        "RandomUniform",
        "Range",
        "ReadValue",
        "ReduceL1",
        "ReduceL2",
        "ReduceLogicalAnd",
        "ReduceLogicalOr",
        "ReduceMax",
        "ReduceMean",
        "ReduceMin",
        "ReduceProd",
        "ReduceSum",
        "RegionYolo",
        "Relu",
        "ReorgYolo",
        "Reshape",
        "Result",
        "ReverseSequence",
        "Roll",
        "Round",
        "STFT",
        "ScaledDotProductAttention",
        "ScatterElementsUpdate",
        "ScatterNDUpdate",
        "ScatterUpdate",
        "SearchSorted",
        "SegmentMax",
        "Select",
        "Selu",
        "ShapeOf",
        "ShuffleChannels",
        "Sigmoid",
        "Sign",
        "Sin",
        "Sinh",
        "Slice",
        "SliceScatter",
        "SoftPlus",
        "SoftSign",
        "Softmax",
        "SpaceToBatch",
        "SpaceToDepth",
        "SparseFillEmptyRows",
        "Split",
        "Sqrt",
        "SquaredDifference",
        "Squeeze",
        "StridedSlice",
        "StringTensorPack",
        "StringTensorUnpack",
        "Subtract",
        "Swish",
        "Tan",
        "Tanh",
        "TensorIterator",
        "Tile",
        "TopK",
        "Transpose",
        "Unique",
        "Unsqueeze",
        "VariadicSplit",
    }
)
_POT_TYPES = ("DepthWiseConvolution",)  # POT's name of depthwise GroupConvolutions


@lru_cache(maxsize=256)
def _is_openvino_type(name: str) -> bool:
    """Whether `name` is an operation type of some OpenVINO opset (or one of POT's names)."""
    if name in _OV_TYPES or name in _POT_TYPES:
        return True
    try:
        from openvino.utils.node_factory import NodeFactory  # noqa: PLC0415
    except ImportError:  # pragma: no cover - older OpenVINO
        from openvino._pyopenvino import NodeFactory  # noqa: PLC0415

    for version in range(1, 30):
        try:
            factory = NodeFactory(f"opset{version}")
        except Exception:  # noqa: BLE001 - no such opset: past the newest one
            return False
        try:
            factory.create(name)
        except Exception:  # noqa: BLE001, S112 - not a type of this opset
            continue
        return True
    return False


def _ignored_operation_types(
    g: GraphView, operations: Any
) -> list[tuple[str, Mapping[str, Any], str]]:
    """Check ``ignored.operations`` against the model; return (type, attributes, path) each.

    A type that is no OpenVINO operation type (a typo) is an error naming the close match; a
    valid type absent from the model, or attributes that match no node of it, is a warning
    (POT accepted any type; such an entry ignores nothing). Attribute names that no node of
    the type has are errors naming the close match.
    """
    if operations is None:
        return []
    if not isinstance(operations, (list, tuple)):
        raise TypeError(
            "ignored.operations: expected a list of {'type': ..., 'attributes': {...}}, "
            f"got {type(operations).__name__} {operations!r}"
        )
    in_model: dict[str, list[str]] = {}
    for key in g.order:
        for t in {g.ov_type(key), g.pot_type(key)}:
            in_model.setdefault(t, []).append(key)
    out = []
    for i, op in enumerate(operations):
        path = f"ignored.operations[{i}]"
        if not isinstance(op, Mapping):
            raise TypeError(f"{path}: expected {{'type': ..., 'attributes': {{...}}}}, got {op!r}")
        if "type" not in op:
            raise ValueError(f"{path}: entry {dict(op)!r} has no 'type'")
        t = op["type"]
        if not isinstance(t, str) or not t:
            raise TypeError(f"{path}.type: expected an operation type name, got {t!r}")
        attrs = op.get("attributes") or {}
        if not isinstance(attrs, Mapping):
            raise TypeError(f"{path}.attributes: expected a mapping, got {attrs!r}")
        if t not in in_model:
            if not _is_openvino_type(t):
                raise ValueError(
                    f"{path}.type: {t!r} is not an OpenVINO operation type"
                    f"{did_you_mean(t, [*in_model, *_OV_TYPES, *_POT_TYPES])} (the model's "
                    f"types: {', '.join(sorted(in_model))})"
                )
            warn_user(
                f"{path}.type: the model has no {t!r} operation; this ignored entry ignores nothing"
            )
            out.append((t, attrs, path))
            continue
        names = sorted({n for k in in_model[t] for n in g.nodes[k].get_attributes()})
        for name in attrs:
            if name not in names:
                raise ValueError(
                    f"{path}.attributes.{name}: {t} operations have no attribute {name!r}"
                    f"{did_you_mean(name, names)} (theirs: {', '.join(names) or 'none'})"
                )
        if attrs and not any(
            all(_attr_equal(g.nodes[k].get_attributes().get(a), v) for a, v in attrs.items())
            for k in in_model[t]
        ):
            warn_user(
                f"{path}: no {t} operation of the model has the attributes {dict(attrs)!r}; "
                "this ignored entry ignores nothing"
            )
        out.append((t, attrs, path))
    return out


def _ignored_nodes(g: GraphView, hw: HardwareConfig, scheme: QuantizationScheme) -> set[str]:
    ignored: set[str] = set()
    cfg = scheme.ignored or {}
    if not isinstance(cfg, Mapping):
        raise TypeError(
            f"ignored: expected a mapping {{'scope': [...], 'operations': [...]}}, got {cfg!r}"
        )
    unknown = set(cfg) - {"scope", "operations", "skip_model"}
    if unknown:
        first = min(map(str, unknown))
        raise ValueError(
            f"ignored: unknown key(s) {sorted(map(str, unknown))}"
            f"{did_you_mean(first, ['scope', 'operations', 'skip_model'], 0.5)} "
            "(expected scope, operations, skip_model)"
        )
    if cfg.get("skip_model"):
        return set(g.order)
    scope = cfg.get("scope", []) or []
    if not isinstance(scope, (list, tuple)):
        raise TypeError(
            f"ignored.scope: expected a list of node names, got {type(scope).__name__} "
            f"{scope!r}" + (f" (write [{scope!r}])" if isinstance(scope, str) else "")
        )
    for i, entry in enumerate(scope):
        name = "|".join(entry) if isinstance(entry, (list, tuple)) else str(entry)
        key = g.key_of(name)
        if key is None:
            names = [g.name(k) for k in g.order]
            raise ValueError(
                f"ignored.scope[{i}]: no node named {name!r} in the model"
                f"{did_you_mean(name, names)}"
            )
        ignored.add(key)
    types = [(t, attrs) for t, attrs, _ in _ignored_operation_types(g, cfg.get("operations"))]
    if scheme.model_type == "transformer":
        for t in _TRANSFORMER_IGNORED:
            if t == "Multiply" and hw.device == "CPU_SPR":
                continue
            types.append((t, {}))
    for key in g.order:
        for t, attrs in types:
            if g.ov_type(key) != t and g.pot_type(key) != t:
                continue
            node_attrs = g.nodes[key].get_attributes()
            if all(_attr_equal(node_attrs.get(k), v) for k, v in attrs.items()):
                ignored.add(key)
    # An ignored agnostic op un-quantizes its direct consumers as well.
    for key in list(ignored):
        if g.pot_type(key) in hw.agnostic:
            ignored.update(g.successors(key))
    return ignored


def _attr_equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, np.ndarray):
        actual = actual.tolist()
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        return list(actual) == list(expected)
    return actual == expected or str(actual) == str(expected)


# ---- insertion on inputs -------------------------------------------------------------------


def _quantized_ports(g: GraphView, hw: HardwareConfig, key: str) -> list[int]:
    t = g.pot_type(key)
    n = g.nodes[key].get_input_size()
    if t in ("Convolution", "ConvolutionBackpropData", "MatMul", "DepthWiseConvolution"):
        return [0, 1]
    if t in hw.recurrent_ports:
        if t == "GRUSequence" and g.nodes[key].get_attributes().get("linear_before_reset"):
            return []
        return [p for p in hw.recurrent_ports[t] if p < n]
    if t in _INPUT_ONLY:
        return [0]
    if t == "Multiply" and g.has_constant_input(key):
        succ = g.successors(key)
        if len(succ) == 1 and g.ov_type(succ[0]) == "Add" and g.has_constant_input(succ[0]):
            return [0]  # ScaleShift
    return list(range(n))


def _insert_on_inputs(g: GraphView, hw: HardwareConfig, excluded: set[str]) -> dict[Port, FQPlan]:
    plans: dict[Port, FQPlan] = {}
    for key in g.order:
        t = g.pot_type(key)
        if key in excluded or not hw.is_quantizable(t) or t in hw.agnostic:
            continue
        for port in _quantized_ports(g, hw, key):
            src = g.producer[(key, port)]
            name = g.name(key)
            if g.is_constant_output(src):
                if not hw.candidates(t, "weights"):
                    continue
                plans[(key, port)] = FQPlan(
                    f"{name}/fq_weights_{port}", "weights", src, [(key, port)]
                )
            elif not g.is_foldable(src):
                plans[(key, port)] = FQPlan(
                    f"{name}/fq_input_{port}", "activations", src, [(key, port)]
                )
    return plans


# ---- upward propagation ------------------------------------------------------------------------


def _ascend_safe(
    g: GraphView, hw: HardwareConfig, plans: dict[Port, FQPlan], excluded: set[str]
) -> dict[str, bool]:
    """Tell for every agnostic node whether FQs may move above it.

    Every downstream branch through agnostic nodes must end in an activation FQ (ShapeOf
    consumers do not count).
    """
    memo: dict[str, bool] = {}

    def safe(key: str) -> bool:
        if key in memo:
            return memo[key]
        memo[key] = False  # cycles (none in a DAG) stay unsafe
        ok = True
        for c, q in g.output_consumers(key):
            if g.ov_type(c) == "ShapeOf":
                continue
            plan = plans.get((c, q))
            if plan is not None and plan.group == "activations":
                continue
            if g.pot_type(c) in hw.agnostic and c not in excluded and safe(c):
                continue
            ok = False
            break
        memo[key] = ok
        return ok

    return {k: safe(k) for k in g.order if g.pot_type(k) in hw.agnostic}


def _propagate(
    g: GraphView, hw: HardwareConfig, plans: dict[Port, FQPlan], excluded: set[str]
) -> dict[Port, FQPlan]:
    safe = _ascend_safe(g, hw, plans, excluded)
    queue = deque(p for p in plans if plans[p].group == "activations")
    while queue:
        port = queue.popleft()
        plan = plans.get(port)
        if plan is None or plan.group != "activations":
            continue
        src_key = plan.source[0]
        t = g.pot_type(src_key)
        if t not in hw.agnostic or src_key in excluded or not safe.get(src_key, False):
            continue
        del plans[port]
        name = g.name(src_key)
        if t in _SINGLE_BRANCH_EXCEPTIONS:
            # One FQ per input that carries data (constants and shape values are foldable).
            targets = [i for i, p in enumerate(g.inputs(src_key)) if not g.is_foldable(p)]
        else:
            targets = [0]
        for i in targets:
            new_port = (src_key, i)
            if new_port in plans:
                continue
            src = g.producer[new_port]
            plans[new_port] = FQPlan(f"{name}/fq_input_{i}", "activations", src, [new_port])
            queue.append(new_port)
    return plans


def _merge_per_tensor(plans: Iterable[FQPlan], g: GraphView) -> list[FQPlan]:
    """One FQ per tensor: the alphabetically first name wins.

    Weights too: a constant read by two operations (YOLO's anchors, say) gets one weights FQ
    feeding both, as in POT.
    """
    by_source: dict[tuple[str, Port], list[FQPlan]] = {}
    for plan in plans:
        by_source.setdefault((plan.group, plan.source), []).append(plan)
    merged: list[FQPlan] = []
    for group in by_source.values():
        group.sort(key=lambda p: p.name)
        keep = group[0]
        keep.consumers = sorted(
            {c for p in group for c in p.consumers}, key=lambda c: (g.name(c[0]), c[1])
        )
        merged.append(keep)
    return merged


def _prune_spr_adds(g: GraphView, plans: list[FQPlan]) -> list[FQPlan]:
    """CPU_SPR: drop one of the two FQs in front of an activation Add."""
    by_consumer = {c: p for p in plans if p.group == "activations" for c in p.consumers}

    def traces_to_weighted(key: str) -> bool:
        while True:
            if g.ov_type(key) in ("Convolution", "GroupConvolution", "MatMul"):
                return True
            inputs = [p for p in g.inputs(key) if not g.is_constant_output(p)]
            if len(inputs) != 1:
                return False
            key = inputs[0][0]

    def size(plan: FQPlan) -> int:
        shape = g.nodes[plan.source[0]].get_output_partial_shape(plan.source[1])
        return int(np.prod(shape.to_shape())) if shape.is_static else 0

    for key in g.order:
        if g.ov_type(key) != "Add" or g.has_constant_input(key):
            continue
        a, b = by_consumer.get((key, 0)), by_consumer.get((key, 1))
        if a is None or b is None or a is b:
            continue
        drop: tuple[FQPlan, int] | None = None
        for one, other, port in ((a, b, 1), (b, a, 0)):
            if (
                len(one.consumers) > 1
                and len(other.consumers) == 1
                and g.has_constant_input(other.source[0])
            ):
                drop = (other, port)
                break
        if drop is None and traces_to_weighted(a.source[0]) and traces_to_weighted(b.source[0]):
            drop = (a, 0) if size(a) > size(b) else (b, 1)
        if drop is not None:
            drop[0].consumers.remove((key, drop[1]))
    return [p for p in plans if p.consumers]


# ---- configuration -----------------------------------------------------------------------------


def _descendants(g: GraphView, hw: HardwareConfig, plan: FQPlan) -> list[tuple[str, str]]:
    """(key, pot type) of the quantizable ops an FQ feeds, through agnostic ops."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    stack = sorted(plan.consumers, key=lambda c: g.name(c[0]), reverse=True)
    while stack:
        c, _ = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        t = g.pot_type(c)
        if t in hw.agnostic:
            stack.extend(sorted(g.output_consumers(c), key=lambda x: g.name(x[0]), reverse=True))
        elif hw.is_quantizable(t):
            found.append((c, t))
    return found


def _derived(configs: Iterable[QuantConfig]) -> list[QuantConfig]:
    out = list(configs)
    for c in list(out):
        variants = []
        if c.granularity == "perchannel":
            variants.append(QuantConfig(c.bits, c.mode, "pertensor", c.level_low, c.level_high))
        if c.mode == "asymmetric":
            variants.append(
                QuantConfig(c.bits, "symmetric", c.granularity, c.level_low, c.level_high)
            )
        if c.granularity == "perchannel" and c.mode == "asymmetric":
            variants.append(
                QuantConfig(c.bits, "symmetric", "pertensor", c.level_low, c.level_high)
            )
        out += [v for v in variants if v not in out]
    return out


def _intersect(a: list[QuantConfig], b: list[QuantConfig]) -> list[QuantConfig]:
    def plain(x: list[QuantConfig], y: list[QuantConfig]) -> list[QuantConfig]:
        keys = {(c.mode, c.granularity): c for c in y}
        out = []
        for c in x:
            other = keys.get((c.mode, c.granularity))
            if other is not None:
                out.append(c if c.bits <= other.bits else other)
        return out

    result = plain(a, b)
    if not result:
        result = plain(_derived(a), _derived(b))
    return result


def _apply_overrides(
    candidates: list[QuantConfig], override: Mapping[str, Any] | None, fq: str
) -> list[QuantConfig]:
    if not override:
        return candidates
    wanted = {k: override[k] for k in _OVERRIDE_KEYS if k in override}
    if not wanted:
        return candidates
    matching = [c for c in candidates if all(c.as_dict().get(k) == v for k, v in wanted.items())]
    if matching:
        return matching
    warn_user(
        f"Fake quantize node {fq} does not support configuration from tool config file "
        "(mismatch with hardware config); using the configured values as they are"
    )
    missing = [k for k in ("bits", "mode", "granularity") if k not in wanted]
    if missing:
        raise ValueError(
            f"{fq}: the configured quantization {wanted} matches no hardware configuration "
            f"and lacks {missing} to stand on its own"
        )
    return [
        QuantConfig(
            int(wanted["bits"]),
            str(wanted["mode"]),
            str(wanted["granularity"]),
            wanted.get("level_low"),
            wanted.get("level_high"),
        )
    ]


def _pick(candidates: list[QuantConfig], group: str, preset: str) -> QuantConfig:
    if group == "weights":
        return candidates[-1] if preset == "accuracy" else candidates[0]
    return candidates[0] if preset == "performance" else candidates[-1]


def _levels(config: QuantConfig, group: str) -> int:
    half: int = 2 ** (config.bits - 1)
    narrow = group == "weights" and config.mode == "symmetric"
    low = config.level_low if config.level_low is not None else (-half + 1 if narrow else -half)
    high = config.level_high if config.level_high is not None else half - 1
    return abs(high) + abs(low) + 1


def _weight_channel_axes(g: GraphView, plan: FQPlan) -> tuple[int, ...]:
    """Axes of the weights that index output channels."""
    key, port = plan.consumers[0]
    t = g.ov_type(key)
    rank = g.nodes[plan.source[0]].get_output_partial_shape(plan.source[1]).rank.get_length()
    if t == "GroupConvolution":
        return (0, 1)
    if t == "GroupConvolutionBackpropData":
        return (0, 2)
    if t == "ConvolutionBackpropData":
        return (1,)
    if t == "MatMul":
        attrs = g.nodes[key].get_attributes()
        transposed = attrs.get("transpose_b" if port == 1 else "transpose_a", False)
        if rank == 1:
            return (0,)
        if port == 1:
            return (rank - 2,) if transposed else (rank - 1,)
        return (rank - 1,) if transposed else (rank - 2,)
    return (0,) if rank >= 1 else ()


def _configure(
    g: GraphView,
    hw: HardwareConfig,
    scheme: QuantizationScheme,
    plans: list[FQPlan],
    unified: list[list[str]],
) -> list[FQPlan]:
    in_group = {name: i for i, names in enumerate(unified) for name in names}
    chosen: list[FQPlan] = []
    group_candidates: dict[int, list[QuantConfig]] = {}
    pending: list[tuple[FQPlan, list[QuantConfig]]] = []
    for plan in plans:
        descendants = (
            _descendants(g, hw, plan)
            if plan.group == "activations"
            else [(plan.consumers[0][0], g.pot_type(plan.consumers[0][0]))]
        )
        if not descendants:
            continue
        candidates: list[QuantConfig] | None = None
        for _, t in descendants:
            options = list(hw.candidates(t, plan.group))
            candidates = options if candidates is None else _intersect(candidates, options)
        if not candidates:
            raise ValueError(f"{plan.name}: no hardware configuration fits all its consumers")
        override = scheme.weights if plan.group == "weights" else scheme.activations
        candidates = _apply_overrides(candidates, override, plan.name)
        if (
            scheme.model_type == "transformer"
            and plan.group == "activations"
            and any(t == "MatMul" and not g.has_constant_input(k) for k, t in descendants)
        ):
            candidates = [c for c in candidates if c.mode == "symmetric"] or candidates
        gid = in_group.get(plan.name)
        if gid is not None:
            plan.unified_group = gid
            per_tensor = [c for c in _derived(candidates) if c.granularity == "pertensor"]
            prev = group_candidates.get(gid)
            group_candidates[gid] = per_tensor if prev is None else _intersect(prev, per_tensor)
        pending.append((plan, candidates))
    for plan, own in pending:
        candidates = own
        if plan.unified_group is not None:
            candidates = group_candidates[plan.unified_group] or own
        plan.config = _pick(candidates, plan.group, scheme.preset)
        plan.levels = _levels(plan.config, plan.group)
        if plan.config.granularity == "perchannel":
            plan.channel_axes = _weight_channel_axes(g, plan) if plan.group == "weights" else (1,)
            if plan.group == "weights":
                shape = g.nodes[plan.source[0]].get_output_partial_shape(plan.source[1]).to_shape()
                if all(shape[a] == 1 for a in plan.channel_axes):
                    plan.channel_axes = ()  # a single channel (e.g. a scalar eps) is per tensor
        chosen.append(plan)
    return chosen


# ---- unification groups --------------------------------------------------------------


_CONCAT_UNIFY_OUTPUTS = ("Convolution", "ConvolutionBackpropData", "MatMul")


def _unification_groups(g: GraphView, hw: HardwareConfig, plans: list[FQPlan]) -> list[list[str]]:
    """Activation FQs that share one range.

    As POT does it, over the graph with the FQs in place: from each activation FQ, walk down
    from FQs and agnostic ops into agnostic ops and Concats, and up from ops into FQs and
    agnostic ops. A component with at least two FQs is unified when one of its Concats has
    no constant input, has an FQ upstream and feeds a Convolution / ConvolutionBackpropData /
    MatMul but no per-channel-only op through agnostic ops. Recurrent ops unify the
    activation FQs found upward from each port pair (through any op).
    """
    fq_on = {c: p for p in plans if p.group == "activations" for c in p.consumers}
    by_name = {p.name: p for p in plans if p.group == "activations"}

    def agnostic(key: str) -> bool:
        return g.pot_type(key) in hw.agnostic

    def children(key: str) -> list[tuple[str, str]]:
        """("op"|"fq", id) below op `key`: an FQ sits between an op and its consumer."""
        out: list[tuple[str, str]] = []
        for c, q in g.output_consumers(key):
            plan = fq_on.get((c, q))
            item = ("fq", plan.name) if plan is not None else ("op", c)
            if item not in out:
                out.append(item)
        return out

    def parents(key: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for i, src in enumerate(g.inputs(key)):
            plan = fq_on.get((key, i))
            out.append(("fq", plan.name) if plan is not None else ("op", src[0]))
        return out

    def quantizable(item: tuple[str, str]) -> bool:
        if item[0] == "fq":
            return True
        key = item[1]
        return g.nodes[key].get_output_size() > 0 and not g.element_is_integral((key, 0))

    def fq_upstream(key: str) -> bool:
        """Tell whether an FQ or a Concat is above `key` (POT's CONCAT_UNIFY_INPUTS)."""
        stack, seen = [key], {key}
        while stack:
            for kind, ident in parents(stack.pop()):
                if kind == "fq" or g.ov_type(ident) == "Concat":
                    return True
                if ident not in seen and not g.is_constant_output((ident, 0)):
                    seen.add(ident)
                    stack.append(ident)
        return False

    def downstream_types(key: str) -> set[str]:
        """Hardware types of the first non-agnostic ops below `key` (an FQ stops the walk)."""
        found: set[str] = set()
        stack, seen = [key], {key}
        while stack:
            for kind, ident in children(stack.pop()):
                if kind == "fq" or ident in seen:
                    continue
                seen.add(ident)
                if agnostic(ident):
                    stack.append(ident)
                else:
                    found.add(g.pot_type(ident))
        return found

    memo: dict[str, bool] = {}

    def unifying_concat(key: str) -> bool:
        if key not in memo:
            below = downstream_types(key)
            memo[key] = (
                g.ov_type(key) == "Concat"
                and not g.has_constant_input(key)
                and fq_upstream(key)
                and bool(below & set(_CONCAT_UNIFY_OUTPUTS))
                and "DepthWiseConvolution" not in below
            )
        return memo[key]

    visited: set[tuple[str, str]] = set()
    groups: list[list[str]] = []
    for start in sorted(by_name):
        if ("fq", start) in visited:
            continue
        bridges: list[str] = []
        fqs: list[str] = []
        stack = [("fq", start)]
        while stack:
            item = stack.pop()
            if item in visited:
                continue
            visited.add(item)
            kind, ident = item
            if kind == "fq":
                fqs.append(ident)
                below = [("op", c) for c, _ in by_name[ident].consumers]
                ups: list[tuple[str, str]] = []
            else:
                if g.ov_type(ident) == "Concat" and not g.has_constant_input(ident):
                    bridges.append(ident)
                below = children(ident) if agnostic(ident) else []
                ups = parents(ident)
            for child in below:
                if child in visited or not quantizable(child) or child[0] == "fq":
                    continue
                if agnostic(child[1]) or g.ov_type(child[1]) == "Concat":
                    stack.append(child)
            for parent in ups:
                if parent in visited or not quantizable(parent):
                    continue
                if parent[0] == "fq" or agnostic(parent[1]):
                    stack.append(parent)
        if len(fqs) > 1 and any(unifying_concat(b) for b in bridges):
            groups.append(sorted(fqs))
    for t, pairs in hw.recurrent_unified.items():
        for key in g.order:
            if g.ov_type(key) != t:
                continue
            for pair in pairs:
                names = sorted({n for p in pair for n in _fqs_above(g, fq_on, (key, p))})
                # POT unifies only activation pairs (weights stay apart).
                if len(names) >= 2 and all(n in by_name for n in names):
                    groups.append(names)
    return groups


def _fqs_above(g: GraphView, fq_on: dict[Port, FQPlan], port: Port) -> list[str]:
    """Activation FQs reached walking up from input `port` through non-constant inputs."""
    if port in fq_on:
        return [fq_on[port].name]
    src = g.producer[port]
    if g.is_constant_output(src):
        return []
    found: list[str] = []
    stack, seen = [src[0]], {src[0]}
    while stack:
        key = stack.pop()
        for i, up in enumerate(g.inputs(key)):
            if (key, i) in fq_on:
                found.append(fq_on[(key, i)].name)
            elif not g.is_constant_output(up) and up[0] not in seen:
                seen.add(up[0])
                stack.append(up[0])
    return found


# ---- public entry points -------------------------------------------------------------------------


def plan_fake_quantize(
    model: ov.Model, scheme: QuantizationScheme | Mapping[str, Any]
) -> Placement:
    """Compute POT's FakeQuantize set for `model` under `scheme` (model unchanged).

    Parameters
    ----------
    model : openvino.Model
        The FP32 model.
    scheme : QuantizationScheme or mapping
        Placement-relevant algorithm params (``target_device``, ``preset``, ``model_type``,
        ``ignored``, ``weights``, ``activations``).

    Raises
    ------
    ValueError
        Unsupported device or preset, an ignored-scope name that matches no node, or
        weights/activations overrides that cannot stand on their own.
    """
    if not isinstance(scheme, QuantizationScheme):
        scheme = QuantizationScheme.from_params(scheme)
    if scheme.saturation_fix not in ("first_layer", "all", "no"):
        raise ValueError(
            f"saturation_fix: unsupported value {scheme.saturation_fix!r} "
            "(expected 'first_layer', 'all' or 'no')"
        )
    if scheme.preset not in _PRESETS:
        raise ValueError(
            f"preset: unsupported value {scheme.preset!r} (expected one of {_PRESETS})"
        )
    hw = hardware_config(scheme.target_device)
    g = GraphView(model)
    skipped = skipped_by_patterns(g, hw.device)
    excluded = skipped | _ignored_nodes(g, hw, scheme)
    # Shape sub-graphs are never quantized.
    excluded |= {k for k in g.order if g.is_foldable((k, 0)) and g.ov_type(k) != "Constant"}
    plans = _insert_on_inputs(g, hw, excluded)
    plans = _propagate(g, hw, plans, excluded)
    merged = [
        p for p in _merge_per_tensor(plans.values(), g) if not g.element_is_integral(p.source)
    ]
    if hw.device == "CPU_SPR":
        merged = _prune_spr_adds(g, merged)
    unified = _unification_groups(g, hw, merged)
    configured = _configure(g, hw, scheme, merged, unified)
    # Keep only groups whose members all survived configuration.
    names = {p.name for p in configured}
    unified = [grp for grp in unified if all(n in names for n in grp)]
    order = {k: i for i, k in enumerate(g.order)}
    configured.sort(
        key=lambda p: (order[min((c[0] for c in p.consumers), key=order.__getitem__)], p.name)
    )
    return Placement(g, hw, scheme, configured, unified, excluded)


def _first_layer_convolutions(g: GraphView) -> set[str]:
    """First Convolution(s) on every path from each Parameter."""
    conv_types = ("Convolution", "GroupConvolution")
    found: set[str] = set()
    for key in g.order:
        if g.ov_type(key) != "Parameter":
            continue
        queue, seen = deque([key]), {key}
        while queue:
            node = queue.popleft()
            for nxt in g.successors(node):
                if nxt in seen:
                    continue
                seen.add(nxt)
                if g.ov_type(nxt) in conv_types:
                    found.add(nxt)
                else:
                    queue.append(nxt)
    return found


def weight_channels(w: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, list[int]]:
    """Weights as ``[channels, values]`` rows and the shape a per-row result broadcasts in.

    `axes` are the kept (output-channel) axes; ``()`` gives one row (per tensor).
    """
    if axes:
        moved = np.moveaxis(w, axes, tuple(range(len(axes))))
        flat = moved.reshape(int(np.prod(moved.shape[: len(axes)])), -1)
        return flat, [w.shape[a] if a in axes else 1 for a in range(w.ndim)]
    return w.reshape(1, -1), [1] * w.ndim


def _weight_statistics(
    w: np.ndarray, axes: tuple[int, ...], mode: str
) -> tuple[np.ndarray | None, np.ndarray]:
    """Per-channel (or per-tensor) min and max of constant weights, shaped for broadcasting."""
    flat, shape = weight_channels(np.asarray(w, dtype=np.float32), axes)
    if mode == "symmetric":
        high = reduce_per_sample(flat, "abs_max").reshape(shape)
        return None, high
    low = reduce_per_sample(flat, "min").reshape(shape)
    high = reduce_per_sample(flat, "max").reshape(shape)
    return low, high


WeightStatistics = Callable[[np.ndarray, tuple[int, ...], QuantConfig], tuple[Any, Any]]


def insert_fake_quantize(
    model: ov.Model,
    placement: Placement,
    *,
    weight_statistics: WeightStatistics | None = None,
    saturate_also: Iterable[str] = (),
) -> dict[str, Any]:
    """Insert the planned FakeQuantize nodes into `model` (in place).

    Weight ranges are computed from the weights with POT's default estimators (symmetric:
    per-channel ``abs_max``; asymmetric: ``min``/``max``), or with `weight_statistics`
    (``(weights, channel axes, config) -> (min or None, max)``, shaped for broadcasting),
    and, for first-layer convolutions on CPU/ANY and the layers in `saturate_also`
    (realigned by channel alignment), the saturation fix halves the stored weights and
    doubles the output range. Activation FQs get zero ranges until statistics
    fill them. The saturated layers are recorded in ``placement.saturated``.

    Returns
    -------
    dict
        ``{fq name: FakeQuantize node}``.
    """
    g = placement.graph
    if g.model is not model:
        raise ValueError("model: not the model this placement was planned for")
    scheme = placement.scheme
    saturate: set[str] = set()
    if (
        placement.hardware.saturation_fix
        and scheme.saturation_fix != "no"
        and any(g.ov_type(k) in ("Convolution", "GroupConvolution") for k in g.order)
    ):
        if scheme.saturation_fix == "all":
            saturate = {
                k
                for k in g.order
                if g.ov_type(k)
                in (
                    "Convolution",
                    "GroupConvolution",
                    "ConvolutionBackpropData",
                    "GroupConvolutionBackpropData",
                    "MatMul",
                )
            }
        else:
            saturate = _first_layer_convolutions(g)
        saturate |= {k for k in (g.key_of(n) for n in saturate_also) if k is not None}
    placement.saturated = {g.name(k) for k in saturate}
    created: dict[str, Any] = {}
    range_source = _shared_weight_ranges(g, placement.plans)
    for plan in placement.plans:
        src_node = g.nodes[plan.source[0]]
        src = src_node.output(plan.source[1])
        pshape = src.get_partial_shape()
        rank = pshape.rank.get_length() if pshape.rank.is_static else 0
        assert plan.config is not None
        if plan.group == "weights":
            data = g.nodes[g.constant_source(plan.source)].get_data()
            stats_data = g.nodes[g.constant_source(range_source.get(plan.name, plan).source)]
            stats_data = stats_data.get_data()
            if weight_statistics is None:
                low_stat, high_stat = _weight_statistics(
                    stats_data, plan.channel_axes, plan.config.mode
                )
            else:
                low_stat, high_stat = weight_statistics(
                    np.asarray(stats_data, dtype=np.float32), plan.channel_axes, plan.config
                )
            fq = fq_params(
                low_stat,
                high_stat,
                mode=plan.config.mode,
                kind="weights",
                bits=plan.config.bits,
                level_low=plan.config.level_low,
                level_high=plan.config.level_high,
            )
            il, ih, ol, oh = fq.input_low, fq.input_high, fq.output_low, fq.output_high
            layer = plan.consumers[0][0]
            if layer in saturate and plan.consumers[0][1] == 1:
                halved = (np.asarray(data, dtype=np.float32) / np.float32(2)).astype(data.dtype)
                const = ops.constant(halved, name=g.name(g.constant_source(plan.source)))
                src = (
                    const.output(0)
                    if g.ov_type(plan.source[0]) == "Constant"
                    else ops.convert(const, src.get_element_type()).output(0)
                )
                ol, oh = ol * np.float32(2), oh * np.float32(2)
        else:
            shape = [1] * rank
            if plan.channel_axes and rank >= 2:
                shape[1] = pshape[1].get_length()
            il = ih = ol = oh = np.zeros(shape if plan.channel_axes else [], dtype=np.float32)
        node = ops.fake_quantize(src, il, ih, ol, oh, plan.levels, name=plan.name)
        for c, q in plan.consumers:
            g.nodes[c].input(q).replace_source_output(node.output(0))
        created[plan.name] = node
    _rename_output_facing(g, placement, created)
    model.validate_nodes_and_infer_types()
    return created


def _shared_weight_ranges(g: GraphView, plans: list[FQPlan]) -> dict[str, FQPlan]:
    """Weights FQs whose range POT took from another FQ's weights: ``{name: that plan}``.

    POT keyed weight statistics by the FQ's first consumer, so the weights FQs of one
    operation (a recurrent op's W and R) all got the statistics of the last one, in port
    order: the recurrence weights R. Kept where the shapes agree.
    """
    by_layer: dict[str, list[FQPlan]] = {}
    for plan in plans:
        if plan.group == "weights":
            by_layer.setdefault(plan.consumers[0][0], []).append(plan)
    shared: dict[str, FQPlan] = {}
    for group in by_layer.values():
        if len(group) < 2:
            continue
        last = max(group, key=lambda p: p.consumers[0][1])
        last_shape = g.nodes[last.source[0]].get_output_partial_shape(last.source[1])
        for plan in group:
            shape = g.nodes[plan.source[0]].get_output_partial_shape(plan.source[1])
            same = not plan.channel_axes or all(
                shape[a] == last_shape[a] for a in plan.channel_axes
            )
            if plan is not last and plan.channel_axes == last.channel_axes and same:
                shared[plan.name] = last
    return shared


def _rename_output_facing(g: GraphView, placement: Placement, created: dict[str, Any]) -> None:
    """Give an FQ that feeds a Result its producer's name.

    The producer becomes ``<name>/pre_fq_input``, so that model output names survive.
    """
    for plan in placement.plans:
        if not any(g.ov_type(c) == "Result" for c, _ in plan.consumers):
            continue
        producer = g.nodes[plan.source[0]]
        original = producer.get_friendly_name()
        suffix = f".{plan.source[1]}" if producer.get_output_size() > 1 else ""
        producer.set_friendly_name(f"{original}/pre_fq_input{suffix}")
        created[plan.name].set_friendly_name(original)
