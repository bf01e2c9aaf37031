"""Mode collapse on the literature's benchmarks: ring of 8 and grid of 25 (VEEGAN, PacGAN).

Trains each benchmark from several seeds with
  (a) GAN Lab's settings: its default experiment (2-layer 8-unit ReLU nets, SGD 0.1 / 0.03,
      k_d = 2, k_g = 1, truncated-normal 2D noise, batch 150) with its "Log" loss (hidden 0.95);
  (b) ganlab's recommended preset for that distribution (``DISTRIBUTIONS[name].preset``);
each for the same number of epochs, checking the shown model (G's weight average when the preset
keeps one) every ``--every`` epochs on 2,500 generated samples: modes captured and % high-quality
samples (a sample is high quality within 3 sd of its nearest mode; a mode is captured when it has
a high-quality sample). A GAN's samples swing, so the table reports the WORST checkpoint from
``--worst-from`` on (fewest modes, then lowest % HQ), besides the last one, and the first epoch at
which every mode was captured. ``--curve`` prints every checkpoint.

    python scripts/mode_collapse.py                                  # both benchmarks, seeds 0-4
    python scripts/mode_collapse.py --data grid25 --settings recommended --seeds 0 1 --curve
    python scripts/mode_collapse.py --data grid25 --set g_ema=0.9995 --set batch_size=1024

``--set KEY=JSON`` overrides a config field of the recommended preset (dotted paths), to try a
recipe; ``--jobs 2`` runs two seeds at a time in separate processes (one per core).

A run passes when every checkpoint from ``--worst-from`` on keeps all modes and >= ``--hq`` (80 %)
of samples high quality. Figures: README, "Mode collapse".
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only fight (2 cores)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

from ganlab import Trainer, make_config  # noqa: E402
from ganlab.config import nest  # noqa: E402
from ganlab.data import DISTRIBUTIONS, modes_of  # noqa: E402
from ganlab.metrics import mode_coverage  # noqa: E402

GANLAB = {"loss": "ganlab_log"}  # everything else: ganlab's defaults = GAN Lab's default experiment


def settings_for(name: str, setting: str, overrides: dict) -> dict:
    if setting == "ganlab":
        return dict(GANLAB)
    cfg = copy.deepcopy(DISTRIBUTIONS[name].preset)
    return make_config(cfg, **overrides).model_dump(mode="json") if overrides else cfg


def run(name: str, cfg: dict, seed: int, epochs: int, every: int, samples: int,
        progress: bool = False) -> dict:
    """Train ``epochs`` epochs, measuring mode coverage every ``every`` epochs on fixed noise."""
    t = Trainer(cfg, data=name, seed=seed)
    means, sds = modes_of(name)
    z = t.noise(samples)  # the same z at every checkpoint: the curve moves only with G
    start = time.perf_counter()
    curve, full_at = [], None
    while t.epoch < epochs and t.status.ok:
        t.train(min(every, epochs - t.epoch))
        m = mode_coverage(t.sample(noise=z), means, sds)
        curve.append((t.epoch, m["modes_captured"], m["high_quality"]))
        if progress:  # to stderr as it goes, so a long run can be watched (or cut short) in between
            print(f"  seed {seed} {t.epoch / 1000:g}k: {m['modes_captured']}/{len(means)} "
                  f"{100 * m['high_quality']:.0f}%", file=sys.stderr, flush=True)
        if full_at is None and m["modes_captured"] == m["modes_total"]:
            full_at = t.epoch
    return {"seed": seed, "curve": curve, "modes_total": len(means), "full_at": full_at,
            "seconds": time.perf_counter() - start, "status": t.status.state, "epochs": t.epoch}


def worst(curve: list, start: int) -> tuple:
    """The checkpoint (epoch, modes, hq) from epoch ``start`` on with the fewest modes, then the
    lowest share of high-quality samples."""
    tail = [c for c in curve if c[0] >= start] or curve[-1:]
    return min(tail, key=lambda c: (c[1], c[2]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", default=["ring8", "grid25"], choices=["ring8", "grid25"])
    p.add_argument("--settings", nargs="+", default=["ganlab", "recommended"],
                   choices=["ganlab", "recommended"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--epochs", type=int, default=60000, help="epochs per run")
    p.add_argument("--every", type=int, default=2000, help="epochs between checkpoints")
    p.add_argument("--worst-from", type=int, default=40000, help="worst checkpoint from this epoch on")
    p.add_argument("--hq", type=float, default=0.8, help="pass: share of high-quality samples")
    p.add_argument("--samples", type=int, default=2500, help="generated samples per checkpoint")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="override a field of the recommended preset, e.g. --set g_ema=0.9995")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time (processes)")
    p.add_argument("--curve", action="store_true", help="print every checkpoint")
    p.add_argument("--json", help="also write every run's curve to this JSON file")
    p.add_argument("--progress", action="store_true", help="print each checkpoint to stderr as it is measured")
    args = p.parse_args()
    overrides = nest({k: json.loads(v) for k, _, v in (s.partition("=") for s in args.set)})

    print(f"{'data':<7} {'setting':<12} {'seed':>4} {'epochs':>7} {'time s':>6} {'last':>12} "
          f"{'worst >= ' + str(args.worst_from):>22} {'all modes at':>12}  pass")
    dump = []
    for name in args.data:
        for setting in args.settings:
            cfg = settings_for(name, setting, overrides)
            jobs = [(name, cfg, s, args.epochs, args.every, args.samples, args.progress) for s in args.seeds]
            passed, results = 0, []
            with ProcessPoolExecutor(max(1, args.jobs)) as ex:
                for r in ex.map(run, *zip(*jobs, strict=True)):  # each row as soon as its run ends
                    results.append(r)
                    K = r["modes_total"]
                    e, m, hq = r["curve"][-1]
                    we, wm, whq = worst(r["curve"], args.worst_from)
                    ok = all(c[1] == K and c[2] >= args.hq for c in r["curve"] if c[0] >= args.worst_from)
                    passed += ok
                    full = "never" if r["full_at"] is None else str(r["full_at"])
                    print(f"{name:<7} {setting:<12} {r['seed']:>4} {r['epochs']:>7} {r['seconds']:>6.0f} "
                          f"{m:>3}/{K:<2} {100 * hq:>5.1f}% {wm:>3}/{K:<2} {100 * whq:>5.1f}% @{we:<6} "
                          f"{full:>12}  {'yes' if ok else 'no'}"
                          f"{'' if r['status'] == 'ok' else ' (' + r['status'] + ')'}", flush=True)
                    if args.curve:
                        print("    " + "  ".join(f"{c[0] / 1000:g}k:{c[1]}/{100 * c[2]:.0f}" for c in r["curve"]))
                    dump.append({"data": name, "setting": setting, "overrides": overrides, **r})
            whq = [worst(r["curve"], args.worst_from)[2] for r in results]
            print(f"{name:<7} {setting:<12} passed {passed}/{len(results)}; worst HQ mean "
                  f"{100 * np.mean(whq):.1f}%, min {100 * min(whq):.1f}%", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dump, f)


if __name__ == "__main__":
    main()
