"""Small pieces of the server: settings, origins, binary frames, JSON without NaN, the schema,
the workers' shared session table."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from ganlab.server.balance import Balancer
from ganlab.server.frames import HEADER, decode, dumps, encode
from ganlab.server.origins import origin_allowed
from ganlab.server.schema import build_schema
from ganlab.server.settings import Settings

pytestmark = pytest.mark.timeout(30)


def test_settings_round_trip_through_env():
    s = Settings.create(allowed_origins="https://a.example, https://b.example/", max_sessions=3,
                        idle_timeout=12.5, rate_limit=None)
    assert s.allowed_origins == ["https://a.example", "https://b.example"]
    assert s.rate_limit == 200.0, "None means default (the CLI passes unset options as None)"
    assert Settings.from_env(s.to_env()) == s
    with pytest.raises(TypeError):
        Settings.create(nope=1)
    with pytest.raises(ValueError):
        Settings(max_sessions=0)


@pytest.mark.parametrize("origin,host,allowed,ok", [
    (None, "h:1", [], True),
    ("http://h:1", "h:1", [], True),
    ("http://127.0.0.1:5173", "x:1", [], True),
    ("http://localhost", "x:1", [], True),
    ("http://evil.example", "127.0.0.1:8000", [], False),
    ("http://127.0.0.1:80.evil.example", "x:1", [], False),
    ("null", "x:1", [], False),
    ("https://lab.example.org", "x:1", ["https://lab.example.org"], True),
    ("https://lab.example.org:444", "x:1", ["https://lab.example.org:*"], True),
    ("http://evil.example", "x:1", ["*"], True),
])
def test_origins(origin, host, allowed, ok):
    assert origin_allowed(origin, host, allowed) is ok


def test_binary_frame_layout_is_aligned_and_round_trips():
    rng = np.random.default_rng(0)
    layers = {"real": rng.random((7, 2)), "heatmap": rng.random((3, 3)),
              "manifold_area": np.array([[np.nan, np.inf, -np.inf]])}
    data = encode(42, layers)
    assert data[:4] == b"GLF1"
    head = np.frombuffer(data, "<u4", count=4)
    assert head[1] == 42 and head[2] == 3 and head[3] == 0
    table = np.frombuffer(data, "<u4", count=12, offset=HEADER).reshape(3, 4)
    assert list(table[:, 0]) == [1, 3, 7]
    assert all(off % 4 == 0 for off in table[:, 3])
    assert table[0, 3] == HEADER + 16 * 3
    seq, back = decode(data)
    assert seq == 42 and list(back) == list(layers)
    np.testing.assert_allclose(back["real"], layers["real"], rtol=1e-6)
    assert back["manifold_area"][0, 0] == 0 and np.isfinite(back["manifold_area"]).all()


def test_json_never_holds_non_finite_numbers():
    text = dumps({"a": math.nan, "b": [1.0, math.inf], "c": {"d": -math.inf}, "e": np.float64(2)})
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": {"d": None}, "e": 2.0}


def test_schema_is_json_and_complete():
    s = build_schema()
    json.dumps(s, allow_nan=False)
    paths = {f["path"] for f in s["config"]["fields"]}
    assert {"seed", "loss", "generator.layers", "d_optimizer.lr", "k_d", "batch_size"} <= paths
    assert all("type" in f and "default" in f and "restart" in f for f in s["config"]["fields"])


def test_balancer_refuses_only_while_another_worker_has_fewer_sessions(tmp_path):
    me = Balancer(tmp_path)  # this process
    other = Balancer(tmp_path, pid=os.getppid())  # a live process standing in for a 2nd worker
    me.publish(3)
    other.publish(2)
    assert me.others() == {os.getppid(): 2} and other.others() == {os.getpid(): 3}
    assert not me.admit(0) and not me.admit(3)  # 3 >= 2 + 1: send the client elsewhere
    assert me.admit(4)  # the 4th retry is admitted wherever it lands
    assert other.admit(0)
    other.publish(3)
    assert me.admit(0) and other.admit(0)  # level: both admit
    me.close()
    assert other.others() == {} and other.admit(0)


def test_balancer_forgets_workers_that_died(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    (tmp_path / str(pid)).write_text("0")
    me = Balancer(tmp_path)
    me.publish(5)
    assert me.others() == {} and me.admit(0)
    assert not (tmp_path / str(pid)).exists()


def test_repeats_filter_keeps_one_line_per_window(monkeypatch):
    import logging

    from ganlab.server import logs

    now = [100.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: now[0])
    f = logs.Repeats(("client did %s",), window=10.0)
    records = []

    def emit(msg, *args):
        try:
            raise ValueError("boom")
        except ValueError:
            import sys
            r = logging.LogRecord("x", logging.ERROR, __file__, 1, msg, args, sys.exc_info())
        if f.filter(r):
            records.append(r)

    for i in range(50):
        emit("client did %s", i)
        emit("something else %s", i)
    assert len([r for r in records if r.msg == "client did %s"]) == 1
    assert len([r for r in records if r.msg == "something else %s"]) == 50, "others untouched"
    assert records[0].exc_info is None, "no traceback"
    now[0] += 10.0
    emit("client did %s", "again")
    assert records[-1].getMessage() == "client did again (49 more since the last such line)"


def test_secrets_filter_writes_a_jupyter_token_or_a_lab_in_a_logged_query_as_secret():
    import logging

    from ganlab.server import logs

    def line(path: str) -> str:  # uvicorn's access line
        r = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                              ("127.0.0.1:5", "GET", path, "1.1", 200), None)
        assert logs.Secrets().filter(r)
        return r.getMessage()

    assert line("/?token=abc123") == '127.0.0.1:5 - "GET /?token=[secret] HTTP/1.1" 200'
    assert "GET /static/x.js?a=1&token=[secret]&lab=[secret] HTTP" in line("/static/x.js?a=1&token=abc&lab=ff")
    assert "GET /?lab=[secret] HTTP" in line("/?lab=0123abcd")  # a notebook's lab (labs.py)
    assert "GET /?mytoken=abc&mylab=ff HTTP" in line("/?mytoken=abc&mylab=ff")  # only `token` and `lab`
