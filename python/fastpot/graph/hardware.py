"""Hardware quantization rules as data.

A target device maps to a table ``{operation type: {group: [candidate configs]}}`` where a
group is ``activations`` or ``weights`` and candidates are in priority order (the preset
picks the first or the last). Operation types are OpenVINO type names, plus
``DepthWiseConvolution`` for a GroupConvolution with one input and one output channel per
group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "QuantConfig",
    "HardwareConfig",
    "SUPPORTED_DEVICES",
    "hardware_config",
]


@dataclass(frozen=True)
class QuantConfig:
    """One quantization scheme a hardware op accepts."""

    bits: int
    mode: str  # "symmetric" | "asymmetric"
    granularity: str  # "pertensor" | "perchannel"
    level_low: int | None = None
    level_high: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the config as a plain dict (keys of POT's configs)."""
        d: dict[str, Any] = {"bits": self.bits, "mode": self.mode, "granularity": self.granularity}
        if self.level_low is not None:
            d["level_low"] = self.level_low
        if self.level_high is not None:
            d["level_high"] = self.level_high
        return d


# Parameter sets of cpu.json; list-valued fields of the JSON expand into the candidates below
# in the JSON's order (symmetric first).
Q8_A = (QuantConfig(8, "symmetric", "pertensor"), QuantConfig(8, "asymmetric", "pertensor"))
Q8_A_CH = (QuantConfig(8, "symmetric", "perchannel"), QuantConfig(8, "asymmetric", "perchannel"))
Q8_W_SYM = (QuantConfig(8, "symmetric", "perchannel", -127, 127),)
Q8_W_ASYM = (QuantConfig(8, "asymmetric", "perchannel"),)
Q8_W = Q8_W_SYM + Q8_W_ASYM

_ACTIVATIONS_AND_WEIGHTS = (
    "Convolution",
    "ConvolutionBackpropData",
    "MatMul",
    "Add",
    "Multiply",
    "Maximum",
    "Less",
    "LessEqual",
    "Greater",
    "GreaterEqual",
    "Divide",
    "Minimum",
    "Equal",
    "Subtract",
    "NotEqual",
    "FloorMod",
    "LogicalOr",
    "LogicalXor",
    "LogicalAnd",
    "LogicalNot",
)
_ACTIVATIONS_ONLY = ("Power", "AvgPool", "NormalizeL2", "ReduceMean", "Interpolate", "MVN")
_RECURRENT = ("LSTMSequence", "GRUSequence")
# Listed in cpu.json without quantization settings: POT moves FQs across them.
_PASS_THROUGH = (
    "MaxPool",
    "ReduceMax",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Split",
    "VariadicSplit",
    "Crop",
    "Transpose",
    "Tile",
    "StridedSlice",
    "ShuffleChannels",
    "Broadcast",
    "Pad",
    "ConvertLike",
    "Gather",
    "DepthToSpace",
)
# POT's quantization-agnostic types; only types that appear in the hardware file count.
_AGNOSTIC = (*_PASS_THROUGH, "Concat", "Minimum", "Maximum")


@dataclass(frozen=True)
class HardwareConfig:
    """Quantization rules of one target device."""

    device: str
    operations: dict[str, dict[str, tuple[QuantConfig, ...]]]
    agnostic: frozenset[str]
    # Ports that get FQs for recurrent ops, and their unified pairs.
    recurrent_ports: dict[str, tuple[int, ...]] = field(default_factory=dict)
    recurrent_unified: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    saturation_fix: bool = False  # first-layer weight rescaling (CPU, ANY)

    def is_quantizable(self, op_type: str) -> bool:
        """Whether the device quantizes inputs of `op_type`."""
        return op_type in self.operations

    def candidates(self, op_type: str, group: str) -> tuple[QuantConfig, ...]:
        """Candidate configs of `op_type` for `group` ("activations" or "weights")."""
        return self.operations.get(op_type, {}).get(group, ())


def _cpu_operations(with_recurrent: bool) -> dict[str, dict[str, tuple[QuantConfig, ...]]]:
    ops: dict[str, dict[str, tuple[QuantConfig, ...]]] = {}
    for t in _ACTIVATIONS_AND_WEIGHTS:
        ops[t] = {"activations": Q8_A, "weights": Q8_W}
    ops["DepthWiseConvolution"] = {"activations": Q8_A_CH, "weights": Q8_W}
    for t in _ACTIVATIONS_ONLY:
        ops[t] = {"activations": Q8_A}
    if with_recurrent:
        for t in _RECURRENT:
            ops[t] = {"activations": Q8_A, "weights": Q8_W_SYM}
    return ops


def _build(device: str) -> HardwareConfig:
    with_recurrent = device != "GPU"
    present = set(_PASS_THROUGH) | {"Concat"} | set(_cpu_operations(with_recurrent))
    return HardwareConfig(
        device=device,
        operations=_cpu_operations(with_recurrent),
        agnostic=frozenset(t for t in _AGNOSTIC if t in present),
        recurrent_ports={"LSTMSequence": (0, 1, 4, 5), "GRUSequence": (0, 1, 3, 4)}
        if with_recurrent
        else {},
        recurrent_unified={"LSTMSequence": ((0, 1), (4, 5)), "GRUSequence": ((0, 1), (3, 4))}
        if with_recurrent
        else {},
        saturation_fix=device in ("CPU", "ANY"),
    )


SUPPORTED_DEVICES = ("ANY", "CPU", "CPU_SPR", "GPU")
_UNSUPPORTED = {
    "NPU": "POT 2023.3 shipped no npu.json for NPU",
    "GNA": "GNA's 16-bit configurations are not implemented in fastpot",
    "GNA3": "GNA's 16-bit configurations are not implemented in fastpot",
    "GNA3.5": "GNA's 16-bit configurations are not implemented in fastpot",
}


def hardware_config(device: str) -> HardwareConfig:
    """Rules for `device` (ANY, CPU, CPU_SPR, GPU).

    Raises
    ------
    ValueError
        For devices fastpot does not support, saying why.
    """
    if device in SUPPORTED_DEVICES:
        return _build(device)
    if device in _UNSUPPORTED:
        raise ValueError(f"target_device: {device} is not supported ({_UNSUPPORTED[device]})")
    raise ValueError(
        f"target_device: unsupported value {device!r} (expected one of {SUPPORTED_DEVICES})"
    )
