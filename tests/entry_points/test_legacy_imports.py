"""Legacy import paths of POT-era scripts: the samples' helpers, SimplifiedEngine, optimize,
StatisticsCollector, and the ``openvino.runtime`` namespace that OpenVINO 2025 removed."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from types import ModuleType

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

import fastpot.cli.app
import fastpot.cli.simplified_engine
import fastpot.samples.argument_parser
import fastpot.samples.ark_engine
import fastpot.samples.coco
import fastpot.samples.kaldi_ark
import fastpot.samples.mtcnn
import fastpot.statistics.collector
from fastpot.api.data_loader import DataLoader
from fastpot.cli.config import ConfigError
from fastpot.engines.ie_engine import IEEngine
from fastpot.samplers.sampler import BatchSampler
from fastpot.statistics.collector import StatRequest

REPO = Path(__file__).resolve().parents[2]
LEGACY_SOURCE = REPO / "python" / "_fastpot_legacy_runtime.py"
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
LEGACY_INSTALLED = importlib.util.find_spec("_fastpot_legacy_runtime") is not None


# ---- the drop-in modules ------------------------------------------------------------------

MTCNN_NAMES = [
    "generate_bounding_box",
    "nms",
    "cut_roi",
    "reshape_to_square",
    "pad",
    "bbreg",
    "calibrate_bboxes",
    "build_image_pyramid",
    "calculate_tp",
    "calculate_iou",
]

PATHS = [
    (
        ".api.samples.utils.argument_parser",
        "get_common_argparser",
        fastpot.samples.argument_parser.get_common_argparser,
    ),
    (".api.samples.object_detection.metric", "MAP", fastpot.samples.coco.MAP),
    (".api.samples.object_detection.data_loader", "COCOLoader", fastpot.samples.coco.COCOLoader),
    *[
        (".api.samples.face_detection.utils", name, getattr(fastpot.samples.mtcnn, name))
        for name in MTCNN_NAMES
    ],
    (".api.samples.speech.data_loader", "ArkDataLoader", fastpot.samples.kaldi_ark.ArkDataLoader),
    (".api.samples.speech.utils", "ArkEngine", fastpot.samples.ark_engine.ArkEngine),
    (
        ".engines.simplified_engine",
        "SimplifiedEngine",
        fastpot.cli.simplified_engine.SimplifiedEngine,
    ),
    (".app.run", "optimize", fastpot.cli.app.optimize),
    (".app.run", "main", fastpot.cli.app.main),
]


@pytest.mark.parametrize(("module", "name", "expected"), PATHS)
def test_legacy_paths_resolve_to_fastpot(dropin, module, name, expected) -> None:
    imported = importlib.import_module(f"openvino.tools.pot{module}")
    assert getattr(imported, name) is expected
    assert name in imported.__all__


def test_face_detection_utils_module_import_form(dropin) -> None:
    # POT's face-detection sample: `from openvino.tools.pot.api.samples.face_detection import utils`
    from openvino.tools.pot.api.samples.face_detection import utils

    assert utils.nms is fastpot.samples.mtcnn.nms


def test_statistics_collector_is_a_fastpot_collector(dropin) -> None:
    from openvino.tools.pot.statistics.collector import StatisticsCollector, collect_statistics

    assert issubclass(StatisticsCollector, fastpot.statistics.collector.StatisticsCollector)
    assert callable(collect_statistics)


def test_implemented_modules_lost_their_missing_hints(dropin) -> None:
    from openvino.tools.pot._unsupported import MODULE_HINTS

    assert "engines.simplified_engine" not in MODULE_HINTS
    assert "statistics.collector" not in MODULE_HINTS


# ---- SimplifiedEngine with POT's constructor ----------------------------------------------


def _identity_model(shape: list[int], name: str = "x") -> ov.Model:
    x = ops.parameter(shape, np.float32, name=name)
    out = ops.multiply(x, ops.constant(np.float32(1.0)), name="out")
    return ov.Model([ops.result(out)], [x], "identity")


class _BareArrays(DataLoader):
    """POT simplified-engine style: items are the model input itself."""

    def __init__(self, frames: np.ndarray) -> None:
        super().__init__({"kind": "bare"})
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.frames[index]


class _CountingMetric:
    def __init__(self) -> None:
        self.updates = 0

    def update(self, output, target) -> None:
        self.updates += 1


def test_simplified_engine_takes_pot_arguments_and_bare_items(dropin) -> None:
    from openvino.tools.pot.engines.simplified_engine import SimplifiedEngine

    frames = np.arange(12, dtype=np.float32).reshape(4, 3)
    metric = _CountingMetric()
    engine = SimplifiedEngine({"device": "CPU"}, data_loader=_BareArrays(frames), metric=metric)
    assert engine.data_loader.config == {"kind": "bare"}  # the user's loader's attributes
    assert engine.data_loader[2][1] is None
    engine.set_model(_identity_model([1, 3]))
    metrics, stats = engine.predict(
        {"out": {"v": lambda t: t.copy()}}, BatchSampler(engine.data_loader)
    )
    assert metrics is None
    assert metric.updates == 0  # the simplified engine computes no metric (as POT's)
    np.testing.assert_array_equal(np.concatenate(stats["out"]["v"]), frames)


def test_simplified_engine_without_loader_or_data_source(dropin) -> None:
    from openvino.tools.pot.engines.simplified_engine import SimplifiedEngine

    engine = SimplifiedEngine({"device": "CPU"})
    assert engine.data_loader is None


# ---- app.run.optimize ---------------------------------------------------------------------


def _pot_config(zoo: Path, images: Path) -> dict:
    return {
        "model": {
            "model_name": "cnn",
            "model": str(zoo / "plain_cnn.xml"),
            "weights": str(zoo / "plain_cnn.bin"),
        },
        "engine": {"type": "simplified", "data_source": str(images)},
        "compression": {
            "target_device": "CPU",
            "algorithms": [
                {
                    "name": "DefaultQuantization",
                    "params": {"preset": "performance", "stat_subset_size": 4},
                }
            ],
        },
    }


def _count_ops(xml: Path, kind: str) -> int:
    model = ov.Core().read_model(xml)
    return sum(op.get_type_name() == kind for op in model.get_ops())


def test_optimize_writes_the_quantized_model_to_exec_log_dir(
    dropin, zoo: Path, image_folder: Path, tmp_path: Path
) -> None:
    from addict import Dict
    from openvino.tools.pot.app.run import optimize

    config = Dict(_pot_config(zoo, image_folder))
    config.model.exec_log_dir = str(tmp_path / "run")  # what POT's app set before optimize()
    config.model.output_dir = str(tmp_path / "unused")
    config.engine.evaluate = False
    assert optimize(config) is None
    xml = tmp_path / "run" / "optimized" / "cnn.xml"
    assert _count_ops(xml, "FakeQuantize") >= 2
    assert not (tmp_path / "unused").exists()
    assert not (
        tmp_path / "run" / "log.txt"
    ).exists()  # the log file is pot's (app), not optimize's


def test_optimize_output_dir_and_uncompressed_weights(
    dropin, zoo: Path, image_folder: Path, tmp_path: Path
) -> None:
    from openvino.tools.pot.app.run import optimize

    config = _pot_config(zoo, image_folder)
    config["model"].update(
        output_dir=str(tmp_path), direct_dump=True, keep_uncompressed_weights=True
    )
    optimize(config)
    xml = tmp_path / "optimized" / "cnn.xml"
    model = ov.Core().read_model(xml)
    assert not any(
        op.get_type_name() == "Constant" and op.get_element_type() == ov.Type.i8
        for op in model.get_ops()
    )
    assert _count_ops(xml, "FakeQuantize") >= 2
    assert config["model"]["output_dir"] == str(tmp_path)  # the caller's config is not edited


def test_optimize_refuses_evaluation_and_bad_keys(dropin, zoo: Path, image_folder: Path) -> None:
    from openvino.tools.pot.app.run import optimize

    config = _pot_config(zoo, image_folder)
    config["engine"]["evaluate"] = True
    with pytest.raises(ConfigError, match="evaluate needs an accuracy metric"):
        optimize(config)
    config = _pot_config(zoo, image_folder)
    config["compression"]["algorithms"][0]["params"]["presett"] = "mixed"
    with pytest.raises(ConfigError, match="did you mean 'preset'"):
        optimize(config)


# ---- StatisticsCollector with POT layouts -------------------------------------------------


def _relu_model() -> ov.Model:
    x = ops.parameter([-1, 4], np.float32, name="x")
    relu = ops.relu(x, name="relu")
    neg = ops.negative(relu, name="neg")
    return ov.Model([ops.result(neg)], [x], "relu_net")


class _Rows(DataLoader):
    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        return self.rows[index], None


class _CountingEngine(IEEngine):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.passes = 0

    def predict(self, *args, **kwargs):
        self.passes += 1
        return super().predict(*args, **kwargs)


ROWS = np.array([[1, -2, 3, 0], [-1, 5, 2, 2], [4, 4, -6, 1]], dtype=np.float32)


def _max(t: np.ndarray) -> float:
    return float(t.max())


def _min(t: np.ndarray) -> float:
    return float(t.min())


def test_pot_layouts_share_one_pass_and_give_per_batch_values(dropin) -> None:
    from openvino.tools.pot.statistics.collector import StatisticsCollector

    engine = _CountingEngine({"device": "CPU", "stat_requests_number": 1}, _Rows(ROWS))
    collector = StatisticsCollector(engine)
    loader = engine.data_loader
    collector.register("A", {"relu": {"max": _max}}, BatchSampler(loader))
    collector.register("B", {"relu": {"top": _max}, "neg": {"min": _min}}, BatchSampler(loader))
    collector.compute_statistics(_relu_model())
    assert engine.passes == 1  # same sampler class and size: one pass for both algorithms
    # per batch (one row each): max of relu(row), min of -relu(row)
    assert collector.get_statistics_for_algorithm("A") == {"relu": {"max": [3.0, 5.0, 4.0]}}
    assert collector.get_statistics_for_algorithm("B") == {
        "relu": {"top": [3.0, 5.0, 4.0]},
        "neg": {"min": [-3.0, -5.0, -4.0]},
    }
    # POT accumulated: another computation appends
    collector.compute_statistics(_relu_model())
    assert collector.get_statistics_for_algorithm("A")["relu"]["max"] == [3.0, 5.0, 4.0] * 2
    assert collector.accumulated_stats_by_algo["A"] is collector.get_statistics_for_algorithm("A")


def test_pot_layout_mapping_register_merge_and_errors(dropin) -> None:
    from openvino.tools.pot.statistics.collector import StatisticsCollector

    engine = _CountingEngine({"device": "CPU", "stat_requests_number": 1}, _Rows(ROWS))
    collector = StatisticsCollector(engine)
    sampler = BatchSampler(engine.data_loader, batch_size=3)
    # `renamed` is the current name of the model's node `relu`
    collector.register("A", {"renamed": {"max": _max}}, sampler, layers_mapping={"renamed": "relu"})
    collector.register("A", {"renamed": {"min": _min}}, sampler, layers_mapping={"renamed": "relu"})
    with pytest.raises(RuntimeError, match="run compute_statistics"):
        collector.get_statistics_for_algorithm("A")
    collector.compute_statistics(_relu_model())
    # one batch of the three rows: relu of everything
    assert collector.get_statistics_for_algorithm("A") == {"renamed": {"max": [5.0], "min": [0.0]}}
    with pytest.raises(KeyError, match="nothing"):
        collector.get_statistics_for_algorithm("nothing")
    with pytest.raises(TypeError, match="not callable"):
        collector.register("C", {"relu": {"max": 3}}, sampler)


def test_fastpot_requests_still_work_through_the_adapter(dropin) -> None:
    from openvino.tools.pot.statistics.collector import StatisticsCollector

    engine = IEEngine({"device": "CPU", "stat_requests_number": 1}, _Rows(ROWS))
    collector = StatisticsCollector(engine)
    request = StatRequest(("relu", 0), "max", "max")
    collector.register("F", [request], BatchSampler(engine.data_loader))
    collector.register("P", {"relu": {"max": _max}}, BatchSampler(engine.data_loader))
    collector.compute_statistics(_relu_model())
    assert float(collector.get_statistics_for_algorithm("F")[request]) == 5.0
    assert collector.get_statistics_for_algorithm("P") == {"relu": {"max": [3.0, 5.0, 4.0]}}


def test_collect_statistics_registers_every_algorithm(dropin) -> None:
    from openvino.tools.pot.statistics.collector import collect_statistics

    engine = IEEngine({"device": "CPU", "stat_requests_number": 1}, _Rows(ROWS))

    class Algo:
        name = "custom"
        collector = None

        def register_statistics(self, model, collector) -> None:
            self.collector = collector
            collector.register(self.name, {"neg": {"min": _min}}, BatchSampler(engine.data_loader))

    algo = Algo()
    model = _relu_model()
    collect_statistics(engine, model, [algo])
    assert algo.collector.get_statistics_for_algorithm("custom") == {
        "neg": {"min": [-3.0, -5.0, -4.0]}
    }
    assert collect_statistics(engine, model, []) is None


# ---- openvino.runtime ---------------------------------------------------------------------


def _prelude() -> str:
    """Code that makes the legacy finder active in a subprocess (the .pth does it when installed)."""
    if LEGACY_INSTALLED:
        return ""
    if ON_CI:
        pytest.fail("the wheel must install _fastpot_legacy_runtime.py and its .pth")
    return (
        "import importlib.util, sys\n"
        f"_s = importlib.util.spec_from_file_location('_fastpot_legacy_runtime', {str(LEGACY_SOURCE)!r})\n"
        "_m = importlib.util.module_from_spec(_s); sys.modules[_s.name] = _m; _s.loader.exec_module(_m)\n"
    )


def _run(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    script = _prelude() + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
        cwd=REPO.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_legacy_runtime_reexports_openvino_objects() -> None:
    result = _run(
        """
        import sys
        assert not any(m == "fastpot" or m.startswith("fastpot.") for m in sys.modules)
        from openvino.runtime import (
            AsyncInferQueue, CompiledModel, ConstOutput, Core, Dimension, InferRequest, Layout,
            Model, Output, PartialShape, Shape, Tensor, Type, get_version, serialize,
        )
        import openvino
        import openvino.runtime as rt
        import openvino.runtime.opset8 as o
        for name in ("AsyncInferQueue", "CompiledModel", "ConstOutput", "Core", "Dimension",
                     "InferRequest", "Layout", "Model", "Output", "PartialShape", "Shape",
                     "Tensor", "Type", "get_version", "serialize"):
            assert getattr(rt, name) is getattr(openvino, name), name
        assert o is openvino.opset8 and o.__spec__.name == "openvino.opset8"
        for n in range(1, 14):
            module = __import__(f"openvino.runtime.opset{n}", fromlist=["x"])
            assert module is getattr(openvino, f"opset{n}"), n
        import openvino.runtime.op, openvino.runtime.passes, openvino.runtime.utils
        import openvino.runtime.op.util, openvino.runtime.passes.manager, openvino.runtime.utils.types
        import openvino.op.util, openvino.passes.manager, openvino.utils.types
        assert openvino.runtime.op.util is openvino.op.util
        assert openvino.runtime.passes.manager is openvino.passes.manager
        assert openvino.runtime.utils.types is openvino.utils.types
        import openvino.runtime.ie_api, openvino._ov_api
        assert openvino.runtime.ie_api is openvino._ov_api
        from openvino.runtime import properties
        assert properties is openvino.properties
        assert rt.__version__ == openvino.__version__ and rt.__fastpot_legacy_runtime__
        assert not any(m == "fastpot" or m.startswith("fastpot.") for m in sys.modules)
        # a POT-era script end to end
        p = o.parameter(PartialShape([1, 3]), Type.f32, name="x")
        model = Model([o.relu(p)], [p])
        import numpy as np
        out = Core().compile_model(model, "CPU")(np.array([[-1, 2, -3]], np.float32))[0]
        print(out.tolist())
        try:
            import openvino.runtime.no_such_module
        except ModuleNotFoundError as exc:
            print("missing:", exc.name)
        """
    )
    lines = result.stdout.splitlines()
    assert lines == ["[[0.0, 2.0, 0.0]]", "missing: openvino.runtime.no_such_module"]


def test_startup_imports_nothing_of_openvino() -> None:
    result = _run(
        """
        import sys
        finders = [f for f in sys.meta_path if getattr(f, "__fastpot_legacy_runtime__", False)]
        print(len(finders), finders[0] is sys.meta_path[-1], "openvino" in sys.modules)
        """
    )
    assert result.stdout.split() == ["1", "True", "False"]


def test_legacy_runtime_after_the_dropin_finder() -> None:
    # openvino.tools.pot appends its own last-resort finder after the legacy one
    source = str(REPO / "python" / "openvino" / "tools")
    result = _run(
        f"""
        import importlib.util, sys
        import openvino.tools
        if importlib.util.find_spec("openvino.tools.pot") is None:
            openvino.tools.__path__.append({source!r})
        import openvino.tools.pot
        from openvino.runtime import Core
        import openvino
        print(Core is openvino.Core, type(sys.meta_path[-1]).__name__)
        """
    )
    assert result.stdout.split() == ["True", "MissingModuleFinder"]


def test_a_real_openvino_runtime_is_never_shadowed(tmp_path: Path) -> None:
    # An OpenVINO that still ships openvino.runtime (simulated: a package on PYTHONPATH)
    fake = tmp_path / "openvino"
    (fake / "runtime").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "opset8.py").write_text("WHO = 'top-level opset8'\n")
    (fake / "runtime" / "__init__.py").write_text("REAL = True\n")
    (fake / "runtime" / "helper.py").write_text("WHO = 'real helper'\n")
    paths = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    result = _run(
        """
        import openvino.runtime as rt, openvino.runtime.helper as helper
        assert rt.REAL and not hasattr(rt, "__fastpot_legacy_runtime__")
        print(helper.WHO)
        try:
            import openvino.runtime.opset8  # the real runtime has none: no alias either
        except ModuleNotFoundError:
            print("no alias")
        """,
        env=env,
    )
    assert result.stdout.split("\n")[:2] == ["real helper", "no alias"]


def _legacy_module() -> ModuleType:
    if LEGACY_INSTALLED:
        return importlib.import_module("_fastpot_legacy_runtime")
    spec = importlib.util.spec_from_file_location("_fastpot_legacy_runtime_src", LEGACY_SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _FindsEverything:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def find_spec(self, fullname, path=None, target=None):
        self.asked.append(fullname)
        return importlib.util.spec_from_loader(fullname, loader=None)


def test_finder_yields_to_other_finders(monkeypatch: pytest.MonkeyPatch) -> None:
    legacy = _legacy_module()
    saved = list(sys.meta_path)
    last = legacy.LegacyRuntimeFinder()
    other = _FindsEverything()
    monkeypatch.setattr(sys, "meta_path", [last, other])
    assert last.find_spec("openvino.runtime") is None  # a finder after it can import it
    assert other.asked == ["openvino.runtime"]
    monkeypatch.setattr(sys, "meta_path", [other, last])
    assert last.find_spec("openvino.runtime").name == "openvino.runtime"
    assert last.find_spec("openvino.runtimes") is None
    assert last.find_spec("numpy") is None
    monkeypatch.setattr(sys, "meta_path", saved)
    front = legacy.LegacyRuntimeFinder(front=True)
    assert front.find_spec("openvino.runtime") is None  # the front one only aliases sub-modules
    # sub-modules are aliased only while openvino.runtime is the legacy module
    real = ModuleType("openvino.runtime")
    monkeypatch.setitem(sys.modules, "openvino.runtime", real)
    assert front.find_spec("openvino.runtime.opset8") is None
    setattr(real, legacy.LEGACY_MARK, True)
    spec = front.find_spec("openvino.runtime.opset8")
    assert spec.name == "openvino.runtime.opset8"
    assert spec.loader.create_module(spec) is ov.opset8
    assert front.find_spec("openvino.runtime.no_such_module") is None


@pytest.mark.skipif(not (LEGACY_INSTALLED or ON_CI), reason="fastpot's wheel is not installed")
def test_wheel_puts_the_hook_at_the_site_packages_root() -> None:
    module = importlib.import_module("_fastpot_legacy_runtime")
    root = Path(module.__file__).parent
    assert root == Path(sysconfig.get_paths()["platlib"])
    pth = (root / "fastpot-legacy-runtime.pth").read_text().strip()
    assert pth == "import _fastpot_legacy_runtime"


def test_legacy_finder_module_is_tiny_and_lazy() -> None:
    # The start-up module may import only sys (and __future__): no typing, no openvino.
    tree = LEGACY_SOURCE.read_text()
    top_level_imports = [
        line for line in tree.splitlines() if line.startswith(("import ", "from "))
    ]
    assert top_level_imports == ["from __future__ import annotations", "import sys"]
