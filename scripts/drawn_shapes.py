"""Does the "Your drawing" preset learn drawings? Several drawn shapes, several seeds, a time budget.

Each shape is a list of strokes exactly as the page sends them (docs/protocol.md, ``data`` message
with ``name: "drawn"``): unit-square points along the pen's path, a new point only once the pen has
moved at least 0.008 (static/draw.js), here every 0.008-0.025 along the curve as mouse events
come, with spread 0.02. Each run trains the drawing's recommended preset (``DISTRIBUTIONS["drawn"]
.preset``) at full speed for ``--seconds`` of wall time (and at most ``--epochs``), then measures
on 5,000 samples of the shown G (ganlab.metrics.strokes):

- share: fakes within 0.03 of a stroke, divided by the real samples' own share (~87 % at spread
  0.02): the bar is >= 0.9;
- coverage: for each stroke, the share of its length with a fake within 0.03; the bar is >= 0.9
  for every stroke (the table prints the lowest).

    python scripts/drawn_shapes.py                          # 4 shapes x seeds 0 1 2, 30 s each
    python scripts/drawn_shapes.py --shapes S --seeds 0 --seconds 30 --jobs 2
    python scripts/drawn_shapes.py --epochs 38000 --every 4000 --curve --set g_ema=0.99  # a recipe
    python scripts/drawn_shapes.py --cost 20 --epochs 38000 --set r1=0.1   # its cost per epoch

The machine may be shared: the epochs column says how far each run got in its budget, ep/s its
wall-clock rate and cpu ep/s its rate per CPU second (close to a quiet core's whatever the load).
On a shared machine give an epoch budget (``--epochs`` alone: no time limit): a quiet 30 s is
about 38,000 epochs of the shipped preset; ``--cost`` scales that to a variant's cost per epoch.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

from ganlab import Trainer, make_config  # noqa: E402
from ganlab.config import nest  # noqa: E402
from ganlab.data import DISTRIBUTIONS  # noqa: E402
from ganlab.metrics.strokes import near_share, stroke_coverage  # noqa: E402

RADIUS = 0.03
SPREAD = 0.02


def pen(curve, rng) -> list[list[float]]:
    """A stroke as the page records it: points along ``curve(t)``, t in [0, 1], every 0.008-0.025
    of arc length (mouse events), rounded like the page's floats (4 decimals)."""
    t = np.linspace(0.0, 1.0, 4001)
    p = np.array([curve(x) for x in t])
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
    out, s = [], 0.0
    while s <= arc[-1]:
        out.append(p[np.searchsorted(arc, s)].round(4).clip(0, 1).tolist())
        s += rng.uniform(0.008, 0.025)
    return out


def shapes(rng) -> dict[str, list]:
    c = np.pi * 2

    def circle(t):
        return (0.5 + 0.3 * np.cos(c * t), 0.5 + 0.3 * np.sin(c * t))

    def letter_s(t):  # from the upper right, counter-clockwise over the top to the middle, then
        d = np.pi / 180  # clockwise round the bottom to the lower left: two 240-degree arcs
        if t < 0.5:
            a = (30 + 240 * 2 * t) * d
            return (0.5 + 0.16 * np.cos(a), 0.66 + 0.16 * np.sin(a))
        a = (90 - 240 * 2 * (t - 0.5)) * d
        return (0.5 + 0.16 * np.cos(a), 0.34 + 0.16 * np.sin(a))

    def top_line(t):
        return (0.15 + 0.35 * t, 0.8 - 0.1 * t)

    def right_arc(t):
        a = np.pi * (1.2 + 0.8 * t)
        return (0.65 + 0.2 * np.cos(a), 0.45 + 0.2 * np.sin(a))

    def diagonal(t):
        return (0.1 + 0.5 * t, 0.15 + 0.6 * t)

    def scribble(t):  # a small filled blob: the pen zig-zags 8 times across a 0.1 x 0.1 square
        k = t * 8
        row = np.floor(k)
        u = k - row
        x = u if row % 2 == 0 else 1 - u
        return (0.72 + 0.1 * x, 0.22 + 0.1 * min(k, 8) / 8)

    return {
        "circle": [pen(circle, rng)],
        "S": [pen(letter_s, rng)],
        "two strokes": [pen(top_line, rng), pen(right_arc, rng)],
        "line + blob": [pen(diagonal, rng), pen(scribble, rng)],
    }


