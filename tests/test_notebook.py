"""ganlab in a notebook (ganlab/notebook.py, server/labs.py): ``ganlab.show`` run by a Python
process standing in for a kernel (no Jupyter needed), its iframe HTML displayed in Chromium at a
notebook's width; one experiment across the API and the page, both ways; the labs routes; the
jupyter-server-proxy entry point."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_deploy import browser, wait_for  # noqa: F401  (browser: a fixture)
from test_fairness import request, serve  # noqa: F401  (serve: a fixture)
from test_server_protocol import Conn

from ganlab import Trainer
from ganlab.server.app import create_app
from ganlab.server.labs import KEY_HEADER, Labs
from ganlab.server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPARED = ("config", "epoch", "d_steps", "g_steps", "generator", "discriminator", "g_optimizer",
            "d_optimizer")

# The "kernel": builds a trainer, shows it, then answers one command per stdin line.
KERNEL = r"""
import json, sys
import ganlab, ganlab.notebook as nb
from ganlab import Trainer

t = Trainer(data="ring", seed=3, d_optimizer={"kind": "adam", "lr": 0.001})
t.train(300)
lab = ganlab.show(t, width=880, height=820)
say = lambda **kw: print(json.dumps(kw), flush=True)
say(html=lab._repr_html_(), pid=nb._server.proc.pid, port=nb._server.port, snapshot=t.snapshot(),
    modules=sorted(m for m in sys.modules if m.startswith(("fastapi", "uvicorn", "ganlab.server"))))
for line in sys.stdin:
    if line.strip() == "trainer":
        say(snapshot=lab.trainer().snapshot())
    elif line.strip() == "show":
        again = ganlab.show({"data": "line", "seed": 1})
        say(pid=nb._server.proc.pid, port=nb._server.port, url=again.url)
    else:
        break
