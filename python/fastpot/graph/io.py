"""``load_model`` and ``save_model``.

fastpot reads models as they are: no load-time graph rewrites (POT transposed MatMul
weights, added zero biases and reshaped GroupConvolution weights for its own graph; none of
that changes results).

Saving never leaves a pair that loads wrongly. Each IR is serialized into a private folder
``.<stem>.<16 hex digits>.tmp/`` next to the destination; the ``.xml`` then gets the
SHA-256 of the ``.bin`` written with it (``fastpot_weights_sha256`` in the model's
``<rt_info>``, plus ``fastpot_xml_sha256``, the digest of the ``.xml`` without these two
entries), and the two files are renamed into place, the ``.xml`` first. Two renames are not
one atomic step: a save killed between them leaves the new ``.xml`` next to the previous
``.bin``. :func:`load_model` compares the digest with the ``.bin`` and refuses such a mixed
pair, naming the complete pairs the interrupted save left in its folder (the new ``.bin``,
and the previous ``.xml`` it kept as ``<stem>.previous.xml``). Putting the ``.xml`` first
means the file that carries the digest is always the new one, so the mix is detected even
when the previous model came from POT or another tool (and carries no digest).

Locks: the rename steps hold an exclusive ``flock`` on the destination folder and
``load_model`` a shared one while it checks and reads a pair, so readers wait for a save's
renames instead of seeing them half done; every save also holds an exclusive ``flock`` on
its own temporary folder for its whole life. The next save to the same ``<stem>`` removes
temporary folders whose lock is free (their process is gone; a kernel releases ``flock``
locks when a process dies, even by ``SIGKILL``): at its start the ones that never reached
the renames, after its own renames all of them. Where ``flock`` is unavailable (some network
file systems), the digest check still refuses mixed pairs but leftovers are kept.

The digest binds only readers that check it: OpenVINO itself (``Core.read_model``) ignores
these ``rt_info`` entries and reads a mixed pair if the files happen to fit together.
A ``.xml`` changed after fastpot wrote it (edited, or saved again by another tool with the
entries carried along) no longer matches its own ``fastpot_xml_sha256``; its record is
ignored and it loads as any IR without a digest (as do IRs written by POT or other tools).
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import hashlib
import os
import re
import secrets
import shlex
import shutil
import stat
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import openvino as ov

from fastpot.graph.model import CompressedModel, prefixed_copy

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, the digest still holds
    fcntl = None  # type: ignore[assignment]

__all__ = ["WeightsMismatchError", "load_model", "save_model"]

_MODEL_KEYS = ("model_name", "model", "weights", "cascade")
_CASCADE_KEYS = ("name", "model", "weights")
_DEVICES = ("ANY", "CPU", "CPU_SPR", "GPU", "NPU", "GNA", "GNA3", "GNA3.5")

WEIGHTS_KEY = "fastpot_weights_sha256"
XML_KEY = "fastpot_xml_sha256"
_RECORD_RE = re.compile(
    rb'[ \t]*<fastpot_weights_sha256 value="([0-9a-f]{64})" />\n'
    rb'[ \t]*<fastpot_xml_sha256 value="([0-9a-f]{64})" />\n'
)
_ANY_RECORD_LINE = re.compile(rb'(?m)^[ \t]*<fastpot_(?:weights|xml)_sha256 value="[^"]*" />\n')
_BLOCK_OPEN, _BLOCK_CLOSE = b"\t<rt_info>\n", b"\t</rt_info>\n"
_BACKUP_SUFFIX = ".previous.xml"
_READ_LOCK_TIMEOUT = 10.0  # seconds a reader waits for a save's renames before going on
_CHUNK = 1 << 20

#: Test hook: called with the name of each step of a save (see ``_write_atomically``).
_step_hook: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if _step_hook is not None:
        _step_hook(name)


class WeightsMismatchError(ValueError):
    """The ``.bin`` is not the file that was saved with the ``.xml`` (a mixed pair).

    Attributes
    ----------
    model, weights : pathlib.Path
        The two files that do not belong together.
    pairs : list of tuple of pathlib.Path
        Complete ``(xml, bin)`` pairs found next to them (left by an interrupted save).
    """

    def __init__(
        self, message: str, model: Path, weights: Path, pairs: list[tuple[Path, Path]]
    ) -> None:
        super().__init__(message)
        self.model = model
        self.weights = weights
        self.pairs = pairs


def _check_keys(config: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in config:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (expected {allowed})"
            raise ValueError(f"{where}: unknown key {key!r}{hint}")


def _reason(exc: Exception) -> str:
    """Return the informative lines of an OpenVINO error (not its source locations)."""
    lines = [
        line.strip()
        for line in str(exc).splitlines()
        if line.strip()
        and not line.startswith("Exception from ")
        and not re.match(r"Check '.*' failed at ", line)
    ]
    return "; ".join(lines) or str(exc)


# --- locks and temporary folders ---------------------------------------------------------


def _open_dir(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None


def _flock(fd: int, shared: bool, timeout: float | None) -> bool:
    """Lock `fd`; False if the file system has no ``flock`` or `timeout` ran out."""
    if fcntl is None:
        return False
    kind = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, kind if deadline is None else kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if deadline is None or time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        except OSError:  # EBADF/ENOLCK/EOPNOTSUPP: no flock here (e.g. some NFS mounts)
            return False


@contextlib.contextmanager
def _locked(directory: Path, *, shared: bool, timeout: float | None = None) -> Iterator[bool]:
    """Hold a ``flock`` on `directory`; yields whether it is held (best effort)."""
    fd = _open_dir(directory)
    try:
        yield fd is not None and _flock(fd, shared, timeout)
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def _scratch_dirs(xml: Path) -> list[Path]:
    """Temporary folders of saves of `xml` (finished, running or interrupted)."""
    pattern = re.compile(rf"\.{re.escape(xml.stem)}\.[0-9a-f]{{16}}\.tmp")
    try:
        names = os.listdir(xml.parent)
    except OSError:
        return []
    return [xml.parent / name for name in sorted(names) if pattern.fullmatch(name)]


def _is_stale(folder: Path) -> tuple[bool, int | None]:
    """Whether no live save holds `folder`; returns the fd that now holds its lock."""
    fd = _open_dir(folder)
    if fd is None:
        return False, None
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True, fd
        except OSError:  # held by a running save, or no flock here: keep it
            pass
    os.close(fd)
    return False, None


def _remove_stale(xml: Path, *, keep: Path | None, unrenamed_only: bool) -> None:
    """Remove temporary folders of interrupted saves of `xml` (under the folder lock).

    With `unrenamed_only`, only folders that still hold their ``.xml`` (their save never
    reached the renames, so the destination does not need them to be restored).
    """
    for folder in _scratch_dirs(xml):
        if folder == keep or (unrenamed_only and not (folder / xml.name).exists()):
            continue
        stale, fd = _is_stale(folder)
        if stale:
            try:
                shutil.rmtree(folder, ignore_errors=True)
            finally:
                os.close(fd)  # type: ignore[arg-type]


class _Scratch:
    """A save's private temporary folder, locked for as long as the save runs."""

    def __init__(self, xml: Path) -> None:
        self.path = xml.parent / f".{xml.stem}.{secrets.token_hex(8)}.tmp"
        os.mkdir(self.path, 0o700)
        try:
            self._fd = _open_dir(self.path)
            if self._fd is not None:
                _flock(self._fd, shared=False, timeout=0)
        except BaseException:
            os.rmdir(self.path)
            raise
        self.xml = self.path / xml.name
        self.bin = self.xml.with_suffix(".bin")
        self.backup = self.path / f"{xml.stem}{_BACKUP_SUFFIX}"

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _fsync(path: Path, directory: bool = False) -> None:
    fd = _open_dir(path) if directory else os.open(path, os.O_RDONLY)
    if fd is None:
        return
    try:
        os.fsync(fd)
    except OSError:
        if not directory:  # some file systems cannot sync a folder; files must be synced
            raise
    finally:
        os.close(fd)


