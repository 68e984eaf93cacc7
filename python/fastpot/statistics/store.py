"""On-disk statistics store: a pass's superset, kept under a key of everything it depends on.

Where: the ``cache_dir`` key of the IEEngine config, else the environment variable
``FASTPOT_CACHE_DIR``; with neither the store is off (POT's behaviour). ``cache_dir`` set
to ``""`` or ``False`` turns it off even when the variable is set.

The key (:func:`statistics_key`) is a BLAKE2b digest of

* the model as the statistics pass sees it (:func:`model_digest`: every operation in
  topological order with its type, version, name, inputs, output types and shapes and
  attributes, and every constant's bytes);
* the data as fed (:func:`data_digest`: XXH3-128 when the optional ``xxhash`` package is
  installed, else SHA-256; hashing the hundreds of MB a calibration set feeds is most of a
  warm hit): every infer request the engine builds from the sampler's items, input by input
  (name, dtype, shape, bytes, hashed in place) with the loader indices. The
  data loader is read once more for this (loading is not inference: a hit runs none), so a
  change in any sample, in the subset, in its order or in the batch size gives another key;
* the engine (class, device, ``batch_dim``), the kernels' backend, the superset format and
  fastpot's version.

Requests are matched inside an entry (:meth:`fastpot.statistics.superset.Superset.derive`),
so another range estimator over the same model and data is served from the same entry.

Layout: ``<cache_dir>/statistics/<key[:2]>/<key>/<part>.npz``. A part is one pass's
superset, a self-describing ``.npz`` (a JSON manifest member and one member holding every
array, packed; both carry the zip CRC-32, which reading checks) written to a temporary file and moved into place with
:func:`os.replace`: readers see a complete part or none, and concurrent writers of the same
part (same name: a digest of what it holds) leave one complete copy. There is no fsync (it
cost as much as a third of the recording pass): after a power loss a part may be renamed
before its bytes reached the disk, which the CRCs catch, like any other damage. A part that
cannot be read (truncated, bad zip, CRC mismatch) is reported with a warning naming the
file, deleted, and its statistics are collected again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import mmap
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

from fastpot.statistics.superset import OUTLIER_BOUND, Batched, Extremes, Superset

__all__ = [
    "CACHE_DIR_ENV",
    "StatisticsStore",
    "data_digest",
    "model_digest",
    "statistics_key",
    "store_for_engine",
]

logger = logging.getLogger("fastpot.statistics")

CACHE_DIR_ENV = "FASTPOT_CACHE_DIR"
FORMAT = 2  # bump when the superset or the key changes meaning
_MANIFEST = "manifest"
_BLOB = "arrays"  # every array of a part, packed (see _pack)
_ALIGN = 64


def _hasher() -> hashlib.blake2b:
    return hashlib.blake2b(digest_size=20)


def model_digest(model: Any) -> str:
    """Digest of an ``openvino.Model``'s structure, names, attributes and constants.

    Constants are identified by their values (OpenVINO names new constants automatically),
    every other operation also by its friendly name (statistics are keyed by it).
    """
    h = _hasher()
    ordinal: dict[str, int] = {}
    for i, op in enumerate(model.get_ordered_ops()):
        ordinal[op.get_name()] = i
        kind = op.get_type_name()
        info = op.get_type_info()
        h.update(f"|{kind}:{info.version_id}|".encode())
        for value in op.input_values():
            h.update(f"<{ordinal[value.get_node().get_name()]}.{value.get_index()}".encode())
        for out in op.outputs():
            h.update(f">{out.get_element_type()}{out.get_partial_shape()}".encode())
        if kind == "Constant":
            h.update(np.ascontiguousarray(op.get_data()).tobytes())
            continue
        h.update(op.get_friendly_name().encode())
        attributes = op.get_attributes()
        h.update(repr(sorted((str(k), repr(v)) for k, v in attributes.items())).encode())
    return h.hexdigest()


def _data_hasher() -> tuple[str, Any]:
    """(name, hash object) for the data digest: XXH3-128 with xxhash installed, else SHA-256.

    A cache key needs no cryptographic strength, only no accidental collisions; XXH3-128
    hashes at memory speed, SHA-256 about 15 times slower (hardware-accelerated as it is).
    """
    try:
        import xxhash  # noqa: PLC0415 - optional (the `store` extra)
    except ImportError:
        return "sha256", hashlib.sha256()
    return "xxh3_128", xxhash.xxh3_128()


def data_digest(engine: Any, sampler: Any) -> str:
    """Digest of every infer request `engine` builds from `sampler` (no inference).

    The hash's name leads the digest: a store written with the other hash misses, it never
    matches by accident.
    """
    name_of_hash, h = _data_hasher()
    for request in engine._requests(sampler):
        h.update(repr([index for index, _ in request.items]).encode())
        for name in sorted(request.inputs):
            array = np.ascontiguousarray(request.inputs[name])
            h.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
            h.update(array.reshape(-1).view(np.uint8).data)  # the buffer itself: no copy
    return f"{name_of_hash}:{h.hexdigest()}"


def _sampler_text(sampler: Any) -> str:
    indices = getattr(sampler, "indices", None)
    return repr(
        (
            type(sampler).__qualname__,
            len(sampler),
            getattr(sampler, "batch_size", None),
            list(indices) if indices is not None else None,
        )
    )


def statistics_key(engine: Any, model: Any, sampler: Any, with_data: bool = True) -> str:
    """Key of the statistics of `model` (an ``openvino.Model``) over `sampler`'s items.

    Without `with_data` the data is left out (an in-process cache over one data loader).
    """
    from fastpot import __version__  # noqa: PLC0415 - the package imports this module
    from fastpot.kernels import resolve_backend  # noqa: PLC0415

    config = getattr(engine, "config", None) or {}
    h = _hasher()
    parts = (
        f"format={FORMAT} bound={OUTLIER_BOUND!r} fastpot={__version__}",
        f"backend={resolve_backend('auto')}",
        f"engine={type(engine).__module__}.{type(engine).__qualname__}",
        f"device={config.get('device')!r} batch_dim={config.get('batch_dim')!r}",
        f"sampler={_sampler_text(sampler)}",
        f"model={model_digest(model)}",
        f"data={data_digest(engine, sampler) if with_data else '-'}",
    )
    h.update("\n".join(parts).encode())
    return h.hexdigest()


def store_for_engine(engine: Any) -> StatisticsStore | None:
    """Return the store `engine`'s config (``cache_dir``) or ``FASTPOT_CACHE_DIR`` names, or None."""
    config = getattr(engine, "config", None)
    chosen: Any = None
    if config is not None and hasattr(config, "get"):
        chosen = config.get("cache_dir")
    if chosen is None or (isinstance(chosen, dict) and not chosen):
        chosen = os.environ.get(CACHE_DIR_ENV) or None
    if chosen in (None, "", False):
        return None
    return StatisticsStore(Path(os.fspath(chosen)).expanduser())


