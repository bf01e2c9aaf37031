"""deploy/'s Dockerfile and compose file, checked without Docker (no container engine runs on the
development machine or in CI, so the image is never built here): every COPY source exists and
every file the package loads is shipped by its install; the image stood in for on this machine
(its COPYs laid out in a temporary WORKDIR, its ENV, its CMD run as written on a free port)
serves the page, passes its own HEALTHCHECK command and stops on its STOPSIGNAL; the compose
file's commands are valid ``ganlab serve`` command lines whose ports, settings, grace period and
replica names agree with the image and with nginx's upstream."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
from test_deploy import get, status, wait_for
from test_server_live import free_port

from ganlab.cli import build_parser
from ganlab.server.settings import ENV_PREFIX, Settings

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (pip install -e \".[test]\")")

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def dockerfile(path: Path = DEPLOY / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    out, pending = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def exec_form(args: str) -> list[str]:
    """A CMD/HEALTHCHECK CMD argument in exec form (a JSON array), as Docker requires for PID 1
    to get the stop signal itself."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(a, str) for a in value), args
    return value


def the(instructions, name: str) -> list[str]:
    return [args for word, args in instructions if word == name]


def serve_args(command: list[str]):
    """``ganlab serve ...`` parsed by ganlab's own parser (an unknown or malformed option fails)."""
    assert command[:2] == ["ganlab", "serve"], command
    return build_parser().parse_args(command[1:])


def healthcheck(instructions) -> list[str]:
    (line,) = the(instructions, "HEALTHCHECK")
    return exec_form(line[line.index("CMD") + 3:].strip())


def test_the_images_files_exist_and_its_install_ships_every_file_the_package_loads():
    steps = dockerfile()
    assert steps[0][0] == "FROM"
    for args in the(steps, "COPY"):
        *sources, _ = shlex.split(args)
        for src in sources:
            assert (ROOT / src).exists(), f"COPY {src}: no such file in the build context (the repository root)"
    # `pip install .` ships Python files and the package data pyproject lists: a data file that
    # is not listed is missing from the image (the tests here run from the checkout, where it is).
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ganlab"]
    files = [f.relative_to(ROOT / "ganlab").as_posix() for f in (ROOT / "ganlab").rglob("*")
             if f.is_file() and "__pycache__" not in f.parts and f.suffix not in (".py", ".pyc")]
    assert "icon.svg" in files
    unshipped = [f for f in files if not any(fnmatch.fnmatch(f, p) for p in data)]
    assert not unshipped, f"not in pyproject's package-data, so not in the image: {unshipped}"


def test_the_image_stood_in_for_serves_passes_its_healthcheck_and_stops_on_its_signal(tmp_path):
    """The Dockerfile's COPYs laid out under a temporary WORKDIR (its ``pip install .`` stood in
    for by the copied package on PYTHONPATH), its ENV with that WORKDIR, its CMD with a free port."""
    steps = dockerfile()
    (workdir,) = the(steps, "WORKDIR")
    app = tmp_path / "app"
    app.mkdir()
    for args in the(steps, "COPY"):
        *sources, dest = shlex.split(args)
        for src in sources:
            target = app / dest / Path(src).name if dest.endswith("/") else app / dest
            if (ROOT / src).is_dir():
                subprocess.run(["cp", "-r", str(ROOT / src), str(target)], check=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes((ROOT / src).read_bytes())
    env = dict(os.environ, PYTHONPATH=str(app))
    for args in the(steps, "ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            env[key] = value.replace(workdir, str(app))
    (expose,) = the(steps, "EXPOSE")
    (cmd,) = the(steps, "CMD")
    command = exec_form(cmd)
    args = serve_args(command)
    assert args.port == int(expose) and args.host == "0.0.0.0" and args.no_browser
    probe = healthcheck(steps)
    assert f"127.0.0.1:{expose}/healthz" in probe[-1], probe
    port = free_port()
    # On this machine: loopback only, and one worker (the image's count is checked above).
    run = [sys.executable, "-m", "ganlab", *command[1:]]
    run[run.index("--port") + 1] = str(port)
    run[run.index("--host") + 1] = "127.0.0.1"
    run[run.index("--workers") + 1] = "1"
    proc = subprocess.Popen(run, cwd=app, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: proc.poll() is not None or status(f"http://127.0.0.1:{port}/healthz") == 200, 60,
                 "the image's server to answer")
        assert proc.poll() is None
        code, page = get(f"http://127.0.0.1:{port}/")
        assert code == 200 and b"<title>GAN Lab" in page
        assert status(f"http://127.0.0.1:{port}/static/main.js") == 200  # from GANLAB_STATIC_DIR
        check = [sys.executable if probe[0] == "python" else probe[0], *probe[1:]]
        check[-1] = check[-1].replace(f":{expose}/", f":{port}/")
        assert subprocess.run(check, env=env, timeout=30).returncode == 0  # the HEALTHCHECK passes
        (stop,) = the(steps, "STOPSIGNAL")
        t0 = time.monotonic()
        proc.send_signal(getattr(signal, stop))
        # a graceful exit: uvicorn re-raises the signal it caught once it has shut down
        assert proc.wait(20) in (0, -getattr(signal, stop)), proc.stdout.read()
        assert time.monotonic() - t0 < 10  # no session to move: at once, not at the drain deadline
        assert subprocess.run(check, env=env, capture_output=True, timeout=30).returncode != 0  # ...and fails
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_compose_file_agrees_with_the_image_nginx_and_the_settings():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    steps = dockerfile()
    (expose,) = the(steps, "EXPOSE")
    upstream = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", (DEPLOY / "ganlab.conf").read_text(), re.M)
    assert upstream, "no upstream servers in deploy/ganlab.conf"
    settings_env = {ENV_PREFIX + f.name.upper() for f in fields(Settings)}
    replicas = {name: s for name, s in services.items() if "build" in s}
    assert {name for name, _ in upstream} == set(replicas), (upstream, list(replicas))
    subnet = compose["networks"]["classroom"]["ipam"]["config"][0]["subnet"]
    for name, s in replicas.items():
        build = s["build"]
        context = (DEPLOY / build["context"]).resolve()
        assert context == ROOT and (context / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
        args = serve_args(s["command"])
        assert all(int(port) == args.port == int(expose) for _, port in upstream), (upstream, args.port)
        assert args.host == "0.0.0.0"
        grace = float(s["stop_grace_period"].removesuffix("s"))
        drain = args.drain_timeout if args.drain_timeout is not None else Settings().drain_timeout
        assert grace > drain, f"{name}: stop_grace_period {grace} s must exceed the drain timeout {drain} s"
        unknown = [k for k in s.get("environment", {}) if k.startswith(ENV_PREFIX) and k not in settings_env]
        assert not unknown, f"{name}: not a ganlab setting: {unknown}"
        address = s["networks"]["classroom"]["ipv4_address"]
        assert address.rsplit(".", 1)[0] == subnet.split("/")[0].rsplit(".", 1)[0], (address, subnet)
    nginx = services["nginx"]
    for volume in nginx["volumes"]:
        assert (DEPLOY / volume.split(":")[0]).is_file(), volume
    # nginx starts once the replicas are healthy: the image's HEALTHCHECK says when.
    assert all(c == {"condition": "service_healthy"} for c in nginx["depends_on"].values())
    assert set(nginx["depends_on"]) == set(replicas) and the(steps, "HEALTHCHECK")
