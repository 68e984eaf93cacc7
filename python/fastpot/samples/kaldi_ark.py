r"""POT's speech-sample loader: frames of Kaldi binary ``.ark`` files (``ArkDataLoader``).

A binary Kaldi archive is a sequence of entries ``<key> \0B<token> <data>``: the utterance
key, a space, the binary marker ``\0B``, then a matrix ``FM `` (float32) or ``DM ``
(float64) with ``\4<int32 rows>\4<int32 cols>`` and ``rows * cols`` little-endian values
in row-major order, or a vector ``FV ``/``DV `` with ``\4<int32 dim>`` (read as one row).
Compressed (``CM``) and text-mode archives are refused with a message.

Item ``i`` is one frame (one matrix row) per model input, ``{input_name: frame}``: frames
are numbered through every utterance of a file in order, then through the next file, and
a frame is the 1-D row (reshaped to the input's entry of ``input_shapes`` if given). As in
POT, the items are bare dictionaries, not ``(data, annotation)`` tuples: the simplified
engine takes them as they are (``IEEngine`` wants ``(loader[i], None)``).

Files are indexed once (utterance offsets and sizes) and a frame is read with one seek,
where POT's loader re-read the whole file for every item. Unlike POT's, frames beyond the
first file are found (POT's index arithmetic failed there), ``.ark`` files of a directory
are taken in sorted order (POT took the directory's listing order), and a directory given
as ``data_source`` is searched itself, with or without a trailing slash.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from fastpot.api.data_loader import DataLoader

__all__ = ["ArkDataLoader", "read_ark"]

# token -> (on-disk dtype, is a matrix); Kaldi writes little-endian values
_TYPES = {"FM": ("<f4", True), "DM": ("<f8", True), "FV": ("<f4", False), "DV": ("<f8", False)}
_NATIVE = {"<f4": np.float32, "<f8": np.float64}


@dataclass(frozen=True)
class _Entry:
    """One utterance of an archive: where its values start, its shape and dtype."""

    key: str
    offset: int
    rows: int
    cols: int
    dtype: str


def _read_token(stream: BinaryIO) -> str | None:
    """Bytes up to the next space (or the end); None at the end of the file."""
    chunk = bytearray()
    while True:
        byte = stream.read(1)
        if not byte or byte == b" ":
            break
        chunk += byte
    text = chunk.decode("utf-8", errors="replace").strip()
    return text or None


def _read_int32(stream: BinaryIO, path: str) -> int:
    size = stream.read(1)
    if size != b"\x04":
        raise ValueError(f"{path}: expected a 4-byte integer size marker, got {size!r}")
    data = stream.read(4)
    if len(data) != 4:
        raise ValueError(f"{path}: truncated integer")
    value: int = struct.unpack("<i", data)[0]
    return value


def _index(path: str) -> list[_Entry]:
    """Every utterance of the archive at `path`."""
    entries = []
    size = os.path.getsize(path)
    with open(path, "rb") as stream:
        while True:
            key = _read_token(stream)
            if key is None:
                break
            marker = stream.read(2)
            if marker != b"\x00B":
                raise ValueError(
                    f"{path}: utterance {key!r} is not in Kaldi's binary format (no '\\0B' "
                    "marker); text-mode archives are not supported"
                )
            token = _read_token(stream) or ""
            if token not in _TYPES:
                raise ValueError(
                    f"{path}: utterance {key!r} holds a {token!r} object; only FM, DM, FV and "
                    "DV (uncompressed float matrices and vectors) are supported"
                )
            dtype, is_matrix = _TYPES[token]
            rows = _read_int32(stream, path) if is_matrix else 1
            cols = _read_int32(stream, path)
            if rows < 0 or cols < 0:
                raise ValueError(f"{path}: utterance {key!r} has a negative size")
            offset = stream.tell()
            end = offset + rows * cols * np.dtype(dtype).itemsize
            if end > size:
                raise ValueError(f"{path}: utterance {key!r} is truncated")
            entries.append(_Entry(key, offset, rows, cols, dtype))
            stream.seek(end)
    return entries


def read_ark(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a binary Kaldi archive: ``{utterance key: matrix}`` (rows x cols, in file order).

    Raises
    ------
    ValueError
        A text-mode or compressed archive, or a truncated file.
    """
    name = os.fspath(path)
    result = {}
    with open(name, "rb") as stream:
        for entry in _index(name):
            stream.seek(entry.offset)
            count = entry.rows * entry.cols
            values = np.fromfile(stream, dtype=entry.dtype, count=count)
            result[entry.key] = values.reshape(entry.rows, entry.cols).astype(_NATIVE[entry.dtype])
    return result


