"""Image sets: the vendored arrays against known counts and SHA-256 checksums, Fashion-MNIST when
installed, IDX and NPZ user files, and every kind of bad file refused with a message naming it."""

import gzip
import hashlib
import os
import struct
import zipfile

import numpy as np
import pytest

from ganlab.data import DataError
from ganlab.data import images as imgs
from ganlab.data.images import ImageDataError, fashion_available, load_images, to_unit


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


# -- vendored and installed sets -----------------------------------------------------------------


@pytest.mark.parametrize("name, n, side, vmax, per_class, sha_x, sha_y", [
    ("digits8", 1797, 8, 16, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180],
     "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3",
     "8ba4f891220f5e4c9c819638d1602d74b83618f167043c6da52a2a247841ddf0"),
    ("mnist", 5000, 28, 255, [500] * 10,
     "2913c6b6527114b7307e1086335a7665e3f94c74aba3d67525e6f116bf5ae20f",
     "41b7b0a9d94690a3a2f54a1d01a9f1cc1b9512e3954fb737ad5ed9f66972403d"),
])
def test_vendored_sets(name, n, side, vmax, per_class, sha_x, sha_y):
    X, y, meta = load_images(name)
    assert X.dtype == np.uint8 and X.shape == (n, side, side)
    assert y.dtype == np.int64 and y.shape == (n,)
    assert np.bincount(y).tolist() == per_class
    assert X.max() == vmax == meta["max_value"] and X.min() == 0
    assert meta["side"] == side and len(meta["classes"]) == 10 and meta["licence"]
    assert sha(X) == sha_x and sha(y.astype(np.uint8)) == sha_y


def test_vendored_files_are_small():
    sizes = {p.name: p.stat().st_size for p in imgs.VENDORED.glob("*.npz")}
    assert set(sizes) == {"digits8.npz", "mnist5k.npz"}
    assert sum(sizes.values()) < 1_000_000
    assert "CC BY-SA 3.0" in (imgs.VENDORED / "NOTICE.md").read_text()


