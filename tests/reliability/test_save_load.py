"""Saving and loading never lose anything (issue 13, F4 and the weak spots around it).

A save is killed (SIGKILL) at each of its steps in a subprocess; afterwards ``load_model``
gives the complete old or new model, or refuses the mixed pair with an error naming both
files and the complete pairs left behind, and the next save cleans up. Concurrent saves and
loads, full disks, read-only targets and wrong paths are covered too.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from openvino import opset13 as ops

import fastpot.graph.io as fio
from fastpot.graph import WeightsMismatchError, load_model, save_model

# What the subprocess runs: load `source`, save it `repeat` times to `dest` as "m", and
# stop at step `pause` (print its name, then wait for a line on stdin: the test either
# kills the process there or lets it go on). With pause "ready" it waits before saving.
SAVER = r"""
import sys
import fastpot.graph.io as fio
from fastpot.graph import load_model, save_model

source, dest, pause, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def hook(step):
    if step == pause:
        print(step, flush=True)
        sys.stdin.readline()


fio._step_hook = hook
model = load_model({"model": source})
hook("ready")
for _ in range(repeat):
    save_model(model, dest, "m")
print("done", flush=True)
"""

STEPS = (
    "scratch",
    "serialized",
    "recorded",
    "locked",
    "backed_up",
    "xml_replaced",
    "bin_replaced",
    "cleaned",
)
OLD, NEW = "old", "new"


def _model(seed: int, size: int = 32) -> ov.Model:
    """The same topology for every seed, so a mixed pair would load without an error."""
    rng = np.random.default_rng(seed)
    x = ops.parameter([1, size], np.float32, name="x")
    w = ops.constant(rng.standard_normal((size, size)).astype(np.float32), name="w")
    b = ops.constant(rng.standard_normal(size).astype(np.float32), name="b")
    y = ops.add(ops.matmul(x, w, False, False, name="mm"), b, name="add")
    return ov.Model([y], [x], "net")


def _weights(model: ov.Model) -> dict[str, np.ndarray]:
    return {
        op.get_friendly_name(): op.data.copy()
        for op in model.get_ops()
        if op.get_type_name() == "Constant"
    }


@pytest.fixture
def refs(tmp_path: Path) -> dict[str, Path]:
    """Two saved reference models (same topology, different weights)."""
    out = {}
    for label, seed in ((OLD, 1), (NEW, 2)):
        out[label] = Path(save_model(_model(seed), tmp_path / f"ref_{label}", "m")[0]["model"])
    return out


def _which(xml: Path, refs: dict[str, Path], weights: Path | None = None) -> str:
    """Load `xml` with fastpot; name the reference model it is (never a mix)."""
    config = (
        {"model": str(xml)} if weights is None else {"model": str(xml), "weights": str(weights)}
    )
    got = _weights(load_model(config).get_model())
    matches = [
        label
        for label, ref in refs.items()
        if all(np.array_equal(got[k], v) for k, v in _weights(ov.Core().read_model(ref)).items())
    ]
    assert len(matches) == 1, f"{xml}: loaded weights match no reference model (a mixed pair)"
    return matches[0]


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _snapshot(paths: list[Path]) -> list[tuple[bytes, int]]:
    return [(p.read_bytes(), p.stat().st_mtime_ns) for p in paths]


class Saver:
    """A subprocess running SAVER, stopped at one step."""

    def __init__(self, source: Path, dest: Path, pause: str, repeat: int = 1) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(source), str(dest), pause, str(repeat)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pause = pause

    def wait_for_pause(self) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != self.pause:
            _, err = self.proc.communicate(timeout=60)
            pytest.fail(f"the saver did not reach step {self.pause!r}: {line!r}\n{err}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.communicate(timeout=60)

    def resume(self) -> None:
        out, err = self.proc.communicate("\n", timeout=120)
        assert self.proc.returncode == 0, err
        assert out.strip().endswith("done"), (out, err)


@pytest.fixture
def savers() -> Iterator[list[Saver]]:
    started: list[Saver] = []
    yield started
    for saver in started:
        if saver.proc.poll() is None:
            saver.kill()


# --- killed saves ------------------------------------------------------------------------

EXPECTED_WITH_OLD = dict.fromkeys(STEPS[:5], OLD) | {
    "xml_replaced": "refused",
    "bin_replaced": NEW,
    "cleaned": NEW,
}


@pytest.mark.parametrize("step", STEPS)
def test_save_killed_at_each_step_over_a_previous_model(
    step: str, refs: dict[str, Path], tmp_path: Path, savers: list[Saver]
) -> None:
    dest = tmp_path / "dest"
    save_model(load_model({"model": str(refs[OLD])}), dest, "m")
    inputs = [refs[NEW], refs[NEW].with_suffix(".bin")]
    before = _snapshot(inputs)
    saver = Saver(refs[NEW], dest, step)
    savers.append(saver)
    saver.wait_for_pause()
    saver.kill()
    assert _snapshot(inputs) == before  # the input files are only read

    xml, bin_path = dest / "m.xml", dest / "m.bin"
    if EXPECTED_WITH_OLD[step] == "refused":
        with pytest.raises(WeightsMismatchError) as info:
            load_model({"model": str(xml)})
        message = str(info.value)
        assert str(xml) in message
        assert str(bin_path) in message
        assert "interrupted" in message
        assert (info.value.model, info.value.weights) == (xml, bin_path)
        # Both complete pairs are named (the new model and the one it replaced), and each
        # really is complete.
        labels = set()
        for i, (x, b) in enumerate(info.value.pairs):
            assert str(x) in message
            assert str(b) in message
            check = tmp_path / f"check{i}"
            check.mkdir()
            shutil.copy(x, check / "m.xml")
            shutil.copy(b, check / "m.bin")
            labels.add(_which(check / "m.xml", refs))
        assert labels == {OLD, NEW}
        # Restoring the new model as the message says (one mv) gives the complete new pair.
        new_bin = next(b for x, b in info.value.pairs if x == xml)
        assert f"mv {new_bin} {bin_path}" in message
        os.replace(new_bin, bin_path)
        assert _which(xml, refs) == NEW
    else:
        assert _which(xml, refs) == EXPECTED_WITH_OLD[step]
    # The next save cleans up whatever the killed one left.
    save_model(load_model({"model": str(refs[OLD])}), dest, "m")
    assert _names(dest) == ["m.bin", "m.xml"]
    assert _which(xml, refs) == OLD


@pytest.mark.parametrize("step", ["serialized", "backed_up", "xml_replaced", "bin_replaced"])
def test_save_killed_at_each_step_into_an_empty_folder(
    step: str, refs: dict[str, Path], tmp_path: Path, savers: list[Saver]
) -> None:
    dest = tmp_path / "dest"
    saver = Saver(refs[NEW], dest, step)
    savers.append(saver)
    saver.wait_for_pause()
    saver.kill()
    xml, bin_path = dest / "m.xml", dest / "m.bin"
    if step in ("serialized", "backed_up"):
        with pytest.raises(FileNotFoundError, match=re.escape(str(xml))):
            load_model({"model": str(xml)})
    elif step == "xml_replaced":
        with pytest.raises(FileNotFoundError) as info:
            load_model({"model": str(xml)})
        message = str(info.value)
        assert f"{bin_path}: the weights file does not exist" in message
        leftover = re.search(rf"{re.escape(str(dest))}/\.m\.[0-9a-f]{{16}}\.tmp/m\.bin", message)
        assert leftover, message
        assert f"{xml} + {leftover.group(0)}" in message
        shutil.copy(leftover.group(0), bin_path)
        assert _which(xml, refs) == NEW
    else:
        assert _which(xml, refs) == NEW
    save_model(load_model({"model": str(refs[OLD])}), dest, "m")
    assert _names(dest) == ["m.bin", "m.xml"]
    assert _which(xml, refs) == OLD


def test_mixed_pair_from_a_copied_bin_is_refused(refs: dict[str, Path], tmp_path: Path) -> None:
    """F4's state (the .xml of one save, the .bin of another) however it came about."""
    dest = tmp_path / "dest"
    shutil.copytree(refs[OLD].parent, dest)
    shutil.copy(refs[NEW].with_suffix(".bin"), dest / "m.bin")
    # OpenVINO alone loads it without a word (same layout, other weights) ...
    mixed = _weights(ov.Core().read_model(dest / "m.xml"))
    assert not np.array_equal(mixed["w"], _weights(ov.Core().read_model(refs[OLD]))["w"])
    # ... fastpot refuses it, with explicit weights too.
    for config in (
        {"model": str(dest / "m.xml")},
        {"model": str(dest / "m.xml"), "weights": str(dest / "m.bin")},
    ):
        with pytest.raises(WeightsMismatchError, match=re.escape(f"{dest / 'm.xml'}: its weights")):
            load_model(config)
    # The matching .bin given explicitly loads.
    assert _which(dest / "m.xml", refs, refs[OLD].with_suffix(".bin")) == OLD


