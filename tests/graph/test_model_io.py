"""load_model / save_model / CompressedModel (POT spec 1.7-1.8)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from fastpot.graph import CompressedModel, load_model, save_model

ZOO = Path(__file__).resolve().parents[1] / "data" / "zoo"
MODELS = (
    "plain_cnn",
    "residual_concat",
    "mobilenet_like",
    "transformer_block",
    "two_input",
    "conv_nobias_bn",
    "signed_zero_channel",
)
CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


def _config(name: str, **extra: object) -> dict:
    return {
        "model_name": name,
        "model": str(ZOO / f"{name}.xml"),
        "weights": str(ZOO / f"{name}.bin"),
        **extra,
    }


def _outputs(model: ov.Model, name: str, samples: int = 3) -> list[np.ndarray]:
    compiled = ov.Core().compile_model(model, "CPU", CONFIG)
    data = np.load(ZOO / f"{name}.npz")
    out = []
    for i in range(samples):
        out += list(compiled({k: data[k][i : i + 1] for k in data.files}).values())
    return out


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip_preserves_outputs(name: str, tmp_path: Path) -> None:
    model = load_model(_config(name))
    assert not model.is_cascade
    assert model.name == name
    result = save_model(model, tmp_path / "out")
    net_name = model.get_model().get_friendly_name()
    assert result == [
        {
            "model": str(tmp_path / "out" / f"{net_name}.xml"),
            "weights": str(tmp_path / "out" / f"{net_name}.bin"),
        }
    ]
    again = load_model({"model": result[0]["model"], "weights": result[0]["weights"]})
    for a, b in zip(
        _outputs(model.get_model(), name), _outputs(again.get_model(), name), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left


def test_input_files_are_not_touched(tmp_path: Path) -> None:
    files = [ZOO / "plain_cnn.xml", ZOO / "plain_cnn.bin"]
    before = [(f.read_bytes(), f.stat().st_mtime_ns) for f in files]
    model = load_model(_config("plain_cnn"))
    save_model(model, tmp_path, "copy")
    assert [(f.read_bytes(), f.stat().st_mtime_ns) for f in files] == before


def test_cascade_saves_one_ir_per_sub_model(tmp_path: Path) -> None:
    config = {
        "model_name": "pair",
        "cascade": [
            {
                "name": "a",
                "model": str(ZOO / "plain_cnn.xml"),
                "weights": str(ZOO / "plain_cnn.bin"),
            },
            {
                "name": "b",
                "model": str(ZOO / "two_input.xml"),
                "weights": str(ZOO / "two_input.bin"),
            },
        ],
    }
    model = load_model(config)
    assert model.is_cascade
    assert [m["name"] for m in model.models] == ["a", "b"]
    named = save_model(model, tmp_path, "pair")
    assert [(r["name"], Path(r["model"]).name) for r in named] == [
        ("a", "pair_a.xml"),
        ("b", "pair_b.xml"),
    ]
    unnamed = model.save(str(tmp_path / "plain"))
    assert [Path(r["model"]).name for r in unnamed] == ["a.xml", "b.xml"]
    assert all(Path(r["weights"]).is_file() for r in named + unnamed)
    single = load_model({"model_name": "one", "cascade": config["cascade"][:1]})
    assert not single.is_cascade


def test_in_memory_model_and_copy_are_independent() -> None:
    ov_model = ov.Core().read_model(ZOO / "plain_cnn.xml")
    model = load_model(ov_model)
    assert isinstance(model, CompressedModel)
    clone = model.copy()
    clone.get_model().get_ops()[0].set_friendly_name("renamed")
    assert model.get_model().get_ops()[0].get_friendly_name() != "renamed"
    assert model.number_of_nodes() == len(ov_model.get_ops())
    assert model.get_final_output_nodes()[0].get_type_name() == "Result"


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"modle": "x.xml"}, ValueError, "did you mean 'model'"),
        ({"model_name": "x"}, ValueError, "missing required key 'model'"),
        ({"model": "/nonexistent/x.xml"}, FileNotFoundError, r"/nonexistent/x\.xml"),
        (
            {"model": str(ZOO / "plain_cnn.xml"), "weights": "/nonexistent/x.bin"},
            FileNotFoundError,
            "/nonexistent/x.bin",
        ),
        (
            {
                "model_name": "c",
                "cascade": [
                    {"name": "a", "model": str(ZOO / "plain_cnn.xml")},
                    {"name": "a", "model": str(ZOO / "plain_cnn.xml")},
                ],
            },
            ValueError,
            "duplicate",
        ),
        ({"model_name": "c", "cascade": [{"nmae": "a"}]}, ValueError, "did you mean 'name'"),
    ],
)
def test_bad_configs_name_the_problem(config: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        load_model(config)


def test_garbage_xml_names_the_file(tmp_path: Path) -> None:
    xml = tmp_path / "junk.xml"
    xml.write_text("this is not an IR")
    (tmp_path / "junk.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=r"junk\.xml"):
        load_model({"model": str(xml), "weights": str(tmp_path / "junk.bin")})


def test_unknown_target_device() -> None:
    with pytest.raises(ValueError, match="target_device"):
        load_model(_config("plain_cnn"), target_device="VPU")


def test_interrupted_save_leaves_old_files_and_no_partial_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_model(_config("plain_cnn"))
    save_model(model, tmp_path, "m")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = []

    def failing_replace(src: str, dst: str) -> None:
        calls.append(dst)
        raise KeyboardInterrupt  # e.g. Ctrl-C between writing and renaming

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, tmp_path, "m")
    assert calls
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
