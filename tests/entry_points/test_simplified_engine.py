"""The simplified engine's image loader: what POT's OpenCV reader gave the model."""

from __future__ import annotations

import logging
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


def test_folder_listing_logs_found_used_and_skipped(
    tmp_path: Path, make_images, caplog: pytest.LogCaptureFixture
) -> None:
    good = make_images(tmp_path, 3)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated garbage")
    (tmp_path / "sub").mkdir()  # folders are not files: neither counted nor skipped
    with caplog.at_level(logging.INFO, logger="fastpot"):
        assert list_images(tmp_path) == good
    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert lines[0] == (
        logging.INFO,
        (
            f"data_source {tmp_path}: 5 files found, 3 images usable, 2 skipped "
            "(1 unreadable images, 1 not images)"
        ),
    )
    assert lines[1][0] == logging.WARNING
    assert lines[1][1].startswith(
        f"data_source: skipping {tmp_path / 'broken.jpg'}: not a readable"
    )
    assert lines[2] == (
        logging.INFO,
        f"data_source: skipping {tmp_path / 'notes.txt'}: not an image file",
    )
    assert len(lines) == 3


def test_skipped_file_lines_are_capped(
    tmp_path: Path, make_images, caplog: pytest.LogCaptureFixture
) -> None:
    make_images(tmp_path, 1)
    for i in range(25):
        (tmp_path / f"label_{i:02d}.txt").write_text("x")
    with caplog.at_level(logging.INFO, logger="fastpot"):
        list_images(tmp_path)
    messages = [r.getMessage() for r in caplog.records]
    assert "26 files found, 1 images usable, 25 skipped" in messages[0]
    assert sum("skipping" in m for m in messages) == 20
    assert messages[-1] == "data_source: ... and 5 more skipped files"


def test_no_usable_image_names_the_folder(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match=r"holds no readable images \(1 files, none of them an"):
        list_images(tmp_path)
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "depth.tif")  # mode F
    with pytest.raises(ValueError, match=r"depth\.tif: pixel mode F is not an 8- or 16-bit"):
        list_images(tmp_path)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    rgb = np.zeros((12, 16, 3), dtype=np.uint8)
    rgb[:6, :8] = (250, 0, 0)  # a red top-left quadrant marks the orientation
    rgb[6:, 8:] = (0, 0, 250)
    plain = Image.fromarray(rgb)
    exif = plain.getexif()
    exif[0x0112] = 6  # Orientation 6: the camera was turned; show it rotated 90° clockwise
    plain.save(tmp_path / "photo.jpg", exif=exif.tobytes(), quality=95)
    with Image.open(tmp_path / "photo.jpg") as stored:
        assert stored.getexif()[0x0112] == 6
        decoded = np.asarray(stored.convert("RGB"))  # the stored, unrotated pixels
    upright = np.rot90(decoded, k=-1)  # 90° clockwise: 16 rows, 12 columns
    loader = ImageLoader({"data_source": str(tmp_path)})
    loader.set_model_inputs(_model([1, 3, 16, 12]))  # the upright size: no resize
    image, _ = loader[0]
    np.testing.assert_array_equal(image, upright[..., ::-1].transpose(2, 0, 1))
    assert image[2, 0, -1] > 200  # red (last in BGR) is now top-right


def test_sixteen_bit_pixels_lose_their_low_byte(tmp_path: Path) -> None:
    depth = (np.arange(48, dtype=np.uint16).reshape(6, 8) * 1300).astype(np.uint16)
    Image.fromarray(depth).save(tmp_path / "d.png")  # a 16-bit grayscale PNG
    loader = ImageLoader({"data_source": str(tmp_path)})
    loader.set_model_inputs(_model([1, 1, 6, 8]))
    np.testing.assert_array_equal(loader[0][0][0], (depth >> 8).astype(np.uint8))


def test_refusals_name_the_model_file_and_inputs(tmp_path: Path, make_images, zoo: Path) -> None:
    make_images(tmp_path, 1)
    engine = SimplifiedEngine({"data_source": str(tmp_path)})
    two = ov.Core().read_model(zoo / "two_input.xml")
    with pytest.raises(ValueError, match="one image input") as info:
        engine.check_model(two, str(zoo / "two_input.xml"))
    assert str(info.value).startswith(f"{zoo / 'two_input.xml'}: ")
    assert "the model has inputs image [1,3,16,16], meta [1,8]" in str(info.value)
    # an NCHW input of 8 channels takes no image
    with pytest.raises(ValueError, match=r"m\.xml: model input 'image' \[1,8,8,8\] in layout NCHW"):
        engine.check_model(_model([1, 8, 8, 8], layout="NCHW"), "m.xml")
    with pytest.raises(ValueError, match="has 8 channels; the simplified engine feeds 1"):
        engine.check_model(_model([1, 8, 8, 8], layout="NCHW"), "m.xml")
    with pytest.raises(ValueError, match=r"rank 5 is not an image input"):
        engine.check_model(_model([1, 3, 2, 8, 8]), "m.xml")
    # the error keeps naming the file when the pipeline sets the model later
    with pytest.raises(ValueError, match=r"^m\.xml: "):
        engine.set_model(_model([1, 5, 8, 8]))
    # a configured 4-letter layout fits a rank-3 input (one image per item)
    loader = ImageLoader({"data_source": str(tmp_path), "layout": "NHWC"})
    loader.set_model_inputs(_model([8, 8, 3]))
    assert loader[0][0].shape == (8, 8, 3)