# ---- (de)serialisation of a superset ---------------------------------------------------------


def _request_record(request: Any) -> dict[str, Any]:
    return {
        "node": [request.node[0], int(request.node[1])],
        "stat": request.stat,
        "how": request.how,
        "channel_axis": request.channel_axis,
        "q": request.q,
    }


def _request_from(record: dict[str, Any]) -> Any:
    from fastpot.statistics.collector import StatRequest  # noqa: PLC0415 - imports us

    name, port = record["node"]
    return StatRequest(
        (str(name), int(port)),
        record["stat"],
        record["how"],
        record["channel_axis"],
        record["q"],
    )


def _encode(superset: Superset) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    items: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}

    def put(value: np.ndarray) -> str:
        name = f"a{len(arrays)}"
        array = np.asarray(value)  # not ascontiguousarray: it makes a 0-d array 1-d
        arrays[name] = array if array.flags.c_contiguous else array.copy(order="C")
        return name

    def batched(values: np.ndarray, lengths: tuple[int, ...]) -> dict[str, Any]:
        return {"array": put(values), "batches": list(lengths)}

    for (node, stat, axis), b in superset.reduced.items():
        items.append(
            {
                "kind": "reduced",
                "node": list(node),
                "stat": stat,
                "axis": axis,
                **batched(b.values, b.lengths),
            }
        )
    for (node, axis), ext in superset.extremes.items():
        items.append(
            {
                "kind": "extremes",
                "node": list(node),
                "axis": axis,
                "size": ext.size,
                "k": ext.k,
                "dtype": ext.dtype,
                "lengths": list(ext.lengths),
                "top": put(ext.top),
                "bottom": None if ext.whole else put(ext.bottom),
                "nan": put(ext.nan),
            }
        )
    for request, value in superset.results.items():
        record: dict[str, Any] = {"kind": "result", "request": _request_record(request)}
        if value is None:
            record["value"] = None
        elif isinstance(value, tuple):
            record["shape"] = [int(d) for d in value]
        else:
            record["array"] = put(np.asarray(value))
        items.append(record)
    return items, arrays


