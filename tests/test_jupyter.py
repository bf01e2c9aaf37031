"""ganlab inside a real Jupyter (ganlab/notebook.py): a real ``jupyter server`` with
jupyter-server-proxy at a JupyterHub user's base URL (/user/ada/), whose launcher entry (ganlab's
``jupyter_serverproxy_servers`` entry point) serves the lab at ``<jupyter>/ganlab/``, driven in
Chromium through Jupyter's proxy, and ends with Jupyter even when Jupyter is killed; and a real
IPython kernel (ipykernel, run by nbclient) with the hub's prefix that calls ``ganlab.show``,
whose iframe is opened through the same Jupyter server's ``proxy/<port>/``. (Behind a real
JupyterHub: scripts/check_jupyterhub.py, by hand.)

Needs the ``notebook`` extra's packages plus nbclient and nbformat (all in the ``test`` extra);
without them the tests skip with a reason, and fail where GANLAB_REQUIRE_JUPYTER=1 (CI)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from test_deploy import browser, get, record_and_reconnect, status, wait_for  # noqa: F401  (browser: a fixture)
from test_notebook import COMPARED, alive, same_state
from test_server_live import free_port

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ("jupyter_server", "jupyter_server_proxy", "nbclient", "nbformat", "ipykernel")
MISSING = [m for m in NEEDED if importlib.util.find_spec(m) is None]
if MISSING and os.environ.get("GANLAB_REQUIRE_JUPYTER") == "1":
    pytest.fail(f"GANLAB_REQUIRE_JUPYTER=1 but {', '.join(MISSING)} not installed "
                f'(pip install -e ".[test]")', pytrace=False)
pytestmark = [pytest.mark.skipif(bool(MISSING), reason=f"{', '.join(MISSING)} not installed "
                                                       f'(pip install -e ".[test]")'),
              pytest.mark.timeout(180)]

GROUP = "jupyter_serverproxy_servers"


def entry_point_dir(tmp: Path) -> Path | None:
    """Where ganlab is installed (CI: ``pip install -e ".[test]"``) its own metadata carries the
    entry point: None. Otherwise (a checkout on PYTHONPATH, no metadata) a directory holding the
    distribution metadata an install would write for the entry point, made from pyproject.toml's
    own table, to put on the Jupyter server's path."""
    if entry_points(group=GROUP, name="ganlab"):
        return None
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dist = tmp / f"ganlab-{project['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: ganlab\nVersion: {project['version']}\n")
    table = project["entry-points"][GROUP]
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in table.items()))
    return tmp


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            return f.read().split("\0")[:-1]
    except OSError:
        return []


