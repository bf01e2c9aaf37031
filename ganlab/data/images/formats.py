"""Image-set file formats, read defensively: IDX (LeCun's MNIST format, gzipped or not) and NPZ.

Every reader checks a header before reading the body and never reads more than the bytes that
header promises (capped by ``max_bytes``), so a truncated file, a file with bytes to spare, a gzip
bomb or a header promising 4 billion images is refused with a message naming the file and the
problem, never half-loaded.

IDX: bytes 0-1 are zero, byte 2 the element type (0x08 = unsigned byte; the only one an image or
label file may use here), byte 3 the number of dimensions; then one big-endian uint32 per
dimension; then the elements, row-major. Images are (n, rows, cols), labels (n,).

NPZ: a zip of ``.npy`` arrays; images under ``x`` or ``images`` ((n, h, w), (n, h, w, 1) or
(n, h*w) with h = w; unsigned bytes, integers in 0..255 or floats in [0, 1]), labels optionally
under ``y`` or ``labels`` (integers in 0..255, one per image). Pickled objects are never loaded.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..registry import DataError

MAX_BYTES = 128 * 1024 * 1024  # an image body after decompression: full MNIST's 60k is 47 MB
MAX_SIDE = 256                 # rows and columns of one image
MAX_IMAGES = 1_000_000
MAX_LABEL = 255
IDX_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32",
             0x0D: "float32", 0x0E: "float64"}
IMAGE_KEYS = ("x", "images")
LABEL_KEYS = ("y", "labels")


class ImageDataError(DataError):
    """An image file or image set that cannot be used; the message names the file and why."""


def _open(path: str | os.PathLike) -> io.BufferedIOBase:
    """The file's byte stream, transparently gunzipped (gzip magic 1f 8b, whatever the name)."""
    p = Path(path)
    if not p.is_file():
        raise ImageDataError(f"{p}: no such file")
    with open(p, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(p, "rb") if gz else open(p, "rb")  # noqa: SIM115 (the caller closes it)


def _read_exact(f, n: int, name: str, what: str) -> bytes:
    try:
        data = f.read(n)
    except (OSError, EOFError, zlib.error) as exc:  # corrupt gzip stream
        raise ImageDataError(f"{name}: cannot read {what}: {exc}") from None
    if len(data) < n:
        raise ImageDataError(f"{name}: truncated: {what} needs {n} bytes, the file holds {len(data)}")
    return data


def read_idx(path: str | os.PathLike, ndim: int, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """The uint8 array of an IDX file with ``ndim`` dimensions (3 for images, 1 for labels)."""
    name = Path(path).name
    with _open(path) as f:
        head = _read_exact(f, 4, name, "the IDX header")
        if head[:2] != b"\0\0" or head[3] == 0:
            raise ImageDataError(f"{name}: not an IDX file (magic bytes {head.hex()}; an IDX file "
                                 f"starts 00 00 08 0{ndim})")
        kind, nd = head[2], head[3]
        if kind != 0x08:
            label = IDX_TYPES.get(kind, "unknown")
            raise ImageDataError(f"{name}: IDX element type 0x{kind:02X} ({label}); image and label "
                                 "files must hold unsigned bytes (0x08)")
        if nd != ndim:
            want = "images (n, rows, cols)" if ndim == 3 else "labels (n,)"
            raise ImageDataError(f"{name}: IDX file has {nd} dimensions; {want} need {ndim}")
        dims = struct.unpack(f">{nd}I", _read_exact(f, 4 * nd, name, "the IDX dimensions"))
        _check_shape(name, dims)
        size = math.prod(dims)
        if size > max_bytes:
            raise ImageDataError(f"{name}: header promises {size} bytes of data; the limit is {max_bytes}")
        body = _read_exact(f, size, name, f"the {' x '.join(map(str, dims))} data the header declares")
        extra = _read_exact_or_less(f, 1, name)
        if extra:
            raise ImageDataError(f"{name}: bytes beyond the {' x '.join(map(str, dims))} data the header "
                                 "declares (wrong header, or two files joined)")
    return np.frombuffer(body, np.uint8).reshape(dims).copy()


def _read_exact_or_less(f, n: int, name: str) -> bytes:
    try:
        return f.read(n)
    except (OSError, EOFError, zlib.error) as exc:
        raise ImageDataError(f"{name}: cannot read past the data: {exc}") from None


def _check_shape(name: str, dims: tuple[int, ...]) -> None:
    n = dims[0]
    if n == 0:
        raise ImageDataError(f"{name}: holds no items (count 0)")
    if n > MAX_IMAGES:
        raise ImageDataError(f"{name}: count {n} is absurd; the limit is {MAX_IMAGES}")
    if len(dims) == 3:
        h, w = dims[1], dims[2]
        if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
            raise ImageDataError(f"{name}: images of {h} x {w} pixels; each side must be 1..{MAX_SIDE}")


def read_npz(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> tuple[np.ndarray, np.ndarray | None]:
    """(images uint8 (n, h, w), labels int64 (n,) or None) from an NPZ file; see the module doc."""
    p = Path(path)
    name = p.name
    if not p.is_file():
        raise ImageDataError(f"{p}: no such file")
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImageDataError(f"{name}: not an NPZ file ({exc})") from None
    with zf:
        members = {m.filename.removesuffix(".npy"): m for m in zf.infolist()}
        xkey = next((k for k in IMAGE_KEYS if k in members), None)
        if xkey is None:
            raise ImageDataError(f"{name}: no image array; expected one named {' or '.join(IMAGE_KEYS)}, "
                                 f"found {sorted(members) or 'none'}")
        x = _npz_array(zf, members[xkey], name, xkey, max_bytes)
        ykey = next((k for k in LABEL_KEYS if k in members), None)
        y = _npz_array(zf, members[ykey], name, ykey, max_bytes) if ykey else None
    return _as_images(x, name, xkey), (None if y is None else _as_labels(y, len(x), name, ykey))


def _npz_array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, key: str, max_bytes: int) -> np.ndarray:
    where = f"{name}: array {key!r}"
    if info.file_size > max_bytes + 4096:  # the declared size: refuses zip bombs before inflating
        raise ImageDataError(f"{where} is {info.file_size} bytes; the limit is {max_bytes}")
    try:
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=4096)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=4096)
            if dtype.hasobject:
                raise ImageDataError(f"{where} holds Python objects; only numeric arrays are read")
            if dtype.kind not in "uif":
                raise ImageDataError(f"{where} has dtype {dtype}; images and labels must be numbers")
            count = math.prod(shape)
            if count * dtype.itemsize > max_bytes:
                raise ImageDataError(f"{where} is {count * dtype.itemsize} bytes; the limit is {max_bytes}")
            body = f.read(count * dtype.itemsize + 1)
    except ImageDataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ImageDataError(f"{where}: not a readable .npy array ({exc})") from None
    if len(body) != count * dtype.itemsize:
        raise ImageDataError(f"{where}: header declares shape {shape} of {dtype} "
                             f"({count * dtype.itemsize} bytes) but the array holds {len(body)} bytes")
    arr = np.frombuffer(body, dtype)
    return arr.reshape(shape, order="F" if fortran else "C")


