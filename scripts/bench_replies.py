"""Reply size and round trip of small messages while a large point set is loaded (the reply
amplification a 40-byte `config` could cause). In process, through Starlette's TestClient.

    python scripts/bench_replies.py --points 100000 --repeat 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from fastapi.testclient import TestClient

from ganlab.server.app import create_app
from ganlab.server.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--points", type=int, default=100_000, help="size of the uploaded point set")
    ap.add_argument("--repeat", type=int, default=20, help="messages of each kind (median shown)")
    a = ap.parse_args()
    pts = np.round(np.random.default_rng(0).random((a.points, 2)), 3).tolist()
    app = create_app(Settings(rate_limit=1e9, rate_burst=1e9, allowed_hosts=["testserver"]))
    with TestClient(app) as c, c.websocket_connect("/ws") as ws:
        ws.receive_text()

        def ask(msg: dict) -> tuple[int, float]:
            text = json.dumps(msg)
            t0 = time.perf_counter()
            ws.send_text(text)
            while True:
                m = ws.receive()
                if m.get("text") and json.loads(m["text"])["type"] in ("ack", "error"):
                    return len(m["text"].encode()), time.perf_counter() - t0

        ask({"type": "data", "name": "points", "params": {"points": pts}})
        print(f"{'message':<28} {'reply bytes':>12} {'ms (median)':>12}")
        for label, msgs in [("config {}", [{"type": "config", "changes": {}}]),
                            ("config k_d 1 / 2 (+ a frame)", [{"type": "config", "changes": {"k_d": k}}
                                                              for k in (1, 2)]),
                            ("ping", [{"type": "ping"}])]:
            runs = [ask(msgs[i % len(msgs)]) for i in range(a.repeat)]
            print(f"{label:<28} {runs[-1][0]:>12,} {1e3 * statistics.median(r[1] for r in runs):>12.2f}")


if __name__ == "__main__":
    main()
