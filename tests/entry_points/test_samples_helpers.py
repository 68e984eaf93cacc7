"""POT's sample helpers (``openvino.tools.pot.api.samples``) against hand-computed results:
the common argument parser, COCOLoader and the MAP metric, the MTCNN utilities, and the Kaldi
ark loader (with the simplified engine and ArkEngine)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from fastpot.samplers.sampler import BatchSampler
from fastpot.samples._image import resize_bilinear
from fastpot.samples.coco import box_iou


@pytest.fixture
def samples(dropin):
    """The drop-in sample modules (``dropin`` makes openvino.tools.pot importable)."""
    from openvino.tools.pot.api.samples.face_detection import utils
    from openvino.tools.pot.api.samples.object_detection import data_loader, metric
    from openvino.tools.pot.api.samples.speech import data_loader as speech
    from openvino.tools.pot.api.samples.speech import utils as speech_utils
    from openvino.tools.pot.api.samples.utils import argument_parser

    class Modules:
        pass

    m = Modules()
    m.argparser, m.metric, m.coco, m.face, m.speech, m.speech_utils = (
        argument_parser,
        metric,
        data_loader,
        utils,
        speech,
        speech_utils,
    )
    return m


# ---- get_common_argparser -----------------------------------------------------------------


def test_common_argparser_options(samples) -> None:
    parser = samples.argparser.get_common_argparser()
    args = parser.parse_args(["-m", "net.xml", "-d", "data"])
    assert (args.model, args.weights, args.dataset) == ("net.xml", None, "data")
    args = parser.parse_args(["--model", "a.xml", "--weights", "a.bin", "--dataset", "d"])
    assert (args.model, args.weights, args.dataset) == ("a.xml", "a.bin", "d")
    parser.add_argument("--annotation-path", required=True)  # what the detection sample adds
    args = parser.parse_args(["-m", "a.xml", "-d", "d", "--annotation-path", "ann.json"])
    assert args.annotation_path == "ann.json"


@pytest.mark.parametrize(
    "argv",
    [
        ["-d", "data"],  # no model
        ["-m", "net.xml"],  # no dataset
        ["--mod", "net.xml", "-d", "data"],  # abbreviations are refused (allow_abbrev=False)
    ],
)
def test_common_argparser_refuses(samples, argv, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        samples.argparser.get_common_argparser().parse_args(argv)
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


# ---- MAP ----------------------------------------------------------------------------------


def _annotation(boxes, labels, crowd=None) -> dict:
    boxes = np.array(boxes, dtype=float).reshape(-1, 4)
    return {
        "boxes": boxes,
        "labels": np.array(labels),
        "iscrowd": np.array(crowd if crowd is not None else [0] * len(boxes)),
    }


def _output(rows, width: float = 100.0, height: float = 100.0) -> list[np.ndarray]:
    """DetectionOutput ``[1, 1, N, 7]`` from pixel boxes ``(image, label, score, box)``."""
    table = [
        [img, label, score, x0 / width, y0 / height, x1 / width, y1 / height]
        for img, label, score, (x0, y0, x1, y1) in rows
    ]
    table.append([-1, 0, 0, 0, 0, 0, 0])  # DetectionOutput's end marker
    table.append([0, 1, 0.99, 0, 0, 1, 1])  # garbage after the marker is ignored
    return [np.array(table, dtype=np.float32)[None, None]]


A, B = (0, 0, 10, 10), (50, 50, 60, 60)


def test_map_of_a_hand_made_image(samples) -> None:
    # Two ground-truth boxes; detections: a perfect one (0.9), a false positive (0.8), and
    # one on B with IoU 0.64 (0.7): true positive at IoU thresholds 0.50-0.60, false above.
    metric = samples.metric.MAP(91, [1])
    target = [[_annotation([A, B], [1, 1]), (100, 100)]]
    out = _output([(0, 1, 0.9, A), (0, 1, 0.8, (80, 0, 90, 10)), (0, 1, 0.7, (50, 50, 60, 56.4))])
    metric.update(out, target)
    # thresholds <= 0.60: recall 0.5 0.5 1.0, precision 1 1/2 2/3 -> interpolated 1 2/3 2/3:
    #   101-point mean (51 * 1 + 50 * 2/3) / 101; thresholds >= 0.65: recall stops at 0.5:
    #   (51 * 1) / 101.  AP = (3 * (51 + 100/3) + 7 * 51) / 1010 = 610 / 1010.
    expected = 610 / 1010
    assert metric.avg_value["MAP"] == pytest.approx(expected, abs=1e-9)
    assert metric.value["MAP"] == [pytest.approx(expected, abs=1e-9)]
    assert metric.get_attributes() == {"MAP": {"direction": "higher-better", "type": "MAP"}}
    metric.reset()
    assert np.isnan(metric.avg_value["MAP"])


def test_map_counts_a_box_matched_once(samples) -> None:
    # A duplicate of the best detection is a false positive (POT's sample counted it again).
    metric = samples.metric.MAP(91, [1])
    target = [[_annotation([A, B], [1, 1]), (100, 100)]]
    metric.update(_output([(0, 1, 0.9, A), (0, 1, 0.8, A), (0, 1, 0.7, B)]), target)
    # every threshold: TP FP TP -> (51 * 1 + 50 * 2/3) / 101 = 253 / 303
    assert metric.avg_value["MAP"] == pytest.approx(253 / 303, abs=1e-9)


def test_map_ignores_detections_on_crowd_boxes(samples) -> None:
    # The crowd box comes first in the annotation: boxes and flags are re-ordered together.
    metric = samples.metric.MAP(91, [1])
    target = [[_annotation([B, A], [1, 1], crowd=[1, 0]), (100, 100)]]
    metric.update(_output([(0, 1, 0.9, A), (0, 1, 0.8, B)]), target)
    assert metric.avg_value["MAP"] == pytest.approx(1.0, abs=1e-9)  # the 0.8 one is ignored


def test_map_categories_and_dataset_average(samples) -> None:
    metric = samples.metric.MAP(91, [1, 2, 3])
    # image 1: category 1 found, category 2 missed, category 3 absent (not averaged)
    first = [[_annotation([A, B], [1, 2]), (100, 100)]]
    metric.update(_output([(0, 1, 0.9, A)]), first)
    assert metric.value["MAP"] == [pytest.approx(0.5, abs=1e-9)]
    metric.reset()
    metric = samples.metric.MAP(91, [1])
    # image 1: one TP at 0.9; image 2: one FP at 0.95 and its box missed
    metric.update(_output([(0, 1, 0.9, A)]), [[_annotation([A], [1]), (100, 100)]])
    metric.update(_output([(0, 1, 0.95, A)]), [[_annotation([B], [1]), (100, 100)]])
    # per image: 1 and 0; over the data set: FP then TP -> recall 0 0.5, precision 0 0.5
    # -> interpolated 0.5 0.5 for recall <= 0.5: 51 * 0.5 / 101
    assert metric.avg_value["MAP"] == pytest.approx(25.5 / 101, abs=1e-9)
    assert metric.average_precisions_per_image == [
        pytest.approx(1.0, abs=1e-9),
        pytest.approx(0.0, abs=1e-9),
    ]


def test_map_scales_boxes_and_handles_batches(samples) -> None:
    MAP = samples.metric.MAP
    rows = np.array([[[[0, 1, 0.5, 0.1, 0.2, 0.3, 0.4], [-1, 0, 0, 0, 0, 0, 0]]]], np.float32)
    prediction = MAP.prepare_prediction([rows], (200, 100))  # (height, width)
    np.testing.assert_allclose(prediction["boxes"], [[10, 40, 30, 80]], rtol=1e-6)
    np.testing.assert_array_equal(prediction["labels"], [1])
    # a batch of two images: rows are split by image id; one value per image
    metric = MAP(91, [1])
    out = _output([(0, 1, 0.9, A), (1, 1, 0.9, (80, 80, 90, 90))])
    target = [[_annotation([A], [1]), (100, 100)], [_annotation([B], [1]), (100, 100)]]
    metric.update(out, target)
    assert metric.value["MAP"] == [pytest.approx(1.0, abs=1e-9), pytest.approx(0.0, abs=1e-9)]


def test_box_iou() -> None:
    iou = box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(iou, [[50 / 150, 0.0, 1.0]])


# ---- COCOLoader ---------------------------------------------------------------------------


def _coco(tmp_path: Path) -> tuple[Path, Path]:
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (40, 30), (255, 0, 0)).save(images / "red.png")
    Image.new("RGB", (20, 20), (0, 0, 255)).save(images / "blue.png")
    annotation = {
        "categories": [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}],
        "images": [
            {"id": 7, "file_name": "red.png", "height": 30, "width": 40},
            {"id": 8, "file_name": "missing.png", "height": 5, "width": 5},
            {"id": 9, "file_name": "blue.png", "height": 20, "width": 20},
        ],
        "annotations": [
            {"image_id": 7, "bbox": [1, 2, 10, 5], "category_id": 1, "iscrowd": 0},
            {"image_id": 7, "bbox": [20, 10, 4, 4], "category_id": 3, "iscrowd": 1},
            {"image_id": 8, "bbox": [0, 0, 1, 1], "category_id": 1, "iscrowd": 0},
        ],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(annotation))
    return images, path


def test_coco_loader_items(samples, tmp_path: Path) -> None:
    images, annotation = _coco(tmp_path)
    loader = samples.coco.COCOLoader(
        {"images_path": str(images), "annotation_path": str(annotation)}
    )
    assert loader.labels == [1, 3]
    assert len(loader) == 2  # missing.png is not in the folder
    image, (target, shape) = loader[0]
    assert image.shape == (640, 640, 3)
    assert image.dtype == np.uint8
    assert (image == [0, 0, 255]).all()  # red in BGR order
    assert shape == (30, 40)
    np.testing.assert_array_equal(target["boxes"], [[1, 2, 11, 7], [20, 10, 24, 14]])
    np.testing.assert_array_equal(target["labels"], [1, 3])
    np.testing.assert_array_equal(target["iscrowd"], [0, 1])
    np.testing.assert_array_equal(target["x_maxs"], [11, 24])
    np.testing.assert_array_equal(target["y_mins"], [2, 10])
    image, (target, shape) = loader[1]
    assert (image == [255, 0, 0]).all()  # blue
    assert shape == (20, 20)
    assert target["boxes"].shape == (0, 4)
    with pytest.raises(IndexError):
        loader[2]


def test_coco_loader_feeds_map(samples, tmp_path: Path) -> None:
    images, annotation = _coco(tmp_path)
    loader = samples.coco.COCOLoader(
        {"images_path": str(images), "annotation_path": str(annotation)}
    )
    metric = samples.metric.MAP(91, loader.labels)
    _, target = loader[0]
    # a perfect detection of the cat; the crowd-box dog is ignored, so AP(cat) = 1, dog: nan
    metric.update(_output([(0, 1, 0.9, (1, 2, 11, 7))], width=40, height=30), [target])
    assert metric.avg_value["MAP"] == pytest.approx(1.0, abs=1e-6)


def test_coco_loader_refuses(samples, tmp_path: Path) -> None:
    images, annotation = _coco(tmp_path)
    with pytest.raises(FileNotFoundError, match="none of the 3 images"):
        samples.coco.COCOLoader({"images_path": str(tmp_path), "annotation_path": str(annotation)})
    with pytest.raises(ValueError, match="annotation_path"):
        samples.coco.COCOLoader({"images_path": str(images)})


def test_bilinear_resize_is_opencvs() -> None:
    # 2x2 -> 4x4 with aligned pixel centres: source positions -0.25 0.25 0.75 1.25, clamped
    image = np.array([[0.0, 10.0], [20.0, 30.0]])
    expected = [
        [0, 2.5, 7.5, 10],
        [5, 7.5, 12.5, 15],
        [15, 17.5, 22.5, 25],
        [20, 22.5, 27.5, 30],
    ]
    np.testing.assert_allclose(resize_bilinear(image, 4, 4), expected)
    as_uint8 = resize_bilinear(image.astype(np.uint8), 4, 4)
    assert as_uint8.dtype == np.uint8
    np.testing.assert_array_equal(as_uint8[0], [0, 2, 8, 10])  # rint: halves to even
    np.testing.assert_allclose(resize_bilinear(image, 1, 1), [[15.0]])  # the centre


# ---- MTCNN utilities ----------------------------------------------------------------------


def test_generate_bounding_box(samples) -> None:
    utils = samples.face
    mapping = np.zeros((3, 4))
    mapping[1, 2] = 0.9
    mapping[2, 0] = 0.8
    mapping[0, 3] = 0.5  # below the threshold
    reg = np.arange(48, dtype=float).reshape(4, 3, 4) / 100
    boxes = utils.generate_bounding_box(mapping, reg, 0.75, 0.6)
    # column-major: (2, 0) first, then (1, 2); corners fix((2a+1)/s), fix((2a+12)/s)
    expected = [
        [6, 1, 21, 16, 0.8, 0.08, 0.20, 0.32, 0.44],  # a=2, b=0: 5/.75, 1/.75, 16/.75, 12/.75
        [4, 6, 18, 21, 0.9, 0.06, 0.18, 0.30, 0.42],  # a=1, b=2: 3/.75, 5/.75, 14/.75, 16/.75
    ]
    np.testing.assert_allclose(boxes, expected)
    assert utils.generate_bounding_box(mapping, reg, 1.0, 0.95).shape == (0, 9)


BOXES = np.array(
    [
        [0, 0, 9, 9, 0.9],  # A: 100 px
        [1, 1, 10, 10, 0.8],  # B: IoU(A, B) = 81 / 119
        [20, 20, 29, 29, 0.7],  # C: alone
        [0, 0, 4, 4, 0.95],  # D: 25 px inside A: IoU 0.25, over the smaller area 1.0
    ]
)


def test_nms_union_and_min(samples) -> None:
    utils = samples.face
    assert list(utils.nms(BOXES, 0.5)) == [3, 0, 2]  # B goes with A (0.68 > 0.5)
    assert list(utils.nms(BOXES, 0.5, "min")) == [3, 2]  # A and B overlap D by 1.0 and 0.64
    assert list(utils.nms(BOXES, 0.69)) == [3, 0, 1, 2]  # IoU(A, B) = 81/119 = 0.6807
    assert list(utils.nms(BOXES, 0.68)) == [3, 0, 2]
    assert np.size(utils.nms(np.zeros((0, 5)), 0.5)) == 0


def test_square_and_regression(samples) -> None:
    utils = samples.face
    box = np.array([[0.0, 0.0, 10.0, 4.0, 1.0]])
    np.testing.assert_allclose(utils.reshape_to_square(box.copy())[0, :4], [0, -3, 10, 7])
    reg = np.array([[0.1, 0.25, -0.1, 0.5]])
    regressed = utils.bbreg(np.array([[10.0, 20.0, 29.0, 59.0]]), reg)  # w 20, h 40
    np.testing.assert_allclose(regressed, [[12, 30, 27, 79]])
    regressed = utils.bbreg(np.array([[10.0, 20.0, 29.0, 59.0]]), reg, include_bound=False)
    np.testing.assert_allclose(regressed, [[11.9, 29.75, 27.1, 78.5]])


def test_pad(samples) -> None:
    utils = samples.face
    boxes = np.array([[11.0, 21, 20, 30], [-4, -1, 5, 8], [31, 41, 45, 55]])
    before = boxes.copy()
    dy, edy, dx, edx, y, ey, x, ex, w, h = utils.pad(boxes, 50, 40)
    np.testing.assert_array_equal(boxes, before)  # input untouched
    # inside: crop 0..9 <- image 20..29 / 10..19
    # top-left outside: crop rows 2..9 <- image rows 0..7, crop cols 5..9 <- image cols 0..4
    # bottom-right outside: crop 0..8 <- image rows 40..48, cols 30..38 (POT's arithmetic)
    np.testing.assert_array_equal(dy, [0, 2, 0])
    np.testing.assert_array_equal(edy, [9, 9, 8])
    np.testing.assert_array_equal(dx, [0, 5, 0])
    np.testing.assert_array_equal(edx, [9, 9, 8])
    np.testing.assert_array_equal(y, [20, 0, 40])
    np.testing.assert_array_equal(ey, [29, 7, 48])
    np.testing.assert_array_equal(x, [10, 0, 30])
    np.testing.assert_array_equal(ex, [19, 4, 38])
    np.testing.assert_array_equal(w, [10, 10, 9])
    np.testing.assert_array_equal(h, [10, 10, 9])


def test_cut_roi(samples) -> None:
    utils = samples.face
    image = np.arange(10 * 10 * 3, dtype=float).reshape(10, 10, 3)
    boxes = np.array([[2.0, 2.0, 5.0, 5.0, 0.9]])
    crops = utils.cut_roi(image, boxes, 5)  # a 4x4 box plus the bound: 5x5, zero last row/col
    assert crops.shape == (1, 5, 5, 3)
    np.testing.assert_array_equal(crops[0, :4, :4], image[1:5, 1:5])
    assert not crops[0, 4].any()
    assert not crops[0, :, 4].any()
    crops = utils.cut_roi(image, boxes, 4, include_bound=False)
    np.testing.assert_array_equal(crops[0], image[1:5, 1:5])
    np.testing.assert_array_equal(boxes, [[2.0, 2.0, 5.0, 5.0, 0.9]])  # input untouched
    resized = utils.cut_roi(image, boxes, 8, include_bound=False)[0]
    np.testing.assert_allclose(resized, resize_bilinear(image[1:5, 1:5], 8, 8))


def test_calibrate_bboxes(samples) -> None:
    utils = samples.face
    boxes = np.array([[0.0, 0, 9, 9, 0.1], [50, 50, 59, 59, 0.1], [1, 1, 10, 10, 0.1]])
    scores = np.array([0.9, 0.5, 0.8])
    regions = np.array([[0.1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, -0.1]])
    kept = utils.calibrate_bboxes(boxes, scores, regions)
    # rows 0 and 2 pass 0.7 and get the new scores; regression with w = h = 10
    np.testing.assert_allclose(kept, [[1, 0, 9, 9, 0.9], [1, 1, 10, 9, 0.8]])
    assert boxes[0, 4] == 0.1  # input untouched
    kept = utils.calibrate_bboxes(boxes, scores, regions, nms_type="min")  # overlap 81/100
    np.testing.assert_allclose(kept, [[1, 0, 9, 9, 0.9]])
    assert utils.calibrate_bboxes(boxes, np.zeros(3), regions, nms_type="union").shape == (0, 5)


def test_build_image_pyramid(samples) -> None:
    utils = samples.face
    image = np.random.default_rng(0).integers(0, 255, (30, 40, 3)).astype(np.uint8)
    levels, scales = utils.build_image_pyramid(image, 0.5, 1.0)
    assert scales == [1.0, 0.5]  # min side 30, 15, then 7.5 < 12 stops
    assert [lv.shape for lv in levels] == [(1, 3, 40, 30), (1, 3, 20, 15)]
    np.testing.assert_array_equal(levels[0][0], image.transpose(2, 1, 0))
    np.testing.assert_allclose(
        levels[1][0], resize_bilinear(image.astype(float), 20, 15).transpose(2, 1, 0)
    )
    levels, _ = utils.build_image_pyramid(image, 0.7, 0.6, layout="NHWC")
    # min side 18, 12.6 (>= 12), 8.8: two levels, ceil(30*0.6)=18 x 24 and ceil(12.6)=13 x 17
    assert [lv.shape for lv in levels] == [(18, 24, 3), (13, 17, 3)]


def test_calculate_iou_inclusive_pixels(samples) -> None:
    utils = samples.face
    prediction = np.array([0.0, 0, 9, 9])
    annotation = np.array([[5.0, 0, 14, 9], [20, 20, 29, 29]])
    np.testing.assert_allclose(utils.calculate_iou(prediction, annotation), [50 / 150, 0.0])
    np.testing.assert_allclose(
        utils.calculate_iou(prediction, annotation, over_area=True), [0.5, 0.0]
    )


def test_calculate_tp(samples) -> None:
    utils = samples.face
    annotation = {
        "bboxes": [[0, 0, 9, 9], [50, 50, 59, 59], [100, 100, 104, 104]],
        "difficult": [2],
    }
    prediction = np.array(
        [
            [0, 0, 9, 9, 0.9],  # exact on face 0, but the 0.95 one took it
            [1, 1, 10, 10, 0.95],  # IoU 81/119 with face 0: true positive
            [100, 100, 104, 104, 0.5],  # on the difficult face: ignored
            [200, 200, 210, 210, 0.3],  # nothing
        ]
    )
    tp, faces = utils.calculate_tp(prediction, annotation)
    np.testing.assert_array_equal(tp, [1, 0, 0, 0])  # in descending-score order
    assert faces == 2
    tp, faces = utils.calculate_tp(prediction, {"bboxes": [], "difficult": []})
    np.testing.assert_array_equal(tp, [0, 0, 0, 0])
    assert faces == 0


# ---- Kaldi ark ----------------------------------------------------------------------------


def _ark_entry(key: str, matrix: np.ndarray) -> bytes:
    token = b"FM " if matrix.dtype == np.float32 else b"DM "
    rows, cols = matrix.shape
    header = key.encode() + b" \x00B" + token
    header += b"\x04" + struct.pack("<i", rows) + b"\x04" + struct.pack("<i", cols)
    return header + matrix.astype(matrix.dtype.newbyteorder("<")).tobytes()


UTT1 = np.arange(6, dtype=np.float32).reshape(2, 3)
UTT2 = np.array([[10, 11, 12]], dtype=np.float32)
UTT3 = np.array([[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]], dtype=np.float64)
UTT4 = np.full((3, 2), 7, dtype=np.float32)


@pytest.fixture
def ark_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "arks"
    folder.mkdir()
    (folder / "a.ark").write_bytes(_ark_entry("utt1", UTT1) + _ark_entry("utt2", UTT2))
    (folder / "b.ark").write_bytes(_ark_entry("utt3", UTT3))
    (folder / "notes.txt").write_text("not an archive")
    return folder


def test_read_ark(ark_dir: Path) -> None:
    from fastpot.samples.kaldi_ark import read_ark

    matrices = read_ark(ark_dir / "a.ark")
    assert list(matrices) == ["utt1", "utt2"]
    np.testing.assert_array_equal(matrices["utt1"], UTT1)
    np.testing.assert_array_equal(matrices["utt2"], UTT2)
    matrices = read_ark(ark_dir / "b.ark")
    assert matrices["utt3"].dtype == np.float64
    np.testing.assert_array_equal(matrices["utt3"], UTT3)


def test_ark_loader_frames_across_files(samples, ark_dir: Path) -> None:
    loader = samples.speech.ArkDataLoader({"data_source": str(ark_dir), "input_names": ["x"]})
    assert len(loader) == 5  # a.ark: 2 + 1 frames, then b.ark: 2 frames
    frames = [loader[i]["x"] for i in range(5)]
    np.testing.assert_array_equal(frames[0], UTT1[0])
    np.testing.assert_array_equal(frames[2], UTT2[0])  # the next utterance of the same file
    np.testing.assert_array_equal(frames[3], UTT3[0])  # the second file
    np.testing.assert_array_equal(frames[4], UTT3[1])
    assert frames[0].dtype == np.float32
    assert frames[4].dtype == np.float64
    with pytest.raises(IndexError):
        loader[5]
    shaped = samples.speech.ArkDataLoader(
        {"data_source": str(ark_dir) + "/", "input_names": ["x"], "input_shapes": [[1, 3]]}
    )
    assert shaped[1]["x"].shape == (1, 3)
    np.testing.assert_array_equal(shaped[1]["x"], UTT1[1:2])
    single = samples.speech.ArkDataLoader(
        {"data_source": str(ark_dir / "b.ark"), "input_names": ["x"]}
    )
    assert len(single) == 2


def test_ark_loader_input_files(samples, ark_dir: Path) -> None:
    (ark_dir / "c.ark").write_bytes(_ark_entry("u", UTT4))
    config = {"data_source": str(ark_dir), "input_names": ["x", "y"], "input_files": ["a", "c"]}
    loader = samples.speech.ArkDataLoader(config)
    assert len(loader) == 3
    item = loader[1]
    assert set(item) == {"x", "y"}
    np.testing.assert_array_equal(item["x"], UTT1[1])
    np.testing.assert_array_equal(item["y"], UTT4[1])
    with pytest.raises(ValueError, match="'y' has 2 frames"):
        samples.speech.ArkDataLoader({**config, "input_files": ["a", "b"]})


def test_ark_loader_refuses(samples, ark_dir: Path, tmp_path: Path) -> None:
    ArkDataLoader = samples.speech.ArkDataLoader
    with pytest.raises(FileNotFoundError, match=r"no \.ark files"):
        ArkDataLoader({"data_source": str(tmp_path / "nothing"), "input_names": ["x"]})
    (ark_dir / "a.ark").write_bytes(b"utt1  [\n 1 2 3 ]\n")  # text mode
    with pytest.raises(ValueError, match="text-mode"):
        ArkDataLoader({"data_source": str(ark_dir), "input_names": ["x"]})
    (ark_dir / "a.ark").write_bytes(b"utt1 \x00BCM " + bytes(20))
    with pytest.raises(ValueError, match="'CM' object"):
        ArkDataLoader({"data_source": str(ark_dir), "input_names": ["x"]})
    (ark_dir / "a.ark").write_bytes(_ark_entry("utt1", UTT1)[:-4])
    with pytest.raises(ValueError, match="truncated"):
        ArkDataLoader({"data_source": str(ark_dir), "input_names": ["x"]})
    with pytest.raises(ValueError, match="input_names"):
        ArkDataLoader({"data_source": str(ark_dir)})


def _speech_model() -> ov.Model:
    x = ops.parameter([1, 3], np.float32, name="x")
    y = ops.parameter([1, 3], np.float32, name="y")
    out = ops.add(x, y, name="out")
    return ov.Model([ops.result(out)], [x, y], "speech")


def test_ark_frames_through_the_simplified_engine_and_ark_engine(samples, ark_dir: Path) -> None:
    from openvino.tools.pot.engines.simplified_engine import SimplifiedEngine

    (ark_dir / "b.ark").unlink()
    (ark_dir / "c.ark").write_bytes(_ark_entry("u", UTT4[:, :1].repeat(3, axis=1)))
    config = {"data_source": str(ark_dir), "input_names": ["x", "y"], "input_files": ["a", "c"]}
    loader = samples.speech.ArkDataLoader(config)
    expected = np.concatenate([UTT1, UTT2]) + 7  # x + y frame by frame
    collect = {"out": {"v": lambda t: t.copy()}}
    for engine in (
        SimplifiedEngine({"device": "CPU"}, loader),  # bare dict items, as POT's engine took
        samples.speech_utils.ArkEngine({"device": "CPU"}, loader),
    ):
        engine.set_model(_speech_model())
        _, stats = engine.predict(collect, BatchSampler(engine.data_loader))
        np.testing.assert_array_equal(np.concatenate(stats["out"]["v"]), expected)
    with pytest.raises(ValueError, match="input_names is not provided"):
        samples.speech_utils.ArkEngine({"device": "CPU"}, _NoInputNames())


class _NoInputNames:
    def __init__(self) -> None:
        self.config = {"data_source": "x"}

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int):
        return {}
