"""POT's ``IELauncher``: a one-model inference helper that POT-era scripts import.

``openvino.tools.pot.utils.launcher.IELauncher(device)`` compiled a (single) model with
optional extra outputs and input shapes and ran synchronous inferences on it; bias
correction used it internally and scripts (the golden-file generator among them) patch or
reuse it. Here it works on fastpot's ``CompressedModel`` or an ``openvino.Model``, in
memory, with CPU inference in f32 like fastpot's engine.
"""

from __future__ import annotations

from typing import Any

import openvino as ov

from fastpot.compat.pot_engine import _resolve_output
from fastpot.graph.model import CompressedModel

__all__ = ["IELauncher"]


class IELauncher:
    """Compile one model and run inferences on it (POT's ``utils.launcher.IELauncher``).

    Parameters
    ----------
    device : str
        OpenVINO device name (default CPU).
    """

    def __init__(self, device: str = "CPU") -> None:
        self.device = device
        self.model: Any = None
        self.infer_request: Any = None
        self._ie = ov.Core()
        if "CPU" in self._ie.available_devices:
            self._ie.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    def set_model(
        self,
        model: CompressedModel | ov.Model,
        output_names: list[Any] | None = None,
        md_shapes: dict[str, Any] | None = None,
        input_names: list[str] | None = None,
    ) -> None:
        """Compile a copy of `model` with extra outputs, new input shapes, input names.

        Raises
        ------
        ValueError
            A cascade (the launcher runs one model), or an output name that names no node.
        """
        if isinstance(model, CompressedModel):
            if model.is_cascade:
                raise ValueError("IELauncher: cascade models are not supported; set one sub-model")
            model = model.get_model()
        if not isinstance(model, ov.Model):
            raise TypeError("model: expected a CompressedModel or an openvino.Model")
        copy = model.clone()
        if output_names:
            copy.add_outputs([_resolve_output(copy, name) for name in output_names])
        if md_shapes:
            copy.reshape(md_shapes)
        self.model = self._ie.compile_model(copy, self.device)
        if input_names:
            self.model.input().get_tensor().set_names(set(input_names))
        self.infer_request = self.model.create_infer_request()

    def infer(self, inputs: Any) -> Any:
        """Run one inference; returns the outputs (OpenVINO's result mapping)."""
        if self.infer_request is None:
            raise RuntimeError("IELauncher: call set_model first")
        return self.infer_request.infer(inputs)
