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
