"""Tests for chainrule.data.idx on real IDX files written to tmp_path."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import read_idx, write_idx
from chainrule.errors import DataError, DTypeError, ShapeError


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    ("dtype", "shape"),
    [(np.uint8, (5,)), (np.uint8, (4, 3, 2)), (np.int8, (2, 3)), (np.int16, (7,)),
     (np.int32, (2, 2)), (np.float32, (3, 1)), (np.float64, (2, 1, 1, 2)), (np.uint8, (0, 28))],
)
def test_round_trip(tmp_path: Path, suffix: str, dtype, shape) -> None:
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    path = tmp_path / f"data-idx{suffix}"
    write_idx(path, array)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    assert got.shape == shape
    np.testing.assert_array_equal(got, array)
    assert got.flags.writeable
    assert os.listdir(tmp_path) == [path.name]
    raw = gzip.decompress(path.read_bytes()) if suffix else path.read_bytes()
    assert raw[:2] == b"\x00\x00" and raw[3] == len(shape)


def test_mnist_magic_numbers(tmp_path: Path) -> None:
    labels = np.array([3, 1, 4], dtype=np.uint8)
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "labels.gz", labels)
    write_idx(tmp_path / "images", images)
    assert (tmp_path / "images").read_bytes()[:16] == bytes.fromhex(
        "00000803" "00000003" "0000001c" "0000001c")
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.gz", magic=0x00000801), labels)
    assert read_idx(tmp_path / "images", magic=0x00000803).shape == (3, 28, 28)
    with pytest.raises(DataError, match="0x00000801") as info:
        read_idx(tmp_path / "images", magic=0x00000801)
    assert str(tmp_path / "images") in str(info.value)


def test_big_endian_input_is_written_correctly(tmp_path: Path) -> None:
    array = np.arange(5, dtype=">i4")
    write_idx(tmp_path / "x", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), np.arange(5))


@pytest.mark.parametrize("first_bytes", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"PK\x03\x04"])
def test_wrong_magic(tmp_path: Path, first_bytes: bytes) -> None:
    path = tmp_path / "bad-idx"
    path.write_bytes(first_bytes + b"\x00\x00\x00\x01\x05")
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert f"0x{int.from_bytes(first_bytes, 'big'):08X}" in message


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_payload(tmp_path: Path, suffix: str) -> None:
    full = tmp_path / "full"
    write_idx(full, np.zeros((10, 28, 28), dtype=np.uint8))
    data = full.read_bytes()[:-100]
    path = tmp_path / f"train-images-idx3-ubyte{suffix}"
    path.write_bytes(gzip.compress(data) if suffix else data)
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert "7856" in message and "7756" in message  # expected and actual byte counts
    assert "dataset-fashion-mnist" in message


@pytest.mark.parametrize("length", [0, 3, 6])
def test_truncated_header(tmp_path: Path, length: int) -> None:
    path = tmp_path / "short"
    path.write_bytes(bytes.fromhex("00000803000000030000001c")[:length])
    with pytest.raises(DataError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "long"
    write_idx(path, np.arange(4, dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(DataError, match="bytes follow"):
        read_idx(path)


def test_corrupt_gzip(tmp_path: Path) -> None:
    good = tmp_path / "good.gz"
    write_idx(good, np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8))
    data = good.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    cut = data[: len(data) // 2]
    for name, content in [("flipped.gz", bytes(flipped)), ("cut.gz", cut),
                          ("header-only.gz", data[:5])]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(DataError) as info:
            read_idx(path)
        assert str(path) in str(info.value)
        assert "dataset-fashion-mnist" in str(info.value)


def test_plain_file_named_gz_and_gzip_without_suffix(tmp_path: Path) -> None:
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    write_idx(tmp_path / "plain", array)
    os.replace(tmp_path / "plain", tmp_path / "plain.gz")
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), array)
    write_idx(tmp_path / "zipped.gz", array)
    os.replace(tmp_path / "zipped.gz", tmp_path / "zipped")
    np.testing.assert_array_equal(read_idx(tmp_path / "zipped"), array)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_idx(tmp_path / "absent.gz")


def test_write_rejects_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(DTypeError):
        write_idx(tmp_path / "x", np.arange(3, dtype=np.int64))
    with pytest.raises(ShapeError):
        write_idx(tmp_path / "x", np.uint8(3))
    assert os.listdir(tmp_path) == []


def test_absurd_declared_size_is_reported_not_allocated(tmp_path: Path) -> None:
    path = tmp_path / "huge"
    path.write_bytes(bytes.fromhex("00000803" "ffffffff" "ffffffff" "ffffffff") + b"\x00" * 8)
    with pytest.raises(DataError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_every_corrupted_byte_gives_data_error_or_an_array(tmp_path: Path, suffix: str) -> None:
    good = tmp_path / f"good{suffix}"
    write_idx(good, np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    original = good.read_bytes()
    bad = tmp_path / f"bad{suffix}"
    for position in range(len(original)):
        data = bytearray(original)
        data[position] ^= 0xFF
        bad.write_bytes(bytes(data))
        try:
            array = read_idx(bad)
        except DataError as exc:
            assert str(bad) in str(exc)
        else:
            assert isinstance(array, np.ndarray)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_a_header_declaring_a_trillion_values_is_refused_before_reading(
        tmp_path: Path, suffix: str) -> None:
    import struct
    import tracemalloc

    path = tmp_path / f"huge-idx{suffix}"
    blob = bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 10**6, 10**6) + b"\x00" * 64
    path.write_bytes(gzip.compress(blob) if suffix else blob)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"\(1000000, 1000000\).*cannot hold") as info:
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value) and peak < 10**7
