"""The simplified engine's image loader: what POT's OpenCV reader gave the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from PIL import Image

from fastpot.cli.simplified_engine import ImageLoader, SimplifiedEngine, list_images


def _model(shape: list[int], layout: str | None = None, extra: list[int] | None = None):
    image = ops.parameter(shape, ov.Type.f32, name="image")
    if layout:
        image.set_layout(ov.Layout(layout))
    params = [image]
    out = ops.relu(image)
    if extra is not None:
        params.append(ops.parameter(extra, ov.Type.f32, name="info"))
    return ov.Model([ops.result(out)], params, "m")


def _gradient(path: Path, width: int, height: int) -> np.ndarray:
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[..., 0] = np.arange(width, dtype=np.uint8)[None, :] * 3  # red ramps with x
    rgb[..., 1] = 100
    rgb[..., 2] = np.arange(height, dtype=np.uint8)[:, None] * 5  # blue ramps with y
    Image.fromarray(rgb).save(path)
    return rgb


def test_bgr_uint8_chw_without_normalisation(tmp_path: Path) -> None:
    rgb = _gradient(tmp_path / "a.png", 16, 12)
    loader = ImageLoader({"data_source": str(tmp_path)})
    loader.set_model_inputs(_model([1, 3, 12, 16]))
    image, annotation = loader[0]
    assert annotation is None
    assert image.dtype == np.uint8
    assert image.shape == (3, 12, 16)
    np.testing.assert_array_equal(image[0], rgb[..., 2])  # B first, as OpenCV
    np.testing.assert_array_equal(image[2], rgb[..., 0])


def test_nhwc_by_shape_and_ir_layout(tmp_path: Path) -> None:
    rgb = _gradient(tmp_path / "a.png", 16, 12)
    loader = ImageLoader({"data_source": str(tmp_path)})
    loader.set_model_inputs(_model([1, 12, 16, 3]))  # C=3 last: guessed NHWC
    image, _ = loader[0]
    np.testing.assert_array_equal(image, rgb[..., ::-1])
    # [1, 3, 12, 3] looks NCHW by shape; the IR's layout, then the engine's, decide first
    loader.set_model_inputs(_model([1, 3, 12, 3], layout="NHWC"))
    assert loader[0][0].shape == (3, 12, 3)  # H=3, W=12, C=3
    loader.set_model_inputs(_model([1, 3, 12, 3]))
    assert loader[0][0].shape == (3, 12, 3)  # C=3, H=12, W=3
    loader = ImageLoader({"data_source": str(tmp_path), "layout": "NHWC"})
    loader.set_model_inputs(_model([1, 3, 12, 3], layout="NCHW"))
    image = loader[0][0]
    assert image.shape == (3, 12, 3)
    assert image[..., 1].max() == 100  # the channel axis is last: G is constant


def test_resize_crop_and_grayscale(tmp_path: Path) -> None:
    _gradient(tmp_path / "a.png", 40, 20)
    loader = ImageLoader({"data_source": str(tmp_path), "central_fraction": 0.5})
    loader.set_model_inputs(_model([1, 1, 5, 10]))
    image, _ = loader[0]
    assert image.shape == (1, 5, 10)
    with Image.open(tmp_path / "a.png") as opened:
        expected = opened.convert("L").crop((10, 5, 30, 15)).resize((10, 5), Image.BILINEAR)
    np.testing.assert_array_equal(image[0], np.asarray(expected))


def test_directory_sorted_images_only_and_txt_list(tmp_path: Path, make_images) -> None:
    paths = make_images(tmp_path / "d", 3)
    (tmp_path / "d" / "zz_notes.txt").write_text("no")
    assert list_images(tmp_path / "d") == sorted(paths)
    listing = tmp_path / "d" / "list.txt"
    listing.write_text(f"{paths[2].name}\n\n{paths[0]}\n")
    assert list_images(listing) == [paths[2], paths[0]]
    listing.write_text("missing.png\n")
    with pytest.raises(FileNotFoundError, match=r"list.txt:1: .*missing.png does not exist"):
        list_images(listing)
    listing.write_text("zz_notes.txt\n")
    with pytest.raises(ValueError, match="not an image"):
        list_images(listing)
    with pytest.raises(ValueError, match=r"directory of images or a \.txt list"):
        list_images(paths[0])


def test_engine_runs_and_image_info_input(tmp_path: Path, make_images) -> None:
    make_images(tmp_path, 3)
    engine = SimplifiedEngine({"data_source": str(tmp_path)})
    engine.set_model(_model([1, 3, 8, 8], extra=[1, 3]))
    data, _ = engine.data_loader[1]
    assert set(data) == {"image", "info"}
    np.testing.assert_array_equal(data["info"], [8, 8, 1])
    metrics, stats = engine.predict()
    assert metrics is None
    assert stats == {}


def test_models_it_cannot_feed(tmp_path: Path, make_images) -> None:
    make_images(tmp_path, 1)
    loader = ImageLoader({"data_source": str(tmp_path)})
    a = ops.parameter([1, 3, 8, 8], name="a")
    b = ops.parameter([1, 3, 8, 8], name="b")
    two = ov.Model([ops.result(ops.add(a, b))], [a, b], "two")
    with pytest.raises(ValueError, match="one image input"):
        loader.set_model_inputs(two)
    with pytest.raises(ValueError, match="cannot tell the layout"):
        loader.set_model_inputs(_model([1, 8, 8, 8]))
    with pytest.raises(ValueError, match="rank 2 is not an image"):
        loader.set_model_inputs(_model([1, 8]))
    with pytest.raises(ValueError, match="needs 'data_source'"):
        ImageLoader({})
