"""Tests for chainrule.storage: round trips, damage detection, no unpickling, atomicity."""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from chainrule.storage import (
    FORMAT_VERSION,
    array_sha256,
    atomic_write,
    load_checkpoint,
    save_checkpoint,
)
from chainrule.errors import DataError, DTypeError, ShapeError


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        "w32": rng.standard_normal((3, 4)).astype(np.float32),
        "w64": rng.standard_normal(5),
        "steps": np.arange(-3, 3, dtype=np.int64),
        "pixels": np.array([[0, 7, 255]], dtype=np.uint8),
        "scalar": np.float64(2.5) * np.ones(()),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "mask": np.array([True, False]),
        "big_endian": np.arange(4, dtype=">i4"),
        "file": np.ones(2),  # would clash with np.savez's own keyword argument
    }


def _meta() -> dict:
    rng = np.random.default_rng(12345)
    rng.standard_normal(3)
    return {
        "step": 100,
        "huge": 2**200 + 7,
        "rng": rng.bit_generator.state,
        "lr": 0.1,
        "name": "run-ü",
        "nested": {"a": [1, 2.5, None, True]},
        "np_int": np.int64(5),
    }


def _assert_same(expected: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> None:
    assert list(got) == list(expected)
    for name, array in expected.items():
        assert got[name].dtype == array.dtype, name
        assert got[name].shape == array.shape, name
        np.testing.assert_array_equal(got[name], array)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.npz"
    arrays, meta = _arrays(), _meta()
    save_checkpoint(path, arrays, meta)
    got_arrays, got_meta = load_checkpoint(path)
    _assert_same(arrays, got_arrays)
    expected_meta = json.loads(json.dumps({**meta, "np_int": 5}))
    assert got_meta == expected_meta
    assert got_meta["huge"] == 2**200 + 7
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_rng_state_round_trip_reproduces_stream(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rng.random(10)
    save_checkpoint(tmp_path / "c.npz", {}, {"rng": rng.bit_generator.state})
    expected = rng.random(5)
    _, meta = load_checkpoint(tmp_path / "c.npz")
    restored = np.random.default_rng()
    restored.bit_generator.state = meta["rng"]
    np.testing.assert_array_equal(restored.random(5), expected)


def test_file_is_a_plain_npz(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.arange(3.0)}, {"k": 1})
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["__meta__", "w"]
        header = json.loads(npz["__meta__"].tobytes())
    assert header["version"] == FORMAT_VERSION
    assert header["arrays"]["w"] == {
        "dtype": "<f8", "shape": [3], "sha256": array_sha256(np.arange(3.0)),
    }
    assert header["meta"] == {"k": 1}


def test_sha256_covers_dtype_and_shape() -> None:
    data = np.arange(6, dtype=np.int32)
    assert array_sha256(data) != array_sha256(data.reshape(2, 3))
    assert array_sha256(data) != array_sha256(data.view(np.float32))
    transposed = data.reshape(2, 3).T
    assert array_sha256(transposed) == array_sha256(np.ascontiguousarray(transposed))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "nope.npz")


def test_truncated_file_every_length(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.arange(5, dtype=np.float32)}, {"step": 1})
    data = path.read_bytes()
    bad = tmp_path / "bad.npz"
    for length in range(len(data)):
        bad.write_bytes(data[:length])
        with pytest.raises(DataError) as info:
            load_checkpoint(bad)
        assert str(bad) in str(info.value)