class Jupyter:
    """``jupyter server`` (no browser, a token, a free port, a temporary root and config) in a
    subprocess of this interpreter, where ganlab's entry point is visible."""

    def __init__(self, tmp: Path, base: str = "/"):
        self.port, self.token, self.base = free_port(), secrets.token_hex(16), base
        path = [str(ROOT)] + ([str(d)] if (d := entry_point_dir(tmp / "meta")) else [])
        path += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        (tmp / "root").mkdir()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path),
                   JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_DATA_DIR=str(tmp / "data"),
                   JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), IPYTHONDIR=str(tmp / "ipython"))
        self.log = tmp / "jupyter.log"
        with open(self.log, "wb") as log:
            # --allow-root: CI runs as root
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
                 f"--port={self.port}", "--ip=127.0.0.1", f"--IdentityProvider.token={self.token}",
                 f"--ServerApp.base_url={base}",
                 f"--ServerApp.root_dir={tmp / 'root'}"],
                cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: self.proc.poll() is not None or status(self.url("api/status")) == 200, 60,
                     "jupyter server to answer")
            assert self.proc.poll() is None, self.tail()
        except BaseException:
            self.stop()
            raise

    def url(self, path: str, token: bool = True) -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}{self.base}{path}" + (f"{sep}token={self.token}" if token else "")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        """SIGKILL, as when Jupyter runs out of memory: it cleans nothing up. Whatever of its
        process group is left after that is the caller's to check, then :meth:`clean`'s."""
        self.proc.kill()
        self.proc.wait()

    def clean(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self.clean()


# A single-user server of a JupyterHub runs at /user/<name>/ and its kernels see the prefix in
# JUPYTERHUB_SERVICE_PREFIX; no hub is needed in front to serve the same paths.
HUB_PREFIX = "/user/ada/"


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    j = Jupyter(tmp_path_factory.mktemp("jupyter"), base=HUB_PREFIX)
    yield j
    started = children(j.proc.pid)
    # Jupyter killed outright (a graceful stop also stops what it started: scripts/check_jupyterhub.py)
    j.kill()
    try:
        for pid in started:  # the launcher's ganlab serve sees its parent gone and exits
            wait_for(lambda pid=pid: not alive(pid), 15, f"{cmdline(pid)}, started by jupyter, to end with it")
    finally:
        j.clean()


def test_the_launcher_serves_the_lab_at_ganlab_through_jupyter(jupyter, browser):  # noqa: F811
    """Jupyter's launcher lists GAN Lab (the entry point, its icon); ``<jupyter>/ganlab`` starts
    ``ganlab serve`` and the page, opened through the proxy, trains over its websocket, records
    (POST api/animate) and reconnects, with every request under /ganlab/; without Jupyter's
    token nothing of the lab is served; with it, the token leaves the page's address, its Link
    and the server's log."""
    code, body = get(jupyter.url("server-proxy/servers-info"))
    assert code == 200, body
    info = {s["name"]: s for s in json.loads(body)["server_processes"]}
    assert info["ganlab"]["launcher_entry"]["title"] == "GAN Lab", info
    assert info["ganlab"]["launcher_entry"]["path_info"] == "ganlab/"
    code, icon = get(jupyter.url(info["ganlab"]["launcher_entry"]["icon_url"].removeprefix(HUB_PREFIX)))
    assert code == 200 and icon.lstrip().startswith(b"<svg"), icon[:100]

    code, body = get(jupyter.url("ganlab/", token=False))  # Jupyter's sign-in page, not the lab
    assert b"<title>GAN Lab" not in body and not children(jupyter.proc.pid), (code, body[:300])

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    try:
        pg = context.new_page()
        urls: list[str] = []
        problems: list[str] = []
        pg.on("request", lambda r: urls.append(r.url))
        pg.on("websocket", lambda ws: urls.append(ws.url))
        pg.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        pg.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status} {r.url}"))
        pg.goto(jupyter.url("ganlab"))  # without the slash: the proxy redirects to ganlab/
        pg.wait_for_function("window.ganlab && window.ganlab.ready && window.ganlab.frames > 0", timeout=60_000)
        assert pg.url.startswith(jupyter.url("ganlab/", token=False)), pg.url
        # Jupyter's token signed the browser in (a cookie): the page drops it from its address,
        # so that its Link (a link to share) does not carry the key to the user's Jupyter.
        assert jupyter.token not in pg.url, pg.url
        pg.click("#copy-link")
        link = pg.evaluate("navigator.clipboard.readText()")
        assert link.startswith(jupyter.url("ganlab/", token=False)) and jupyter.token not in link, link
        pg.click("#play")
        pg.wait_for_function("window.ganlab.running && window.ganlab.lastMeta.epoch > 100", timeout=30_000)
        held = pg.evaluate("window.ganlab.session.refreshSnapshot().then((s) => s.epoch)")
        record_and_reconnect(pg, held, 30_000)
        assert not problems, problems
        # Jupyter writes its token as [secret] in its log; so does the ganlab serve it started.
        assert jupyter.token not in jupyter.log.read_text(errors="replace"), jupyter.tail()
        served = [pid for pid in children(jupyter.proc.pid) if cmdline(pid)[1:3] == ["-m", "ganlab.notebook"]]
        assert len(served) == 1, [cmdline(pid) for pid in children(jupyter.proc.pid)]  # ends with Jupyter: the fixture
        base = jupyter.url("ganlab/", token=False)
        assert any(u.startswith(base.replace("http://", "ws://") + "ws") for u in urls), urls
        assert any(u.startswith(base + "api/animate") for u in urls), urls
        stray = [u for u in urls if not u.startswith((base, base.replace("http://", "ws://")))
                 and u != jupyter.url("ganlab") and not u.startswith(("data:", "blob:"))]
        assert not stray, stray
    finally:
        context.close()