# --- digests -----------------------------------------------------------------------------


def _sha256_fd(fd: int) -> str:
    """SHA-256 of the whole file open as `fd` (about 0.15 s per 100 MB)."""
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with os.fdopen(os.dup(fd), "rb", buffering=0) as file:
        file.seek(0)
        while count := file.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest()


def _sha256_path(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY)
    try:
        return _sha256_fd(fd)
    finally:
        os.close(fd)


def _sha256_file(path: Path) -> str | None:
    try:
        return _sha256_path(path)
    except OSError:
        return None


def _tail_start(xml_bytes: bytes) -> int:
    """Offset after the layers and edges: the net's own ``<rt_info>`` follows it."""
    return max(xml_bytes.rfind(b"</edges>"), xml_bytes.rfind(b"</layers>"), 0)


def _add_record(xml_bytes: bytes, weights_sha256: str) -> bytes:
    """Return the serialized IR `xml_bytes` with the digest entries in its ``<rt_info>``."""
    tail = _tail_start(xml_bytes)
    body = xml_bytes[:tail] + _ANY_RECORD_LINE.sub(b"", xml_bytes[tail:])  # carried records
    end = body.rfind(b"</net>")
    if end < tail:
        raise RuntimeError("OpenVINO wrote an IR without </net>; cannot record its weights")
    xml_sha256 = hashlib.sha256(body).hexdigest()
    lines = (
        f'\t\t<{WEIGHTS_KEY} value="{weights_sha256}" />\n\t\t<{XML_KEY} value="{xml_sha256}" />\n'
    ).encode()
    close = body.rfind(_BLOCK_CLOSE, tail, end)
    if close >= 0:
        return body[:close] + lines + body[close:]
    return body[:end] + _BLOCK_OPEN + lines + _BLOCK_CLOSE + body[end:]