def test_flipped_byte_in_the_middle_of_an_array(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    weights = np.linspace(0, 1, 256).astype(np.float64)
    save_checkpoint(path, {"weights": weights}, {})
    data = bytearray(path.read_bytes())
    middle = data.find(weights.tobytes()) + weights.nbytes // 2
    data[middle] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "'weights'" in message and "earlier checkpoint" in message


def test_every_single_byte_corruption_is_caught_or_harmless(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    arrays = {"a": np.arange(3, dtype=np.int16), "b": np.ones((2, 2), np.float32)}
    meta = {"step": 3}
    save_checkpoint(path, arrays, meta)
    original = path.read_bytes()
    bad = tmp_path / "bad.npz"
    for position in range(len(original)):
        for mask in (0x01, 0x80):
            data = bytearray(original)
            data[position] ^= mask
            bad.write_bytes(bytes(data))
            try:
                got_arrays, got_meta = load_checkpoint(bad)
            except DataError as exc:
                assert str(bad) in str(exc)
                continue
            # Bytes that nothing reads (zip timestamps, version fields...) may change freely.
            _assert_same(arrays, got_arrays)
            assert got_meta == meta


class _Payload:
    """Unpickling this object writes a marker file: proof that unpickling happened."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (_write_marker, (str(self.marker),))


def _write_marker(marker: str) -> None:
    Path(marker).write_text("unpickled!")


def test_pickle_renamed_npz_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    payload = pickle.dumps(_Payload(marker))
    # The payload is live: unpickling it really does write the marker (checked elsewhere).
    probe = tmp_path / "probe.txt"
    pickle.loads(pickle.dumps(_Payload(probe)))
    assert probe.exists()

    path = tmp_path / "evil.npz"
    path.write_bytes(payload)
    with pytest.raises(DataError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_object_array_inside_a_zip_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.npz"
    np.savez(path, w=np.array([_Payload(marker)], dtype=object))
    with pytest.raises(DataError):
        load_checkpoint(path)
    assert not marker.exists()


def test_npy_and_foreign_npz_are_refused(tmp_path: Path) -> None:
    npy = tmp_path / "w.npz"
    np.save(tmp_path / "w.npy", np.arange(3))
    os.replace(tmp_path / "w.npy", npy)
    with pytest.raises(DataError, match="not a .npz"):
        load_checkpoint(npy)
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.arange(3))
    with pytest.raises(DataError, match="__meta__"):
        load_checkpoint(plain)


def _rewrite(src: Path, dst: Path, drop: str | None = None, add: str | None = None,
             meta: bytes | None = None) -> None:
    """Copy a checkpoint zip entry by entry, dropping, adding or replacing entries."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename == drop:
                continue
            data = zin.read(info)
            if meta is not None and info.filename == "__meta__.npy":
                with zout.open(info.filename, "w") as out:
                    np.lib.format.write_array(out, np.frombuffer(meta, np.uint8))
                continue
            zout.writestr(info, data)
        if add is not None:
            with zout.open(add, "w") as out:
                np.lib.format.write_array(out, np.zeros(2))


def test_missing_and_extra_arrays(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    save_checkpoint(good, {"a": np.ones(2), "b": np.zeros(3)}, {})
    missing = tmp_path / "missing.npz"
    _rewrite(good, missing, drop="b.npy")
    with pytest.raises(DataError, match="'b'.*missing"):
        load_checkpoint(missing)
    extra = tmp_path / "extra.npz"
    _rewrite(good, extra, add="intruder.npy")
    with pytest.raises(DataError, match="'intruder'.*not in the manifest"):
        load_checkpoint(extra)


@pytest.mark.parametrize(
    "meta",
    [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"format": "other"}',
     b'{"format": "chainrule-checkpoint", "version": 1, "arrays": {"a": {"dtype": 3}}, '
     b'"meta": {}}'],
)
def test_bad_manifest(tmp_path: Path, meta: bytes) -> None:
    good = tmp_path / "good.npz"
    save_checkpoint(good, {"a": np.ones(2)}, {})
    bad = tmp_path / "bad.npz"
    _rewrite(good, bad, meta=meta)
    with pytest.raises(DataError) as info:
        load_checkpoint(bad)
    assert str(bad) in str(info.value)


def test_newer_format_version(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    save_checkpoint(good, {}, {})
    bad = tmp_path / "new.npz"
    header = {"format": "chainrule-checkpoint", "version": FORMAT_VERSION + 1,
              "arrays": {}, "meta": {}}
    _rewrite(good, bad, meta=json.dumps(header).encode())
    with pytest.raises(DataError, match="newer chainrule"):
        load_checkpoint(bad)


@pytest.mark.parametrize(
    ("arrays", "meta", "error"),
    [
        ({"o": np.array([1, "x"], dtype=object)}, {}, DTypeError),
        ({"s": np.array(["text"])}, {}, DTypeError),
        ({"a": np.ones(2)}, {"bad": object()}, DTypeError),
        ({"a": np.ones(2)}, {"nan_array": np.ones(2)}, DTypeError),
        ({"__meta__": np.ones(2)}, {}, ShapeError),
        ({"": np.ones(2)}, {}, ShapeError),
        ({3: np.ones(2)}, {}, DTypeError),
    ],
)
def test_bad_arguments_leave_old_file_intact(tmp_path: Path, arrays, meta, error) -> None:
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"old": np.arange(3)}, {"v": 1})
    before = path.read_bytes()
    with pytest.raises(error):
        save_checkpoint(path, arrays, meta)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.npz"]


def test_failure_mid_write_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"old": np.arange(3)}, {"v": 1})
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_write(path) as handle:
            handle.write(b"half a checkpoint")
            raise RuntimeError("disk on fire")
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.npz"]
    arrays, meta = load_checkpoint(path)
    assert meta == {"v": 1}


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="create the folder"):
        save_checkpoint(tmp_path / "no" / "c.npz", {"a": np.ones(1)}, {})


