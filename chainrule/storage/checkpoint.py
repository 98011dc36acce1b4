"""Files that lose nothing: atomic writes, and checkpoints (arrays + JSON) checked on load.

File format (version 1)
-----------------------
A checkpoint is an ordinary uncompressed ``.npz`` archive (the zip-of-``.npy`` layout that
``np.savez`` writes, so ``np.load`` opens it), holding

* one ``NAME.npy`` entry per array, and
* a ``__meta__.npy`` entry: a 1-D ``uint8`` array with the UTF-8 bytes of a JSON object::

      {"format": "chainrule-checkpoint", "version": 1,
       "arrays": {NAME: {"dtype": "<f4", "shape": [3, 4], "sha256": "..."}, ...},
       "meta": {...the caller's metadata...}}

The sha256 of an array covers its dtype string, its shape and the raw bytes of its C-contiguous
copy (see :func:`array_sha256`), so a flipped byte anywhere in the data is caught on load even
where the zip CRC is not consulted.

Saving is atomic: the archive is written to a temporary file in the destination folder, flushed,
``fsync``-ed and renamed over the destination with ``os.replace``, so a crash leaves either the
old checkpoint or the new one, never half a file.  Loading always uses ``allow_pickle=False`` and
first checks that the file is a zip archive at all: nothing in a checkpoint is ever unpickled.

Metadata must be JSON-serialisable: ``dict`` (string keys; any other key is refused, since
JSON would bring it back as a string), ``list``, ``str``, ``int``,
``float``, ``bool`` and ``None``; NumPy scalars are turned into Python numbers.  Tuples come back
as lists.  Python's ``int`` has no size limit and JSON keeps every digit, so the state of a NumPy
generator, ``rng.bit_generator.state`` (a dict holding 128-bit integers), round-trips exactly::

    save_checkpoint("ckpt.npz", params, {"step": 100, "rng": rng.bit_generator.state})
    params, meta = load_checkpoint("ckpt.npz")
    rng.bit_generator.state = meta["rng"]
"""


from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from chainrule import backend
from chainrule.core.device import device, transfer
from chainrule.errors import DataError, DTypeError, ShapeError

from .atomic import atomic_write

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "array_sha256", "load_checkpoint", "save_checkpoint"]

FORMAT_NAME = "chainrule-checkpoint"
FORMAT_VERSION = 1
_META_ENTRY = "__meta__"
_ZIP_MAGIC = b"PK\x03\x04"
_ALLOWED_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex numbers
_ADVICE = (
    "The file is damaged or is not a chainrule checkpoint; use an earlier checkpoint or retrain."
)

# Everything that reading a damaged archive can raise inside zipfile, zlib and np.load.
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    RuntimeError,  # NotImplementedError, or "encrypted" from a flipped zip flag bit
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
)