def test_xml_changed_by_another_tool_loads_as_before(refs: dict[str, Path], tmp_path: Path) -> None:
    """A record that no longer matches its own .xml is not fastpot's any more: no check."""
    dest = tmp_path / "dest"
    shutil.copytree(refs[OLD].parent, dest)
    xml = dest / "m.xml"
    xml.write_text(xml.read_text().replace('<net name="net"', '<net name="edited"'))
    model = load_model({"model": str(xml)}).get_model()
    assert model.get_friendly_name() == "edited"
    # Models written by POT or other tools (no record) load as before; records are not kept
    # on the loaded model, so saving it again writes a fresh one.
    assert not model.has_rt_info(fio.WEIGHTS_KEY)
    ov.save_model(model, str(tmp_path / "ov" / "m.xml"), compress_to_fp16=False)
    assert _which(tmp_path / "ov" / "m.xml", refs) == OLD


# --- leftovers and live saves ------------------------------------------------------------


def _scratch(dest: Path) -> list[str]:
    return [n for n in _names(dest) if re.fullmatch(r"\.m\.[0-9a-f]{16}\.tmp", n)]


def test_next_save_removes_leftovers_but_not_a_running_save(
    refs: dict[str, Path], tmp_path: Path, savers: list[Saver]
) -> None:
    dest = tmp_path / "dest"
    save_model(load_model({"model": str(refs[OLD])}), dest, "m")
    killed = Saver(refs[NEW], dest, "serialized")  # leaves a full unrenamed copy
    savers.append(killed)
    killed.wait_for_pause()
    killed.kill()
    (stale,) = _scratch(dest)
    assert {"m.xml", "m.bin"} <= set(_names(dest / stale))

    running = Saver(refs[NEW], dest, "scratch")  # a live save, paused after its start
    savers.append(running)
    running.wait_for_pause()
    (live,) = _scratch(dest)  # the stale folder went at its start ...
    assert live != stale
    save_model(load_model({"model": str(refs[OLD])}), dest, "m")  # ... and this save
    assert _scratch(dest) == [live]  # leaves the running save's folder alone
    running.resume()
    assert _names(dest) == ["m.bin", "m.xml"]
    assert _which(dest / "m.xml", refs) == NEW


