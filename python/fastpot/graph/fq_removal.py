"""Removing FakeQuantize nodes again (bias correction's FP32-activation copy, reverting)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import openvino as ov

__all__ = ["activation_fake_quantizes", "remove_fake_quantize"]

_PRE_FQ = "/pre_fq_input"


def activation_fake_quantizes(model: ov.Model) -> list[Any]:
    """FakeQuantize nodes whose data input is not a constant (activation FQs)."""
    out = []
    for node in model.get_ordered_ops():
        if node.get_type_name() != "FakeQuantize":
            continue
        src = node.input_value(0).get_node()
        while src.get_type_name() == "Convert":
            src = src.input_value(0).get_node()
        if src.get_type_name() != "Constant":
            out.append(node)
    return out


def remove_fake_quantize(model: ov.Model, nodes: Iterable[Any]) -> list[str]:
    """Bypass each FakeQuantize in `nodes` (its consumers read its input again).

    Undoes the renaming of output-facing FQs: a producer called
    ``<name>/pre_fq_input`` gets its name back. Returns the removed FQs' names.
    """
    removed = []
    for fq in nodes:
        source = fq.input_value(0)
        name = fq.get_friendly_name()
        for target in list(fq.output(0).get_target_inputs()):
            target.replace_source_output(source)
        producer = source.get_node()
        pname = producer.get_friendly_name()
        if _PRE_FQ in pname and pname.split(_PRE_FQ)[0] == name:
            producer.set_friendly_name(name)
        removed.append(name)
    model.validate_nodes_and_infer_types()
    return removed