def _decode(items: list[dict[str, Any]], arrays: dict[str, np.ndarray]) -> Superset:
    out = Superset()
    for item in items:
        kind = item["kind"]
        if kind == "reduced":
            node = (str(item["node"][0]), int(item["node"][1]))
            lengths = tuple(int(n) for n in item["batches"])
            out.reduced[(node, item["stat"], item["axis"])] = Batched(
                arrays[item["array"]], lengths
            )
        elif kind == "extremes":
            node = (str(item["node"][0]), int(item["node"][1]))
            top = arrays[item["top"]]
            out.extremes[(node, item["axis"])] = Extremes(
                int(item["size"]),
                int(item["k"]),
                str(item["dtype"]),
                top,
                top if item["bottom"] is None else arrays[item["bottom"]],
                arrays[item["nan"]],
                tuple(int(n) for n in item["lengths"]),
            )
        elif kind == "result":
            request = _request_from(item["request"])
            if "shape" in item:
                out.results[request] = tuple(int(d) for d in item["shape"])
            elif "array" in item:
                out.results[request] = arrays[item["array"]]
            else:
                out.results[request] = None
        else:
            raise ValueError(f"unknown item kind {kind!r}")
    return out


class CorruptEntryError(ValueError):
    """A store part that cannot be read back as it was written."""


