"""Zoo models, their calibration data and the golden configurations, for the store tests.

Test modules are imported with ``--import-mode=importlib`` and cannot import each other, so
the helpers are offered through the ``zoo`` fixture.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from fastpot import load_model
from fastpot.api import DataLoader
from fastpot.engines import IEEngine
from fastpot.pipeline import create_pipeline

DATA = Path(__file__).resolve().parents[1] / "data"
ZOO = DATA / "zoo"
GOLDEN = DATA / "golden" / "pot-2023.3"
MODELS = sorted(json.loads((ZOO / "manifest.json").read_text())["models"])
RUNS = sorted(GOLDEN.glob("*__*.json"))


class NpzLoader(DataLoader):
    """Sample i of every input (``data[name][i:i+1]``; full-shape inputs as they are)."""

    def __init__(self, path: Path, shapes: dict[str, list[int]]) -> None:
        with np.load(path) as data:
            self.data = {k: data[k].copy() for k in data.files}
        self._whole = {k for k, v in self.data.items() if list(v.shape[1:]) == shapes.get(k)}
        self._n = len(next(iter(self.data.values())))

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> tuple[dict[str, np.ndarray], None]:
        return {k: v[i] if k in self._whole else v[i : i + 1] for k, v in self.data.items()}, None


def input_shapes(name: str) -> dict[str, list[int]]:
    manifest = json.loads((ZOO / "manifest.json").read_text())["models"][name]
    return {i["name"]: i["shape"] for i in manifest["inputs"]}


def model(name: str) -> Any:
    return load_model(
        {"model_name": name, "model": str(ZOO / f"{name}.xml"), "weights": str(ZOO / f"{name}.bin")}
    )


def loader(name: str) -> NpzLoader:
    return NpzLoader(ZOO / f"{name}.npz", input_shapes(name))


def engine(name: str, cache_dir: Any = None, data: DataLoader | None = None) -> IEEngine:
    config: dict[str, Any] = {"device": "CPU", "stat_requests_number": 1}
    if cache_dir is not None:
        config["cache_dir"] = str(cache_dir)
    return IEEngine(config, data_loader=data if data is not None else loader(name))


def golden_algorithms(run: Path) -> tuple[str, list[dict[str, Any]]]:
    golden = json.loads(run.read_text())
    return golden["model"], golden["pot_config"]["algorithms"]


def quantize(run: Path, cache_dir: Any = None) -> tuple[Any, Any]:
    """(quantized ov.Model, pipeline) of one golden configuration."""
    name, algorithms = golden_algorithms(run)
    pipeline = create_pipeline(algorithms, engine(name, cache_dir))
    return pipeline.run(model(name)).get_model(), pipeline


def constants(ov_model: Any) -> dict[str, bytes]:
    """Every constant of a model, by the friendly names of its consumers and port."""
    out: dict[str, bytes] = {}
    for op in ov_model.get_ordered_ops():
        for i, value in enumerate(op.input_values()):
            node = value.get_node()
            if node.get_type_name() == "Constant":
                data = np.asarray(node.get_data())
                # the shape too: the same bytes as [1, 1, 1, 1] and as () are another IR
                header = f"{data.dtype.str}{data.shape}".encode()
                out[f"{op.get_friendly_name()}:{i}"] = header + data.tobytes()
    return out


@pytest.fixture(scope="session")
def zoo() -> SimpleNamespace:
    return SimpleNamespace(
        MODELS=MODELS,
        RUNS=RUNS,
        NpzLoader=NpzLoader,
        model=model,
        loader=loader,
        engine=engine,
        quantize=quantize,
        constants=constants,
        golden_algorithms=golden_algorithms,
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``golden_run``: every golden configuration of the zoo; ``zoo_model``: every model."""
    if "golden_run" in metafunc.fixturenames:
        metafunc.parametrize("golden_run", RUNS, ids=[r.stem for r in RUNS])
    if "zoo_model" in metafunc.fixturenames:
        metafunc.parametrize("zoo_model", MODELS)