# CI installs the Debian package and sets GANLAB_REQUIRE_DATASETS=1: there a missing set fails.
@pytest.mark.skipif(not fashion_available() and os.environ.get("GANLAB_REQUIRE_DATASETS") != "1",
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_fashion_from_debian_package():
    X, y, meta = load_images("fashion")
    assert X.shape == (70000, 28, 28) and meta["n_train"] == 60000
    assert np.bincount(y[:60000]).tolist() == [6000] * 10 and np.bincount(y[60000:]).tolist() == [1000] * 10
    assert sha(X) == "0fbbfcb392782b3b702472ead3688778e1509e8cf40f5c24d9d3303618b193ab"
    assert sha(y.astype(np.uint8)) == "8ab940a680640f36c0bf1d2549cb2f3b3d4068c12547116cc7b1161b1d26663d"
    assert meta["classes"][9] == "Ankle boot"


def test_fashion_missing_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(imgs, "FASHION_DIR", tmp_path)
    with pytest.raises(ImageDataError, match="apt-get install dataset-fashion-mnist") as e:
        load_images("fashion")
    assert "labels=" in str(e.value)


def test_unknown_name_lists_the_sets():
    with pytest.raises(DataError, match="unknown image set 'cifar'.*digits8, mnist, fashion"):
        load_images("cifar")


def test_to_unit_maps_to_tanh_range():
    X, _, meta = load_images("digits8")
    x = to_unit(X, meta["max_value"])
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_allclose(x[0], X[0].ravel() / 8.0 - 1.0)


# -- IDX files -----------------------------------------------------------------------------------


def idx_bytes(a, kind=0x08):
    return bytes([0, 0, kind, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def small():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (7, 5, 4), dtype=np.uint8), rng.integers(0, 10, 7).astype(np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, small, gz):
    X, y = small
    ext = ".gz" if gz else ""
    xi = write(tmp_path / f"imgs-idx3-ubyte{ext}", idx_bytes(X), gz)
    yi = write(tmp_path / f"labs-idx1-ubyte{ext}", idx_bytes(y), gz)
    X2, y2, meta = load_images(xi, labels=yi)
    assert np.array_equal(X2, X) and np.array_equal(y2, y) and y2.dtype == np.int64
    assert meta["side"] == 5 and meta["max_value"] == 255
    X3, y3, _ = load_images(xi)
    assert np.array_equal(X3, X) and y3 is None


def bad_idx_cases(X, y):
    good = idx_bytes(X)
    return {
        "wrong magic": (b"\x89PNG" + good[4:], "not an IDX file"),
        "float elements": (idx_bytes(X.astype(">f4"), 0x0D)[:4] + good[4:], r"0x0D \(float32\)"),
        "labels as images": (idx_bytes(y), "1 dimensions; images"),
        "truncated body": (good[:-5], "truncated: the 7 x 5 x 4 data"),
        "truncated header": (good[:6], "truncated: the IDX dimensions"),
        "bytes to spare": (good + b"\0", "bytes beyond the 7 x 5 x 4 data"),
        "zero count": (bytes([0, 0, 8, 3]) + struct.pack(">3I", 0, 5, 4), "count 0"),
        "absurd count": (bytes([0, 0, 8, 3]) + struct.pack(">3I", 4_000_000_000, 28, 28), "absurd"),
        "huge side": (bytes([0, 0, 8, 3]) + struct.pack(">3I", 10, 70000, 28), "each side must be 1..256"),
        "header beyond the limit": (bytes([0, 0, 8, 3]) + struct.pack(">3I", 900_000, 256, 256), "the limit is"),
        "empty file": (b"", "truncated: the IDX header"),
    }


@pytest.mark.parametrize("case", list(bad_idx_cases(np.zeros((7, 5, 4), np.uint8), np.zeros(7, np.uint8))))
@pytest.mark.parametrize("gz", [False, True])
def test_bad_idx_files_are_refused(tmp_path, small, case, gz):
    data, message = bad_idx_cases(*small)[case]
    f = write(tmp_path / "bad-idx3-ubyte", data, gz)
    with pytest.raises(ImageDataError, match=message) as e:
        load_images(f)
    assert "bad-idx3-ubyte" in str(e.value)


def test_idx_labels_must_match_images(tmp_path, small):
    X, y = small
    xi = write(tmp_path / "i.idx", idx_bytes(X))
    yi = write(tmp_path / "l.idx", idx_bytes(y[:-1]))
    with pytest.raises(ImageDataError, match="l.idx: 6 labels for the 7 images of i.idx"):
        load_images(xi, labels=yi)
    with pytest.raises(ImageDataError, match="images \\(n, rows, cols\\)|labels \\(n,\\) need 1"):
        load_images(xi, labels=xi)


def test_idx_gzip_bomb_and_corrupt_gzip(tmp_path, small):
    X, _ = small
    # A valid header and then 50 MB of zeros compressed to ~50 KB: refused after one extra byte.
    bomb = gzip.compress(idx_bytes(X) + bytes(50_000_000), compresslevel=1)
    f = write(tmp_path / "bomb.gz", bomb)
    with pytest.raises(ImageDataError, match="bytes beyond"):
        load_images(f)
    broken = gzip.compress(idx_bytes(X))
    f = write(tmp_path / "broken.gz", broken[:20] + b"\xff" * 8 + broken[28:])
    with pytest.raises(ImageDataError, match="broken.gz"):
        load_images(f)


def test_idx_max_bytes_is_honoured(tmp_path, small):
    X, _ = small
    f = write(tmp_path / "x.idx", idx_bytes(X))
    with pytest.raises(ImageDataError, match="promises 140 bytes of data; the limit is 100"):
        load_images(f, max_bytes=100)


def test_missing_file(tmp_path):
    with pytest.raises(ImageDataError, match="no such file"):
        load_images(tmp_path / "nope.idx")
    with pytest.raises(ImageDataError, match="no such file"):
        load_images(tmp_path / "nope.npz")


# -- NPZ files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("x_key, y_key, shape, dtype", [
    ("x", "y", (7, 5, 5), np.uint8),
    ("images", "labels", (7, 25), np.float32),
    ("x", None, (7, 5, 5, 1), np.int32),
])
def test_npz_round_trip(tmp_path, x_key, y_key, shape, dtype):
    rng = np.random.default_rng(2)
    pix = rng.integers(0, 256, (7, 5, 5), dtype=np.uint8)
    x = (pix / 255.0).astype(dtype) if np.dtype(dtype).kind == "f" else pix.astype(dtype)
    arrays = {x_key: x.reshape(shape)}
    if y_key:
        arrays[y_key] = rng.integers(0, 10, 7)
    f = tmp_path / "set.npz"
    np.savez(f, **arrays)
    X, y, meta = load_images(f)
    assert np.array_equal(X, pix) and X.dtype == np.uint8
    assert (y is None) == (y_key is None)
    if y_key:
        assert np.array_equal(y, arrays[y_key])
    assert meta["side"] == 5