@pytest.mark.parametrize("meta", [{1: "a"}, {"rng": {"state": {2: 3}}}, {"h": [{"e": {0.5: 1}}]}])
def test_meta_with_non_str_keys_is_refused_at_save(tmp_path: Path, meta) -> None:
    path = tmp_path / "c.npz"
    with pytest.raises(DTypeError, match=r"save_checkpoint: meta.* has the key .*str keys"):
        save_checkpoint(path, {"a": np.ones(2)}, meta)
    assert not path.exists() and os.listdir(tmp_path) == []


def _rezip(path: Path, entry: str, shape: tuple) -> None:
    """Rewrite ``path`` with ``entry``'s .npy header declaring ``shape`` (CRCs made valid)."""
    import io

    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    blob, header = entries[entry], io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    entries[entry] = header.getvalue() + blob[blob.index(b"\n") + 1:]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("entry", ["a.npy", "__meta__.npy"])
def test_a_header_declaring_a_trillion_elements_is_refused_before_allocating(
        tmp_path: Path, entry: str) -> None:
    import tracemalloc

    path = tmp_path / "c.npz"
    save_checkpoint(path, {"a": np.ones(3, np.float32)}, {"v": 1})
    _rezip(path, entry, (10**6, 10**6))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"declares shape \(1000000, 1000000\)"):
            load_checkpoint(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10**7


def test_a_zip_directory_claiming_a_huge_entry_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"a": np.ones(3, np.float32)}, {"v": 1})
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")          # the last entry's central directory record
    data[central + 24:central + 28] = (2**31).to_bytes(4, "little")     # uncompressed size
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="entry 'a' claims 2147483648 bytes"):
        load_checkpoint(path)


def test_temporary_files_of_a_killed_save_are_removed_by_the_next(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    dead = _exited_pid()
    for name in (f".c.npz.{dead}.abc123.tmp", ".c.npz.old_naming.tmp"):
        (tmp_path / name).write_bytes(b"half a checkpoint")
    live = tmp_path / f".c.npz.{os.getppid()}.xyz.tmp"       # a writer still running: kept
    live.write_bytes(b"in progress")
    other = tmp_path / f".d.npz.{dead}.abc.tmp"              # another target's: kept
    other.write_bytes(b"")
    save_checkpoint(path, {"a": np.ones(2)}, {})
    assert sorted(os.listdir(tmp_path)) == sorted(["c.npz", live.name, other.name])


def _exited_pid() -> int:
    import subprocess
    import sys

    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_get_the_mode_the_umask_gives(tmp_path: Path, umask: int) -> None:
    if os.name == "nt":
        pytest.skip("POSIX modes")
    old = os.umask(umask)
    try:
        save_checkpoint(tmp_path / "c.npz", {"a": np.ones(2)}, {})
        with atomic_write(tmp_path / "plain.txt") as handle:
            handle.write(b"x")
    finally:
        os.umask(old)
    for name in ("c.npz", "plain.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
