"""load_model / save_model / CompressedModel."""

from __future__ import annotations

import copy
import os
import re
import stat
import struct
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
DEVICES = ("ANY", "CPU", "CPU_SPR", "GPU", "NPU", "GNA", "GNA3", "GNA3.5")


def _config(name: str, **extra: object) -> dict:
    return {
        "model_name": name,
        "model": str(ZOO / f"{name}.xml"),
        "weights": str(ZOO / f"{name}.bin"),
        **extra,
    }


def _outputs(model: ov.Model, name: str, samples: int = 4) -> list[np.ndarray]:
    """Outputs of the FP32 CPU model on the first calibration samples of zoo model `name`."""
    compiled = ov.Core().compile_model(model, "CPU", CONFIG)
    data = np.load(ZOO / f"{name}.npz")
    out = []
    for i in range(samples):
        out += [v.copy() for v in compiled({k: data[k][i : i + 1] for k in data.files}).values()]
    return out


def _net_name(xml: Path) -> str:
    match = re.search(r'<net name="([^"]*)"', xml.read_text())
    assert match, xml
    return match.group(1)


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip_preserves_outputs(name: str, tmp_path: Path) -> None:
    model = load_model(_config(name))
    assert not model.is_cascade
    assert model.name == name
    assert len(model.models) == 1
    assert set(model.models[0]) == {"model"}
    result = save_model(model, tmp_path / "out")  # created on the fly
    # The default file name is the IR's <net name>, not model_config.model_name (as in POT).
    stem = _net_name(ZOO / f"{name}.xml")
    assert stem == model.get_model().get_friendly_name()
    assert result == [
        {
            "model": str(tmp_path / "out" / f"{stem}.xml"),
            "weights": str(tmp_path / "out" / f"{stem}.bin"),
        }
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{stem}.bin", f"{stem}.xml"]
    plain_file = tmp_path / "plain"
    plain_file.write_text("")  # the modes the user's umask gives (temporary files had 0600)
    for path in result[0].values():
        assert stat.S_IMODE(Path(path).stat().st_mode) == stat.S_IMODE(plain_file.stat().st_mode)
    again = load_model({"model_name": name, **result[0]})
    for a, b in zip(
        _outputs(model.get_model(), name), _outputs(again.get_model(), name), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_model_name_argument_sets_the_file_stem(tmp_path: Path) -> None:
    model = load_model(_config("two_input"))
    result = model.save(str(tmp_path), model_name="renamed", for_stat_collection=True)
    assert result == [
        {"model": str(tmp_path / "renamed.xml"), "weights": str(tmp_path / "renamed.bin")}
    ]
    # FP32 stays FP32 (POT never compressed to FP16 either).
    types = {
        op.get_element_type()
        for op in ov.Core().read_model(result[0]["model"]).get_ops()
        if op.get_type_name() == "Constant"
    }
    assert ov.Type.f16 not in types


def test_input_files_are_not_touched(tmp_path: Path) -> None:
    files = [ZOO / f"{n}.{ext}" for n in ("plain_cnn", "two_input") for ext in ("xml", "bin")]
    before = [(f.read_bytes(), f.stat().st_mtime_ns) for f in files]
    save_model(load_model(_config("plain_cnn")), tmp_path, "copy")
    cascade = load_model(
        {
            "model_name": "pair",
            "cascade": [
                {"name": "a", "model": str(files[0]), "weights": str(files[1])},
                {"name": "b", "model": str(files[2]), "weights": str(files[3])},
            ],
        }
    )
    cascade.save(str(tmp_path), "pair")
    assert [(f.read_bytes(), f.stat().st_mtime_ns) for f in files] == before


# --- cascades ----------------------------------------------------------------------------


def _cascade_config() -> dict:
    return {
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


def test_cascade_saves_one_ir_per_sub_model(tmp_path: Path) -> None:
    model = load_model(_cascade_config())
    assert model.is_cascade
    assert model.name == "pair"
    assert [m["name"] for m in model.models] == ["a", "b"]
    assert len(model.meta_data) == 2
    # Nodes keep their names (POT prefixed them with "<name>_" in memory).
    names = {op.get_friendly_name() for op in model.get_model("a").get_ops()}
    assert names == {
        op.get_friendly_name() for op in ov.Core().read_model(ZOO / "plain_cnn.xml").get_ops()
    }
    assert model.get_final_output_nodes() == list(model.get_model("b").get_results())

    named = save_model(model, tmp_path / "named", "pair")
    assert named == [
        {
            "name": sub,
            "model": str(tmp_path / "named" / f"pair_{sub}.xml"),
            "weights": str(tmp_path / "named" / f"pair_{sub}.bin"),
        }
        for sub in ("a", "b")
    ]
    unnamed = model.save(str(tmp_path / "plain"))
    assert [(r["name"], Path(r["model"]).name, Path(r["weights"]).name) for r in unnamed] == [
        ("a", "a.xml", "a.bin"),
        ("b", "b.xml", "b.bin"),
    ]
    for record, zoo_name in zip(named, ("plain_cnn", "two_input"), strict=True):
        saved = ov.Core().read_model(record["model"], record["weights"])
        for x, y in zip(
            _outputs(saved, zoo_name, 2),
            _outputs(model.get_model(record["name"]), zoo_name, 2),
            strict=True,
        ):
            np.testing.assert_array_equal(x, y)


def test_one_entry_cascade_is_not_a_cascade(tmp_path: Path) -> None:
    config = _cascade_config()
    single = load_model({"model_name": "one", "cascade": config["cascade"][:1]})
    assert not single.is_cascade
    assert list(single.models[0]) == ["model"]
    result = single.save(str(tmp_path))
    assert list(result[0]) == ["model", "weights"]
    assert Path(result[0]["model"]).name == f"{_net_name(ZOO / 'plain_cnn.xml')}.xml"


def test_get_model_by_name() -> None:
    model = load_model(_cascade_config())
    with pytest.raises(ValueError, match="required for a cascade"):
        model.get_model()
    with pytest.raises(KeyError, match="'c'"):
        model.get_model("c")
    assert model.get_model("b") is model.models[1]["model"]


# --- in-memory models and ONNX -----------------------------------------------------------


def test_in_memory_model_and_copies_are_independent(tmp_path: Path) -> None:
    ov_model = ov.Core().read_model(ZOO / "plain_cnn.xml")
    model = load_model(ov_model)
    assert isinstance(model, CompressedModel)
    assert model.get_model() is ov_model
    assert load_model({"model_name": "m", "model": ov_model}).get_model() is ov_model
    model.meta_data = [{"origin": "memory"}]
    for clone in (model.copy(), copy.deepcopy(model)):
        assert clone.get_model() is not ov_model
        assert clone.meta_data == [{"origin": "memory"}]
        clone.meta_data[0]["origin"] = "changed"
        clone.get_model().get_ordered_ops()[0].set_friendly_name("renamed")
        assert model.meta_data == [{"origin": "memory"}]
        assert "renamed" not in model.node_labels()
    assert model.number_of_nodes() == len(ov_model.get_ops())
    assert set(model.node_labels()) == {op.get_friendly_name() for op in ov_model.get_ops()}
    assert [n.get_type_name() for n in model.get_final_output_nodes()] == ["Result"]
    # save_model also takes a bare ov.Model
    assert Path(save_model(ov_model, tmp_path)[0]["model"]).is_file()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: int | str | bytes) -> bytes:
    """One protobuf field: an int as a varint, str/bytes length-delimited."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _value_info(name: str, shape: tuple[int, ...]) -> bytes:
    dims = b"".join(_field(1, _field(1, d)) for d in shape)  # TensorShapeProto.dim.dim_value
    tensor_type = _field(1, 1) + _field(2, dims)  # elem_type FLOAT, shape
    return _field(1, name) + _field(2, _field(1, tensor_type))


def _initializer(name: str, array: np.ndarray) -> bytes:
    dims = b"".join(_field(1, d) for d in array.shape)
    return dims + _field(2, 1) + _field(8, name) + _field(9, array.astype("<f4").tobytes())


def _write_onnx(path: Path, w: np.ndarray, b: np.ndarray) -> None:
    """Hand-encode ``y = Relu(MatMul(x, w) + b)`` as ONNX (the onnx package is not needed)."""
    nodes = [
        _field(1, "x")
        + _field(1, "w")
        + _field(2, "xw")
        + _field(3, "matmul")
        + _field(4, "MatMul"),
        _field(1, "xw") + _field(1, "b") + _field(2, "s") + _field(3, "add") + _field(4, "Add"),
        _field(1, "s") + _field(2, "y") + _field(3, "relu") + _field(4, "Relu"),
    ]
    graph = b"".join(_field(1, n) for n in nodes) + _field(2, "tiny_onnx")
    graph += _field(5, _initializer("w", w)) + _field(5, _initializer("b", b))
    graph += _field(11, _value_info("x", (1, w.shape[0])))
    graph += _field(12, _value_info("y", (1, w.shape[1])))
    model = _field(1, 8) + _field(2, "fastpot-tests") + _field(7, graph)
    model += _field(8, _field(2, 13))  # opset_import: default domain, version 13
    path.write_bytes(model)


def test_onnx_model(tmp_path: Path) -> None:
    assert struct.pack("<f", 1.0) == np.float32(1.0).tobytes()  # little-endian raw_data
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    path = tmp_path / "tiny.onnx"
    _write_onnx(path, w, b)
    before = path.read_bytes()
    model = load_model({"model_name": "tiny", "model": str(path)})
    assert model.name == "tiny"
    x = rng.standard_normal((1, 6)).astype(np.float32)
    expected = np.maximum(x @ w + b, 0)
    compiled = ov.Core().compile_model(model.get_model(), "CPU", CONFIG)
    np.testing.assert_allclose(compiled(x)[0], expected, rtol=1e-6, atol=1e-6)
    saved = save_model(model, tmp_path / "out", "tiny")
    again = ov.Core().compile_model(saved[0]["model"], "CPU", CONFIG)
    np.testing.assert_array_equal(again(x)[0], compiled(x)[0])
    assert path.read_bytes() == before


def test_garbage_onnx_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\xff\x00 not a protobuf")
    with pytest.raises(ValueError, match=r"junk\.onnx"):
        load_model({"model": str(path)})


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"modle": "x.xml"}, ValueError, "unknown key 'modle' .*did you mean 'model'"),
        ({"model_name": "x", "wieghts": "x.bin"}, ValueError, "did you mean 'weights'"),
        ({"model_name": "x"}, ValueError, "missing required key 'model'"),
        ({"model": "/nonexistent/x.xml"}, FileNotFoundError, r"/nonexistent/x\.xml"),
        (
            {"model": str(ZOO / "plain_cnn.xml"), "weights": "/nonexistent/x.bin"},
            FileNotFoundError,
            r"/nonexistent/x\.bin",
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
            "duplicate cascade name 'a'",
        ),
        ({"model_name": "c", "cascade": [{"nmae": "a"}]}, ValueError, "did you mean 'name'"),
        ({"model_name": "c", "cascade": [{"model": "x.xml"}]}, ValueError, "key 'name'"),
        ({"model_name": "c", "cascade": []}, ValueError, "cascade: the list is empty"),
        ({"model_name": "c", "cascade": "a.xml"}, TypeError, "cascade"),
        ({"cascade": [{"name": "a"}], "model": "x.xml"}, ValueError, "not both"),
        # A bare path is a model path now (issue 14): a missing file names itself.
        ("model.xml", FileNotFoundError, r"model\.xml: the model file does not exist"),
        (42, TypeError, "model_config: expected a dict, a model path"),
    ],
)
def test_bad_configs_name_the_problem(config: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        load_model(config)


def test_garbage_xml_names_the_file(tmp_path: Path) -> None:
    xml = tmp_path / "junk.xml"
    xml.write_text("this is not an IR")
    (tmp_path / "junk.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=r"junk\.xml.*cannot read the model"):
        load_model({"model": str(xml), "weights": str(tmp_path / "junk.bin")})


def test_truncated_bin_names_the_files(tmp_path: Path) -> None:
    xml = tmp_path / "m.xml"
    xml.write_bytes((ZOO / "plain_cnn.xml").read_bytes())
    (tmp_path / "m.bin").write_bytes((ZOO / "plain_cnn.bin").read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"m\.xml \(weights .*m\.bin\).*weights"):
        load_model({"model": str(xml), "weights": str(tmp_path / "m.bin")})


def test_weights_default_to_the_bin_next_to_the_xml() -> None:
    model = load_model({"model": str(ZOO / "plain_cnn.xml")})
    assert model.name is None
    assert model.get_model().get_friendly_name() == _net_name(ZOO / "plain_cnn.xml")


@pytest.mark.parametrize("device", DEVICES)
def test_target_devices(device: str) -> None:
    assert not load_model(_config("signed_zero_channel"), target_device=device).is_cascade


@pytest.mark.parametrize("device", ["VPU", "cpu", "MYRIAD", ""])
def test_unknown_target_device(device: str) -> None:
    with pytest.raises(ValueError, match="target_device"):
        load_model(_config("plain_cnn"), target_device=device)


def test_compressed_model_checks_its_entries() -> None:
    ov_model = ov.Core().read_model(ZOO / "plain_cnn.xml")
    with pytest.raises(ValueError, match="at least one"):
        CompressedModel([])
    with pytest.raises(TypeError, match=r"models\[0\]"):
        CompressedModel([{"model": "plain_cnn.xml"}])
    with pytest.raises(ValueError, match="duplicate name 'a'"):
        CompressedModel([{"name": "a", "model": ov_model}, {"name": "a", "model": ov_model}])
    model = CompressedModel([{"model": ov_model}])
    with pytest.raises(ValueError, match="meta_data"):
        model.meta_data = [{}, {}]


def test_save_path_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_model(_config("plain_cnn"))
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(NotADirectoryError, match=str(a_file)):
        save_model(model, a_file)
    with pytest.raises(ValueError, match="not usable as a file name"):
        save_model(model, tmp_path, "a/b")
    # Running as root ignores file modes, so the permission check is simulated.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match=str(tmp_path / "ro")):
        save_model(model, tmp_path / "ro")


# --- atomic saving -----------------------------------------------------------------------


@pytest.mark.parametrize("failing_call", [1, 2])
def test_interrupted_rename_keeps_the_previous_model(
    failing_call: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C before the first or between the two renames: old pair intact, no leftovers."""
    old = load_model(_config("signed_zero_channel"))
    save_model(old, tmp_path, "m")
    before = _snapshot(tmp_path)
    new = load_model(_config("plain_cnn"))
    calls: list[str] = []
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        calls.append(str(dst))
        if len(calls) == failing_call:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        save_model(new, tmp_path, "m")
    assert calls[0] == str(tmp_path / "m.xml")  # the .xml (which carries the digest) first
    assert _snapshot(tmp_path) == before

    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        save_model(new, tmp_path / "fresh", "m")
    assert list((tmp_path / "fresh").iterdir()) == []


def test_failure_while_writing_leaves_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_model(_config("plain_cnn"))
    real_save = ov.save_model

    def half_save(m: ov.Model, path: str, **kwargs: object) -> None:
        real_save(m, path, **kwargs)
        Path(path).write_text("<net")  # a half-written xml
        raise OSError("disk full")

    monkeypatch.setattr(ov, "save_model", half_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(model, tmp_path / "fresh", "m")
    assert list((tmp_path / "fresh").iterdir()) == []

    monkeypatch.undo()
    existing = tmp_path / "existing"
    save_model(model, existing, "m")
    before = _snapshot(existing)
    monkeypatch.setattr(ov, "save_model", half_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(load_model(_config("two_input")), existing, "m")
    assert _snapshot(existing) == before