def measure(t: Trainer, strokes: list, n: int) -> tuple[float, float, list[float]]:
    """(fake share, real share, per-stroke coverage) on n samples of the shown G and n real ones."""
    fake, real = t.sample(n), t.real(n)
    return (near_share(fake, strokes, RADIUS), near_share(real, strokes, RADIUS),
            stroke_coverage(fake, strokes, RADIUS))


def passes(ratio: float, coverage: list[float]) -> bool:
    return ratio >= 0.9 and min(coverage) >= 0.9


def run(shape: str, strokes: list, cfg: dict, seed: int, seconds: float, epochs: int, n: int,
        every: int, early: int = 0, png: str | None = None) -> dict:
    """Train until ``seconds`` of training time or ``epochs``, measuring every ``every`` epochs
    (0: only at the end) and once at ``early`` epochs (0: not). Measuring is not counted in the
    time budget. ``png``: a directory for a picture of the final data view."""
    t = Trainer(cfg, data="drawn", data_params={"strokes": strokes, "spread": SPREAD}, seed=seed)
    took, cpu, curve, early_ratio = 0.0, 0.0, [], None
    while t.epoch < epochs and t.status.ok and took < seconds:
        stops = [epochs] + ([min(epochs, (t.epoch // every + 1) * every)] if every > 0 else [])
        target = min(stops + ([early] if t.epoch < early else []))
        start, cpu0 = time.perf_counter(), time.process_time()
        while t.epoch < target and t.status.ok and took + time.perf_counter() - start < seconds:
            t.train(min(500, target - t.epoch), seconds=seconds - took - (time.perf_counter() - start))
        took += time.perf_counter() - start
        cpu += time.process_time() - cpu0
        fs, rs, cov = measure(t, strokes, n)
        if t.epoch == early:
            early_ratio = fs / rs
        if every > 0 and not (t.epoch == early and target not in stops):  # not an early-only stop
            curve.append((t.epoch, fs / rs, min(cov)))
    fs, rs, cov = measure(t, strokes, n)
    ok = passes(fs / rs, cov)
    # from which checkpoint on every checkpoint passes (None: the last one fails)
    holds = None
    for e, r, c in reversed(curve):
        if not passes(r, [c]):
            break
        holds = e
    if png:
        from ganlab.render import ViewSpec, render_view

        name = f"{shape.replace(' ', '_').replace('+', 'and')}_seed{seed}_{t.epoch}.png"
        render_view(t, ViewSpec(layers=("heatmap", "real", "fake"), samples=2000, size=600,
                                extent=(0, 0, 1, 1), title=f"{shape}, seed {seed}")).save(
            os.path.join(png, name))
    return {"shape": shape, "seed": seed, "epochs": t.epoch, "seconds": took, "cpu": cpu, "fake_share": fs,
            "real_share": rs, "ratio": fs / rs, "coverage": cov, "status": t.status.state,
            "pass": ok, "curve": curve, "holds_from": holds if ok else None, "early": early_ratio}


def cost(cfgs: dict[str, dict], strokes: list, seconds: float) -> dict[str, float]:
    """Epochs per CPU second of each config on the same drawing, trained in turns of 0.5 s for
    ``seconds`` of CPU time in all: CPU time (not wall time) and turns keep the ratio of two
    configs close to a quiet machine's when the machine is shared."""
    ts = {k: Trainer(c, data="drawn", data_params={"strokes": strokes, "spread": SPREAD}, seed=0)
          for k, c in cfgs.items()}
    took = dict.fromkeys(cfgs, 0.0)
    for t in ts.values():
        t.train(50)  # warm-up: first-call costs out of the timing
    base = {k: t.epoch for k, t in ts.items()}
    while sum(took.values()) < seconds:
        for k, t in ts.items():
            start = time.process_time()
            t.train(10**9, seconds=0.5)
            took[k] += time.process_time() - start
    return {k: (t.epoch - base[k]) / took[k] for k, t in ts.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", nargs="+", default=None, help="circle, S, 'two strokes', 'line + blob'")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--seconds", type=float, default=None,
                   help="training-time budget per run (default 30 s; none when --epochs is given)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epoch budget per run (a quiet 30 s: about 38,000 for the preset)")
    p.add_argument("--early", type=int, default=1500,
                   help="also report the fake/real share at this epoch (a class's first 30 s at "
                   "the page's default pace; 0: not)")
    p.add_argument("--png", metavar="DIR", help="save each run's final data view as a PNG here")
    p.add_argument("--cost", type=float, default=0, metavar="SECONDS",
                   help="only measure: epochs/s of the shipped preset and of the --set variant, "
                   "in turns for this many seconds in all, and the epoch budget that matches "
                   "--epochs of the shipped preset")
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--every", type=int, default=0,
                   help="also measure every this many epochs: 'holds from' is the first checkpoint "
                   "from which every later one passes (0: measure only at the end)")
    p.add_argument("--curve", action="store_true", help="print every checkpoint (with --every)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="override a field of the drawing's preset, e.g. --set g_ema=0.999")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time (processes)")
    p.add_argument("--json", help="also write the rows to this JSON file")
    args = p.parse_args()
    seconds = args.seconds if args.seconds is not None else (30.0 if args.epochs is None else float("inf"))
    epochs = args.epochs if args.epochs is not None else 10**9
    overrides = nest({k: json.loads(v) for k, _, v in (s.partition("=") for s in args.set)})
    cfg = make_config(DISTRIBUTIONS["drawn"].preset, **overrides).model_dump(mode="json")
    all_shapes = shapes(np.random.default_rng(7))
    if args.cost:
        shipped = make_config(DISTRIBUTIONS["drawn"].preset).model_dump(mode="json")
        rate = cost({"shipped": shipped, "variant": cfg}, all_shapes["two strokes"], args.cost)
        ratio = rate["variant"] / rate["shipped"]
        print(f"epochs per CPU second: shipped preset {rate['shipped']:.0f}, variant {rate['variant']:.0f}; "
              f"variant/shipped {ratio:.3f}")
        if args.epochs:
            print(f"--epochs {args.epochs} of the shipped preset = --epochs {args.epochs * ratio:.0f} "
                  "of the variant")
        return
    names = args.shapes or list(all_shapes)
    jobs = [(s, all_shapes[s], cfg, seed, seconds, epochs, args.samples, args.every, args.early,
             args.png) for s in names for seed in args.seeds]
    if args.png:
        os.makedirs(args.png, exist_ok=True)
    early = f"at {args.early / 1000:g}k" if args.early else ""
    print(f"{'shape':<12} {'seed':>4} {'epochs':>7} {'time s':>6} {'ep/s':>5} {'cpu ep/s':>8} {early:>7} {'fake':>6} "
          f"{'real':>6} {'fake/real':>9} {'coverage (min)':>14} {'holds from':>10}  pass", flush=True)
    rows = []
    with ProcessPoolExecutor(max(1, args.jobs)) as ex:
        for r in ex.map(run, *zip(*jobs, strict=True)):
            rows.append(r)
            e = f"{r['early']:.2f}" if r["early"] is not None else ""
            print(f"{r['shape']:<12} {r['seed']:>4} {r['epochs']:>7} {r['seconds']:>6.1f} "
                  f"{r['epochs'] / max(r['seconds'], 1e-9):>5.0f} "
                  f"{r['epochs'] / max(r['cpu'], 1e-9):>8.0f} {e:>7} {100 * r['fake_share']:>5.1f}% "
                  f"{100 * r['real_share']:>5.1f}% {r['ratio']:>9.3f} "
                  f"{100 * min(r['coverage']):>13.1f}% {r['holds_from'] or '-':>10}  "
                  f"{'yes' if r['pass'] else 'NO'}"
                  f"{'' if r['status'] == 'ok' else ' (' + r['status'] + ')'}", flush=True)
            if args.curve:
                print("    " + "  ".join(f"{e / 1000:g}k:{ratio:.2f}/{100 * c:.0f}%"
                                         for e, ratio, c in r["curve"]), flush=True)
    eps = [r["epochs"] / max(r["seconds"], 1e-9) for r in rows]
    cps = [r["epochs"] / max(r["cpu"], 1e-9) for r in rows]
    print(f"passed {sum(r['pass'] for r in rows)}/{len(rows)}; mean epochs "
          f"{np.mean([r['epochs'] for r in rows]):.0f}; epochs/s per run {min(eps):.0f}-{max(eps):.0f} "
          f"(per CPU second {min(cps):.0f}-{max(cps):.0f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f)


if __name__ == "__main__":
    main()