"""


class Kernel:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", KERNEL], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=dict(os.environ, PYTHONPATH=str(ROOT)))

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        assert line, f"the kernel ended (status {self.proc.wait()})"
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def same_state(a: dict, b: dict) -> list[str]:
    return [k for k in COMPARED if a[k] != b[k]]


def test_import_ganlab_starts_and_imports_no_server():
    code = ("import sys, threading, ganlab; "
            "print(sorted(m for m in sys.modules if m.startswith(('fastapi', 'uvicorn', 'ganlab.server', "
            "'ganlab.notebook'))), threading.active_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout
    assert out.split() == ["[]", "1"], out


@pytest.mark.timeout(180)
def test_show_opens_the_notebooks_trainer_and_gives_the_pages_state_back(browser, tmp_path):  # noqa: F811
    """The kernel's trainer (epoch 300, Adam) opens in the iframe with its weights, optimizer
    state and epoch; the page trains on; lab.trainer() is exactly the page's state; the page's
    saved state file loads with Trainer.from_snapshot; a second show reuses the server; a
    reloaded iframe carries on; the server ends with the kernel."""
    kernel = Kernel()
    context = None
    try:
        first = kernel.read()
        assert first["modules"] == [] or "ganlab.server.app" not in first["modules"]  # in the child only
        src = re.search(r'<iframe src="([^"]+)"', first["html"]).group(1).replace("&amp;", "&")
        assert re.fullmatch(rf"http://127\.0\.0\.1:{first['port']}/\?lab=[0-9a-f]{{32}}", src), src
        context = browser.new_context(viewport={"width": 900, "height": 900}, accept_downloads=True)
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        pg = context.new_page()
        problems: list[str] = []
        pg.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        pg.set_content(f"<body style='margin: 0; width: 900px'>{first['html']}</body>")
        frame = pg.frame_locator("iframe")
        lab = next(f for f in pg.frames if f.url.startswith(src.split("?")[0]))
        lab.wait_for_function("window.ganlab && window.ganlab.ready && window.ganlab.frames > 0", timeout=30_000)
        given = first["snapshot"]
        assert lab.evaluate("window.ganlab.session.hello.lab") == {"restored": True, "message": None}
        assert frame.locator("#epoch").text_content() == "300"
        assert "notebook's experiment at epoch 300" in frame.locator("#status").text_content()
        page_state = lab.evaluate("window.ganlab.session.refreshSnapshot()")
        assert same_state(page_state, given) == []  # weights, optimizer state, epoch arrived
        # The websocket's URL, beside the page wherever it is served, with its lab.
        urls = lab.evaluate("""import("./static/socket.js").then(({socketUrl}) => [
            socketUrl(new URL("https://hub.example.org/user/x/proxy/8000/?lab=ab12#seed=1")),
            socketUrl(new URL("http://127.0.0.1:8000/ganlab/?a=1&lab=ab12"), false),
            socketUrl(location)])""")
        assert urls == ["wss://hub.example.org/user/x/proxy/8000/ws?lab=ab12",
                        "ws://127.0.0.1:8000/ganlab/ws", src.replace("http://", "ws://").replace("/?", "/ws?")]
        pg.screenshot(path=str(tmp_path / "iframe.png"))

        frame.locator("#speed-max").click()
        frame.locator("#play").click()
        lab.wait_for_function("window.ganlab.running && window.ganlab.lastMeta.epoch > 800", timeout=30_000)
        frame.locator("#play").click()
        lab.wait_for_function("!window.ganlab.running")
        page_state = lab.evaluate("window.ganlab.session.refreshSnapshot()")
        back = kernel.ask("trainer")["snapshot"]
        assert back["epoch"] == page_state["epoch"] > 800
        assert same_state(back, page_state) == []

        with pg.expect_download() as dl:
            frame.locator("#save-state").click()
        saved = json.loads(Path(dl.value.path()).read_text())
        assert "page" in saved  # the page's own settings ride along; from_snapshot passes them by
        restored = Trainer.from_snapshot(saved)
        assert same_state(restored.snapshot(), page_state) == []

        again = kernel.ask("show")
        assert (again["pid"], again["port"]) == (first["pid"], first["port"])  # the same server
        assert again["url"] != src
        # The second lab (a dict config) opens in its own page; its link names the experiment,
        # not the lab (opened elsewhere it must not become the lab's page).
        other = context.new_page()
        other.goto(again["url"])
        other.wait_for_function("window.ganlab && window.ganlab.ready && window.ganlab.frames > 0")
        assert other.evaluate("[window.ganlab.server.data, window.ganlab.server.seed]") == ["line", 1]
        other.click("#copy-link")
        link = other.evaluate("navigator.clipboard.readText()")
        assert "lab=" in other.url and "lab=" not in link and "#" in link, link
        other.close()

        lab.evaluate("location.reload()")  # JupyterLab re-attaching an output reloads its iframe
        lab.wait_for_function("window.ganlab && window.ganlab.ready && window.ganlab.frames > 0", timeout=30_000)
        assert lab.evaluate("window.ganlab.session.hello.lab.restored") is True
        assert frame.locator("#epoch").text_content() == str(page_state["epoch"])
        assert not problems, problems
    finally:
        if context is not None:
            context.close()
        if kernel.proc.poll() is None:
            kernel.proc.stdin.close()  # the "kernel" exits: atexit stops its server
            kernel.proc.wait(20)
    wait_for(lambda: not alive(first["pid"]), 10, "the server to end with its kernel")


def test_behind_jupyters_proxy_the_iframe_goes_through_it_and_any_host_is_answered():
    """On a JupyterHub (its prefix in the environment) the iframe points at jupyter-server-proxy's
    <prefix>proxy/<port>/, and the server answers the hub's Host that the proxy passes on."""
    code = ("import ganlab, ganlab.notebook as nb; lab = ganlab.show(); "
            "print(lab.url, nb._server.port, flush=True); input()")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), JUPYTERHUB_SERVICE_PREFIX="/user/ada"))
    try:
        url, port = proc.stdout.readline().split()
        assert re.fullmatch(rf"/user/ada/proxy/{port}/\?lab=[0-9a-f]{{32}}", url), url
        req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": "hub.example.org"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
    finally:
        proc.stdin.close()
        proc.wait(20)


def test_the_server_ends_when_its_kernel_is_killed():
    """A kernel killed outright runs no atexit: the server sees its stdin close and exits."""
    code = ("import ganlab, ganlab.notebook as nb, os, time; ganlab.show(); "
            "print(nb._server.proc.pid, flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        pid = int(proc.stdout.readline())
        assert alive(pid)
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: not alive(pid), 10, "the orphaned server to exit")


# --- the labs routes (server/labs.py) -----------------------------------------------------------

@pytest.fixture
def client():
    with TestClient(create_app(Settings(lab_key="k" * 32, heavy_processes=0, allowed_hosts=["testserver"]))) as c:
        yield c


def post_lab(client, body: bytes, key: str = "k" * 32):
    return client.post("/api/labs", content=body, headers={KEY_HEADER: key})