class StatisticsStore:
    """Content-addressed store of statistics supersets under `root` (see the module doc).

    Parameters
    ----------
    root : pathlib.Path
        The cache folder (created on the first write).

    Attributes
    ----------
    hits, misses, recomputed : int
        Lookups that found something, lookups that found nothing, corrupt parts deleted.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self.recomputed = 0

    def _folder(self, key: str) -> Path:
        return self.root / "statistics" / key[:2] / key

    def parts(self, key: str) -> Iterator[Path]:
        """Yield the complete parts stored under `key`."""
        folder = self._folder(key)
        if folder.is_dir():
            yield from sorted(folder.glob("*.npz"))

    def load(self, key: str) -> Superset:
        """Union of every readable part under `key` (empty when there is none)."""
        merged = Superset()
        found = False
        for path in self.parts(key):
            try:
                part = read_part(path, key)
            except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
                logger.warning(
                    "statistics store: %s is unreadable (%s); it is deleted and its "
                    "statistics are collected again",
                    path,
                    exc,
                )
                self.recomputed += 1
                path.unlink(missing_ok=True)
                continue
            merged.update(part)
            found = True
        if found:
            self.hits += 1
        else:
            self.misses += 1
        return merged

    def save(self, key: str, superset: Superset) -> Path:
        """Write `superset` as a part of `key`, atomically; return its path."""
        items, arrays = _encode(superset)
        table, blob = _pack(arrays)
        manifest = {"format": FORMAT, "key": key, "items": items, "arrays": table}
        text = json.dumps(manifest, sort_keys=True)
        name = hashlib.blake2b(
            json.dumps(items, sort_keys=True).encode(), digest_size=12
        ).hexdigest()
        folder = self._folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.npz"
        buffer = io.BytesIO()
        members: dict[str, Any] = {_BLOB: blob, _MANIFEST: np.frombuffer(text.encode(), np.uint8)}
        np.savez(buffer, **members)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buffer.getbuffer())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        logger.debug("statistics store: wrote %s", path)
        return path


def _pack(arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], np.ndarray]:
    """Pack every array into one byte buffer (64-byte aligned offsets); return table, buffer.

    One zip member instead of hundreds: reading a part is one read and one CRC check, and
    the arrays come back as views of that buffer.
    """
    table: dict[str, Any] = {}
    offset = 0
    for name, array in arrays.items():
        offset = -(-offset // _ALIGN) * _ALIGN
        table[name] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset}
        offset += array.nbytes
    blob = np.zeros(offset, np.uint8)
    for name, array in arrays.items():
        start = table[name]["offset"]
        blob[start : start + array.nbytes] = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    return table, blob


def _unpack(table: dict[str, Any], blob: np.ndarray) -> dict[str, np.ndarray]:
    """Return the arrays of `table` as views of `blob` (no copy)."""
    arrays: dict[str, np.ndarray] = {}
    for name, entry in table.items():
        dtype = np.dtype(entry["dtype"])
        shape = tuple(int(d) for d in entry["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        start = int(entry["offset"])
        if dtype.hasobject or start < 0 or start + count * dtype.itemsize > blob.size:
            raise CorruptEntryError(f"array {name!r} does not fit the stored bytes")
        arrays[name] = np.frombuffer(blob, dtype, count, start).reshape(shape)
    return arrays


def _stored_array(raw: memoryview, info: zipfile.ZipInfo) -> np.ndarray:
    """Return the ``.npy`` member `info` of the zip bytes `raw` as a view of them, CRC checked.

    np.savez stores members uncompressed: the array's bytes are a slice of the file, so no
    copy is made (zipfile would copy every member while checking its CRC).
    """
    if info.compress_type != zipfile.ZIP_STORED:
        raise CorruptEntryError(f"member {info.filename!r} is compressed")
    start = info.header_offset
    if start + 30 > len(raw) or bytes(raw[start : start + 4]) != b"PK\x03\x04":
        raise CorruptEntryError(f"member {info.filename!r}: no local header")
    name_length, extra_length = struct.unpack_from("<HH", raw, start + 26)
    first = start + 30 + name_length + extra_length
    member = raw[first : first + info.file_size]
    if len(member) != info.file_size or zlib.crc32(member) != info.CRC:
        raise CorruptEntryError(f"member {info.filename!r}: truncated or CRC mismatch")
    header = io.BytesIO(member[: min(len(member), 1 << 16)])
    version = np.lib.format.read_magic(header)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read_header(header)
    count = int(np.prod(shape, dtype=np.int64))
    if fortran or dtype.hasobject or header.tell() + count * dtype.itemsize > len(member):
        raise CorruptEntryError(f"member {info.filename!r}: not a plain array")
    return np.frombuffer(member, dtype, count, header.tell()).reshape(shape)


def read_part(path: Path, key: str) -> Superset:
    """Read and verify one part (raises on any inconsistency: truncation, CRC, format)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise CorruptEntryError("empty file")
        # Mapped copy-on-write: no upfront copy, and the arrays (views of it) are writable
        # without touching the file. The mapping outlives the file handle, closed here.
        raw = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY)
    with zipfile.ZipFile(cast(IO[bytes], raw)) as archive:  # file-like: reads the directory
        members = {info.filename: info for info in archive.infolist()}
    view = memoryview(raw)
    manifest_info = members.get(f"{_MANIFEST}.npy")
    blob_info = members.get(f"{_BLOB}.npy")
    if manifest_info is None or blob_info is None:
        raise CorruptEntryError("no manifest or no arrays")
    manifest = json.loads(_stored_array(view, manifest_info).tobytes().decode())
    if manifest.get("format") != FORMAT or manifest.get("key") != key:
        raise CorruptEntryError("written for another format or key")
    blob = _stored_array(view, blob_info)
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise CorruptEntryError("the arrays member is not a byte buffer")
    return _decode(manifest["items"], _unpack(manifest["arrays"], blob))