def _record(xml_bytes: bytes) -> str | None:
    """Return the ``.bin`` digest recorded in an IR fastpot wrote, if it is intact."""
    tail = _tail_start(xml_bytes)
    matches = list(_RECORD_RE.finditer(xml_bytes, tail))
    if len(matches) != 1:
        return None
    match = matches[0]
    start, end = match.span()
    candidates = [xml_bytes[:start] + xml_bytes[end:]]
    before, after = start - len(_BLOCK_OPEN), end + len(_BLOCK_CLOSE)
    if xml_bytes[before:start] == _BLOCK_OPEN and xml_bytes[end:after] == _BLOCK_CLOSE:
        candidates.append(xml_bytes[:before] + xml_bytes[after:])  # the block was ours too
    expected = match.group(2).decode()
    if any(hashlib.sha256(c).hexdigest() == expected for c in candidates):
        return match.group(1).decode()
    return None  # changed since fastpot wrote it: not ours to check any more


def _record_of_file(path: Path) -> str | None:
    try:
        return _record(path.read_bytes())
    except OSError:
        return None


def _complete_pairs(xml: Path, bin_path: Path) -> list[tuple[Path, Path]]:
    """Find matching ``(xml, bin)`` pairs among `xml`, `bin_path` and save leftovers."""
    folders = _scratch_dirs(xml)
    xmls = [xml] + [p for f in folders for p in sorted(f.glob("*.xml"))]
    bins = [bin_path] + [p for f in folders for p in sorted(f.glob("*.bin"))]
    records = {x: _record_of_file(x) for x in xmls}
    digests: dict[Path, str | None] = {}
    pairs = []
    for x in xmls:
        if records[x] is None:
            continue
        for b in bins:
            if (x, b) == (xml, bin_path) or not b.is_file():
                continue
            if b not in digests:
                digests[b] = _sha256_file(b)
            if digests[b] == records[x]:
                pairs.append((x, b))
    return pairs


