"""Run POT 2023.3 on the pattern zoo and write golden files in make_golden.py's format.

The pattern zoo (``tests/data/zoo_patterns``, from ``tools/make_pattern_models.py``) holds
small models with the structures of real networks. This script drives the shared golden
generator ``../shared/golden/make_golden.py`` -- imported unchanged from the path given by
``--make-golden`` -- over that zoo and writes
``tests/data/golden/pot-2023.3-patterns/<model>__<config>.json`` plus ``index.json``, exactly
as ``make_golden.py`` writes ``pot-2023.3/``. Only two things are changed, at run time, in the
imported module:

* ``default_performance_cpu_transformer`` (``model_type: transformer``) is restricted to
  ``transformer_block`` in ``make_golden.CONFIGS``; here it runs on the pattern models
  ``bert_encoder`` and ``svtr_attention`` instead, and
  ``default_performance_cpu_biascorrection`` (``use_fast_bias: false``) runs only on the
  small models ``lstm_state``, ``gru_state``, ``conv3d``, ``deconv_decoder`` and
  ``aca_depthwise`` (see :data:`RESTRICTED`); the other configurations run on every model;
* the per-run worker subprocess that ``make_golden.main`` starts is this script (so that the
  worker sees the same ``CONFIGS``); it hands ``--worker`` straight to ``make_golden.main``,
  i.e. to ``make_golden.run_one``.

Must run in the POT environment (Python 3.11 with ``openvino-dev==2023.3.0``, ``numpy==1.26.4``,
``scipy==1.10.1``)::

    /work/pot-env/bin/python tools/make_pattern_golden.py [--models M ...] [--configs C ...]
        [--keep-ir] [--make-golden PATH] [--models-dir DIR] [--out DIR] [--list]
    /work/pot-env/bin/python tools/make_pattern_golden.py --verify-feed [--models M ...]

The quantized IRs are not kept unless ``--keep-ir`` is given (they would roughly double the
size of the test data). ``--verify-feed`` checks that POT's ``IEEngine`` feeds every
calibration sample as intended -- in particular the non-batch-first recurrent ``state``
inputs, stored as ``[N, *input_shape]`` -- by recording what ``IEEngine._fill_input`` hands to
OpenVINO for every sample and the outputs POT's own inference returns, and comparing both with
the intended inputs and a direct OpenVINO inference of the original model.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MAKE_GOLDEN = os.path.normpath(
    os.path.join(REPO, "..", "shared", "golden", "make_golden.py")
)
DEFAULT_MODELS_DIR = os.path.join(REPO, "tests", "data", "zoo_patterns")
DEFAULT_OUT = os.path.join(REPO, "tests", "data", "golden", "pot-2023.3-patterns")

#: Configurations run by default (names of ``make_golden.CONFIGS``).
DEFAULT_CONFIGS = (
    "default_performance_cpu",
    "default_mixed_cpu",
    "minmax_performance_cpu",
    "default_performance_cpu_transformer",
    "default_performance_cpu_biascorrection",
)
#: Configurations that run only on some pattern models (replaces make_golden's restriction).
RESTRICTED = {
    # model_type: transformer
    "default_performance_cpu_transformer": ("bert_encoder", "svtr_attention"),
    # use_fast_bias: false -- only on the small models, to keep the test data small
    "default_performance_cpu_biascorrection": (
        "lstm_state",
        "gru_state",
        "conv3d",
        "deconv_decoder",
        "aca_depthwise",
    ),
}

#: Carries ``--make-golden`` to the worker subprocesses.
ENV_MAKE_GOLDEN = "FASTPOT_MAKE_GOLDEN"


def load_make_golden(path):
    """Import ``make_golden.py`` from ``path`` and adapt it to the pattern zoo."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise SystemExit(f"make_golden.py not found at {path} (use --make-golden)")
    spec = importlib.util.spec_from_file_location("make_golden", path)
    mg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mg)
    for config, models in RESTRICTED.items():
        desc, build, _ = mg.CONFIGS[config]
        mg.CONFIGS[config] = (desc, build, list(models))
    # make_golden.main starts every run as `python <mg.__file__> --worker MODEL CONFIG ...`;
    # point that at this script so the worker uses the adapted CONFIGS too.
    mg.__file__ = os.path.abspath(__file__)
    return mg


