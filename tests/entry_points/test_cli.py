"""The ``pot`` command line: POT's output layout with a quantized IR, and its refusals."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import openvino as ov
import pytest

from fastpot.cli.app import app, main

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _assert_quantized(xml: Path) -> ov.Model:
    assert xml.is_file()
    assert xml.with_suffix(".bin").is_file()
    assert not xml.with_suffix(".mapping").exists()
    model = ov.Core().read_model(xml)
    ops = list(model.get_ops())
    assert sum(op.get_type_name() == "FakeQuantize" for op in ops) >= 2
    assert any(
        op.get_type_name() == "Constant" and op.get_element_type() == ov.Type.i8 for op in ops
    )
    return model


def _quantization_parameters(xml: Path) -> dict[str, str]:
    """``<rt_info><quantization_parameters>`` of an IR file as ``{name: value}``."""
    section = ET.parse(xml).getroot().find("rt_info/quantization_parameters")
    assert section is not None
    return {child.tag: child.attrib["value"] for child in section}


def _q_args(zoo: Path, images: Path, out: Path, *extra: str) -> list[str]:
    return [
        "-q",
        "default",
        "-m",
        str(zoo / "plain_cnn.xml"),
        "-w",
        str(zoo / "plain_cnn.bin"),
        "--engine",
        "simplified",
        "--data-source",
        str(images),
        "--output-dir",
        str(out),
        *extra,
    ]


def test_quantize_template_writes_pot_layout(zoo: Path, image_folder: Path, tmp_path: Path):
    out = tmp_path / "results"
    result = app(_q_args(zoo, image_folder, out))
    run_dir = result["output_dir"]
    # <output-dir>/<model_name>_<algos>/<timestamp>/ ; the -q template names the model
    # 'model_name' without --name, as POT did.
    assert run_dir.parent == out / "model_name_DefaultQuantization"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", run_dir.name)
    xml = run_dir / "optimized" / "model_name.xml"
    _assert_quantized(xml)
    log = (run_dir / "log.txt").read_text()
    # what the image folder holds comes first, then POT's pipeline lines
    assert log.startswith(f"INFO:fastpot.cli.simplified_engine:data_source {image_folder}: ")
    assert "\nINFO:fastpot.cli:Creating pipeline:" in log
    assert "Algorithm: DefaultQuantization" in log
    assert "Start algorithm: DefaultQuantization" in log
    assert "Finished: DefaultQuantization" in log
    assert "=" * 40 in log
    # the IR carries the config (paths redacted), the version and the command line
    info = _quantization_parameters(xml)
    config = json.loads(info["config"])
    assert config["model"]["model"] == "PATH"
    assert config["engine"]["data_source"] == "PATH"
    assert config["compression"]["algorithms"][0]["params"]["preset"] == "performance"
    assert str(info["version"]).startswith("fastpot ")
    assert "--engine simplified" in str(info["cli_params"])


def test_direct_dump_name_and_uncompressed_weights(zoo: Path, image_folder: Path, tmp_path: Path):
    out = tmp_path / "flat"
    result = app(_q_args(zoo, image_folder, out, "-d", "-n", "cnn", "--keep-uncompressed-weights"))
    assert result["output_dir"] == out
    assert (out / "log.txt").is_file()
    xml = out / "optimized" / "cnn.xml"
    model = ov.Core().read_model(xml)
    ops = list(model.get_ops())
    assert sum(op.get_type_name() == "FakeQuantize" for op in ops) >= 2
    # weights stay FP32 (FakeQuantize on float constants)
    assert not any(
        op.get_type_name() == "Constant" and op.get_element_type() == ov.Type.i8 for op in ops
    )


_CONFIG_WITH_COMMENTS = """{
  // POT's config format: comments are allowed in JSON
  "model": {"model_name": "cnn", "model": "MODEL", "weights": "WEIGHTS"},
  "engine": {"type": "simplified", "data_source": "images", "device": "CPU"},
  /* the algorithms */
  "compression": {
    "target_device": "CPU",
    "algorithms": [
      {"name": "DefaultQuantization",
       "params": {"preset": "mixed", "stat_subset_size": 8}}
    ]
  }
}
"""


def _write_config(tmp_path: Path, zoo: Path, text: str = _CONFIG_WITH_COMMENTS) -> Path:
    config = tmp_path / "config.json"
    text = text.replace("MODEL", str(zoo / "plain_cnn.xml")).replace(
        "WEIGHTS", str(zoo / "plain_cnn.bin")
    )
    config.write_text(text)
    return config


def test_config_file_run(zoo: Path, image_folder: Path, tmp_path: Path) -> None:
    config = _write_config(tmp_path, zoo)  # data_source "images" is relative to the config
    result = app(["-c", str(config), "--output-dir", str(tmp_path / "out")])
    assert result["output_dir"].parent == tmp_path / "out" / "cnn_DefaultQuantization"
    xml = result["output_dir"] / "optimized" / "cnn.xml"
    _assert_quantized(xml)
    params = json.loads(_quantization_parameters(xml)["config"])["compression"]["algorithms"][0][
        "params"
    ]
    assert params["preset"] == "mixed"
    assert params["target_device"] == "CPU"  # copied from the compression section
    assert params["inplace_statistics"] is True
    # the log says what the folder held and how many images the statistics used
    log = (result["output_dir"] / "log.txt").read_text()
    assert "11 files found, 10 images usable, 1 skipped (0 unreadable images, 1 not images)" in log
    assert f"skipping {image_folder / 'notes.txt'}: not an image file" in log
    assert f"Statistics from 8 of the 10 images of {image_folder} (the algorithm's" in log


def test_yaml_config_and_txt_image_list(zoo: Path, make_images, tmp_path: Path) -> None:
    images = make_images(tmp_path / "pics", 4)
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(f"pics/{p.name}" for p in images) + "\n\n")
    config = tmp_path / "config.yml"
    config.write_text(
        f"""