def _recovery_hint(xml: Path, bin_path: Path, pairs: list[tuple[Path, Path]]) -> str:
    lines = []
    for x, b in pairs:
        moves = [
            f"mv {shlex.quote(str(src))} {shlex.quote(str(dst))}"
            for src, dst in ((x, xml), (b, bin_path))
            if src != dst
        ]
        lines.append(f"  {x} + {b}  (to restore it: {'; '.join(moves)})")
    for folder in _scratch_dirs(xml):
        backup = folder / f"{xml.stem}{_BACKUP_SUFFIX}"
        if backup.is_file() and _record_of_file(backup) is None:
            lines.append(
                f"  {backup} is the .xml that was in place before the interrupted save (it has"
                f" no weights digest to check; it goes with {bin_path} if the save stopped"
                f" between its two renames; to restore it: "
                f"mv {shlex.quote(str(backup))} {shlex.quote(str(xml))})"
            )
    if not lines:
        return "No complete pair was found next to it; save the model again."
    return "Complete pairs left next to it by an interrupted save:\n" + "\n".join(lines)


# --- reading -----------------------------------------------------------------------------


def _open_input(path: Path, what: str, where: str) -> int:
    """Open a model input for reading, with errors that name the file and the problem."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            errno.ENOENT, f"{path}: the {what} file does not exist ({where})"
        ) from exc
    except IsADirectoryError as exc:  # pragma: no cover - Linux opens folders read-only
        raise IsADirectoryError(
            errno.EISDIR, f"{path}: is a directory, not a {what} file ({where})"
        ) from exc
    except PermissionError as exc:
        raise PermissionError(
            errno.EACCES, f"{path}: the {what} file cannot be read: permission denied ({where})"
        ) from exc
    except OSError as exc:
        raise OSError(
            exc.errno, f"{path}: the {what} file cannot be opened: {exc.strerror} ({where})"
        ) from exc
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return fd
    os.close(fd)
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(
            errno.EISDIR, f"{path}: is a directory, not a {what} file ({where})"
        )
    raise ValueError(f"{path}: is not a regular file, cannot be a {what} file ({where})")


def _read_fd(fd: int, path: Path, what: str, where: str) -> bytes:
    try:
        with os.fdopen(os.dup(fd), "rb") as file:
            return file.read()
    except OSError as exc:
        raise OSError(
            exc.errno, f"{path}: the {what} file cannot be read: {exc.strerror} ({where})"
        ) from exc


def _same_file(fd: int, path: Path) -> bool:
    try:
        now, then = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (then.st_dev, then.st_ino)


def _strip_record(model: ov.Model) -> ov.Model:
    """Drop the digest entries: they describe the files, not the model."""
    for key in (WEIGHTS_KEY, XML_KEY):
        if model.has_rt_info(key):
            del model.get_rt_info()[key]
    return model


def _read_ir(core: ov.Core, xml: Path, bin_path: Path, where: str) -> ov.Model:
    xml_fd = _open_input(xml, "model", f"{where}.model")
    try:
        xml_bytes = _read_fd(xml_fd, xml, "model", f"{where}.model")
        recorded = _record(xml_bytes)
        try:
            bin_fd = _open_input(bin_path, "weights", f"{where}.weights")
        except FileNotFoundError as exc:
            if recorded is None:
                raise
            raise FileNotFoundError(
                errno.ENOENT,
                f"{exc.strerror}. {_recovery_hint(xml, bin_path, _complete_pairs(xml, bin_path))}",
            ) from exc
        try:
            if recorded is not None:
                try:
                    actual = _sha256_fd(bin_fd)
                except OSError as exc:
                    raise OSError(
                        exc.errno, f"{bin_path}: the weights file cannot be read: {exc.strerror}"
                    ) from exc
                if actual != recorded:
                    pairs = _complete_pairs(xml, bin_path)
                    raise WeightsMismatchError(
                        f"{xml}: its weights file {bin_path} is not the one saved with it (the"
                        f" .xml records SHA-256 {recorded[:16]}..., the .bin has"
                        f" {actual[:16]}...): an interrupted or concurrent save, or a copied"
                        f" file, mixed two models; refusing to load the pair.\n"
                        f"{_recovery_hint(xml, bin_path, pairs)}\n"
                        f"If the .bin was replaced on purpose, delete the {WEIGHTS_KEY} and"
                        f" {XML_KEY} entries from the <rt_info> at the end of the .xml.",
                        xml,
                        bin_path,
                        pairs,
                    )
            try:
                model = core.read_model(str(xml), str(bin_path))
            except RuntimeError as exc:
                raise ValueError(
                    f"{xml} (weights {bin_path}): cannot read the model: {_reason(exc)}"
                ) from exc
            if not (_same_file(xml_fd, xml) and _same_file(bin_fd, bin_path)):
                raise _Changed
            return _strip_record(model)
        finally:
            os.close(bin_fd)
    finally:
        os.close(xml_fd)


class _Changed(Exception):
    """The files were replaced while being read (by a save that did not take the lock)."""


def _read(core: ov.Core, model: Any, weights: Any, where: str, name: str | None = None) -> ov.Model:
    """Read one model; an ONNX model is named `name` (else its file stem).

    OpenVINO names every model it reads from ONNX ``onnx_Frontend_IR``; the file stem is the
    name :func:`save_model` then uses by default, as for an IR's own ``<net name>``.
    """
    if isinstance(model, ov.Model):
        return model
    if model is None:
        raise ValueError(f"{where}: missing required key 'model'")
    xml = Path(os.fspath(model))
    if xml.suffix.lower() == ".onnx":
        if weights is not None:
            raise ValueError(
                f"{where}.weights: {xml} is an ONNX model, which holds its weights itself; "
                "give only 'model' (a 'weights' file goes with an IR .xml)"
            )
        os.close(_open_input(xml, "model", f"{where}.model"))
        try:
            onnx_model = core.read_model(str(xml))
        except RuntimeError as exc:
            raise ValueError(f"{xml}: cannot read the ONNX model: {_reason(exc)}") from exc
        onnx_model.set_friendly_name(name or xml.stem)
        return onnx_model
    bin_path = xml.with_suffix(".bin") if weights is None else Path(os.fspath(weights))
    with _locked(xml.parent, shared=True, timeout=_READ_LOCK_TIMEOUT):
        for _ in range(3):
            with contextlib.suppress(_Changed):
                return _read_ir(core, xml, bin_path, where)
    raise OSError(
        errno.EAGAIN, f"{xml} (weights {bin_path}): the files kept changing while being read"
    )


def load_model(model_config: Any, target_device: str = "ANY") -> CompressedModel:
    """Load a model for quantization.

    Parameters
    ----------
    model_config : dict, str, os.PathLike or openvino.Model
        ``{"model_name", "model": "x.xml", "weights": "x.bin"}`` (``weights`` defaults to
        the ``.bin`` next to the ``.xml``), ``{"model_name", "cascade": [{"name", "model",
        "weights"}, ...]}``, an ONNX path under ``model`` (without ``weights``: an ONNX file
        holds them), a bare ``.xml`` or ``.onnx`` path (``model_name`` is its stem), or an
        in-memory ``openvino.Model`` (as the config or under ``model``). A model read from
        ONNX is named ``model_name`` (else its file stem), the stem :func:`save_model`
        uses by default.
    target_device : str
        ANY, CPU, CPU_SPR, GPU, NPU, GNA, GNA3 or GNA3.5 (only checked here).

    Returns
    -------
    CompressedModel

    Raises
    ------
    ValueError
        Unknown or missing keys (named, with the closest valid key), unreadable files,
        duplicate cascade names, an unknown target device, ``weights`` given with an ONNX
        model.
    WeightsMismatchError
        (a ``ValueError``) The ``.xml`` was saved by fastpot with another ``.bin`` (an
        interrupted save, see the module notes); the message names both files and the
        complete pairs left behind.
    FileNotFoundError
        A model or weights file that does not exist.
    IsADirectoryError
        A directory given as the model or weights file.
    PermissionError
        A model or weights file that cannot be read.

    Notes
    -----
    The input files are only read. An IR saved by fastpot records its ``.bin``'s SHA-256,
    which is checked here (about 0.15 s per 100 MB); IRs from POT or other tools load as
    before.
    """
    if target_device not in _DEVICES:
        raise ValueError(
            f"target_device: unsupported value {target_device!r} (expected one of {_DEVICES})"
        )
    core = ov.Core()
    if isinstance(model_config, ov.Model):
        return CompressedModel([{"model": model_config}], model_config.get_friendly_name())
    if isinstance(model_config, (str, os.PathLike)):  # a bare path: the .xml (.bin next to it)
        path = Path(os.fspath(model_config))
        model_config = {"model_name": path.stem, "model": str(path)}
    if not isinstance(model_config, Mapping):
        raise TypeError(
            "model_config: expected a dict, a model path (.xml or .onnx) or an openvino.Model, "
            f"got {type(model_config).__name__}"
        )
    _check_keys(model_config, _MODEL_KEYS, "model_config")
    name = model_config.get("model_name")
    if "cascade" not in model_config:
        model = _read(
            core, model_config.get("model"), model_config.get("weights"), "model_config", name
        )
        return CompressedModel([{"model": model}], name)

    cascade = model_config["cascade"]
    if "model" in model_config or "weights" in model_config:
        raise ValueError("model_config: give either 'cascade' or 'model'/'weights', not both")
    if isinstance(cascade, (str, bytes, Mapping)) or not isinstance(cascade, Sequence):
        raise TypeError("model_config.cascade: expected a list of {name, model, weights} dicts")
    if not cascade:
        raise ValueError("model_config.cascade: the list is empty")
    entries = []
    seen: set[str] = set()
    for i, sub in enumerate(cascade):
        where = f"model_config.cascade[{i}]"
        if not isinstance(sub, Mapping):
            raise TypeError(f"{where}: expected a dict with keys {_CASCADE_KEYS}")
        _check_keys(sub, _CASCADE_KEYS, where)
        sub_name = sub.get("name")
        if not sub_name:
            raise ValueError(f"{where}: missing required key 'name'")
        if sub_name in seen:
            raise ValueError(f"{where}: duplicate cascade name {sub_name!r}")
        seen.add(sub_name)
        model = _read(core, sub.get("model"), sub.get("weights"), where)
        entries.append({"name": sub_name, "model": model})
    if len(entries) == 1:  # a one-entry cascade is a single model (as in POT)
        entries = [{"model": entries[0]["model"]}]
    return CompressedModel(entries, name)


# --- writing -----------------------------------------------------------------------------


def _free_bytes(directory: Path) -> tuple[int, int] | None:
    """Bytes and inodes free to this process in `directory`'s file system."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    blocks = st.f_bfree if os.geteuid() == 0 else st.f_bavail
    return blocks * st.f_frsize, st.f_favail