# --------------------------------------------------------------------------
# --verify-feed
# --------------------------------------------------------------------------
def verify_feed(models_dir, models=None):
    """Check what POT's IEEngine feeds for every sample against the intended inputs.

    Uses the same data loader as ``make_golden.run_one`` (sample ``i`` of every input is
    ``array[i:i + 1]``), POT's ``IEEngine`` with its synchronous inference path, and compares
    (a) the feed dict ``_fill_input`` builds with ``array[i]`` reshaped to the input shape and
    (b) the outputs of POT's inference with a direct FP32 inference of the original model.
    Returns the number of models that failed.
    """
    # POT exists only in the POT environment: import it here, not at module level.
    from openvino.runtime import Core  # noqa: PLC0415
    from openvino.tools.pot import DataLoader, IEEngine, load_model  # noqa: PLC0415
    from openvino.tools.pot.engines.utils import process_raw_output  # noqa: PLC0415
    from openvino.tools.pot.samplers.batch_sampler import BatchSampler  # noqa: PLC0415

    class NpzLoader(DataLoader):
        def __init__(self, arrays):
            super().__init__({})
            self._arrays = arrays
            self._n = len(next(iter(arrays.values())))

        def __len__(self):
            return self._n

        def __getitem__(self, index):
            if index >= self._n:
                raise IndexError(index)
            return {k: v[index : index + 1] for k, v in self._arrays.items()}, index

    class RecordingEngine(IEEngine):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._ie.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})
            self.feeds, self.outputs = [], []

        def _fill_input(self, model, image_batch):
            feed = super()._fill_input(model, image_batch)
            self.feeds.append({k: np.array(v) for k, v in feed.items()})
            return feed

        def _process_infer_output(self, stats_layout, predictions, *args, **kwargs):
            processed = process_raw_output(predictions)
            self.outputs.append({n: np.array(processed[n]) for n in self._output_layers})
            return super()._process_infer_output(stats_layout, predictions, *args, **kwargs)

    with open(os.path.join(models_dir, "manifest.json")) as f:
        manifest = json.load(f)["models"]
    core = Core()
    failures = 0
    for name, entry in manifest.items():
        if models and name not in models:
            continue
        xml = os.path.join(models_dir, entry["xml"])
        binf = os.path.join(models_dir, entry["bin"])
        with np.load(os.path.join(models_dir, entry["calibration"])) as f:
            arrays = {k: np.ascontiguousarray(f[k]) for k in f.files}
        config = {"device": "CPU", "stat_requests_number": 1, "eval_requests_number": 1}
        engine = RecordingEngine(config, data_loader=NpzLoader(arrays))
        engine.set_model(load_model({"model_name": name, "model": xml, "weights": binf}))
        engine.predict(sampler=BatchSampler(engine.data_loader, batch_size=1))

        compiled = core.compile_model(
            core.read_model(xml, binf), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
        )
        # POT names its outputs by the output tensor names.
        out_names = [o.get_any_name() for o in compiled.outputs]
        n = entry["num_samples"]
        feed_ok = len(engine.feeds) == n
        max_out = 0.0
        for i in range(min(n, len(engine.feeds))):
            feed = engine.feeds[i]
            intended = {
                p["name"]: arrays[p["name"]][i].reshape(p["shape"]) for p in entry["inputs"]
            }
            for k, v in intended.items():
                got = feed.get(k)
                if got is None or got.shape != v.shape or not np.array_equal(got, v):
                    feed_ok = False
            direct = compiled.create_infer_request().infer(intended)
            for out, out_name in zip(compiled.outputs, out_names, strict=True):
                ref = np.array(direct[out])
                got = engine.outputs[i].get(out_name)
                if got is None or got.shape != ref.shape:
                    max_out = np.inf
                    continue
                max_out = max(max_out, float(np.max(np.abs(got - ref))))
        ok = feed_ok and max_out <= 1e-5
        failures += not ok
        shapes = {k: list(v.shape) for k, v in engine.feeds[0].items()} if engine.feeds else {}
        print(
            f"{'ok  ' if ok else 'FAIL'} {name:16s} samples fed={len(engine.feeds)}/{n} "
            f"feed==intended: {feed_ok} fed shapes={shapes} "
            f"max|POT output - direct|={max_out:.2e}"
        )
    return failures


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------
def main(argv=None):
    """Command-line entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--worker" in argv:  # one POT run, started by make_golden.main
        mg = load_make_golden(os.environ.get(ENV_MAKE_GOLDEN, DEFAULT_MAKE_GOLDEN))
        return mg.main(argv)

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--make-golden",
        default=DEFAULT_MAKE_GOLDEN,
        help="path of the shared make_golden.py (default: %(default)s)",
    )
    parser.add_argument(
        "--models-dir",
        default=DEFAULT_MODELS_DIR,
        help="pattern zoo directory (default: %(default)s)",
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)"
    )
    parser.add_argument("--models", nargs="+", help="only these models")
    parser.add_argument(
        "--configs",
        nargs="+",
        default=list(DEFAULT_CONFIGS),
        help="make_golden configurations to run (default: %(default)s)",
    )
    parser.add_argument("--keep-ir", action="store_true", help="keep the quantized IR files")
    parser.add_argument("--list", action="store_true", help="print the planned runs and exit")
    parser.add_argument(
        "--verify-feed",
        action="store_true",
        help="check how POT feeds the calibration samples, then exit",
    )
    args = parser.parse_args(argv)

    if args.verify_feed:
        return 1 if verify_feed(args.models_dir, args.models) else 0

    mg = load_make_golden(args.make_golden)
    unknown = sorted(set(args.configs) - set(mg.CONFIGS))
    if unknown:
        parser.error(f"unknown configurations {unknown}; choose from {list(mg.CONFIGS)}")
    os.environ[ENV_MAKE_GOLDEN] = os.path.abspath(args.make_golden)
    mg_argv = ["--models-dir", args.models_dir, "--out", args.out, "--configs", *args.configs]
    if args.models:
        mg_argv += ["--models", *args.models]
    if not args.keep_ir:
        mg_argv.append("--no-ir")
    if args.list:
        mg_argv.append("--list")
    return mg.main(mg_argv)


if __name__ == "__main__":
    sys.exit(main())