def npz_cases(tmp_path):
    ok = np.zeros((4, 6, 6), np.uint8)
    lab = np.arange(4)
    return {
        "no image array": ({"pixels": ok}, "no image array; expected one named x or images, found \\['pixels'\\]"),
        "objects": ({"x": np.array([ok, "a"], dtype=object)}, "Python objects"),
        "strings": ({"x": np.array(["a", "b"])}, "dtype <U1"),
        "booleans": ({"x": np.zeros((4, 6, 6), bool)}, "dtype bool; images and labels must be numbers"),
        "one dimension": ({"x": np.zeros(36, np.uint8)}, "shape \\(36,\\); images must be"),
        "not square rows": ({"x": np.zeros((4, 30), np.uint8)}, "30 values are not square"),
        "floats beyond 1": ({"x": np.full((4, 6, 6), 3.0)}, "must lie in \\[0, 1\\], found 3..3"),
        "NaN": ({"x": np.full((4, 6, 6), np.nan)}, "NaN"),
        "negative ints": ({"x": np.full((4, 6, 6), -1)}, "0..255, found -1..-1"),
        "label count": ({"x": ok, "y": lab[:3]}, "3 labels for 4 images"),
        "negative label": ({"x": ok, "y": lab - 1}, "labels must lie in 0..255"),
        "fractional label": ({"x": ok, "y": lab + 0.5}, "whole numbers"),
        "2D labels": ({"x": ok, "labels": np.zeros((4, 3))}, "labels must be \\(n,\\)"),
        "no images": ({"x": np.zeros((0, 6, 6), np.uint8)}, "count 0"),
    }


@pytest.mark.parametrize("case", list(npz_cases(None)))
def test_bad_npz_files_are_refused(tmp_path, case):
    arrays, message = npz_cases(tmp_path)[case]
    f = tmp_path / "bad.npz"
    np.savez(f, **arrays)
    with pytest.raises(ImageDataError, match=message) as e:
        load_images(f)
    assert "bad.npz" in str(e.value)


def npy_header(d):
    """A version 1.0 .npy header for the dict literal ``d``."""
    body = d.encode().ljust(117) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


def test_npz_truncated_not_zip_and_lying_headers(tmp_path):
    f = tmp_path / "cut.npz"
    np.savez_compressed(f, x=np.random.default_rng(0).integers(0, 255, (50, 8, 8), dtype=np.uint8))
    f.write_bytes(f.read_bytes()[:-200])
    with pytest.raises(ImageDataError, match="cut.npz: not an NPZ file"):
        load_images(f)
    g = tmp_path / "text.npz"
    g.write_text("x,y\n1,2\n")
    with pytest.raises(ImageDataError, match="text.npz: not an NPZ file"):
        load_images(g)
    # An .npy header promising more data than the member holds.
    h = tmp_path / "short.npz"
    header = npy_header("{'descr': '|u1', 'fortran_order': False, 'shape': (9, 8, 8), }")
    with zipfile.ZipFile(h, "w") as z:
        z.writestr("x.npy", header + bytes(100))
    with pytest.raises(ImageDataError, match="header declares shape \\(9, 8, 8\\).*holds 100 bytes"):
        load_images(h)
    # A header promising a petabyte is refused before anything is read.
    big = tmp_path / "big.npz"
    header = npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 8, 8), }")
    with zipfile.ZipFile(big, "w") as z:
        z.writestr("x.npy", header)
    with pytest.raises(ImageDataError, match="the limit is"):
        load_images(big)


def test_npz_zip_bomb_is_refused_from_the_directory(tmp_path):
    f = tmp_path / "bomb.npz"
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", bytes(3_000_000))
    with pytest.raises(ImageDataError, match="3000000 bytes; the limit is 1000000"):
        load_images(f, max_bytes=1_000_000)


def test_npz_huge_npy_header_and_wrong_argument(tmp_path):
    f = tmp_path / "hdr.npz"
    d = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2), " + " " * 70000 + "}"
    body = d.encode() + b"\n"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("x.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", len(body)) + body + bytes(8))
    with pytest.raises(ImageDataError, match="hdr.npz: array 'x': not a readable .npy array"):
        load_images(f)
    g = tmp_path / "ok.npz"
    np.savez(g, x=np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ImageDataError, match="ok.npz: an NPZ file carries its own labels"):
        load_images(g, labels=g)
    with pytest.raises(ImageDataError, match="mnist is a built-in set"):
        load_images("mnist", labels=g)