def _weights_bytes(model: ov.Model) -> int:
    return sum(op.get_byte_size() for op in model.get_ops() if op.get_type_name() == "Constant")


def _leftover_note(xml: Path, keep: Path | None) -> str:
    stale = []
    for folder in _scratch_dirs(xml):
        if folder == keep:
            continue
        with contextlib.suppress(OSError):
            size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
            stale.append(f"{folder} ({size} bytes)")
    if not stale:
        return ""
    return "; temporary folders of earlier saves take space: " + ", ".join(stale)


def _write_error(exc: Exception, xml: Path, model: ov.Model, keep: Path | None) -> Exception:
    """Return an error naming `xml` and what went wrong (a full disk in plain words).

    OpenVINO reports every write failure as ``basic_ios::clear: iostream error`` (and removes
    what it wrote), so a full disk is recognised by the free space left: less than the
    model's weights take.
    """
    code = getattr(exc, "errno", None)
    io_failure = isinstance(exc, OSError) or re.search(
        r"iostream|basic_ios|[Cc]an(?:no|')t open|[Ff]ailed to open", str(exc)
    )
    free = _free_bytes(xml.parent)
    needed = _weights_bytes(model)
    full = code in (errno.ENOSPC, errno.EDQUOT) or (
        io_failure
        and code is None
        and free is not None
        and (free[0] < max(needed, 65536) or free[1] == 0)
    )
    if full:
        space = "" if free is None else f"; {free[0]} bytes free, the weights take {needed}"
        return OSError(
            errno.ENOSPC,
            f"{xml}: cannot save the model: no space left on device{space}"
            f"{_leftover_note(xml, keep)}",
        )
    if not io_failure:  # OpenVINO could not serialize this model
        return RuntimeError(f"{xml}: cannot save the model: {_reason(exc)}")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _reason(exc)
    return OSError(code or errno.EIO, f"{xml}: cannot save the model: {reason}")


