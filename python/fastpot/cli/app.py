"""The ``pot`` command line: arguments, checks, the run and its output layout.

``pot -q default -m net.xml -w net.bin --engine simplified --data-source images/`` or
``pot -c config.json`` loads the model, quantizes it with the configured algorithms on the
simplified engine's images, compresses the weights to int8 (unless
``--keep-uncompressed-weights``) and writes, as POT did::

    <output-dir>/<model_name>_<Algo1>[_<Algo2>...]/<YYYY-MM-DD_HH-MM-SS>/log.txt
    <output-dir>/<model_name>_<Algo1>[_<Algo2>...]/<YYYY-MM-DD_HH-MM-SS>/optimized/<model_name>.{xml,bin}

or with ``-d`` ``<output-dir>/log.txt`` and ``<output-dir>/optimized/``. No ``.mapping`` file
is written (fastpot renames no tensors). The IR's ``quantization_parameters`` hold the
config (paths replaced by ``PATH``), the fastpot version and the command line.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import logging
import shutil
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastpot.cli.config import (
    ACCURACY_CHECKER_MESSAGE,
    ConfigError,
    prepare_config,
    read_config_file,
    template_config,
)

__all__ = ["app", "build_parser", "main", "optimize", "version_line"]

logger = logging.getLogger("fastpot.cli")

_PATH_KEYS = ("model", "weights", "data_source", "config")


def version_line(prog: str = "pot") -> str:
    """Return ``pot (fastpot X.Y.Z) on OpenVINO <version>``: what ``pot --version`` prints.

    For `prog` ``fastpot`` the line is ``fastpot X.Y.Z on OpenVINO <version>``.
    """
    import openvino as ov  # noqa: PLC0415

    from fastpot import __version__  # noqa: PLC0415

    name = f"fastpot {__version__}" if prog == "fastpot" else f"{prog} (fastpot {__version__})"
    return f"{name} on OpenVINO {ov.get_version()}"


class _VersionAction(argparse.Action):
    """``--version``: print :func:`version_line` to stdout and exit 0 (OpenVINO loads lazily)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "print the fastpot and OpenVINO versions and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(version_line(parser.prog))
        parser.exit(0)


