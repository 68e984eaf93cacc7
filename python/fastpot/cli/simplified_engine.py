"""POT's simplified engine: calibration images from a folder or a list, no metric.

:class:`ImageLoader` reads every image of a directory (sorted by path) or of a ``.txt``
list (one path per line, relative to the list's folder; every listed file must be an
image). For a directory one INFO line counts the files found, the images used and the files
skipped, followed by one line per skipped file with the reason (at most 20): a file with an
image extension that cannot be used (corrupt, truncated, float pixels) is a warning, any
other file an INFO line. No usable image is an error naming the folder. An image that passes
the listing but cannot be decoded is an error naming its file. How many of the images a
statistics pass uses (the algorithm's ``stat_subset_size``) is logged when it starts.

Each image becomes what POT's OpenCV reader gave the model: upright by its EXIF orientation,
8-bit **BGR** channel order (grayscale when the model input has one channel; 16-bit pixels
lose their low byte), an optional centre crop by ``central_fraction``, a bilinear resize to
the model input's H x W when that is static, a CHW transpose for NCHW inputs, and **no**
normalisation or mean/scale. The model must have one image input of rank 4 (NCHW or NHWC)
or 3 (CHW or HWC) with 1 or 3 channels, plus optionally a ``[1, 3]`` image-info input;
:meth:`SimplifiedEngine.check_model` refuses other models before any inference.

Difference from POT: images are decoded and resized by Pillow, not OpenCV; Pillow's bilinear
filter widens its support when shrinking (it anti-aliases), so downscaled pixels can differ
slightly from ``cv2.resize(..., INTER_LINEAR)``. Same-size images are identical.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from fastpot.api.data_loader import DataLoader
from fastpot.api.engine import _check_data_loader
from fastpot.engines.ie_engine import IEEngine
from fastpot.graph.model import CompressedModel
from fastpot.utils.logger import progress_bar_enabled

__all__ = ["ImageLoader", "SimplifiedEngine", "list_images"]

logger = logging.getLogger("fastpot.cli.simplified_engine")


# Extensions of files that are meant to be images: one that Pillow cannot read is reported.
_IMAGE_SUFFIXES = frozenset(
    {".bmp", ".dib", ".gif", ".jpeg", ".jpg", ".jpe", ".png", ".ppm", ".pgm", ".pbm", ".pnm"}
    | {".tif", ".tiff", ".webp", ".jp2", ".j2k", ".ico", ".tga", ".sr", ".ras", ".pxm"}
)

# Pillow modes read as 8-bit pixels; 16-bit integer modes are scaled down by 256 when read
# (as OpenCV's 8-bit reader did); other modes (float, LAB, ...) are skipped.
_EIGHT_BIT_MODES = frozenset(
    {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "HSV"}
)
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})

# Per-file lines about skipped files stop after this many ("... and N more").
_MAX_SKIPPED_LINES = 20


def _image_problem(path: Path) -> str | None:
    """Why `path` is not an image the loader can use (None: it is)."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        with Image.open(path) as image:
            mode = image.mode
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if mode not in _EIGHT_BIT_MODES and mode not in _SIXTEEN_BIT_MODES:
        return f"pixel mode {mode} is not an 8- or 16-bit image"
    return None


def _is_image(path: Path) -> bool:
    return _image_problem(path) is None


def _list_directory(source: Path) -> list[Path]:
    """Return the usable images of a directory; what was found and skipped is logged.

    One INFO line counts the files found, the images kept and the files skipped; then one
    line per skipped file (at most ``_MAX_SKIPPED_LINES``) gives the reason. A file with an
    image extension that cannot be used (corrupt, truncated, mislabelled, unsupported pixel
    mode) is a warning; other files (notes, lists, hidden files) are INFO lines.
    """
    files: list[Path] = []
    broken: list[tuple[Path, str]] = []
    others: list[Path] = []
    for path in sorted(source.iterdir()):
        if not path.is_file():
            continue
        problem = _image_problem(path)
        if problem is None:
            files.append(path)
        elif path.suffix.lower() in _IMAGE_SUFFIXES:
            broken.append((path, problem))
        else:
            others.append(path)
    found = len(files) + len(broken) + len(others)
    logger.info(
        "data_source %s: %d files found, %d images usable, %d skipped "
        "(%d unreadable images, %d not images)",
        source,
        found,
        len(files),
        len(broken) + len(others),
        len(broken),
        len(others),
    )
    for path, problem in broken[:_MAX_SKIPPED_LINES]:
        logger.warning("data_source: skipping %s: not a readable image (%s)", path, problem)
    for path in others[: max(_MAX_SKIPPED_LINES - len(broken), 0)]:
        logger.info("data_source: skipping %s: not an image file", path)
    hidden = len(broken) + len(others) - _MAX_SKIPPED_LINES
    if hidden > 0:
        logger.info("data_source: ... and %d more skipped files", hidden)
    if not files:
        raise ValueError(
            f"{source}: data_source directory holds no readable images"
            + (
                f" ({len(broken)} unreadable image files, e.g. {broken[0][0].name}: {broken[0][1]})"
                if broken
                else f" ({found} files, none of them an image)"
            )
        )
    return files


