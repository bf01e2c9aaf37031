"""POST /api/images: the user's own IDX / NPZ image sets through the image loaders, trained by
name like a built-in set; bad files refused with the file and the problem named."""

from __future__ import annotations

import gzip
import io
import struct

import numpy as np
import pytest
from test_server_protocol import Conn, make_client

from ganlab.data.images import IMAGE_SETS, load_images
from ganlab.server import image_uploads
from ganlab.server.schema import build_schema

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_UPLOAD_DIR", str(tmp_path))
    with make_client() as c:
        yield c


def idx(array: np.ndarray) -> bytes:
    """IDX bytes of a uint8 array: magic (0, 0, 8, ndim), big-endian dims, then the data."""
    return struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_an_npz_set_uploads_and_trains_by_name(client, tmp_path):
    X, y, _ = load_images("digits8")
    X = (X[:300] * 15).astype(np.uint8)
    r = client.post("/api/images?name=my digits.npz", content=npz(images=X, labels=y[:300].astype(np.uint8)))
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["name"].startswith("upload-") and len(d["name"]) == 19
    assert (d["n"], d["image_shape"], d["classes"]) == (300, [8, 8], [str(i) for i in range(10)])
    assert d["label"] == "my digits.npz" and len(d["preview_images"]) == 4
    assert (tmp_path / f"{d['name']}.npz").is_file()
    with client.websocket_connect("/ws") as ws:
        ack = Conn(ws).ok("data", name=d["name"], apply_preset=True)  # reads past paced frames
        assert ack["config"]["data"] == d["name"], ack
    # The upload is its uploader's: no page's schema lists it (a worker that had registered one
    # before building its schema listed it, preview images and all, to every later page).
    build_schema.cache_clear()
    schema = client.get("/api/schema").json()
    assert d["name"] not in [x["name"] for x in schema["distributions"]]
    assert d["name"] not in next(f for f in schema["config"]["fields"] if f["path"] == "data")["choices"]
    assert "digits8" in [x["name"] for x in schema["distributions"]]
    # Another worker of the machine (a fresh registry) finds the stored set by its name.
    del IMAGE_SETS[d["name"]]
    assert image_uploads.ensure(d["name"]) and IMAGE_SETS[d["name"]]["side"] == 8
    assert not image_uploads.ensure("upload-000000000000") and not image_uploads.ensure("../etc")


def test_an_idx_pair_gzipped_uploads_with_its_labels(client):
    X = np.random.default_rng(0).integers(0, 256, (20, 6, 6), dtype=np.uint8)
    y = np.arange(20, dtype=np.uint8) % 3
    images, labels = gzip.compress(idx(X)), idx(y)
    r = client.post(f"/api/images?name=t-images-idx3-ubyte.gz&labels=t-labels-idx1-ubyte&split={len(images)}",
                    content=images + labels)
    assert r.status_code == 200, r.text
    assert (r.json()["n"], r.json()["classes"]) == (20, ["0", "1", "2"])
    # Without labels: one class, "unlabelled".
    r = client.post("/api/images?name=t.idx", content=idx(X))
    assert r.json()["classes"] == ["unlabelled"]


@pytest.mark.parametrize("name, body, query, message", [
    ("bad.npz", b"PK\x03\x04 not a zip", "", "bad.npz: not an NPZ file"),
    ("wide.idx", idx(np.zeros((2, 5, 4), np.uint8)), "", "wide.idx: images of 5 x 4 pixels; only square"),
    ("big.idx", idx(np.zeros((2, 40, 40), np.uint8)), "", "big.idx: images of 40 x 40 pixels; at most 32"),
    ("cut.idx", idx(np.zeros((4, 8, 8), np.uint8))[:-10], "", "cut.idx"),
    ("a.idx", idx(np.zeros((2, 8, 8), np.uint8)), "&labels=b.idx&split=999999", "split:"),
    ("../../evil.npz", b"nope", "", "evil.npz: not an NPZ file"),
])
def test_bad_files_are_refused_naming_the_file_and_the_problem(client, tmp_path, name, body, query, message):
    r = client.post(f"/api/images?name={name}{query}", content=body)
    assert r.status_code == 400 and r.json()["error"].startswith(message), r.json()
    assert not list(tmp_path.glob("upload-*"))  # nothing stored, nothing registered