def _as_images(x: np.ndarray, name: str, key: str) -> np.ndarray:
    where = f"{name}: array {key!r}"
    if x.ndim == 4 and x.shape[3] == 1:
        x = x[..., 0]
    elif x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise ImageDataError(f"{where} has shape {x.shape}: rows of {x.shape[1]} values are not "
                                 "square images; give (n, h, w)")
        x = x.reshape(len(x), side, side)
    if x.ndim != 3:
        raise ImageDataError(f"{where} has shape {x.shape}; images must be (n, h, w), (n, h, w, 1) "
                             "or (n, h*w)")
    _check_shape(f"{where}", x.shape)
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise ImageDataError(f"{where} holds NaN or infinite values")
        if x.min() < 0 or x.max() > 1:
            raise ImageDataError(f"{where}: float pixels must lie in [0, 1], found {x.min():g}..{x.max():g} "
                                 "(for 0..255 values, save them as uint8)")
        return np.rint(x * 255.0).astype(np.uint8)
    if x.min() < 0 or x.max() > 255:
        raise ImageDataError(f"{where}: integer pixels must lie in 0..255, found {x.min()}..{x.max()}")
    return x.astype(np.uint8)


def _as_labels(y: np.ndarray, n: int, name: str, key: str) -> np.ndarray:
    where = f"{name}: array {key!r}"
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ImageDataError(f"{where} has shape {y.shape}; labels must be (n,)")
    if len(y) != n:
        raise ImageDataError(f"{where}: {len(y)} labels for {n} images")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise ImageDataError(f"{where}: labels must be whole numbers")
    elif y.dtype.kind not in "ui":
        raise ImageDataError(f"{where} has dtype {y.dtype}; labels must be integers")
    if y.min() < 0 or y.max() > MAX_LABEL:
        raise ImageDataError(f"{where}: labels must lie in 0..{MAX_LABEL}, found {y.min()}..{y.max()}")
    return y.astype(np.int64)