def test_labs_need_the_key_and_refuse_a_bad_state(client):
    t = Trainer(data="ring", seed=1)
    assert post_lab(client, t.snapshot_bytes(), key="wrong").status_code == 404
    assert client.get("/api/labs/" + "0" * 32 + "/snapshot").status_code == 404
    r = post_lab(client, b"GLS1 not a snapshot at all")
    assert r.status_code == 400 and r.json()["error"] == "bad_snapshot" and r.json()["message"], r.text
    with TestClient(create_app(Settings(heavy_processes=0, allowed_hosts=["testserver"]))) as plain:  # no key: no labs
        assert plain.post("/api/labs", content=b"", headers={KEY_HEADER: ""}).status_code == 404


def test_a_labs_state_opens_in_its_session_once_and_comes_back_after_it(client):
    t = Trainer(data="ring", seed=1)
    t.train(50)
    token = post_lab(client, t.snapshot_bytes()).json()["lab"]
    r = client.get(f"/api/labs/{token}/snapshot", headers={KEY_HEADER: "k" * 32})
    assert r.status_code == 404 and "no page" in r.json()["message"]
    with client.websocket_connect(f"/ws?lab={token}") as ws:
        conn = Conn(ws)  # replies read past the paced frames, which may come first
        hello = conn.hello
        assert hello["lab"] == {"restored": True, "message": None}
        assert (hello["epoch"], hello["d_steps"], hello["g_steps"]) == (50, t.d_steps, t.g_steps)
        assert conn.ok("step")["epoch"] == 51
        back = client.get(f"/api/labs/{token}/snapshot", headers={KEY_HEADER: "k" * 32})
        assert back.status_code == 200
        t.step("both")
        assert same_state(Trainer.from_bytes(back.content).snapshot(), t.snapshot()) == []
        with client.websocket_connect(f"/ws?lab={token}") as second:  # the state was taken
            assert second.receive_json()["lab"]["restored"] is False
    # Both pages went: the lab's newest page's state (the second's, epoch 0) waits for the next
    # page; the first page was no longer the lab's, so its state is not kept. (The server
    # notices a close a moment after the client made it.)
    wait_for(lambda: token in client.app.state.labs.handoffs and token not in client.app.state.labs.live,
             5, "the lab's page to be gone")
    with client.websocket_connect(f"/ws?lab={token}") as third:
        hello = third.receive_json()
        assert hello["lab"]["restored"] is True and hello["epoch"] == 0
    with client.websocket_connect("/ws?lab=" + "f" * 32) as stranger:  # an unknown lab: no lab
        assert "lab" not in stranger.receive_json()
    fresh = post_lab(client, b"").json()["lab"]  # show(None): the server's default experiment
    with client.websocket_connect(f"/ws?lab={fresh}") as ws:
        hello = ws.receive_json()
        assert hello["lab"] == {"restored": False, "message": None} and hello["epoch"] == 0