def _write_atomically(model: ov.Model, xml: Path) -> None:
    """Write `xml` and its ``.bin`` so that no reader ever sees a mixed pair.

    Steps (each reported to ``_step_hook``): ``scratch`` (a locked temporary folder made next
    to `xml`, after removing interrupted saves' folders that never reached the renames),
    ``serialized`` (``ov.save_model`` into it), ``recorded`` (the ``.bin``'s SHA-256 written
    into the ``.xml``, both synced), ``locked`` (the destination folder's lock), ``backed_up``
    (the previous ``.xml`` hard-linked into the temporary folder), ``xml_replaced``,
    ``bin_replaced``, ``cleaned`` (all stale temporary folders of this stem removed). A
    failure or ``KeyboardInterrupt`` puts the previous ``.xml`` back; a killed process leaves
    the pair ``load_model`` refuses and names, at worst.
    """
    bin_path = xml.with_suffix(".bin")
    directory = xml.parent
    try:
        with _locked(directory, shared=False):
            _remove_stale(xml, keep=None, unrenamed_only=True)
            scratch = _Scratch(xml)
    except OSError as exc:
        raise _write_error(exc, xml, model, None) from exc
    try:
        _step("scratch")
        try:
            ov.save_model(model, str(scratch.xml), compress_to_fp16=False)
            _step("serialized")
            if not scratch.bin.exists():  # a model without constants
                scratch.bin.touch()
            digest = _sha256_path(scratch.bin)
            with scratch.xml.open("r+b") as file:
                patched = _add_record(file.read(), digest)
                file.seek(0)
                file.write(patched)
                file.truncate()
            _fsync(scratch.xml)
            _fsync(scratch.bin)
        except (OSError, RuntimeError) as exc:
            raise _write_error(exc, xml, model, scratch.path) from exc
        _step("recorded")
        with _locked(directory, shared=False):
            _step("locked")
            had_xml = os.path.lexists(xml)
            xml_replaced = False
            try:
                if had_xml:
                    try:
                        os.link(xml, scratch.backup, follow_symlinks=False)
                    except OSError:  # no hard links here
                        shutil.copy2(xml, scratch.backup, follow_symlinks=False)
                _step("backed_up")
                os.replace(scratch.xml, xml)
                xml_replaced = True
                _step("xml_replaced")
                os.replace(scratch.bin, bin_path)
            except BaseException as exc:
                if xml_replaced:  # undo the first rename
                    if had_xml:
                        os.replace(scratch.backup, xml)
                    else:
                        xml.unlink()
                if isinstance(exc, OSError):
                    raise _write_error(exc, xml, model, scratch.path) from exc
                raise
            _step("bin_replaced")
            _fsync(directory, directory=True)
            _remove_stale(xml, keep=scratch.path, unrenamed_only=False)
            _step("cleaned")
    finally:
        scratch.remove()