# The notebook, one cell at a time (the test drives the page between cells).
CELLS = {
    "show": """\
import ganlab, ganlab.notebook as nb
from ganlab import Trainer
t = Trainer(data="ring", seed=3, d_optimizer={"kind": "adam", "lr": 0.001})
t.train(200)
lab = ganlab.show(t, width=880, height=700)
lab""",
    "server": "import json; print(json.dumps([nb._server.proc.pid, nb._server.port, ganlab.__file__]))",
    "trainer": f"back = lab.trainer(); print(json.dumps({{k: back.snapshot()[k] for k in {COMPARED!r}}}))",
    "again": "again = ganlab.show('line'); print(json.dumps([nb._server.proc.pid, nb._server.port, again.url]))",
}


def run_cell(client, nb, name: str) -> list[dict]:
    index = list(CELLS).index(name)
    client.execute_cell(nb.cells[index], index)
    outputs = nb.cells[index].outputs
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert not errors, "\n".join(errors[0]["traceback"])
    return outputs


def printed(outputs: list[dict]):
    return json.loads("".join(o["text"] for o in outputs if o["output_type"] == "stream"))


def test_show_in_a_real_kernel_displays_the_lab_and_the_kernels_shutdown_stops_its_server(jupyter, browser, tmp_path):  # noqa: F811
    """An IPython kernel runs ``ganlab.show(trainer)``: the cell's result is the iframe (text/html)
    at Jupyter's proxy/<port>/; opened in Chromium it holds the kernel's trainer (epoch 200) and
    trains; ``lab.trainer()`` then equals the page's state; a second show reuses the server; the
    kernel's shutdown stops the server."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CELLS.values()])
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    context = None
    # The kernel as a hub's server starts it: the prefix in its environment.
    with client.setup_kernel(env=dict(os.environ, JUPYTERHUB_SERVICE_PREFIX=HUB_PREFIX)):
        result = [o for o in run_cell(client, nb, "show") if o["output_type"] == "execute_result"]
        assert len(result) == 1 and "text/html" in result[0]["data"], result
        html = result[0]["data"]["text/html"]
        pid, port, where = printed(run_cell(client, nb, "server"))
        assert Path(where).resolve().is_relative_to(ROOT), where  # this checkout's ganlab
        src = re.search(r'<iframe src="([^"]+)"', html).group(1).replace("&amp;", "&")
        assert re.fullmatch(rf"{HUB_PREFIX}proxy/{port}/\?lab=[0-9a-f]{{32}}", src), src
        assert status(f"http://127.0.0.1:{port}/healthz") == 200

        try:
            # The output as JupyterLab shows it: in a page of the Jupyter server's origin, signed in.
            context = browser.new_context(viewport={"width": 900, "height": 800})
            pg = context.new_page()
            problems: list[str] = []
            pg.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            pg.goto(jupyter.url("api/status"))  # Jupyter's token sign-in sets its cookie
            # JupyterLab's page, with the cell's output in it (JupyterLab itself is not installed).
            notebook_page = jupyter.url("lab/tree/show.ipynb", token=False)
            pg.route(notebook_page, lambda route: route.fulfill(
                content_type="text/html", body=f"<body style='margin: 0'>{html}</body>"))
            pg.goto(notebook_page)
            lab = next(f for f in pg.frames if f != pg.main_frame)
            lab.wait_for_function("window.ganlab && window.ganlab.ready && window.ganlab.frames > 0",
                                  timeout=60_000)
            assert lab.url.split("#")[0] == jupyter.url(src.removeprefix(HUB_PREFIX), token=False), lab.url
            assert lab.evaluate("window.ganlab.session.hello.lab") == {"restored": True, "message": None}
            assert lab.evaluate("window.ganlab.lastMeta.epoch") == 200
            lab.click("#speed-max")
            lab.click("#play")
            lab.wait_for_function("window.ganlab.running && window.ganlab.lastMeta.epoch > 600", timeout=30_000)
            lab.click("#play")
            lab.wait_for_function("!window.ganlab.running")
            page_state = lab.evaluate("window.ganlab.session.refreshSnapshot()")
            back = printed(run_cell(client, nb, "trainer"))
            assert back["epoch"] == page_state["epoch"] > 600
            assert same_state(back, page_state) == []
            assert not problems, problems
        finally:
            if context is not None:
                context.close()

        again_pid, again_port, again_url = printed(run_cell(client, nb, "again"))
        assert (again_pid, again_port) == (pid, port) and again_url != src
    # setup_kernel's exit shut the kernel down (a shutdown request, as Jupyter's "Shut Down Kernel")
    wait_for(lambda: not alive(pid), 15, "the notebook's server to end with its kernel")