model:
  model_name: cnn
  model: {zoo / "plain_cnn.xml"}
  weights: {zoo / "plain_cnn.bin"}
engine:
  type: simplified
  data_source: {listing}
  central_fraction: 0.875
compression:
  algorithms:
    - name: MinMaxQuantization
      params:
        preset: performance
"""
    )
    result = app(["-c", str(config), "--output-dir", str(tmp_path / "out"), "-d"])
    _assert_quantized(result["output_dir"] / "optimized" / "cnn.xml")


def test_python_m_fastpot_quantize_and_console_script(
    zoo: Path, image_folder: Path, tmp_path: Path
) -> None:
    args = _q_args(zoo, image_folder, tmp_path / "a", "-d", "--log-level", "WARNING")
    result = subprocess.run(
        [sys.executable, "-m", "fastpot", "quantize", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "INFO:" not in result.stdout  # --log-level WARNING
    _assert_quantized(tmp_path / "a" / "optimized" / "model_name.xml")

    script = Path(sys.executable).with_name("pot")
    if not script.exists():
        script = Path(shutil.which("pot") or "")
    if not script.is_file():
        assert not ON_CI, "the console script `pot` is not installed next to the interpreter"
        return  # an editable development install made before the script existed
    args = _q_args(zoo, image_folder, tmp_path / "b", "-d")
    result = subprocess.run(
        [str(script), *args], capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_quantized(tmp_path / "b" / "optimized" / "model_name.xml")


# ---- refusals -------------------------------------------------------------------------------


def _error(capsys: pytest.CaptureFixture[str], argv: list[str], status: int) -> str:
    assert main(argv) == status
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "exactly one of -c/--config and -q/--quantize"),
        (["-q", "default", "-c", "x.json"], "exactly one of"),
        (["-q", "default", "-w", "m.bin", "--engine", "simplified"], "-q needs -m"),
        (["-q", "default", "-m", "m.xml", "-w", "m.bin"], "Accuracy Checker engine is out of"),
        (["-q", "default", "-m", "m.xml", "-w", "m.bin", "--engine", "accuracy_checker"], "out of"),
        (["-q", "default", "-m", "m.xml", "-w", "m.bin", "--ac-config", "ac.yml"], "out of scope"),
        (
            ["-q", "default", "-m", "m.xml", "-w", "m.bin", "--engine", "simplified"],
            "--data-source",
        ),
        (
            [
                "-q",
                "accuracy_aware",
                "-m",
                "m.xml",
                "-w",
                "m.bin",
                "--engine",
                "simplified",
                "--data-source",
                "d",
            ],
            "needs --max-drop",
        ),
        (
            [
                "-q",
                "accuracy_aware",
                "-m",
                "m.xml",
                "-w",
                "m.bin",
                "--engine",
                "simplified",
                "--data-source",
                "d",
                "--max-drop",
                "0.01",
            ],
            "simplified engine has none",
        ),
        (
            [
                "-q",
                "default",
                "-m",
                "m.xml",
                "-w",
                "m.bin",
                "--engine",
                "simplified",
                "--data-source",
                "d",
                "-e",
            ],
            "needs an accuracy metric",
        ),
        (["-c", "x.json", "-m", "m.xml"], "-m: not allowed with -c"),
        (["-c", "x.json", "--preset", "mixed"], "--preset: not allowed with -c"),
    ],
)
def test_bad_arguments(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert message in _error(capsys, argv, 2)


def _config(zoo: Path, **changes: object) -> dict:
    config = {
        "model": {
            "model_name": "cnn",
            "model": str(zoo / "plain_cnn.xml"),
            "weights": str(zoo / "plain_cnn.bin"),
        },
        "engine": {"type": "simplified", "data_source": "images"},
        "compression": {"algorithms": [{"name": "DefaultQuantization", "params": {}}]},
    }
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        section = config
        for key in parents:
            section = section[key] if not key.isdigit() else section[int(key)]
        if value is None:
            del section[leaf]
        else:
            section[leaf] = value
    return config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"modle": {}}, "config: unknown key 'modle'; did you mean 'model'?"),
        ({"model__weigths": "x.bin"}, "model: unknown key 'weigths'; did you mean 'weights'?"),
        (
            {"engine__data_sourse": "x"},
            "engine: unknown key 'data_sourse'; did you mean 'data_source'?",
        ),
        ({"compression__target_devise": "CPU"}, "did you mean 'target_device'?"),
        (
            {
                "compression__algorithms": [
                    {"name": "DefaultQuantization", "params": {"presett": "mixed"}}
                ]
            },
            (
                "compression.algorithms[0].params (DefaultQuantization): unknown key 'presett'; "
                "did you mean 'preset'?"
            ),
        ),
        (
            {
                "compression__algorithms": [
                    {"name": "DefaultQuantization", "params": {"target_device": "CPU"}}
                ]
            },
            "unknown key 'target_device'",
        ),
        (
            {"compression__algorithms": [{"name": "DefaultQuantisation"}]},
            "unknown algorithm 'DefaultQuantisation'; did you mean 'DefaultQuantization'?",
        ),
        (
            {"compression__algorithms": [{"name": "RangeOptimization"}]},
            "fastpot does not implement RangeOptimization",
        ),
        ({"engine": {"config": "ac.yml"}}, "Accuracy Checker engine is out of scope"),
        ({"engine": {"data_source": "images"}}, "POT's default is accuracy_checker"),
        ({"engine": {"type": "accuracy_checker"}}, "Use the simplified engine"),
        ({"engine__type": "simplifed"}, "did you mean 'simplified'?"),
        ({"engine__central_fraction": 1.5}, "central_fraction: 1.5 must be in (0, 1]"),
        ({"engine__data_source": None}, "engine.data_source: the simplified engine needs"),
        ({"compression__algorithms": []}, "non-empty list"),
        ({"engine": None}, "missing section 'engine'"),
        ({"model__weights": None}, "model: missing key 'weights'"),
        (
            {
                "compression__algorithms": [
                    {"name": "DefaultQuantization", "params": {"preset": "fast"}}
                ]
            },
            "unsupported preset 'fast'",
        ),
    ],
)
def test_bad_config_files(
    capsys: pytest.CaptureFixture[str], zoo: Path, tmp_path: Path, changes: dict, message: str
) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(_config(zoo, **changes)))
    err = _error(capsys, ["-c", str(config), "--output-dir", str(tmp_path / "o")], 1)
    assert str(config) in err
    assert message in err
    assert not (tmp_path / "o").exists()  # nothing written for a bad config


def test_bad_config_file_syntax_and_extension(capsys, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"model": {,}}')
    assert "invalid JSON" in _error(capsys, ["-c", str(broken)], 1)
    other = tmp_path / "config.ini"
    other.write_text("[x]")
    assert "unsupported config file extension '.ini'" in _error(capsys, ["-c", str(other)], 1)
    assert "cannot read the config file" in _error(capsys, ["-c", str(tmp_path / "no.json")], 1)


def test_bad_data_source(capsys, zoo: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    err = _error(capsys, _q_args(zoo, empty, tmp_path / "o"), 1)
    assert "holds no readable images" in err
    err = _error(capsys, _q_args(zoo, tmp_path / "missing", tmp_path / "o"), 1)
    assert "data_source does not exist" in err


def test_run_error_is_reported_and_kept_in_the_log(capsys, tmp_path: Path, image_folder) -> None:
    out = tmp_path / "o"
    argv = _q_args(tmp_path, image_folder, out, "-d")  # tmp_path/plain_cnn.xml does not exist
    err = _error(capsys, argv, 1)
    assert "plain_cnn.xml" in err
    log = (out / "log.txt").read_text()
    assert "ERROR:fastpot.cli:" in log
    assert "plain_cnn.xml" in log


# ---- version and early refusals ----------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from fastpot import __version__

    expected = f"pot (fastpot {__version__}) on OpenVINO {ov.get_version()}"
    assert main(["--version"]) == 0
    captured = capsys.readouterr()
    assert captured.out == expected + "\n"
    assert captured.err == ""
    for module, line in (
        ("fastpot.cli.app", expected),
        ("fastpot", f"fastpot {__version__} on OpenVINO {ov.get_version()}"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", module, "--version"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert (result.returncode, result.stdout) == (0, line + "\n"), result.stderr


def test_two_input_model_refused_before_inference(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    zoo: Path,
    image_folder: Path,
    tmp_path: Path,
) -> None:
    from fastpot.engines.ie_engine import IEEngine

    def no_inference(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was compiled for inference")

    # every inference path of the engine compiles the model first
    monkeypatch.setattr(ov.Core, "compile_model", no_inference)
    monkeypatch.setattr(IEEngine, "_compile", no_inference)
    monkeypatch.setattr(IEEngine, "_dispatcher", no_inference)
    argv = _q_args(zoo, image_folder, tmp_path / "o", "-d")
    argv[argv.index("-m") + 1] = str(zoo / "two_input.xml")
    argv[argv.index("-w") + 1] = str(zoo / "two_input.bin")
    err = _error(capsys, argv, 1)
    assert str(zoo / "two_input.xml") in err
    assert "the simplified engine feeds one image input" in err
    assert "inputs image [1,3,16,16], meta [1,8]" in err
    log = (tmp_path / "o" / "log.txt").read_text()
    assert "Creating pipeline" not in log  # refused before the pipeline was set up
    assert "computing statistics" not in log
    assert "two_input.xml" in log
