"""Config-file reading and POT's command-line defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastpot.cli.config import (
    ConfigError,
    prepare_config,
    read_config_file,
    strip_json_comments,
    template_config,
)


def test_strip_json_comments_keeps_strings_and_positions() -> None:
    text = '{"a": "http://x/*y*/", // tail\n /* block\n */ "b": "\\"//"}'
    stripped = strip_json_comments(text)
    assert json.loads(stripped) == {"a": "http://x/*y*/", "b": '"//'}
    assert stripped.count("\n") == text.count("\n")
    with pytest.raises(ValueError, match="unterminated"):
        strip_json_comments("{/* open")


def test_read_config_file_forms(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('// c\n{"model": {}}')
    assert read_config_file(tmp_path / "a.json") == {"model": {}}
    (tmp_path / "a.yaml").write_text("model: {}\n")
    assert read_config_file(tmp_path / "a.yaml") == {"model": {}}
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ConfigError, match="must be a mapping"):
        read_config_file(tmp_path / "list.json")
    (tmp_path / "bad.yml").write_text("a: [\n")
    with pytest.raises(ConfigError, match=r"bad.yml: invalid YAML"):
        read_config_file(tmp_path / "bad.yml")


def _minimal(**compression: object) -> dict:
    return {
        "model": {"model": "dir/net.xml", "weights": "dir/net.bin"},
        "engine": {"type": "simplified", "data_source": "imgs"},
        "compression": {"algorithms": [{"name": "DefaultQuantization"}], **compression},
    }


def test_defaults_filled_like_pot() -> None:
    config = prepare_config(_minimal(model_type="None"))
    assert config["model"]["model_name"] == "net"  # the xml stem
    assert config["engine"]["device"] == "CPU"
    params = config["compression"]["algorithms"][0]["params"]
    assert params == {
        "target_device": "ANY",
        "model_type": None,
        "dump_intermediate_model": False,
        "inplace_statistics": True,
    }


@pytest.mark.parametrize(
    ("preset", "device", "expected"),
    [
        ("symmetric", "CPU", "performance"),
        ("asymmetric", "CPU", "mixed"),
        ("accuracy", "ANY", "mixed"),
        ("accuracy", "NPU", "accuracy"),
        ("mixed", "GPU", "mixed"),
    ],
)
def test_preset_aliases(preset: str, device: str, expected: str) -> None:
    config = _minimal(target_device=device)
    config["compression"]["algorithms"][0]["params"] = {"preset": preset}
    params = prepare_config(config)["compression"]["algorithms"][0]["params"]
    assert params["preset"] == expected
    assert params["target_device"] == device


def test_accuracy_aware_accepts_its_and_its_base_algorithm_keys() -> None:
    config = _minimal()
    config["compression"]["algorithms"] = [
        {
            "name": "AccuracyAwareQuantization",
            "params": {
                "maximal_drop": 0.02,
                "base_algorithm": "MinMaxQuantization",
                "preset": "mixed",
            },
        }
    ]
    prepare_config(config)
    config["compression"]["algorithms"][0]["params"]["use_fast_bias"] = False
    with pytest.raises(ConfigError, match="unknown key 'use_fast_bias'"):
        prepare_config(config)


def test_layerwise_tuning_is_refused() -> None:
    config = _minimal()
    config["compression"]["algorithms"][0]["params"] = {"use_layerwise_tuning": True}
    with pytest.raises(ConfigError, match="layer-wise fine-tuning"):
        prepare_config(config)


def test_templates() -> None:
    default = template_config("default", "m.xml", "m.bin", None, None, None, "simplified", "d")
    assert default["model"]["model_name"] == "model_name"
    assert default["compression"]["algorithms"] == [
        {
            "name": "DefaultQuantization",
            "params": {"preset": "performance", "stat_subset_size": 300},
        }
    ]
    aa = template_config("accuracy_aware", "m.xml", "m.bin", "n", "mixed", 0.5, "simplified", "d")
    assert aa["compression"]["algorithms"][0] == {
        "name": "AccuracyAwareQuantization",
        "params": {
            "preset": "mixed",
            "stat_subset_size": 300,
            "maximal_drop": 0.5,
            "tune_hyperparams": False,
        },
    }
    prepare_config(default)
    prepare_config(aa)