def list_images(data_source: str | Path) -> list[Path]:
    """List the image files of a directory (sorted) or of a ``.txt`` list (in its order).

    Raises
    ------
    FileNotFoundError
        The source, or a listed file, does not exist.
    ValueError
        No images, a listed file is not an image, or another kind of file was given.
    """
    source = Path(data_source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: data_source does not exist")
    if source.is_dir():
        return _list_directory(source)
    if source.suffix.lower() != ".txt":
        raise ValueError(
            f"{source}: data_source must be a directory of images or a .txt list of image paths"
        )
    files = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        entry = line.strip()
        if not entry:
            continue
        path = Path(entry)
        if not path.is_absolute():
            path = source.parent / path
        if not path.is_file():
            raise FileNotFoundError(f"{source}:{number}: {path} does not exist")
        problem = _image_problem(path)
        if problem is not None:
            raise ValueError(
                f"{source}:{number}: {path} is not an image Pillow can read ({problem})"
            )
        files.append(path)
    if not files:
        raise ValueError(f"{source}: the list names no images")
    logger.info("data_source %s: %d images listed", source, len(files))
    return files


class _InputSpec:
    """Where the image goes: layout, channels, static H x W (if any)."""

    def __init__(self, shape: ov.PartialShape, layout: str) -> None:
        self.layout = layout
        rank = shape.rank.get_length()
        dims = [d.get_length() if d.is_static else None for d in shape]
        if layout in ("NCHW", "CHW"):
            c_axis, h_axis, w_axis = rank - 3, rank - 2, rank - 1
        else:  # NHWC, HWC
            h_axis, w_axis, c_axis = rank - 3, rank - 2, rank - 1
        self.given_channels = dims[c_axis]
        self.channels = dims[c_axis] or 3
        self.height, self.width = dims[h_axis], dims[w_axis]


_LAYOUTS = ("NCHW", "NHWC", "CHW", "HWC")


def _inputs_text(model: ov.Model) -> str:
    """``name [1,3,224,224], info [1,3]``: every model input with its shape."""
    return ", ".join(
        f"{p.get_friendly_name()} {p.get_partial_shape()}" for p in model.get_parameters()
    )


def _guess_layout(parameter: Any, configured: str | None) -> str:
    """Return the layout of a rank-3 or rank-4 image input: configured, from the IR or by shape."""
    shape = parameter.get_partial_shape()
    rank = shape.rank.get_length()
    if configured:
        layout = str(configured).upper()
        if layout not in _LAYOUTS:
            raise ValueError(f"engine.layout: {configured!r} is not NCHW, NHWC, CHW or HWC")
        # one image per item: the batch letter follows the input's rank
        return layout[1:] if rank == 3 and len(layout) == 4 else layout.rjust(rank, "N")
    ir_layout = parameter.get_layout()
    if not ir_layout.empty:
        text = str(ir_layout.to_string()).strip("[]").replace(",", "").upper()
        if text in _LAYOUTS and len(text) == rank:
            return text
    dims = [d.get_length() if d.is_static else None for d in shape]
    first = dims[rank - 3]
    last = dims[rank - 1]
    if first in (1, 3):
        return "NCHW" if rank == 4 else "CHW"
    if last in (1, 3):
        return "NHWC" if rank == 4 else "HWC"
    raise ValueError(
        f"model input {parameter.get_friendly_name()!r}: cannot tell the layout of {dims} "
        '(no axis of 1 or 3 image channels); set engine "layout" (NCHW or NHWC)'
    )


class ImageLoader(DataLoader):
    """Calibration images as items ``(image, None)``; see the module notes.

    Parameters
    ----------
    config : dict
        ``data_source`` (required), optional ``central_fraction`` in (0, 1] and ``layout``.
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        if not self.config.get("data_source"):
            raise ValueError("engine: the simplified engine needs 'data_source'")
        fraction = self.config.get("central_fraction")
        if fraction is not None and not 0 < float(fraction) <= 1:
            raise ValueError(f"engine.central_fraction: {fraction!r} must be in (0, 1]")
        self.central_fraction = None if fraction is None else float(fraction)
        self.files = list_images(self.config.data_source)
        self._spec: _InputSpec | None = None
        self._image_info: str | None = None
        self._input_name: str | None = None

    def __len__(self) -> int:
        return len(self.files)

    def set_model_inputs(self, model: ov.Model, source: str | None = None) -> None:
        """Read the image input's layout and size (and any ``[1, 3]`` image-info input).

        Parameters
        ----------
        model : openvino.Model
            The model the images are for.
        source : str, optional
            Where the model came from (its ``.xml``), to name it in errors.

        Raises
        ------
        ValueError
            A model the loader cannot feed: not exactly one image input (plus an optional
            ``[1, 3]`` image-info input), an input that is not rank 3 or 4, a layout it
            cannot tell, or a channel count other than 1 or 3. The message names `source`
            and every model input with its shape.
        """
        where = source or f"model {model.get_friendly_name()!r}"
        images, info = [], []
        for parameter in model.get_parameters():
            shape = parameter.get_partial_shape()
            if shape.is_static and list(shape.to_shape()) == [1, 3]:
                info.append(parameter)
            else:
                images.append(parameter)
        if len(images) != 1 or len(info) > 1:
            raise ValueError(
                f"{where}: the simplified engine feeds one image input (plus an optional "
                f"[1, 3] image-info input); the model has inputs {_inputs_text(model)}; "
                "quantize it with the Python API (IEEngine and a DataLoader that returns "
                "every input)"
            )
        parameter = images[0]
        shape = parameter.get_partial_shape()
        rank = shape.rank.get_length() if shape.rank.is_static else None
        if rank not in (3, 4):
            raise ValueError(
                f"{where}: model input {parameter.get_friendly_name()!r} {shape}: rank {rank} is "
                "not an image input (expected [N,C,H,W] or [N,H,W,C]); model inputs: "
                f"{_inputs_text(model)}"
            )
        try:
            layout = _guess_layout(parameter, self.config.get("layout"))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        spec = _InputSpec(shape, layout)
        if spec.given_channels not in (None, 1, 3):
            raise ValueError(
                f"{where}: model input {parameter.get_friendly_name()!r} {shape} in layout "
                f"{layout} has {spec.given_channels} channels; the simplified engine feeds "
                "1 (grayscale) or 3 (BGR) image channels"
            )
        self._spec = spec
        self._input_name = parameter.get_friendly_name()
        self._image_info = info[0].get_friendly_name() if info else None

    def read(self, index: int) -> np.ndarray:
        """Image `index` as the model input wants it (uint8, no batch axis)."""
        from PIL import Image, ImageOps  # noqa: PLC0415

        if self._spec is None:
            raise RuntimeError("ImageLoader: call set_model_inputs(model) first")
        spec = self._spec
        path = self.files[index]
        try:
            with Image.open(path) as opened:
                # a camera's EXIF orientation turns the picture upright (OpenCV's imread did)
                image = ImageOps.exif_transpose(opened)
                if image.mode in _SIXTEEN_BIT_MODES:
                    # 16-bit pixels to 8 bits by dropping the low byte, as OpenCV's reader
                    wide = np.asarray(image, dtype=np.int64)
                    image = Image.fromarray((np.clip(wide, 0, 65535) >> 8).astype(np.uint8))
                image = image.convert("L" if spec.channels == 1 else "RGB")
        except (OSError, SyntaxError, ValueError) as exc:
            raise ValueError(
                f"{path}: cannot read the image ({type(exc).__name__}: {exc})"
            ) from None
        if self.central_fraction is not None and self.central_fraction < 1:
            width, height = image.size
            crop_w = round(width * self.central_fraction)
            crop_h = round(height * self.central_fraction)
            left, top = (width - crop_w) // 2, (height - crop_h) // 2
            image = image.crop((left, top, left + crop_w, top + crop_h))
        if (
            spec.height is not None
            and spec.width is not None
            and image.size != (spec.width, spec.height)
        ):
            image = image.resize((spec.width, spec.height), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
        array = array[:, :, None] if array.ndim == 2 else array[:, :, ::-1]  # RGB -> BGR
        if spec.layout in ("NCHW", "CHW"):
            array = array.transpose(2, 0, 1)
        return np.ascontiguousarray(array)

    def __getitem__(self, index: int) -> tuple[Any, None]:
        if not 0 <= index < len(self.files):
            raise IndexError(f"image index {index} out of range ({len(self.files)} images)")
        image = self.read(index)
        if self._image_info is None:
            return image, None
        assert self._spec is not None
        assert self._input_name is not None
        height, width = image.shape[1:] if self._spec.layout in ("NCHW", "CHW") else image.shape[:2]
        info = np.array([height, width, 1], dtype=np.float32)
        return {self._input_name: image, self._image_info: info}, None


class _DataOnlyItems(DataLoader):
    """A user's loader for the simplified engine, whose items may be bare data (as in POT).

    POT's simplified engine took every item as the model input itself (an array or an
    ``{input_name: array}`` dict), with no annotation; fastpot's engine wants ``(data,
    annotation)`` tuples. Items that are not tuples become ``(item, None)``; other
    attributes (``config``, ...) are the wrapped loader's.
    """

    def __init__(self, loader: Any) -> None:  # no DataLoader.__init__: config is the loader's
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        item = self.loader[index]
        return item if isinstance(item, tuple) else (item, None)

    def __getattr__(self, name: str) -> Any:
        if name == "loader":  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.loader, name)


class SimplifiedEngine(IEEngine):
    """An :class:`~fastpot.engines.IEEngine` over an :class:`ImageLoader`, without a metric.

    POT's ``openvino.tools.pot.engines.simplified_engine.SimplifiedEngine``, with its
    constructor: ``SimplifiedEngine(config, data_loader=None, metric=None)``.

    Parameters
    ----------
    config : dict
        The config file's engine section: ``data_source``, ``device`` (default CPU),
        ``layout``, ``central_fraction``, ``stat_requests_number``, ``eval_requests_number``.
    data_loader : DataLoader, optional
        Default: an :class:`ImageLoader` over ``data_source`` (none without one). As in POT,
        its items may be bare model inputs (an array or ``{input_name: array}``) instead of
        ``(data, annotation)`` tuples.
    metric : Metric, optional
        Accepted for POT's signature and ignored: the simplified engine computes no metric
        (POT's never updated one either), so ``predict`` returns None as metrics.
    """

    config_keys = (
        *IEEngine.config_keys,
        "type",
        "data_source",
        "layout",
        "central_fraction",
    )

    def __init__(
        self, config: Any, data_loader: DataLoader | None = None, metric: Any = None
    ) -> None:
        if not isinstance(config, Mapping):
            raise TypeError(
                "SimplifiedEngine: config must be a mapping such as {'data_source': "
                f"'images/'}}, got {type(config).__name__}"
            )
        config = dict(config)
        config.setdefault("device", "CPU")
        _check_data_loader(data_loader, type(self).__name__)
        loader: DataLoader | None
        if data_loader is None:
            loader = ImageLoader(config) if config.get("data_source") else None
        elif isinstance(data_loader, ImageLoader):
            loader = data_loader
        else:
            loader = _DataOnlyItems(data_loader)
        super().__init__(config, loader, metric=None)
        self._model_source: str | None = None  # the model's .xml, named in errors

    def check_model(self, model: CompressedModel | ov.Model, source: str | None = None) -> None:
        """Refuse, before any inference, a model the image loader cannot feed.

        ``pot`` calls it right after loading the model, so that a model with two inputs
        (or an input that takes no image) fails before the pipeline starts.

        Parameters
        ----------
        model : CompressedModel or openvino.Model
            The model to quantize.
        source : str, optional
            Its ``.xml`` path, named in this and later errors.

        Raises
        ------
        ValueError
            The model's inputs are not one image input (see
            :meth:`ImageLoader.set_model_inputs`).
        RuntimeError
            A cascade of models: this engine runs a single model.
        """
        self._model_source = source
        if isinstance(model, CompressedModel):
            if model.is_cascade:
                raise RuntimeError(
                    f"{source or 'model'}: the simplified engine runs a single model, not a "
                    "cascade; quantize cascades with the Python API and a custom engine"
                )
            model = model.get_model()
        if isinstance(self._data_loader, ImageLoader):
            self._data_loader.set_model_inputs(model, source)

    def set_model(self, model: Any) -> None:
        """Use `model`, and tell the image loader its input layout and size."""
        super().set_model(model)
        loader = self._data_loader
        if isinstance(loader, ImageLoader):
            assert self._model is not None
            loader.set_model_inputs(self._model, self._model_source)

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`IEEngine.predict`; progress bars follow ``init_logger(progress_bar=...)``."""
        if progress_bar_enabled():
            kwargs["print_progress"] = True
        return super().predict(*args, **kwargs)

    def collect_statistics(
        self, accumulators: Any, sampler: Any, print_progress: bool = False
    ) -> None:
        """As :meth:`IEEngine.collect_statistics`, with progress bars when enabled.

        Logs how many of the loader's images the sampler takes (``stat_subset_size``).
        """
        loader = self._data_loader
        if isinstance(loader, ImageLoader):
            used, total = len(sampler), len(loader)
            logger.info(
                "Statistics from %d of the %d images of %s%s",
                used,
                total,
                loader.config.data_source,
                " (the algorithm's stat_subset_size)" if used < total else "",
            )
        super().collect_statistics(
            accumulators, sampler, print_progress=print_progress or progress_bar_enabled()
        )
