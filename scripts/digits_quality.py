"""Does an image preset learn every class? Per-seed table of the digits GAN's quality over time.

For each seed: a Trainer with the preset (``ganlab.data.image_presets``) trains for ``--seconds``
of this process's CPU time (one core, one BLAS thread; time spent measuring is not counted), and
every ``--every`` CPU seconds its generator is measured on ``--samples`` fresh samples with the
set's shipped classifier (``ganlab.metrics.images``): classes captured of 10, % confident, the
digit score (IS), and the Frechet distance on the classifier's features beside its real-vs-real
floor at the same sample size.

    nice -n 19 python scripts/digits_quality.py --data mnist --preset recommended --seeds 0 1 2
    python scripts/digits_quality.py --data digits8 --seconds 10 --every 1
    python scripts/digits_quality.py --data mnist --preset collapse --seconds 30

Prints one line per checkpoint (with --curve) and the table: seed, iterations (ganlab epochs: one
D and one G update each for these presets), data epochs (passes over the training images),
first CPU second at which all classes were captured, and the final classes captured, % confident,
IS, FD, FD floor (mean of 5 real draws), CPU and wall seconds. Exit status 1 if any seed ends with
fewer than ``--want`` classes (default: all of them).
"""

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # one core, before numpy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganlab import Trainer  # noqa: E402
from ganlab.data.image_presets import IMAGE_PRESETS, image_preset  # noqa: E402
from ganlab.metrics.images import ImageReference  # noqa: E402


def run_seed(args, seed: int, ref: ImageReference) -> dict:
    overrides = {}
    for item in args.set:
        key, _, raw = item.partition("=")
        overrides[key] = json.loads(raw)
    t = Trainer(image_preset(args.data, args.preset), data=args.data, seed=seed, **overrides)
    n_images = len(t.sampler.X)
    cpu = wall0 = 0.0
    wall0 = time.perf_counter()
    first_all, last = None, None
    next_check = args.every
    while True:
        c0 = time.thread_time()
        while time.thread_time() - c0 < min(args.every, args.seconds - cpu) and t.status.ok:
            t.train(10)
        cpu += time.thread_time() - c0
        m = ref.measure(t.sample(args.samples), neighbours=1)
        last = m
        if m["classes_captured"] == m["classes_total"] and first_all is None:
            first_all = cpu
        if args.curve:
            print(f"  seed {seed}  cpu {cpu:6.1f}s  it {t.epoch:6d}  classes {m['classes_captured']:2d}  "
                  f"confident {100 * m['confident']:5.1f}%  IS {m['digit_score']:5.2f}  FD {m['fd']:8.2f}  "
                  f"counts {m['class_counts']}", flush=True)
        next_check += args.every
        if cpu >= args.seconds - 1e-3 or not t.status.ok:
            break
    return {"seed": seed, "iterations": t.epoch, "data_epochs": t.epoch * t.config.batch_size / n_images,
            "first_all": first_all, "classes": last["classes_captured"], "total": last["classes_total"],
            "confident": last["confident"], "is": last["digit_score"], "fd": last["fd"],
            "floor": last["fd_floor"]["mean"], "cpu": cpu, "wall": time.perf_counter() - wall0,
            "status": t.status.state}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist", choices=sorted(IMAGE_PRESETS))
    ap.add_argument("--preset", default="recommended", help="a preset name of the data (recommended, collapse)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--seconds", type=float, default=None, help="CPU seconds per seed (default: the data's bar, "
                    "60 for 28x28, 10 for 8x8)")
    ap.add_argument("--every", type=float, default=None, help="CPU seconds between measurements")
    ap.add_argument("--samples", type=int, default=None, help="fakes per measurement (default 1000, 8x8: 800)")
    ap.add_argument("--want", type=int, default=None, help="classes each seed must end with (default: all)")
    ap.add_argument("--curve", action="store_true", help="print every measurement")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a config field")
    args = ap.parse_args()
    small = args.data == "digits8"
    args.seconds = args.seconds or (10.0 if small else 60.0)
    args.every = args.every or (1.0 if small else 5.0)
    args.samples = args.samples or (800 if small else 1000)
    ref = ImageReference.for_set(args.data)
    print(f"{args.data}, preset {args.preset!r} {' '.join(args.set)}, {args.seconds:g} CPU s per seed, "
          f"{args.samples} samples per measurement, one BLAS thread")
    rows = [run_seed(args, s, ref) for s in args.seeds]
    print(f"{'seed':>4} {'iters':>7} {'data ep':>7} {'all@cpu s':>9} {'classes':>7} {'confident':>9} "
          f"{'IS':>5} {'FD':>8} {'floor':>6} {'cpu s':>6} {'wall s':>6}")
    for r in rows:
        first = "-" if r["first_all"] is None else f"{r['first_all']:.1f}"
        print(f"{r['seed']:>4} {r['iterations']:>7} {r['data_epochs']:>7.1f} {first:>9} "
              f"{r['classes']:>4}/{r['total']:<2} {100 * r['confident']:>8.1f}% {r['is']:>5.2f} {r['fd']:>8.2f} "
              f"{r['floor']:>6.2f} {r['cpu']:>6.1f} {r['wall']:>6.1f}" + ("" if r["status"] == "ok" else " diverged"))
    want = args.want if args.want is not None else rows[0]["total"]
    return 0 if all(r["classes"] >= want for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
