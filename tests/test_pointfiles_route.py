"""POST /api/points: the page's import goes through the CLI's parser, with the CLI's messages."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ganlab.data.pointsets import MAX_BYTES
from ganlab.server.app import create_app
from ganlab.server.settings import Settings

BAD = "x,y\n0.1,0.2\n0.3,abc\n0.5\n"  # a non-numeric cell (line 3) and a one-column row (line 4)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(allowed_hosts=["testserver"]))) as c:  # TestClient's Host
        yield c


def cli_message(tmp_path, name: str, content: bytes) -> str:
    """What `ganlab train --data-file NAME` says about the file (run where the file is)."""
    (tmp_path / name).write_bytes(content)
    r = subprocess.run([sys.executable, "-m", "ganlab", "train", "--data-file", name, "--epochs", "1"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    return r.stderr.strip().removeprefix("ganlab: ").removeprefix("invalid data: ")


def test_bad_rows_are_refused_with_the_clis_message(client, tmp_path):
    r = client.post("/api/points", params={"name": "bad.csv"}, content=BAD.encode())
    assert r.status_code == 400
    assert r.json()["error"] == "bad.csv line 3, column 2: 'abc' is not a number"
    assert r.json()["error"] == cli_message(tmp_path, "bad.csv", BAD.encode())


@pytest.mark.parametrize("name, content", [
    ("one.csv", b"x,y\n0.1,0.2\n0.5\n"),
    ("nan.csv", b"0.1,nan\n"),
    ("bad.json", b"[[0.1, 0.2], [0.3]]"),
    ("broken.json", b"[[0.1, 0.2],"),
    ("empty.csv", b"  \n"),
    ("pts.txt", b"0.1,0.2\n"),
])
def test_every_refusal_matches_the_cli(client, tmp_path, name, content):
    r = client.post("/api/points", params={"name": name}, content=content)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == cli_message(tmp_path, name, content)


def test_good_files_give_points_fitted_into_the_square(client):
    r = client.post("/api/points", params={"name": "p.csv"}, content=b"x,y\n0.25,0.5\n0.75,0.5\n")
    assert r.status_code == 200
    assert r.json() == {"points": [[0.25, 0.5], [0.75, 0.5]], "n": 2, "fitted": False, "note": None}
    r = client.post("/api/points", params={"name": "p.json"}, content=b'{"points": [[-1, 0], [3, 2]]}')
    body = r.json()
    assert r.status_code == 200 and body["fitted"] is True
    assert np.allclose(body["points"], [[0.05, 0.275], [0.95, 0.725]], atol=1e-12)  # scale 0.9 / 4, centred


def test_oversized_file_gets_the_clis_size_message(client, tmp_path):
    big = b"0.5,0.5\n" * (MAX_BYTES // 8 + 1)
    r = client.post("/api/points", params={"name": "big.csv"}, content=big)
    assert r.status_code == 413
    assert r.json()["error"] == cli_message(tmp_path, "big.csv", big)
