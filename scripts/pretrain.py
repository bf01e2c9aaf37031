"""Make (or check) the trained states shipped in ganlab/data/trained/ for the slow-to-train presets.

Each state is the distribution's recommended preset (``DISTRIBUTIONS[name].preset``) trained from
a fixed seed for a fixed number of epochs (SPECS below), saved as its whole snapshot with floats
at float32 precision (exact: these presets train in float32), as canonical JSON, gzipped without a
timestamp, so the same machine makes the same bytes. Before writing, the shown model (G's weight
average) is checked on 2,500 samples: every mode captured and >= 80 % of samples high quality.

    python scripts/pretrain.py                     # make every state in SPECS (grid25: minutes)
    python scripts/pretrain.py --names ring8       # one
    python scripts/pretrain.py --check             # retrain and compare with the shipped files

``--check`` reports "identical" or the largest weight difference: float32 training replays bit
for bit on one machine, while another CPU's BLAS kernels may round differently.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from ganlab import Trainer  # noqa: E402
from ganlab.data import DISTRIBUTIONS, modes_of  # noqa: E402
from ganlab.data.trained import SUFFIX, TRAINED_DIR, trained_path  # noqa: E402
from ganlab.metrics import mode_coverage  # noqa: E402
from ganlab.noise import sample_noise  # noqa: E402

# name: (seed, epochs). Chosen from scripts/mode_collapse.py curves (README, "Mode collapse").
SPECS = {"ring8": (0, 20_000), "grid25": (0, 20_000)}
MIN_HQ = 0.8


def compact(x, digits: int):
    """Every float of a JSON-like value rounded to ``digits`` significant digits (9 round-trips
    float32 exactly)."""
    if isinstance(x, float):
        return float(f"{x:.{digits}g}")
    if isinstance(x, list):
        return [compact(v, digits) for v in x]
    if isinstance(x, dict):
        return {k: compact(v, digits) for k, v in x.items()}
    return x


def encode(snap: dict) -> bytes:
    digits = 9 if snap["config"]["precision"] == "float32" else 17
    text = json.dumps(compact(snap, digits), separators=(",", ":"), sort_keys=True)
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def quality(t: Trainer, n: int = 2500) -> dict:
    """Mode coverage of the shown G on n samples of a separate fixed noise stream (the trainer's
    own streams, saved in the snapshot, stay untouched)."""
    z = sample_noise(np.random.default_rng(12345), t.config.noise, n, t.config.noise_dim)
    return mode_coverage(t.G_out(z), *modes_of(t.config.data))


def make(name: str) -> tuple[bytes, Trainer, float]:
    seed, epochs = SPECS[name]
    t = Trainer(DISTRIBUTIONS[name].preset, data=name, seed=seed)
    start = time.perf_counter()
    while t.epoch < epochs and t.status.ok:
        t.train(min(2000, epochs - t.epoch))
        q = quality(t)  # the way there, every 2,000 epochs (G only: no training stream is touched)
        print(f"  {name} epoch {t.epoch}: {q['modes_captured']}/{q['modes_total']} modes, "
              f"{100 * q['high_quality']:.1f}% HQ", file=sys.stderr, flush=True)
    if not t.status.ok:
        raise SystemExit(f"{name}: training diverged: {t.status.message}")
    return encode(t.snapshot()), t, time.perf_counter() - start


def weights_diff(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(np.subtract(a[k], b[k]))))
               for k in ("generator", "generator_average", "discriminator") if a.get(k) is not None)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--names", nargs="+", default=list(SPECS), choices=list(SPECS))
    p.add_argument("--check", action="store_true", help="compare with the shipped files, write nothing")
    args = p.parse_args()
    bad = 0
    print(f"{'name':<8} {'seed':>4} {'epochs':>7} {'time s':>7} {'modes':>6} {'% HQ':>6} {'KiB':>6}  result")
    for name in args.names:
        data, t, took = make(name)
        q = quality(t)
        ok = q["modes_captured"] == q["modes_total"] and q["high_quality"] >= MIN_HQ
        seed, epochs = SPECS[name]
        if args.check:
            shipped = trained_path(name)
            if shipped is None:
                result, ok = "no shipped file", False
            elif shipped.read_bytes() == data:
                result = "identical"
            else:
                d = weights_diff(json.loads(gzip.decompress(data)), json.loads(gzip.decompress(shipped.read_bytes())))
                result, ok = f"differs (largest weight difference {d:.3g})", False
        elif ok:
            TRAINED_DIR.mkdir(exist_ok=True)
            (TRAINED_DIR / (name + SUFFIX)).write_bytes(data)
            result = f"written to {TRAINED_DIR / (name + SUFFIX)}"
        else:
            result = f"NOT written: below the bar (all modes, >= {100 * MIN_HQ:.0f}% HQ)"
        bad += not ok
        print(f"{name:<8} {seed:>4} {epochs:>7} {took:>7.0f} {q['modes_captured']:>3}/{q['modes_total']:<2} "
              f"{100 * q['high_quality']:>6.1f} {len(data) / 1024:>6.0f}  {result}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