def array_sha256(array: np.ndarray) -> str:
    """Return the hex sha256 of an array's dtype string, shape and C-order bytes."""
    digest = hashlib.sha256()
    shape = ",".join(str(n) for n in array.shape)
    digest.update(f"{array.dtype.str};({shape});".encode("ascii"))
    flat = np.ascontiguousarray(array).reshape(-1)
    digest.update(flat.view(np.uint8))
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    """Turn NumPy scalars into Python numbers for ``json.dumps``; refuse anything else."""
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _check_arrays(arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Validate names and dtypes before anything is written; return the arrays as ndarrays."""
    if not isinstance(arrays, Mapping):
        raise DTypeError(f"save_checkpoint: arrays must be a dict of name -> array, "
                         f"got {type(arrays).__name__}")
    checked: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        if not isinstance(name, str):
            raise DTypeError(f"save_checkpoint: array names must be str, got {name!r}")
        if not name or name == _META_ENTRY or "\x00" in name:
            raise ShapeError(f"save_checkpoint: invalid array name {name!r}; names must be "
                             f"non-empty and {_META_ENTRY!r} is reserved")
        array = backend.to_numpy(getattr(value, "_data", value))   # a GPU array to the host
        if array.dtype.kind not in _ALLOWED_KINDS:
            raise DTypeError(
                f"save_checkpoint: array {name!r} has dtype {array.dtype} (shape "
                f"{array.shape}); checkpoints hold only bool, integer, float and complex arrays "
                "(object arrays would need pickle); convert it or put it in meta"
            )
        checked[name] = array
    return checked


def _check_keys(meta: Mapping[str, Any]) -> None:
    """Refuse a dict key that is not a str anywhere in ``meta``: JSON would make it one."""
    stack: list[tuple[str, Any]] = [("meta", meta)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise DTypeError(
                        f"save_checkpoint: {where} has the key {key!r} ({type(key).__name__}); "
                        "JSON keeps only str keys (it would load back as a str, if it saved "
                        f"at all): use str keys in meta, e.g. {str(key)!r}")
                stack.append((f"{where}[{key!r}]", item))
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{where}[{k}]", item) for k, item in enumerate(value))


def save_checkpoint(
    path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> None:
    """Write ``arrays`` and the JSON-serialisable ``meta`` to ``path`` atomically.

    Raises :class:`DTypeError` for a non-numeric array (object arrays included) or metadata that
    JSON cannot encode or would change (a dict key that is not a str), :class:`ShapeError` for
    an invalid array name, and :class:`DataError` when the destination folder does not exist.
    Nothing is written in those cases.
    """
    checked = _check_arrays(arrays)
    if not isinstance(meta, Mapping):
        raise DTypeError(f"save_checkpoint: meta must be a dict, got {type(meta).__name__}")
    _check_keys(meta)
    manifest = {
        name: {"dtype": a.dtype.str, "shape": list(a.shape), "sha256": array_sha256(a)}
        for name, a in checked.items()
    }
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "arrays": manifest,
              "meta": dict(meta)}
    try:
        encoded = json.dumps(header, default=_json_default).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise DTypeError(f"save_checkpoint: meta is not JSON-serialisable ({exc}); use dicts "
                         "with str keys, lists, str, int, float, bool and None") from exc
    entries = {_META_ENTRY: np.frombuffer(encoded, dtype=np.uint8), **checked}
    # zipfile + np.lib.format.write_array is exactly what np.savez does, minus its keyword
    # arguments: an array named "file" or "allow_pickle" cannot clash with them here.
    with atomic_write(path) as handle:
        with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED) as archive:
            for name, array in entries.items():
                with archive.open(f"{name}.npy", mode="w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)


def _damaged(path: Path, problem: str) -> DataError:
    """Build the DataError for a damaged checkpoint with the standard advice appended."""
    return DataError(f"{path}: {problem}. {_ADVICE}")


def _parse_header(path: Path, raw: Any) -> dict[str, Any]:
    """Decode and validate the ``__meta__`` manifest; raise DataError if malformed."""
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1:
        raise _damaged(path, f"entry {_META_ENTRY!r} is not a 1-D uint8 array")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _damaged(path, f"entry {_META_ENTRY!r} is not valid UTF-8 JSON ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise _damaged(path, f"entry {_META_ENTRY!r} does not describe a {FORMAT_NAME}")
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        raise _damaged(path, f"format version {version!r} is not valid")
    if version > FORMAT_VERSION:
        raise DataError(f"{path}: checkpoint format version {version} was written by a newer "
                        f"chainrule (this one reads up to {FORMAT_VERSION}); upgrade chainrule.")
    arrays, meta = header.get("arrays"), header.get("meta")
    if not isinstance(arrays, dict) or not isinstance(meta, dict):
        raise _damaged(path, f"entry {_META_ENTRY!r} lacks the 'arrays' or 'meta' object")
    for name, entry in arrays.items():
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("dtype"), str)
            and isinstance(entry.get("shape"), list)
            and all(isinstance(n, int) and n >= 0 for n in entry["shape"])
            and isinstance(entry.get("sha256"), str)
        )
        if not ok:
            raise _damaged(path, f"the manifest entry of array {name!r} is malformed")
    return header


_MAX_DEFLATE_RATIO = 1032   # the most that deflate can expand its input


def _read_entry(path: Path, npz: Any, name: str, file_size: int) -> Any:
    """Read entry ``name`` after checking that its ``.npy`` header declares no more bytes than
    the entry holds, and the entry no more than the file: a crafted header declaring 10**12
    elements is a :class:`DataError`, not an allocation of terabytes."""
    info = npz.zip.getinfo(f"{name}.npy")
    most = info.compress_size * (1 if info.compress_type == zipfile.ZIP_STORED
                                 else _MAX_DEFLATE_RATIO)
    if info.compress_size > file_size or info.file_size > most:
        raise _damaged(path, f"entry {name!r} claims {info.file_size} bytes ({info.compress_size} "
                             f"stored) in a file of {file_size} bytes")
    with npz.zip.open(info) as member:
        version = np.lib.format.read_magic(member)
        readers = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise _damaged(path, f"entry {name!r} is .npy format version {version}, not 1.0 "
                                 "or 2.0")
        shape, _, dtype = readers[version](member)
        header = member.tell()
    declared = math.prod(shape) * dtype.itemsize
    if dtype.hasobject or declared != info.file_size - header:
        raise _damaged(path, f"entry {name!r} declares shape {shape} of {dtype} ({declared} "
                             f"bytes) but holds {info.file_size - header} bytes of data")
    return npz[name]


def _read_checked(path: Path, npz: Any, name: str, entry: dict[str, Any],
                  file_size: int) -> np.ndarray:
    """Read one array from the open archive and check it against its manifest entry."""
    array = _read_entry(path, npz, name, file_size)
    if not isinstance(array, np.ndarray):
        raise _damaged(path, f"array {name!r} is not stored as a .npy entry")
    expected_shape = tuple(entry["shape"])
    if array.dtype.str != entry["dtype"] or array.shape != expected_shape:
        raise _damaged(
            path,
            f"array {name!r} has dtype {array.dtype.str} and shape {array.shape} but the "
            f"manifest says dtype {entry['dtype']} and shape {expected_shape}",
        )
    if array_sha256(array) != entry["sha256"]:
        raise _damaged(path, f"array {name!r} fails its sha256 check (its bytes changed)")
    return array


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = None,
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`; return ``(arrays, meta)``.

    The arrays are NumPy arrays (a checkpoint holds host copies, so one written on a GPU loads
    on a machine without one), or arrays on ``map_location`` (``"cuda"``, a ``cr.device``)
    when given, as ``torch.load``'s argument of that name.

    Every array is checked against the manifest (names, dtype, shape, sha256).  A missing,
    truncated or corrupt file, a file that is not a zip archive (a pickle renamed ``.npz``, say),
    or arrays missing from or added to the manifest raise :class:`DataError` naming the path and,
    where known, the array.  Nothing is ever unpickled.
    """
    path = Path(path)
    try:
        handle = open(path, "rb")  # closed by the with statement below
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no checkpoint file here; check the path.") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read the checkpoint ({exc.strerror or exc}).") from exc
    # np.load gets our open file, not the path: if the zip directory is unreadable it would
    # otherwise leave its own file object open.
    with handle:
        arrays, meta = _load_from(path, handle)
    if map_location is not None:
        where = map_location if isinstance(map_location, device) else device(map_location)
        arrays = {name: transfer(array, where) for name, array in arrays.items()}
    return arrays, meta


