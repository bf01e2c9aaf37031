"""GAN Lab on a real JupyterHub, checked end to end in Chromium (docs/deploy.md, "On a JupyterHub").

    python scripts/check_jupyterhub.py --chp PATH/TO/configurable-http-proxy [--keep DIR]

Run it with the Python of an environment where ``jupyterhub`` and ganlab's notebook extra are
installed (``pip install jupyterhub -e ".[notebook]"``); configurable-http-proxy is npm's
(``npm install configurable-http-proxy``). Not part of the test suite: it needs both, and a hub
takes seconds to start. On loopback ports only, it starts a hub (DummyAuthenticator,
SimpleLocalProcessSpawner: servers run as this user, ``--allow-root`` when root) whose users land
on ``/user/<name>/ganlab/`` (``Spawner.default_url``), then, as user ``ada`` in Chromium: logs in,
trains the lab through the hub's proxy and Jupyter's, records, reconnects; starts a kernel through
the user's server (its REST API and websocket, as JupyterLab does) and runs ``ganlab.show(t)`` in
it; opens the cell's iframe in a page of the hub's origin; takes ``lab.trainer()`` back; shuts the
kernel down; stops the hub. Prints one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
USER = "ada"
READY = "window.ganlab && window.ganlab.ready && window.ganlab.frames > 0"

# Runs one cell in a kernel through the user's server: its channels websocket (JSON messages, as
# JupyterLab's kernel connection), collecting the cell's outputs until the kernel is idle again.
EXECUTE = """async ({base, kernel, code}) => {
  const ws = new WebSocket(new URL(`api/kernels/${kernel}/channels`, base).href.replace(/^http/, "ws"));
  await new Promise((ok, no) => { ws.onopen = ok; ws.onerror = () => no(new Error("websocket failed")); });
  const id = crypto.randomUUID(), out = [];
  const done = new Promise((ok) => { ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.parent_header.msg_id !== id || m.channel !== "iopub") return;
    if (["execute_result", "display_data", "stream", "error"].includes(m.msg_type)) out.push([m.msg_type, m.content]);
    if (m.msg_type === "status" && m.content.execution_state === "idle") ok();
  }; });
  ws.send(JSON.stringify({channel: "shell", buffers: [], parent_header: {}, metadata: {},
    header: {msg_id: id, msg_type: "execute_request", username: "ada", session: crypto.randomUUID(),
             date: new Date().toISOString(), version: "5.3"},
    content: {code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false,
              stop_on_error: true}}));
  await done;
  ws.close();
  return out;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ganlab_serves() -> list[int]:
    """This machine's `ganlab serve` processes (as jupyter-server-proxy and show start them)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline") as f:
                    args = f.read().split("\0")
            except OSError:
                continue
            if (args[1:4] == ["-m", "ganlab", "serve"] or args[1:3] == ["-m", "ganlab.notebook"]) and alive(int(entry)):
                out.append(int(entry))
    return out


def wait(cond, seconds: float, what: str):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if value := cond():
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {seconds} s waiting for {what}")


def hub_config(root: Path, chp: str, port: int) -> Path:
    bin_dir = Path(sys.executable).parent
    lines = [
        "c = get_config()  # noqa",
        "c.JupyterHub.ip = '127.0.0.1'",
        f"c.JupyterHub.port = {port}",
        f"c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{free_port()}'",
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{free_port()}'",
        f"c.ConfigurableHTTPProxy.command = [{chp!r}]",
        "c.JupyterHub.authenticator_class = 'dummy'",
        "c.Authenticator.allow_all = True",
        "c.JupyterHub.spawner_class = 'simple'",
        f"c.SimpleLocalProcessSpawner.home_dir_template = {str(root / 'home' / '{username}')!r}",
        f"c.Spawner.cmd = [{str(bin_dir / 'jupyterhub-singleuser')!r}]",
        f"c.Spawner.args = {['--allow-root'] if os.geteuid() == 0 else []!r}",
        "c.Spawner.default_url = '/ganlab/'  # users land on GAN Lab",
        f"c.JupyterHub.db_url = 'sqlite:///{root / 'hub.sqlite'}'",
        f"c.JupyterHub.cookie_secret_file = {str(root / 'cookie_secret')!r}",
        f"c.JupyterHub.pid_file = {str(root / 'hub.pid')!r}",
    ]
    (root / "home").mkdir()
    path = root / "jupyterhub_config.py"
    path.write_text("\n".join(lines) + "\n")
    return path


class Checks:
    def __init__(self):
        self.t0 = time.monotonic()
        self.failed = 0

    def ok(self, what: str, detail: str = "") -> None:
        print(f"{time.monotonic() - self.t0:7.1f} s  ok    {what}{'  (' + detail + ')' if detail else ''}", flush=True)

    def fail(self, what: str, why: str) -> None:
        self.failed += 1
        print(f"{time.monotonic() - self.t0:7.1f} s  FAIL  {what}: {why}", flush=True)


def run(args) -> int:
    checks = Checks()
    root = Path(args.keep or tempfile.mkdtemp(prefix="ganlab-hub-"))
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    hub_url = f"http://127.0.0.1:{port}"
    before = set(ganlab_serves())
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    with open(root / "hub.log", "wb") as log:  # the hub writes through its own copy
        hub = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(hub_config(root, args.chp, port))],
                               cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        def healthy():
            try:
                with urllib.request.urlopen(f"{hub_url}/hub/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return hub.poll() is not None
        wait(healthy, 60, "the hub")
        if hub.poll() is not None:
            checks.fail("hub starts", f"exited with {hub.returncode}; see {root / 'hub.log'}")
            return 1
        checks.ok("hub starts", hub_url)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                session(browser, hub_url, checks)
            except Exception as e:  # the step that raised is the failure; later steps need it
                checks.fail("(stopped)", f"{type(e).__name__}: {e}")
            finally:
                browser.close()
    finally:
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(hub.pid, signal.SIGKILL)
            hub.wait()
    try:
        wait(lambda: not set(ganlab_serves()) - before, 20, "every ganlab server to end")
        checks.ok("hub stopped: the user's server and its ganlab serve ended with it")
    except TimeoutError:
        checks.fail("hub stopped", f"ganlab servers left: {sorted(set(ganlab_serves()) - before)}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{'all checks passed' if not checks.failed else f'{checks.failed} check(s) failed'}")
    return 1 if checks.failed else 0


def session(browser, hub_url: str, checks: Checks) -> None:
    base = f"{hub_url}/user/{USER}/"
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    pg.goto(f"{hub_url}/hub/login")
    pg.fill("input[name=username]", USER)
    pg.fill("input[name=password]", "any")
    t = time.monotonic()
    pg.click("[type=submit]")
    pg.wait_for_url(f"{base}ganlab/**", timeout=120_000)
    pg.wait_for_function(READY, timeout=60_000)
    checks.ok("log in: the user's server starts and GAN Lab opens at /user/ada/ganlab/",
              f"{time.monotonic() - t:.1f} s to the first frame")

    pg.click("#play")
    pg.wait_for_function("window.ganlab.running && window.ganlab.lastMeta.epoch > 100", timeout=30_000)
    checks.ok("the page trains over its websocket through the hub's proxy and Jupyter's")
    frames = pg.evaluate("""import("./static/record.js").then(({recordSpan}) => {
        const snapshot = window.ganlab.session.snapshot;
        return recordSpan({snapshot, to: snapshot.epoch + 20, every: 10, size: 64}).then((r) => r.frames); })""")
    (checks.ok if frames == 3 else checks.fail)("Record (POST api/animate)", f"{frames} frames")
    held = pg.evaluate("window.ganlab.session.refreshSnapshot().then((s) => s.epoch)")
    pg.evaluate("""() => { const s = window.ganlab.session; window.after = [];
        s.addEventListener("reconnected", () => s.addEventListener("frame",
            (e) => window.after.push(e.detail.meta.epoch)));
        s.drop(); }""")
    pg.wait_for_function(f"window.ganlab.session.connected && window.after.some((e) => e > {held} + 50)",
                         timeout=30_000)
    low = min(pg.evaluate("window.after"))
    (checks.ok if low >= held else checks.fail)("reconnects after a dropped connection, from its snapshot",
                                                f"snapshot epoch {held}, first epoch after {low}")
    pg.click("#play")

    # A kernel, started and driven through the user's server as JupyterLab does.
    xsrf = next(c["value"] for c in context.cookies(base) if c["name"] == "_xsrf")
    r = context.request.post(f"{base}api/kernels", data=json.dumps({"name": "python3"}),
                             headers={"X-XSRFToken": xsrf, "Content-Type": "application/json"})
    kernel = r.json()["id"]
    checks.ok("a kernel starts in the user's server", kernel)

    def cell(code: str) -> list:
        out = pg.evaluate(EXECUTE, {"base": base, "kernel": kernel, "code": code})
        errors = [c for kind, c in out if kind == "error"]
        if errors:
            raise RuntimeError("\n".join(errors[0]["traceback"]))
        return out

    out = cell("import ganlab, ganlab.notebook as nb, json\nfrom ganlab import Trainer\n"
               "t = Trainer(data='ring', seed=3)\nt.train(200)\nlab = ganlab.show(t, width=880, height=700)\nlab")
    html = next(c["data"]["text/html"] for kind, c in out if kind == "execute_result")
    src = re.search(r'<iframe src="([^"]+)"', html).group(1).replace("&amp;", "&")
    good = re.fullmatch(rf"/user/{USER}/proxy/(\d+)/\?lab=[0-9a-f]{{32}}", src)
    (checks.ok if good else checks.fail)("ganlab.show in the kernel: its iframe goes through the user's proxy", src)
    pid = json.loads("".join(c["text"] for kind, c in cell("print(json.dumps(nb._server.proc.pid))")
                             if kind == "stream"))

    notebook_page = f"{base}notebooks/show.ipynb"  # JupyterLab is not needed: a page with the output
    nb_page = context.new_page()
    nb_page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    nb_page.route(notebook_page, lambda route: route.fulfill(content_type="text/html",
                                                             body=f"<body style='margin: 0'>{html}</body>"))
    nb_page.goto(notebook_page)
    lab = next(f for f in nb_page.frames if f != nb_page.main_frame)
    lab.wait_for_function(READY, timeout=60_000)
    epoch = lab.evaluate("window.ganlab.lastMeta.epoch")
    restored = lab.evaluate("window.ganlab.session.hello.lab")
    (checks.ok if epoch == 200 and restored["restored"] else checks.fail)(
        "the iframe opens the kernel's trainer", f"epoch {epoch}, lab {restored}")
    lab.click("#speed-max")
    lab.click("#play")
    lab.wait_for_function("window.ganlab.running && window.ganlab.lastMeta.epoch > 600", timeout=30_000)
    lab.click("#play")
    lab.wait_for_function("!window.ganlab.running")
    shown = lab.evaluate("window.ganlab.session.refreshSnapshot().then((s) => s.epoch)")
    back = json.loads("".join(c["text"] for kind, c in cell("print(json.dumps(lab.trainer().epoch))")
                              if kind == "stream"))
    (checks.ok if back == shown else checks.fail)("lab.trainer() is the page's state",
                                                  f"page epoch {shown}, trainer epoch {back}")
    nb_page.close()

    r = context.request.delete(f"{base}api/kernels/{kernel}", headers={"X-XSRFToken": xsrf})
    try:
        wait(lambda: not alive(pid), 20, "the kernel's ganlab server")
        checks.ok("shutting the kernel down stops its ganlab server", f"DELETE {r.status}")
    except TimeoutError as e:
        checks.fail("kernel shutdown", str(e))
    (checks.ok if not problems else checks.fail)("no error on the pages", "; ".join(problems))
    context.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chp", default=shutil.which("configurable-http-proxy"),
                    help="configurable-http-proxy executable (default: on PATH)")
    ap.add_argument("--keep", metavar="DIR", help="keep the hub's files and log in DIR")
    args = ap.parse_args()
    if not args.chp:
        ap.error("configurable-http-proxy not found: npm install configurable-http-proxy, then --chp")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