def test_a_labs_session_in_a_heavy_process_is_read_there_and_kept_when_it_ends(serve):  # noqa: F811
    """Every session is 'heavy' here: the lab's page moves to a heavy process at its first
    training chunk. lab.trainer()'s route still reads its state (there, over the pipe), and when
    the page goes, its state there becomes the lab's hand-off for the next page."""
    from websockets.asyncio.client import connect

    key = "k" * 32
    port, _, app = serve(Settings(lab_key=key, heavy_update=1e-9))
    base = f"http://127.0.0.1:{port}/api/labs"

    def http(path: str = "", body: bytes | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(base + path, data=body, headers={KEY_HEADER: key})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    t = Trainer(data="ring", seed=1, d_optimizer={"kind": "adam", "lr": 0.001})
    t.train(50)
    token = json.loads(http("", t.snapshot_bytes())[1])["lab"]

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/ws?lab={token}", max_size=None) as ws:
            hello = json.loads(await ws.recv())
            assert hello["lab"] == {"restored": True, "message": None} and hello["epoch"] == 50
            session = app.state.sessions[hello["session"]]
            await request(ws, 1, "play")
            end = time.monotonic() + 30
            while session.remote is None:
                assert time.monotonic() < end, "the lab's session did not move"
                await asyncio.sleep(0.02)
            await request(ws, 2, "pause")
            del session
            first = await asyncio.to_thread(http, f"/{token}/snapshot")
            step = await request(ws, 3, "step")
            second = await asyncio.to_thread(http, f"/{token}/snapshot")
        return first, step, second

    (s1, now), step, (s2, after) = in_a_thread(main)
    assert s1 == 200 and s2 == 200, (s1, now[:200], s2, after[:200])
    moved = Trainer.from_bytes(now)
    assert moved.epoch > 50 and step["epoch"] == moved.epoch + 1
    moved.step("both")  # the page's step, replayed here: the state read there is exact
    assert same_state(Trainer.from_bytes(after).snapshot(), moved.snapshot()) == []
    # The page went: the state it had in the heavy process waits for the lab's next page.
    wait_for(lambda: not app.state.sessions, 10, "the lab's page to be gone")
    held = app.state.labs.handoffs.get(token)
    assert held is not None and same_state(Trainer.from_bytes(held[0]).snapshot(), moved.snapshot()) == []

    async def again():
        async with connect(f"ws://127.0.0.1:{port}/ws?lab={token}", max_size=None) as ws:
            return json.loads(await ws.recv())

    hello = in_a_thread(again)
    assert hello["lab"] == {"restored": True, "message": None} and hello["epoch"] == moved.epoch


def in_a_thread(main):
    """asyncio.run(main()) in a thread of its own: the browser fixture's sync playwright keeps an
    event loop running in this one."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


def test_the_hand_offs_are_bounded_and_expire():
    labs = Labs(max_labs=3, max_bytes=100, ttl=0.2)
    tokens = [labs.create(b"x" * 10) for _ in range(4)]
    assert labs.take(tokens[0]) is None  # the oldest went first
    assert labs.take(tokens[1]) == b"x" * 10 and labs.take(tokens[1]) is None  # once
    big = labs.create(b"y" * 95)
    assert labs.take(tokens[2]) is None and labs.take(tokens[3]) is None  # bytes: 95 + 10 > 100
    assert labs.take(big) == b"y" * 95
    assert labs.put(big, b"z" * 101) is False  # larger than the whole budget
    late = labs.create(b"w")
    time.sleep(0.3)
    assert labs.take(late) is None  # expired
    # Lab tokens are bounded too, but a lab whose page is open stays known.
    page = object()
    labs.attach(tokens[0], page)
    for _ in range(40):
        labs.create(b"")
    assert len(labs.known) == 4 * 3 and tokens[0] in labs.known and tokens[1] not in labs.known


# --- jupyter-server-proxy ---------------------------------------------------------------------

def test_setup_proxy_starts_ganlab_serve_on_the_proxys_port():
    from ganlab.notebook import _free_port, setup_proxy

    spec = setup_proxy()
    assert spec["absolute_url"] is False and os.path.isfile(spec["launcher_entry"]["icon_path"])
    port = _free_port()
    command = [part.replace("{port}", str(port)) for part in spec["command"]]
    assert str(port) in command and "{port}" not in " ".join(command)
    proc = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    return r.status == 200
            except (OSError, urllib.error.URLError):
                return False

        wait_for(up, 30, "the proxied server to answer /healthz")
        # The proxy passes the browser's Host (e.g. hub.example.org): answered, not refused.
        req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": "hub.example.org"})
        with urllib.request.urlopen(req, timeout=5) as r:
            page = r.read().decode()
        assert 'src="static/main.js"' in page and '"/static' not in page  # relative: works under /ganlab/
    finally:
        proc.terminate()
        proc.wait(15)


def test_the_notebook_servers_watch_is_named_or_refused():
    """``python -m ganlab.notebook --watch X``: how the server knows whoever started it is gone
    (show's: its stdin; jupyter-server-proxy's: its parent)."""
    from ganlab.notebook import setup_proxy

    assert setup_proxy()["command"][1:5] == ["-m", "ganlab.notebook", "--watch", "parent"]
    bad = subprocess.run([sys.executable, "-m", "ganlab.notebook", "--watch", "pidfile", "--port", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert bad.returncode == 1 and "--watch takes one of stdin, parent" in bad.stderr, bad.stderr


def test_show_on_a_taken_port_says_so():
    import socket

    from ganlab.notebook import ServerError, show

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ServerError, match=rf"status 4:\s+ganlab: port {port} on 127.0.0.1 is in use"):
            show(port=port)


def test_the_page_names_no_url_from_the_servers_root():
    """Under a prefix (/ganlab/, /proxy/8000/) a root-relative URL would miss the server: every
    URL the page's modules and template name is relative (the Chromium tests above and in
    test_deploy follow what one visit requests; this catches a new module's fetch)."""
    root_relative = re.compile(r"""(fetch\(\s*|new WebSocket\(\s*|url\s*=\s*|(?:href|src)=)["'`]/(?!/)""")
    found = [f"{p.name}: {m.group(0)}" for p in [*(ROOT / "static").glob("*.js"), ROOT / "templates" / "index.html"]
             for m in root_relative.finditer(p.read_text())]
    assert not found, found
