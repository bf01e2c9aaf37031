"""CPU per unit of a worker's work, two versions of ganlab side by side in one process.

    git worktree add /tmp/ganlab-before <commit>   # or any checkout of the version to compare
    python scripts/bench_units.py --before /tmp/ganlab-before [--after .]

Imports both checkouts' ``ganlab`` (one after the other, under the same name) and times each unit
in pairs, before then after, then in the other order (the unit timed first in a pair pays for the
cache the other one left: ~8% on an epoch), with ``time.thread_time``: CPU time, so the figures
hold on a busy machine better than any rate does. Units: an epoch of the default model, a frame's
metrics, a default frame's layers and binary encoding, the bookkeeping around a training chunk,
and the whole paced frame of a running session (built, accounted, sent to a counting socket)
with 20 sessions in the worker's fair-share set. Prints a table: before, after, after / before.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_worker import CountingSocket  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def ab(fa, fb, n: int = 3000, batch: int = 5) -> tuple[float, float, float]:
    """Interleaved: (median us per call of fa, of fb, median of the per-pair ratios fb / fa)."""
    fa()
    fb()
    ta, tb, r = [], [], []
    for _ in range(n):
        t0 = time.thread_time()
        for _ in range(batch):
            fa()
        t1 = time.thread_time()
        for _ in range(batch):
            fb()
        t2 = time.thread_time()
        ta.append((t1 - t0) / batch)
        tb.append((t2 - t1) / batch)
        r.append(tb[-1] / ta[-1] if ta[-1] else 1.0)
    return statistics.median(ta) * 1e6, statistics.median(tb) * 1e6, statistics.median(r)

def load_tree(path: str) -> dict:
    """The modules of the ganlab at ``path`` (the previous one's stay alive, unregistered)."""
    from prometheus_client import REGISTRY

    for c in list(REGISTRY._collector_to_names):  # the server's metrics register at import
        REGISTRY.unregister(c)
    for k in [k for k in sys.modules if k == "ganlab" or k.startswith("ganlab.")]:
        del sys.modules[k]
    sys.path.insert(0, path)
    names = ("ganlab", "ganlab.metrics", "ganlab.server.session", "ganlab.server.settings",
             "ganlab.server.frames", "ganlab.server.image_slots")
    mods = {n: importlib.import_module(n) for n in names}
    sys.path.remove(path)
    return mods


def setup(M: dict, peers: int = 20):
    """A trained running session among ``peers`` in one fair-share set."""
    sm = M["ganlab.server.session"]
    load = sm.Load()
    sessions = [sm.Session(CountingSocket(), M["ganlab.server.settings"].Settings(), load)
                for _ in range(peers)]
    for i, s in enumerate(sessions):
        s.running = True
        load.want(s.share)
        s.share.used = 1.0 + 0.001 * i
    s = sessions[peers // 3]
    s.trainer.train(2000)
    s.metrics_at = 1e18  # frames without metrics, as a running session's are between sets
    return s


def both(fa, fb, **kw) -> tuple[float, float, float]:
    """:func:`ab` in both orders: the mean times and the geometric mean of the two ratios."""
    a1, b1, r1 = ab(fa, fb, **kw)
    b2, a2, r2 = ab(fb, fa, **kw)
    return (a1 + a2) / 2, (b1 + b2) / 2, math.sqrt(r1 / r2)


async def paced_frames(sa, sb, pairs: int = 300) -> tuple[float, float, float]:
    """The whole paced frame of a running session (``send_frame``), interleaved, both orders."""
    runs = []
    for order in ((sa, sb), (sb, sa)):
        times: dict[int, list[float]] = {id(sa): [], id(sb): []}
        for _ in range(pairs):
            for s in order:
                t0 = time.thread_time()
                for _ in range(3):
                    await s.send_frame(if_changed=False)
                times[id(s)].append((time.thread_time() - t0) / 3)
        runs.append((statistics.median(times[id(sa)]), statistics.median(times[id(sb)])))
    a = 1e6 * sum(x for x, _ in runs) / 2
    b = 1e6 * sum(y for _, y in runs) / 2
    return a, b, b / a


async def compare(A: dict, B: dict) -> None:
    sa, sb = setup(A), setup(B)
    fa, fb = A["ganlab.metrics"].frame_metrics, B["ganlab.metrics"].frame_metrics
    la, _ = sa.frames.build(sa.trainer, False)
    lb, _ = sb.frames.build(sb.trainer, False)
    ea, eb = A["ganlab.server.frames"].encode, B["ganlab.server.frames"].encode
    pa, pb = A["ganlab.server.image_slots"].pace, B["ganlab.server.image_slots"].pace

    def chunk_books(s, pace) -> None:
        pace(s)
        s.load.lead(s.share)
        s.load.lead(s.share)
        with s._charged():
            pass

    rows = [
        ("epoch of the default model (Trainer.train(1))",
         *both(lambda: sa.trainer.train(1), lambda: sb.trainer.train(1), n=2000)),
        ("metrics of a frame (frame_metrics)",
         *both(lambda: fa(sa.trainer, la["real"], la["fake"]), lambda: fb(sb.trainer, lb["real"], lb["fake"]),
               n=100, batch=1)),
        ("layers of a default frame (FrameBuilder.build)",
         *both(lambda: sa.frames.build(sa.trainer, False), lambda: sb.frames.build(sb.trainer, False), n=1000)),
        ("binary encoding of those layers", *both(lambda: ea(1, la), lambda: eb(1, lb), n=1500)),
        ("bookkeeping of a training chunk (pace, 2 share looks, charge)",
         *both(lambda: chunk_books(sa, pa), lambda: chunk_books(sb, pb), n=3000)),
        ("paced frame of a running session, built and sent", *await paced_frames(sa, sb)),
    ]
    print(f"{'unit (CPU time)':<62} {'before us':>10} {'after us':>10} {'ratio':>6}")
    for name, a, b, r in rows:
        print(f"{name:<62} {a:10.1f} {b:10.1f} {r:6.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="checkout of the version to compare against")
    ap.add_argument("--after", default=str(ROOT), help="checkout of the new version (default: this one)")
    args = ap.parse_args()
    A, B = load_tree(str(Path(args.before).resolve())), load_tree(str(Path(args.after).resolve()))
    asyncio.run(compare(A, B))


if __name__ == "__main__":
    main()