def _stem(model: CompressedModel, entry: dict[str, Any], model_name: str | None) -> str:
    if model.is_cascade:
        stem = f"{model_name}_{entry['name']}" if model_name else str(entry["name"])
    else:
        stem = model_name or entry["model"].get_friendly_name()
    if (
        not stem
        or stem in (".", "..")
        or any(sep and sep in stem for sep in ("/", os.sep, os.altsep))
    ):
        raise ValueError(f"model_name: {stem!r} is not usable as a file name (pass model_name=...)")
    return stem


def _read_only(directory: Path) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def save_model(
    model: CompressedModel | ov.Model,
    save_path: str | os.PathLike[str],
    model_name: str | None = None,
    for_stat_collection: bool = False,
) -> list[dict[str, str]]:
    """Save a model as OpenVINO IR (FP32 weights; a reader never sees a mixed pair).

    Parameters
    ----------
    model : CompressedModel or openvino.Model
        The model to save.
    save_path : str or os.PathLike
        Directory, created if needed.
    model_name : str, optional
        File stem. Default: the model's own name (the IR's ``<net name>``, i.e.
        ``ov.Model.get_friendly_name()``), not ``model_config.model_name``, as in POT; for
        a model :func:`load_model` read from ONNX, its ``model_name`` or else the file stem
        (not OpenVINO's ``onnx_Frontend_IR``). For cascades the stems are
        ``<model_name>_<sub>``, or ``<sub>`` without a name.
    for_stat_collection : bool
        For a cascade, save the sub-models with POT's statistics-time node names
        ``<sub>_<node>`` (what a custom engine's ``_set_model`` reads back); no effect on a
        single model.

    Returns
    -------
    list of dict
        ``[{"model": xml, "weights": bin}]``, or ``[{"name", "model", "weights"}, ...]``
        for cascades.

    Raises
    ------
    PermissionError
        ``save_path`` cannot be created or written to (also a read-only file system).
    NotADirectoryError
        ``save_path`` is an existing file.
    IsADirectoryError
        A directory is in the way of the ``.xml`` or ``.bin`` to write.
    OSError
        Writing failed; the message names the file and the cause (``errno.ENOSPC`` and
        "no space left on device" for a full disk). The previous files are kept.
    ValueError
        The file stem is empty or contains a path separator.

    Notes
    -----
    Deliberate differences from POT: no ``.mapping`` files are written (fastpot does not
    rename tensors, so there is nothing to map); weights are always stored as they are in
    memory (``compress_to_fp16=False``); each IR is written in a temporary folder and
    renamed into place, and its ``.xml`` records the SHA-256 of its ``.bin`` in ``rt_info``
    (``fastpot_weights_sha256``), which :func:`load_model` checks. A save killed between the
    two renames leaves a pair that ``load_model`` refuses, naming the complete pairs to
    restore (see the module notes; ``openvino.Core.read_model`` does not check). Leftovers
    of interrupted saves are removed by the next save to the same place.
    """
    if isinstance(model, ov.Model):
        model = CompressedModel([{"model": model}])
    directory = Path(save_path)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory}: save_path exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except PermissionError as exc:
        raise PermissionError(f"{directory}: cannot create the output directory") from exc
    except OSError as exc:
        if exc.errno == errno.EROFS:
            raise PermissionError(
                errno.EROFS,
                f"{directory}: cannot create the output directory: read-only file system",
            ) from exc
        raise OSError(
            exc.errno, f"{directory}: cannot create the output directory: {exc.strerror}"
        ) from exc
    if not os.access(directory, os.W_OK | os.X_OK) or _read_only(directory):
        ro = " (read-only file system)" if _read_only(directory) else ""
        raise PermissionError(f"{directory}: the output directory is not writable{ro}")
    stems = [_stem(model, entry, model_name) for entry in model.models]
    for stem in stems:
        for path in (directory / f"{stem}.xml", directory / f"{stem}.bin"):
            if path.is_dir():
                raise IsADirectoryError(
                    errno.EISDIR, f"{path}: is a directory; cannot save the model there"
                )
    results = []
    for entry, stem in zip(model.models, stems, strict=True):
        xml = directory / f"{stem}.xml"
        ov_model = entry["model"]
        if for_stat_collection and model.is_cascade:
            ov_model = prefixed_copy(ov_model, f"{entry['name']}_")
        _write_atomically(ov_model, xml)
        record = {"model": str(xml), "weights": str(xml.with_suffix(".bin"))}
        results.append({"name": entry["name"], **record} if model.is_cascade else record)
    return results