class ArkDataLoader(DataLoader):
    """Frames of Kaldi ``.ark`` files, one ``{input_name: frame}`` dict per item.

    Parameters
    ----------
    config : dict
        ``data_source``: an ``.ark`` file or a directory of them; ``input_names``: the model
        inputs to feed; ``input_files`` (optional): per input, the file name (without
        ``.ark``) in ``data_source`` that feeds it (without it every input reads every
        file); ``input_shapes`` (optional): per input, the shape each frame is reshaped to.
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._data_source = self.config.get("data_source")
        if not self._data_source:
            raise ValueError("ArkDataLoader config: missing 'data_source'")
        names = self.config.get("input_names")
        if not names:
            raise ValueError("ArkDataLoader config: missing 'input_names' (the model inputs)")
        self._shape: tuple[int, ...] | None = None
        self._feed_dict, self._shapes_dict = self._create_feed_dicts(self.config)
        self._indexes: dict[str, list[_Entry]] = {}
        first = next(iter(self._feed_dict))
        self._ark_frames_num = [self._get_num_frames_from_ark(f) for f in self._feed_dict[first]]
        for name, files in self._feed_dict.items():
            counts = [self._get_num_frames_from_ark(f) for f in files]
            if sum(counts) != sum(self._ark_frames_num):
                raise ValueError(
                    f"ArkDataLoader: input {name!r} has {sum(counts)} frames, input "
                    f"{first!r} {sum(self._ark_frames_num)}"
                )

    def _create_feed_dicts(self, config: Any) -> tuple[dict[str, list[str]], dict[str, Any]]:
        """``{input: [ark paths]}`` and ``{input: shape}``."""
        names = list(config["input_names"])
        shapes = config.get("input_shapes") or []
        files = config.get("input_files")
        if shapes and len(shapes) != len(names):
            raise ValueError(
                f"ArkDataLoader: {len(shapes)} input_shapes for {len(names)} input_names"
            )
        if files is not None and len(files) != len(names):
            raise ValueError(f"ArkDataLoader: {len(files)} input_files for {len(names)} inputs")
        source = str(self._data_source)
        folder = source if os.path.isdir(source) else os.path.dirname(source)
        available = self._collect_ark_filenames(source)
        feed: dict[str, list[str]] = {}
        for position, name in enumerate(names):
            if files is not None:
                wanted = f"{files[position]}.ark"
                if wanted not in available:
                    raise FileNotFoundError(
                        f"ArkDataLoader: input {name!r}: {wanted} is not in {source}"
                    )
                feed[name] = [os.path.join(folder, wanted)]
            else:
                feed[name] = [os.path.join(folder, f) for f in available]
        shapes_dict = {name: tuple(shapes[i]) for i, name in enumerate(names)} if shapes else {}
        return feed, shapes_dict

    @staticmethod
    def _collect_ark_filenames(data_source: str) -> list[str]:
        """List the ``.ark`` file names of a directory (sorted), or the file itself."""
        if os.path.isdir(data_source):
            names = sorted(f for f in os.listdir(data_source) if f.endswith(".ark"))
        elif os.path.isfile(data_source) and data_source.endswith(".ark"):
            names = [os.path.basename(data_source)]
        else:
            names = []
        if not names:
            raise FileNotFoundError(f"{data_source}: no .ark files found")
        return names

    def _entries(self, path: str) -> list[_Entry]:
        if path not in self._indexes:
            self._indexes[path] = _index(path)
        return self._indexes[path]

    def _get_num_frames_from_ark(self, ark_filename: str) -> int:
        """Count the frames (matrix rows) of the archive."""
        return sum(entry.rows for entry in self._entries(ark_filename))

    def _read_frames_from_ark(self, ark_filename: str, frame_index: int) -> np.ndarray:
        """Frame `frame_index` of the archive (counting through its utterances in order)."""
        remaining = frame_index
        for entry in self._entries(ark_filename):
            if remaining < entry.rows:
                with open(ark_filename, "rb") as stream:
                    itemsize = np.dtype(entry.dtype).itemsize
                    stream.seek(entry.offset + remaining * entry.cols * itemsize)
                    row = np.fromfile(stream, dtype=entry.dtype, count=entry.cols)
                return row.astype(_NATIVE[entry.dtype])
            remaining -= entry.rows
        raise IndexError(f"{ark_filename}: no frame {frame_index}")

    def __len__(self) -> int:
        return sum(self._ark_frames_num)

    def __getitem__(self, frame_id: int) -> dict[str, np.ndarray]:
        if not 0 <= frame_id < len(self):
            raise IndexError(f"ArkDataLoader: frame {frame_id} out of range ({len(self)} frames)")
        item = {}
        for name, files in self._feed_dict.items():
            first_frame = 0
            for path in files:
                count = self._get_num_frames_from_ark(path)
                if frame_id < first_frame + count:
                    frame = self._read_frames_from_ark(path, frame_id - first_frame)
                    break
                first_frame += count
            if name in self._shapes_dict:
                frame = np.reshape(frame, self._shapes_dict[name])
            item[name] = frame
        return item

    @property
    def shape(self) -> tuple[int, ...] | None:
        """A shape a caller may record (POT's loader kept one; it is not used for reading)."""
        return self._shape

    @shape.setter
    def shape(self, shape: Any) -> None:
        self._shape = tuple(shape)
