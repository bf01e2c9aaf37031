"""What ganlab.show costs a notebook: starting the server, reusing it, handing a trainer over, and
taking the page's state back with lab.trainer().

    python scripts/bench_notebook.py [--repeat 5] [--data ring8,mnist] [--epochs 200]

For each data set a trainer (its recommended preset, ``--epochs`` epochs trained) is shown; a
websocket client stands in for the page (it connects to ``ws?lab=...`` as the page does, so the
session starts from the hand-off, and stays connected); then lab.trainer() is timed. Prints the
median and the worst of ``--repeat`` runs per step (wall time) and the state's size. The first
show starts the server (cold: a new Python process importing numpy, FastAPI and uvicorn); the
later ones reuse it.

With ``--moved`` the page plays, and lab.trainer() is timed while it trains: an image model's
session has then moved to a heavy process (server/offload.py) and its state comes over the pipe
from there (the note says where the session ran).

    python scripts/bench_notebook.py --moved --data mnist
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time
import urllib.request

from websockets.asyncio.client import connect

import ganlab
from ganlab import Trainer
from ganlab import notebook as nb
from ganlab.data.images import IMAGE_SETS


class Page:
    """A websocket client on a lab, in a thread of its own, until ``close`` (``play``: it plays
    once it has its hello)."""

    def __init__(self, url: str, play: bool = False):
        self.play = play
        self.hello: dict | None = None
        self.ready = threading.Event()
        self.done: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        ws_url = url.replace("http://", "ws://").replace("/?", "/ws?")
        self.thread = threading.Thread(target=lambda: asyncio.run(self.run(ws_url)), daemon=True)
        self.thread.start()
        if not self.ready.wait(60):
            raise RuntimeError("the lab's page did not get its hello")

    async def run(self, url: str) -> None:
        self.loop, self.done = asyncio.get_running_loop(), asyncio.Event()
        async with connect(url, max_size=None) as ws:
            self.hello = json.loads(await ws.recv())
            if self.play:
                await ws.send(json.dumps({"type": "play", "id": 1}))
            self.ready.set()
            reader = asyncio.create_task(self.drain(ws))
            await self.done.wait()
            reader.cancel()

    async def drain(self, ws) -> None:
        async for _ in ws:  # frames: read and dropped, as a page keeps up with them
            pass

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.done.set)
        self.thread.join(10)


def process_of(session: str, seconds: float = 60.0) -> str:
    """Where the server's session trains: "heavy process" once it has moved there (waited for up
    to ``seconds``), else "worker"."""
    url = f"http://127.0.0.1:{nb._server.port}/debug/sessions"
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with urllib.request.urlopen(url, timeout=10) as r:
            d = json.loads(r.read())
        if any(s["session"] == session and s["process"] != d["worker"] for s in d["sessions"]):
            return "heavy process"
        time.sleep(0.1)
    return "worker"


def timed(f, *args):
    t0 = time.perf_counter()
    out = f(*args)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--data", default="ring8,mnist", help="comma-separated data sets")
    ap.add_argument("--epochs", type=int, default=200, help="epochs trained before show")
    ap.add_argument("--moved", action="store_true", help="the page plays; lab.trainer() while it trains "
                    "(an image session in a heavy process)")
    a = ap.parse_args()
    rows = []
    _, cold = timed(ganlab.show)
    rows.append(("show() starting the server (cold)", [cold], ""))
    rows.append(("show() reusing it", [timed(ganlab.show)[1] for _ in range(a.repeat)], ""))
    for data in a.data.split(","):
        t = Trainer.from_bytes(nb._state(data))  # the data set's recommended preset, as show(data)
        t.train(a.epochs)
        size = len(t.snapshot_bytes())
        shows, opens, backs, where = [], [], [], set()
        for _ in range(a.repeat):
            lab, s = timed(ganlab.show, t)
            page, o = timed(Page, lab.url, a.moved)
            assert page.hello["lab"]["restored"] and page.hello["epoch"] == t.epoch, page.hello
            if a.moved:
                where.add(process_of(page.hello["session"], 60 if data in IMAGE_SETS else 2))
            back, b = timed(lab.trainer)
            assert back.epoch >= t.epoch
            page.close()
            shows.append(s)
            opens.append(o)
            backs.append(b)
        note = f"{size / 1e6:.2f} MB state" + (f", playing, in the {'/'.join(sorted(where))}" if where else "")
        rows += [(f"{data}: show(trainer) (hand-off)", shows, note),
                 (f"{data}: page connects, session restored", opens, note),
                 (f"{data}: lab.trainer()", backs, note)]
    nb.stop()
    print(f"{'step':44} {'median':>9} {'worst':>9}  note")
    for name, xs, note in rows:
        print(f"{name:44} {statistics.median(xs) * 1000:7.1f} ms {max(xs) * 1000:7.1f} ms  {note}")


if __name__ == "__main__":
    main()
