"""What the live metrics and view layers cost, part by part and per network size (best of runs).

bench_frames.py times whole frames as the server builds them; this splits the cost.

    python scripts/bench_metrics.py

The live KL / JS compare a fixed 50,000-point real reference (binned once) with as many fakes as
G affords (``divergence_samples``: 20,000 for 2 x 8, 4,500 for 3 x 64); the rows below time those
parts, and the one-off floor (8 real sets of that size) paid once per data change.
"""

from __future__ import annotations

import time

from ganlab import Trainer, views
from ganlab.data import modes_of
from ganlab.metrics import (
    count_divergences,
    divergence_floor,
    divergence_samples,
    frame_metrics,
    health_hints,
    histogram,
    mode_coverage,
    precision_recall,
)
from ganlab.metrics.training import reference_counts, reference_real

NETS = {
    "GAN Lab default (2 x 8)": {},
    "recommended grid25 (3 x 64)": {"generator": {"layers": 3, "units": 64},
                                    "discriminator": {"layers": 3, "units": 64}},
}


def best_ms(fn, repeat: int = 30) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def bench(label: str, nets: dict) -> None:
    t = Trainer(nets, data="grid25", seed=0)
    t.train(600)  # past health.MIN_EPOCH, so the hints are checked
    real, fake = t.real(500), t.sample(noise=t.viz_noise(500))
    ref, fk = reference_real(t), t.sample(noise=t.viz_noise(2500))
    m = divergence_samples(t)
    fm, counts = t.sample(noise=t.viz_noise(m)), reference_counts(t)
    modes = modes_of("grid25")
    rows = {
        "frame_metrics (all)": lambda: frame_metrics(t, real, fake),
        f"  G on {m:,} fixed noise (KL/JS fakes)": lambda: t.sample(noise=t.viz_noise(m)),
        f"  divergences 20x20+1, {m:,} fakes": lambda: count_divergences(counts, histogram(fm)),
        f"  floor, once per data ({m:,} x 8)": lambda: divergence_floor(t.sampler, counts, m),
        "  mode_coverage 2,500 x 25": lambda: mode_coverage(fk, *modes),
        "  health_hints (500 + 500 points)": lambda: health_hints(t, ref, fk),
        "  precision_recall 200 (uncached)": lambda: precision_recall(ref[:200], fk[:200]),
        "heatmap(50)": lambda: views.heatmap(t, 50),
        "manifold(20)": lambda: views.manifold(t, 20),
        "gradients(500 fakes)": lambda: views.gradients(t, fake),
        "optimal_discriminator(50)": lambda: views.optimal_discriminator(real, fake, 50),
    }
    print(label)
    total = 0.0
    for name, fn in rows.items():
        ms = best_ms(fn, 5 if 'floor' in name else 30)
        if not name.startswith("  "):
            total += ms
        print(f"  {name:<42} {ms:7.2f} ms")
    print(f"  {'total (unindented rows)':<42} {total:7.2f} ms")


def main() -> None:
    for label, nets in NETS.items():
        bench(label, nets)


if __name__ == "__main__":
    main()