def build_parser(prog: str = "pot") -> argparse.ArgumentParser:
    """Build the argument parser of ``pot`` (POT's options)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Post-training quantization of OpenVINO IR models (POT's command line, "
        "run by fastpot).",
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("-c", "--config", help="JSON (comments allowed) or YAML config file")
    parser.add_argument(
        "-q",
        "--quantize",
        choices=("default", "accuracy_aware"),
        help="quantize with a built-in template instead of a config file",
    )
    parser.add_argument(
        "--preset", choices=("performance", "mixed"), help="preset of the -q template"
    )
    parser.add_argument("-m", "--model", help="model .xml (with -q)")
    parser.add_argument("-w", "--weights", help="model .bin (with -q)")
    parser.add_argument("-n", "--name", help="model name (with -q; default 'model_name')")
    parser.add_argument(
        "--engine",
        choices=("accuracy_checker", "simplified"),
        help="engine (POT's default, accuracy_checker, is out of scope for fastpot)",
    )
    parser.add_argument("--ac-config", help="Accuracy Checker config (not supported by fastpot)")
    parser.add_argument(
        "--max-drop", type=float, help="maximal accuracy drop (required with -q accuracy_aware)"
    )
    parser.add_argument(
        "-e",
        "--evaluate",
        action="store_true",
        help="evaluate the quantized model (needs an engine with a metric)",
    )
    parser.add_argument(
        "--output-dir", default="./results", help="where results go (default ./results)"
    )
    parser.add_argument(
        "-d",
        "--direct-dump",
        action="store_true",
        help="write into --output-dir directly, without <name>_<algos>/<timestamp> folders",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"),
        help="log level (default INFO)",
    )
    parser.add_argument(
        "--progress-bar", action="store_true", help="show progress bars for inference passes"
    )
    parser.add_argument(
        "--stream-output", action="store_true", help="accepted for POT compatibility"
    )
    parser.add_argument(
        "--keep-uncompressed-weights",
        action="store_true",
        help="keep FP32 weights (skip compress_model_weights)",
    )
    parser.add_argument(
        "--data-source", help="image folder or .txt list of images for the simplified engine"
    )
    parser.add_argument(
        "--cache-dir",
        help="statistics store folder: a re-run over the same model and data reuses the "
        "statistics instead of inferring (default: $FASTPOT_CACHE_DIR, else no store)",
    )
    return parser


def _check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """POT's argument checks, plus fastpot's refusals (with what to use instead)."""
    if (args.config is None) == (args.quantize is None):
        parser.error("give exactly one of -c/--config and -q/--quantize")
    if args.ac_config is not None:
        parser.error(f"--ac-config: {ACCURACY_CHECKER_MESSAGE}")
    if args.config is not None:
        given = [
            flag
            for flag, value in (("-m", args.model), ("-w", args.weights), ("--preset", args.preset))
            if value is not None
        ]
        if given:
            parser.error(f"{', '.join(given)}: not allowed with -c (set them in the config file)")
    else:
        missing = [flag for flag, value in (("-m", args.model), ("-w", args.weights)) if not value]
        if missing:
            parser.error(f"-q needs {' and '.join(missing)} (the model's .xml and .bin)")
        if args.engine != "simplified":
            parser.error(
                f"--engine {args.engine or 'accuracy_checker (the default)'}: "
                f"{ACCURACY_CHECKER_MESSAGE}"
            )
        if args.data_source is None:
            parser.error("--engine simplified needs --data-source (an image folder or .txt list)")
        if args.quantize == "accuracy_aware" and args.max_drop is None:
            parser.error("-q accuracy_aware needs --max-drop")
    if args.quantize == "accuracy_aware" or args.evaluate:
        what = "-q accuracy_aware" if args.quantize == "accuracy_aware" else "-e/--evaluate"
        if args.config is None or args.engine == "simplified":
            parser.error(
                f"{what}: needs an accuracy metric, and the simplified engine has none; use "
                "the Python API (IEEngine with a DataLoader and a Metric) for "
                "AccuracyAwareQuantization and evaluation"
            )


def _load_config(args: argparse.Namespace) -> dict[str, Any]:
    if args.config is not None:
        raw = read_config_file(args.config)
        engine = raw.get("engine")
        if isinstance(engine, dict):
            if args.engine is not None:
                engine["type"] = args.engine
            if args.data_source is not None:
                engine["data_source"] = args.data_source
        config = prepare_config(raw, source=str(args.config))
        base = Path(args.config).resolve().parent
        _resolve_paths(config, base)
        return config
    raw = template_config(
        args.quantize,
        args.model,
        args.weights,
        args.name,
        args.preset,
        args.max_drop,
        args.engine,
        args.data_source,
    )
    return prepare_config(raw, source="-q template")


def _resolve_paths(config: dict[str, Any], base: Path) -> None:
    """Make relative model/weights/data_source paths of a config file relative to it.

    POT took them relative to the current directory; fastpot tries that first and falls
    back to the config file's folder, so both styles work.
    """

    def fix(section: dict[str, Any], key: str) -> None:
        value = section.get(key)
        if (
            isinstance(value, str)
            and value
            and not Path(value).is_absolute()
            and not Path(value).exists()
            and (base / value).exists()
        ):
            section[key] = str(base / value)

    model = config["model"]
    for entry in [model, *model.get("cascade", [])]:
        fix(entry, "model")
        fix(entry, "weights")
    fix(config["engine"], "data_source")


def _run_directory(output_dir: str | Path, direct_dump: bool, config: dict[str, Any]) -> Path:
    output = Path(output_dir)
    if direct_dump:
        return output
    algorithms = "_".join(a["name"] for a in config["compression"]["algorithms"])
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    parent = output / f"{config['model']['model_name']}_{algorithms}"
    run = parent / stamp
    suffix = 1
    while run.exists():  # two runs within one second: keep both
        run = parent / f"{stamp}_{suffix}"
        suffix += 1
    return run


def _redact(config: Any) -> Any:
    if isinstance(config, dict):
        return {
            k: ("PATH" if k in _PATH_KEYS and isinstance(v, str) else _redact(v))
            for k, v in config.items()
        }
    if isinstance(config, list):
        return [_redact(v) for v in config]
    return config


def _stamp_model(model: Any, config: dict[str, Any], argv: Sequence[str] | None) -> None:
    from fastpot import __version__  # noqa: PLC0415

    for entry in model.models:
        ov_model = entry["model"]
        ov_model.set_rt_info(
            json.dumps(_redact(config), sort_keys=True), ["quantization_parameters", "config"]
        )
        ov_model.set_rt_info(f"fastpot {__version__}", ["quantization_parameters", "version"])
        if argv is not None:
            ov_model.set_rt_info(" ".join(argv), ["quantization_parameters", "cli_params"])


def app(argv: Sequence[str], prog: str = "pot") -> dict[str, Any]:
    """Run ``pot`` with `argv` (without the program name); return what was written.

    Returns
    -------
    dict
        ``{"output_dir": Path, "log": Path, "models": save_model's list}``.

    Raises
    ------
    SystemExit
        Bad arguments (status 2, message on stderr, as argparse does).
    ConfigError
        A config file fastpot cannot run (unknown keys name the closest valid one).
    KeyboardInterrupt
        Ctrl-C; what the run wrote is removed first (its new ``<name>_<algos>/<timestamp>``
        or ``-d`` directory, or in an existing ``-d`` directory its ``log.txt`` and the
        ``optimized`` folder it created). :func:`main` prints ``pot: interrupted`` and
        returns 130.
    """
    from fastpot.utils import logger as log_setup  # noqa: PLC0415

    parser = build_parser(prog)
    args = parser.parse_args(list(argv))
    _check_arguments(parser, args)
    config = _load_config(args)
    if args.cache_dir:  # the statistics store (fastpot.statistics.store)
        config["engine"]["cache_dir"] = args.cache_dir

    run_dir = _run_directory(args.output_dir, args.direct_dump, config)
    created = _new_directories(run_dir)
    existing = {name for name in ("log.txt", "optimized") if (run_dir / name).exists()}
    run_dir.mkdir(parents=True, exist_ok=True)
    log_file = run_dir / "log.txt"
    interrupted = False
    owns_logging = not log_setup.is_initialized()
    if owns_logging:
        log_setup.init_logger(args.log_level, sys.stdout, progress_bar=args.progress_bar)
    file_handler = logging.FileHandler(log_file, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    file_handler.setLevel(args.log_level)
    root = logging.getLogger(log_setup.ROOT_NAME)
    root.addHandler(file_handler)
    try:
        models = _quantize(config, run_dir, args.keep_uncompressed_weights, list(argv))
    except KeyboardInterrupt:
        interrupted = True
        raise
    except Exception as exc:
        # The console gets the message from main(); log.txt keeps it with the run.
        file_handler.handle(
            logger.makeRecord(logger.name, logging.ERROR, __file__, 0, "%s", (exc,), None)
        )
        raise
    finally:
        root.removeHandler(file_handler)
        file_handler.close()
        if owns_logging:
            log_setup.reset_logger()
        if interrupted:
            _remove_partial_run(run_dir, created, existing)
    return {"output_dir": run_dir, "log": log_file, "models": models}


def _new_directories(path: Path) -> list[Path]:
    """Return the directories of `path` (itself included) not there yet, outermost first."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    return missing[::-1]


def _remove_partial_run(run_dir: Path, created: list[Path], existing: set[str]) -> None:
    """Remove what an interrupted run wrote: its new directories, or its log and model.

    A run into a new ``<name>_<algos>/<timestamp>`` folder (or a new ``-d`` directory)
    removes the outermost directory it created; a run into an existing directory removes
    the ``log.txt`` and ``optimized`` it created (`existing`: those that were there before).
    """
    if created:
        shutil.rmtree(created[0], ignore_errors=True)
        return
    if "log.txt" not in existing:
        (run_dir / "log.txt").unlink(missing_ok=True)
    if "optimized" not in existing:
        shutil.rmtree(run_dir / "optimized", ignore_errors=True)


def _quantize(
    config: dict[str, Any],
    run_dir: Path,
    keep_uncompressed_weights: bool,
    argv: list[str] | None,
) -> list[dict[str, str]]:
    from fastpot.cli.simplified_engine import SimplifiedEngine  # noqa: PLC0415
    from fastpot.graph import compress_model_weights, load_model, save_model  # noqa: PLC0415
    from fastpot.pipeline import create_pipeline  # noqa: PLC0415

    compression = config["compression"]
    model_name = config["model"]["model_name"]
    model = load_model(config["model"], compression.get("target_device", "ANY"))
    engine = SimplifiedEngine(config["engine"])
    engine.check_model(model, config["model"].get("model"))  # before any inference
    algorithms = copy.deepcopy(compression["algorithms"])
    for algorithm in algorithms:
        algorithm["params"]["exec_log_dir"] = str(run_dir)
    logger.info("Creating pipeline:")
    for algorithm in algorithms:
        logger.info(" Algorithm: %s", algorithm["name"])
        logger.info(" Parameters:")
        for key, value in sorted(algorithm["params"].items()):
            if key != "exec_log_dir":
                logger.info("\t%-30s: %s", key, value)
    logger.info("=" * 75)
    pipeline = create_pipeline(algorithms, engine)
    model = pipeline.run(model)
    if not keep_uncompressed_weights:
        compress_model_weights(model)
    _stamp_model(model, config, argv)
    paths = save_model(model, run_dir / "optimized", model_name=model_name)
    for entry in paths:
        logger.info("Output model: %s", entry["model"])
    _write_report(config, run_dir / "optimized", engine, pipeline, algorithms, model)
    logger.info("=" * 75)
    return paths


# Loader items the report's error and histogram pass runs on (a few: one extra pass each).
_REPORT_SAMPLES = 8


def _write_report(
    config: dict[str, Any],
    folder: Path,
    engine: Any,
    pipeline: Any,
    algorithms: list[dict[str, Any]],
    quantized: Any,
) -> None:
    """Write ``quantization_report.{json,html}`` next to the optimized IR.

    The quantized model is saved already: a failure here is a warning, never an error.
    """
    from fastpot.graph import load_model  # noqa: PLC0415
    from fastpot.report import build_report, samples_from_engine  # noqa: PLC0415

    try:
        if quantized.is_cascade:
            logger.warning("Quantization report: not written for a cascade model")
            return
        target = config["compression"].get("target_device", "ANY")
        original = load_model(config["model"], target).get_model()  # the FP32 model again
        samples = samples_from_engine(engine, original, count=_REPORT_SAMPLES)
        summary = next(
            (
                dict(algo.summary)
                for algo in pipeline.algo_seq
                if algo.name == "AccuracyAwareQuantization" and getattr(algo, "summary", None)
            ),
            None,
        )
        shown = [
            {
                "name": a["name"],
                "params": {k: v for k, v in a["params"].items() if k != "exec_log_dir"},
            }
            for a in algorithms
        ]
        report = build_report(
            original,
            quantized,
            samples,
            algorithms=shown,
            accuracy_aware=summary,
            num_samples=_REPORT_SAMPLES,
            device=str(config["engine"].get("device", "CPU")),
            model_name=config["model"]["model_name"],
        )
        logger.info("Quantization report: %s", report.save(folder))
    except Exception as exc:  # noqa: BLE001 - the report must not cost the user the model
        logger.warning("Quantization report not written: %s: %s", type(exc).__name__, exc)


# Keys POT's Config added to the model and engine sections for a run (they are not config
# file keys): optimize() takes them from a POT-style config and removes them before checking.
_MODEL_RUN_KEYS = ("output_dir", "direct_dump", "keep_uncompressed_weights", "exec_log_dir")
_MODEL_INTERNAL_KEYS = ("log_algo_name",)


def _plain(value: Any) -> Any:
    """Nested mappings (``addict.Dict``, fastpot's ``Dict``, POT's ``Config``) as dicts."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def optimize(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """Quantize as ``pot -c`` does, from a config mapping: POT's ``app.run.optimize``.

    Loads the model, runs the configured algorithms on the simplified engine's images,
    compresses the weights to int8 (unless ``model.keep_uncompressed_weights``) and saves
    ``<exec_log_dir>/optimized/<model_name>.{xml,bin}``. No log file is written (``pot``
    writes ``log.txt``; here logging is the caller's, e.g. ``init_logger``).

    Parameters
    ----------
    config : mapping
        A POT config (``model``, ``engine``, ``compression`` sections, as in a config file;
        plain dicts or ``addict.Dict``). The ``model`` section may also hold POT's run
        keys: ``exec_log_dir`` (where results go), else ``output_dir`` (default
        ``./results``) with ``direct_dump`` (as ``pot``'s ``--output-dir``/``-d``), and
        ``keep_uncompressed_weights``. ``engine.evaluate`` must be false: the simplified
        engine has no metric.

    Returns
    -------
    None
        As POT's ``optimize`` without evaluation (the saved model is at the path above).

    Raises
    ------
    ConfigError
        A config fastpot cannot run (unknown keys name the closest valid one), or
        ``engine.evaluate`` requested.
    """
    raw = _plain(config)
    if not isinstance(raw, dict):
        raise ConfigError("optimize: config must be a mapping with model/engine/compression")
    model = raw.get("model")
    engine = raw.get("engine")
    run: dict[str, Any] = {}
    if isinstance(model, dict):
        run = {key: model.pop(key) for key in _MODEL_RUN_KEYS if key in model}
        for key in _MODEL_INTERNAL_KEYS:
            model.pop(key, None)
    if isinstance(engine, dict) and engine.pop("evaluate", False):
        raise ConfigError(
            "optimize: engine.evaluate needs an accuracy metric, and the simplified engine has "
            "none; evaluate with the Python API (IEEngine with a DataLoader and a Metric)"
        )
    prepared = prepare_config(raw, source="optimize(config)")
    if run.get("exec_log_dir"):
        run_dir = Path(run["exec_log_dir"])
    else:
        output_dir = run.get("output_dir") or "./results"
        run_dir = _run_directory(output_dir, bool(run.get("direct_dump")), prepared)
    run_dir.mkdir(parents=True, exist_ok=True)
    _quantize(prepared, run_dir, bool(run.get("keep_uncompressed_weights")), None)
    return None


def main(argv: Sequence[str] | None = None, prog: str = "pot") -> int:
    """Console entry point of ``pot``; returns the exit status (errors print a message)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args, prog=prog)
    except KeyboardInterrupt:
        # Ctrl-C: one line, no traceback; app() removed what the run had written.
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except (
        ConfigError,
        OSError,
        ValueError,
        TypeError,
        KeyError,
        RuntimeError,
        NotImplementedError,
    ) as exc:
        if "--log-level" in args and "DEBUG" in args:
            traceback.print_exc()
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 1
    print(f"{prog}: quantized model written to {result['models'][0]['model']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
