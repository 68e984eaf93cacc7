"""Image helpers shared by the sample loaders: reading with Pillow, OpenCV-style resizing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["read_bgr", "resize_bilinear"]


def _axis_weights(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower source index, upper source index and upper weight for each output position.

    Pixel centres are aligned (``x_src = (x_dst + 0.5) * src / dst - 0.5``) and positions
    outside the image are clamped to the border pixel, as OpenCV's ``INTER_LINEAR`` does;
    there is no anti-aliasing when shrinking.
    """
    position = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    low = np.floor(position)
    weight = position - low
    low = low.astype(np.intp)
    weight[low < 0] = 0.0
    low[low < 0] = 0
    last = low >= src - 1
    low[last] = src - 1
    weight[last] = 0.0
    high = np.minimum(low + 1, src - 1)
    return low, high, weight


def resize_bilinear(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an ``H x W`` or ``H x W x C`` array bilinearly, as ``cv2.resize`` did.

    Parameters
    ----------
    image : numpy.ndarray
        The image; any numeric dtype.
    width, height : int
        The output size (``cv2.resize``'s ``dsize`` is ``(width, height)`` too).

    Returns
    -------
    numpy.ndarray
        float64 for float input (the interpolated values), else the input dtype (rounded to
        nearest and clipped to its range).
    """
    if width < 1 or height < 1:
        raise ValueError(f"resize: the output size {width}x{height} must be positive")
    array = np.asarray(image)
    if array.ndim not in (2, 3) or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"resize: expected an H x W [x C] image, got shape {array.shape}")
    source = array.astype(np.float64, copy=False)
    y0, y1, wy = _axis_weights(array.shape[0], height)
    x0, x1, wx = _axis_weights(array.shape[1], width)
    if source.ndim == 3:
        wy = wy[:, None, None]
        wx = wx[None, :, None]
    else:
        wy = wy[:, None]
        wx = wx[None, :]
    top = source[y0][:, x0] * (1 - wx) + source[y0][:, x1] * wx
    bottom = source[y1][:, x0] * (1 - wx) + source[y1][:, x1] * wx
    result: np.ndarray = top * (1 - wy) + bottom * wy
    if np.issubdtype(array.dtype, np.floating):
        return result
    info = np.iinfo(array.dtype) if np.issubdtype(array.dtype, np.integer) else None
    rounded: np.ndarray = np.rint(result)
    if info is not None:
        rounded = np.clip(rounded, info.min, info.max)
    return rounded.astype(array.dtype)


def read_bgr(path: str | Path) -> np.ndarray:
    """Read an image file as ``H x W x 3`` uint8 in BGR order (``cv2.imread``'s colour read).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Pillow cannot decode it.
    """
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such image file")
    try:
        with Image.open(file) as opened:
            rgb = np.asarray(opened.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{file}: cannot read the image ({exc})") from None
    return np.ascontiguousarray(rgb[:, :, ::-1])