def test_leftovers_needed_to_restore_are_kept_until_the_next_save_succeeds(
    refs: dict[str, Path], tmp_path: Path, savers: list[Saver], monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "dest"
    save_model(load_model({"model": str(refs[OLD])}), dest, "m")
    killed = Saver(refs[NEW], dest, "xml_replaced")
    savers.append(killed)
    killed.wait_for_pause()
    killed.kill()
    (leftover,) = _scratch(dest)
    # A failing save does not take away the files the mixed pair can be restored from.
    monkeypatch.setattr(ov, "save_model", _raise(RuntimeError("basic_ios::clear: iostream error")))
    with pytest.raises(OSError, match=re.escape(str(dest / "m.xml"))):
        save_model(load_model({"model": str(refs[OLD])}), dest, "m")
    assert _scratch(dest) == [leftover]
    with pytest.raises(WeightsMismatchError, match=re.escape(leftover)):
        load_model({"model": str(dest / "m.xml")})
    monkeypatch.undo()
    save_model(load_model({"model": str(refs[OLD])}), dest, "m")
    assert _names(dest) == ["m.bin", "m.xml"]


def test_concurrent_saves_and_loads(
    refs: dict[str, Path], tmp_path: Path, savers: list[Saver]
) -> None:
    """Two processes save different models to one place while this one keeps loading it."""
    big = {}
    for label, seed in ((OLD, 11), (NEW, 12)):
        big[label] = Path(save_model(_model(seed, 256), tmp_path / f"big_{label}", "m")[0]["model"])
    dest = tmp_path / "dest"
    save_model(load_model({"model": str(big[OLD])}), dest, "m")
    for label in (OLD, NEW):
        savers.append(Saver(big[label], dest, "ready", repeat=25))
    for saver in savers:
        saver.wait_for_pause()
    seen: list[str] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:  # never a mixed pair, and never refused: readers wait for the renames
                seen.append(_which(dest / "m.xml", big))
            except Exception as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert savers[0].proc.stdin is not None
        assert savers[1].proc.stdin is not None
        for saver in savers:
            saver.proc.stdin.write("\n")  # type: ignore[union-attr]
            saver.proc.stdin.flush()  # type: ignore[union-attr]
        for saver in savers:
            saver.resume()
    finally:
        done.set()
        thread.join()
    assert not errors, errors
    assert len(seen) > 5, seen
    assert _names(dest) == ["m.bin", "m.xml"]
    assert _which(dest / "m.xml", big) in (OLD, NEW)


# --- full disks --------------------------------------------------------------------------


def _raise(exc: BaseException) -> Callable[..., None]:
    """A stand-in for ``ov.save_model`` that fails with `exc`."""

    def fail(*args: object, **kwargs: object) -> None:
        raise exc

    return fail


def test_disk_full_in_openvino_names_the_file(
    refs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenVINO says only ``basic_ios::clear: iostream error``; fastpot says what it was."""
    dest = tmp_path / "dest"
    save_model(load_model({"model": str(refs[OLD])}), dest, "m")
    before = _snapshot([dest / "m.xml", dest / "m.bin"])
    model = load_model({"model": str(refs[NEW])})
    real_statvfs = os.statvfs

    class Full:
        def __init__(self, st: os.statvfs_result) -> None:
            self.f_frsize, self.f_bavail, self.f_bfree = st.f_frsize, 1, 1
            self.f_favail, self.f_flag = st.f_favail, st.f_flag

    monkeypatch.setattr(ov, "save_model", _raise(RuntimeError("basic_ios::clear: iostream error")))
    monkeypatch.setattr(os, "statvfs", lambda path: Full(real_statvfs(path)))
    with pytest.raises(OSError, match="no space left on device") as info:
        save_model(model, dest, "m")
    assert info.value.errno == errno.ENOSPC
    assert str(dest / "m.xml") in str(info.value)
    assert "iostream" not in str(info.value)
    assert _snapshot([dest / "m.xml", dest / "m.bin"]) == before
    assert _names(dest) == ["m.bin", "m.xml"]


def test_disk_full_while_syncing_names_the_file(
    refs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "dest"

    def no_space(path: Path, directory: bool = False) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fio, "_fsync", no_space)
    with pytest.raises(OSError, match="no space left on device") as info:
        save_model(load_model({"model": str(refs[NEW])}), dest, "m")
    assert info.value.errno == errno.ENOSPC
    assert str(dest / "m.xml") in str(info.value)
    assert _names(dest) == []


def test_other_openvino_failures_keep_their_reason(
    refs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ov, "save_model", _raise(RuntimeError("Unsupported element type")))
    with pytest.raises(RuntimeError, match=r"m\.xml: cannot save the model: Unsupported"):
        save_model(load_model({"model": str(refs[NEW])}), tmp_path / "dest", "m")
    assert _names(tmp_path / "dest") == []


def _mount(where: Path, *options: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root and mount(8)")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (skipped where mounting is impossible)."""
    where = tmp_path / "small"
    where.mkdir()
    _mount(where, "size=256k", "mode=0755")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_really_full_disk(small_fs: Path, refs: dict[str, Path]) -> None:
    save_model(load_model({"model": str(refs[OLD])}), small_fs, "m")  # 4 KiB of weights fit
    before = _snapshot([small_fs / "m.xml", small_fs / "m.bin"])
    with pytest.raises(OSError, match="no space left on device") as info:
        save_model(_model(3, 512), small_fs, "m")  # 1 MiB does not
    assert info.value.errno == errno.ENOSPC
    assert str(small_fs / "m.xml") in str(info.value)
    assert _snapshot([small_fs / "m.xml", small_fs / "m.bin"]) == before
    assert _names(small_fs) == ["m.bin", "m.xml"]
    assert _which(small_fs / "m.xml", refs) == OLD


def test_really_read_only_target(small_fs: Path, refs: dict[str, Path]) -> None:
    save_model(load_model({"model": str(refs[OLD])}), small_fs, "m")
    before = _snapshot([small_fs / "m.xml", small_fs / "m.bin"])
    remount = subprocess.run(
        ["mount", "-o", "remount,ro", str(small_fs)], capture_output=True, text=True, check=False
    )
    if remount.returncode:
        pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
    with pytest.raises(
        PermissionError,
        match=re.escape(f"{small_fs}: the output directory is not writable (read-only"),
    ):
        save_model(load_model({"model": str(refs[NEW])}), small_fs, "m")
    with pytest.raises(PermissionError, match=re.escape(str(small_fs / "sub"))):
        save_model(load_model({"model": str(refs[NEW])}), small_fs / "sub", "m")
    assert _snapshot([small_fs / "m.xml", small_fs / "m.bin"]) == before
    assert _which(small_fs / "m.xml", refs) == OLD  # loading needs no write access


def test_read_only_target_simulated(
    refs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root ignores file modes, so a non-writable folder is simulated."""
    dest = tmp_path / "dest"
    save_model(load_model({"model": str(refs[OLD])}), dest, "m")
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match=re.escape(f"{dest}: the output directory is not")):
        save_model(load_model({"model": str(refs[NEW])}), dest, "m")
    monkeypatch.undo()
    assert _which(dest / "m.xml", refs) == OLD


# --- wrong paths -------------------------------------------------------------------------


def test_directories_given_as_files(refs: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "folder.xml"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=re.escape(f"{folder}: is a directory")):
        load_model({"model": str(folder)})
    with pytest.raises(IsADirectoryError, match=re.escape(f"{folder}: is a directory")):
        load_model({"model": str(refs[OLD]), "weights": str(folder)})
    onnx = tmp_path / "folder.onnx"
    onnx.mkdir()
    with pytest.raises(IsADirectoryError, match=re.escape(f"{onnx}: is a directory")):
        load_model({"model": str(onnx)})
    # A folder in the way of the file to write.
    dest = tmp_path / "dest"
    (dest / "m.bin").mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match=re.escape(f"{dest / 'm.bin'}: is a directory")):
        save_model(load_model({"model": str(refs[OLD])}), dest, "m")
    assert _names(dest) == ["m.bin"]


def test_missing_files(refs: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "nothing.xml"
    with pytest.raises(FileNotFoundError, match=re.escape(f"{missing}: the model file does not")):
        load_model({"model": str(missing)})
    with pytest.raises(FileNotFoundError, match=re.escape(f"{missing}: the weights file does not")):
        load_model({"model": str(refs[OLD]), "weights": str(missing)})


def test_unreadable_files(
    refs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "dest"
    shutil.copytree(refs[OLD].parent, dest)
    real_open = os.open
    for name, what in (("m.xml", "model"), ("m.bin", "weights")):
        path = dest / name
        path.chmod(0)

        def deny(file: object, flags: int, *args: object, _path: Path = path, **kw: object) -> int:
            if Path(os.fspath(file)) == _path:  # type: ignore[arg-type]
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
            return real_open(file, flags, *args, **kw)  # type: ignore[arg-type]

        if os.geteuid() == 0:  # root reads anything: simulate what a user would get
            monkeypatch.setattr(os, "open", deny)
        with pytest.raises(
            PermissionError, match=re.escape(f"{path}: the {what} file cannot be read")
        ):
            load_model({"model": str(dest / "m.xml")})
        monkeypatch.undo()
        path.chmod(0o644)
    assert _which(dest / "m.xml", refs) == OLD


def test_saving_over_the_loaded_files_leaves_the_inputs_untouched(
    refs: dict[str, Path], tmp_path: Path
) -> None:
    """Files are replaced by renames, never rewritten: the loaded model keeps its weights."""
    dest = tmp_path / "dest"
    shutil.copytree(refs[OLD].parent, dest)
    keep = tmp_path / "keep"
    keep.mkdir()
    for name in ("m.xml", "m.bin"):
        os.link(dest / name, keep / name)  # the same inodes as the inputs
    before = _snapshot([keep / "m.xml", keep / "m.bin"])
    loaded = load_model({"model": str(dest / "m.xml")})
    save_model(load_model({"model": str(refs[NEW])}), dest, "m")
    assert _snapshot([keep / "m.xml", keep / "m.bin"]) == before
    assert _which(dest / "m.xml", refs) == NEW
    got = _weights(loaded.get_model())
    assert all(
        np.array_equal(got[k], v) for k, v in _weights(ov.Core().read_model(refs[OLD])).items()
    )