def _load_from(path: Path, handle: IO[bytes]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and check a checkpoint from an open binary file (see :func:`load_checkpoint`)."""
    where = "the first bytes"
    try:
        file_size = os.fstat(handle.fileno()).st_size
        start = handle.read(len(_ZIP_MAGIC))
        if start != _ZIP_MAGIC:
            raise _damaged(path, f"not a .npz (zip) archive: it starts with {start!r}; it was "
                                 "not loaded (nothing was unpickled)")
        handle.seek(0)
        where = "the zip directory"
        with np.load(handle, allow_pickle=False) as npz:
            where = f"entry {_META_ENTRY!r}"
            if _META_ENTRY not in npz.files:
                raise _damaged(path, f"it has no {_META_ENTRY!r} manifest")
            header = _parse_header(path, _read_entry(path, npz, _META_ENTRY, file_size))
            manifest: dict[str, Any] = header["arrays"]
            stored = set(npz.files) - {_META_ENTRY}
            missing = sorted(set(manifest) - stored)
            extra = sorted(stored - set(manifest))
            if missing:
                raise _damaged(path, f"array(s) {', '.join(map(repr, missing))} listed in the "
                                     "manifest are missing")
            if extra:
                raise _damaged(path, f"array(s) {', '.join(map(repr, extra))} are not in the "
                                     "manifest")
            arrays = {}
            for name, entry in manifest.items():
                where = f"array {name!r}"
                arrays[name] = _read_checked(path, npz, name, entry, file_size)
    except DataError:
        raise
    except _READ_ERRORS as exc:
        raise _damaged(path, f"{where} cannot be read ({type(exc).__name__}: {exc})") from exc
    return arrays, header["meta"]
