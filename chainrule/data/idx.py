"""Read and write IDX files, the format of MNIST and Fashion-MNIST, gzipped or plain.

An IDX file is a 4-byte magic number, then one big-endian ``uint32`` per dimension, then the
values in C order, big-endian::

    byte 0, 1   zero
    byte 2      dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
                0x0E float64
    byte 3      number of dimensions

so MNIST labels start with ``0x00000801`` (uint8, 1-D) and images with ``0x00000803`` (uint8,
3-D).  A file is read as gzip when it starts with the gzip signature, whatever its name.

Every problem -- a missing file, a bad magic number, a size that does not match the declared
dimensions (a header declaring more than the file can hold is refused before anything that
size is read or allocated), a corrupt gzip stream -- raises
:class:`~chainrule.errors.DataError` naming the file.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from chainrule.storage import atomic_write
from chainrule.errors import DataError, DTypeError, ShapeError

__all__ = ["IDX_DTYPES", "read_idx", "write_idx"]

#: IDX dtype code -> big-endian NumPy dtype of the stored values.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
_GZIP_SIGNATURE = b"\x1f\x8b"
_CHUNK = 1 << 24  # bytes per read
_MAX_DEFLATE_RATIO = 1032  # the most that deflate expands its input
_REFETCH = (
    "Re-download the file, or if it came from Debian's package reinstall it: "
    "apt-get install --reinstall dataset-fashion-mnist"
)


def _read_exactly(handle: IO[bytes], size: int) -> bytes:
    """Read up to ``size`` bytes, looping over short reads; fewer only at end of file.

    Reading in bounded chunks means a corrupt header that declares an absurd size costs only
    the bytes actually there, not a huge allocation.
    """
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = handle.read(min(remaining, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _parse(path: Path, handle: IO[bytes], magic: int | None, unzipped: bool,
           file_size: int) -> np.ndarray:
    """Parse an IDX stream from ``handle``; ``magic`` (if given) must match exactly.

    ``file_size`` is the size on disk: a header declaring more values than such a file can
    hold (after gzip's largest expansion, for a gzipped one) is refused before reading on.
    """
    head = _read_exactly(handle, 4)
    if len(head) < 4:
        raise DataError(f"{path}: truncated IDX file: {len(head)} bytes, too short for the "
                        f"4-byte magic number. {_REFETCH}")
    found = int.from_bytes(head, "big")
    code, ndim = head[2], head[3]
    if head[:2] != b"\x00\x00" or code not in IDX_DTYPES or (magic is not None and found != magic):
        wanted = f"0x{magic:08X}" if magic is not None else "0x0000TTNN with TT in 08..0E"
        raise DataError(f"{path}: not an IDX file of the expected kind: magic number "
                        f"0x{found:08X}, expected {wanted}. Is this the right file?")
    dims_raw = _read_exactly(handle, 4 * ndim)
    header_size = 4 + 4 * ndim
    if len(dims_raw) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX file: the header needs {header_size} bytes but "
                        f"the file holds {4 + len(dims_raw)}. {_REFETCH}")
    shape = struct.unpack(f">{ndim}I", dims_raw)
    dtype = IDX_DTYPES[code]
    payload_size = math.prod(shape) * dtype.itemsize
    # the bytes the file can hold at most: checked before anything of that size is read
    most = file_size * _MAX_DEFLATE_RATIO if unzipped else file_size
    if header_size + payload_size > most:
        raise DataError(
            f"{path}: truncated or corrupt IDX file: header declares shape {shape} of "
            f"{dtype.name}, {header_size + payload_size} bytes in all, but a "
            f"{'gzip ' if unzipped else ''}file of {file_size} bytes cannot hold that many. "
            f"{_REFETCH}"
        )
    payload = _read_exactly(handle, payload_size)
    if len(payload) < payload_size:
        raise DataError(
            f"{path}: truncated IDX file: header declares shape {shape} of {dtype.name}, "
            f"{header_size + payload_size} bytes in all, but the file holds "
            f"{header_size + len(payload)} bytes{' after decompression' if unzipped else ''}. "
            f"{_REFETCH}"
        )
    if handle.read(1):  # also makes gzip verify its CRC and length trailer
        raise DataError(f"{path}: corrupt IDX file: bytes follow the {header_size + payload_size} "
                        f"that shape {shape} of {dtype.name} declares. {_REFETCH}")
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike[str], *, magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or plain) into a native-byte-order NumPy array.

    ``magic`` pins the expected magic number, e.g. ``0x00000803`` for MNIST images; without it
    any valid IDX dtype code and dimension count is accepted.  Raises :class:`DataError` naming
    the path for a missing, truncated, mis-sized, wrong-magic or corrupt-gzip file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            signature = raw.read(2)
            raw.seek(0)
            if signature != _GZIP_SIGNATURE:
                return _parse(path, raw, magic, unzipped=False, file_size=size)
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                return _parse(path, unzipped, magic, unzipped=True,  # type: ignore[arg-type]
                              file_size=size)
    except DataError:
        raise
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file. {_REFETCH}") from exc
    except (OSError, EOFError, zlib.error) as exc:
        # gzip.BadGzipFile is an OSError; a cut-off stream raises EOFError.
        raise DataError(f"{path}: corrupt or unreadable file ({type(exc).__name__}: {exc}). "
                        f"{_REFETCH}") from exc


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzipped if ``path`` ends in ``.gz``, atomically.

    The dtype must be uint8, int8, int16, int32, float32 or float64 (:class:`DTypeError`
    otherwise) and the array must have 1 to 255 dimensions, each below 2**32
    (:class:`ShapeError` otherwise).  The file appears under ``path`` only once complete.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DTypeError(f"write_idx({str(path)!r}): dtype {array.dtype} has no IDX code; use "
                         "uint8, int8, int16, int32, float32 or float64")
    if not 1 <= array.ndim <= 255 or any(n >= 2**32 for n in array.shape):
        raise ShapeError(f"write_idx({str(path)!r}): shape {array.shape} does not fit IDX "
                         "(1 to 255 dimensions, each below 2**32)")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    with atomic_write(path) as handle:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) as zipped:
                zipped.write(header)
                zipped.write(payload)
        else:
            handle.write(header)
            handle.write(payload)
