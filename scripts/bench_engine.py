"""Engine throughput in epochs/s, single thread, median of several runs.

Models (batch 150 unless said): GAN Lab's gaussians preset (2x8 G and D, k_d 2, SGD); 1 hidden
layer of 14 for G and D with SGD and 1 D + 1 G update per epoch; the same with Adam; 2 hidden
layers of 64 (SGD). For the 1x14 SGD model a single-purpose hand-written numpy step is timed in
the same run, so the ratio (ours / hand-written) does not depend on the machine's mood.

    python scripts/bench_engine.py [--runs 7] [--seconds 1.0]
"""

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy is imported

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from ganlab import Trainer  # noqa: E402
from ganlab.data import DISTRIBUTIONS  # noqa: E402

SMALL = {"generator": {"layers": 1, "units": 14}, "discriminator": {"layers": 1, "units": 14},
         "k_d": 1, "k_g": 1, "batch_size": 150, "loss": "nonsaturating"}
MODELS = {
    "gaussians preset (2x8, k_d 2, SGD)": {"data": "gaussians", **DISTRIBUTIONS["gaussians"].preset},
    "1x14 SGD, 1+1 updates": {**SMALL, "d_optimizer": {"kind": "sgd", "lr": 0.1},
                              "g_optimizer": {"kind": "sgd", "lr": 0.03}},
    "1x14 Adam, 1+1 updates": {**SMALL, "d_optimizer": {"kind": "adam", "lr": 0.001},
                               "g_optimizer": {"kind": "adam", "lr": 0.001}},
    "2x64 SGD, 1+1 updates": {**SMALL, "generator": {"layers": 2, "units": 64},
                              "discriminator": {"layers": 2, "units": 64}},
}


def rate(run_epochs, seconds):
    """(wall, cpu) epochs/s of ``run_epochs(n)`` over about ``seconds`` of this thread's CPU time.

    On an idle machine the two agree; on a shared one the CPU-time figure is the engine's own
    speed and the wall-clock one includes time the thread spent waiting for a core."""
    n, w0, c0 = 0, time.perf_counter(), time.thread_time()
    while (cpu := time.thread_time() - c0) < seconds:
        run_epochs(200)
        n += 200
    return n / (time.perf_counter() - w0), n / cpu


class HandWritten:
    """The 1x14 SGD GAN as one specialised function: the reference the engine is held against.
    G: z(2) -> relu(14) -> tanh(2); D: x(2) -> relu(14) -> logit; non-saturating loss."""

    def __init__(self, B=150, h=14, seed=0):
        r = np.random.default_rng(seed)
        self.B = B
        self.gW1, self.gW2 = r.normal(0, 0.7, (h, 3)), r.normal(0, 0.3, (2, h + 1))
        self.dW1, self.dW2 = r.normal(0, 0.7, (h, 3)), r.normal(0, 0.3, (1, h + 1))
        for w in (self.gW1, self.gW2, self.dW1, self.dW2):
            w[:, -1] = 0
        self.real = np.ones((12000, 3))
        self.real[:, :2] = r.random((12000, 2))
        self.noise = np.ones((12000, 3))
        self.noise[:, :2] = r.random((12000, 2))
        self.c = 0
        self.x = np.ones((2 * B, 3))
        self.gh = np.ones((h + 1, B))
        self.dh = np.ones((h + 1, 2 * B))
        self.dh1 = np.ones((h + 1, B))
        self.zero2 = np.zeros((h, 2 * B))
        self.zero1 = np.zeros((h, B))
        self.y = np.empty((2, B))
        self.xg = np.ones((3, B))
        self.l2, self.l1 = np.empty((1, 2 * B)), np.empty((1, B))
        self.a2 = np.full((1, 2 * B), 0.5 / B)
        self.c2 = np.full((1, 2 * B), 0.5 / B)
        self.c2[0, :B] = -0.5 / B
        self.a1, self.c1 = np.full((1, B), 0.5 / B), np.full((1, B), -0.5 / B)
        self.half2, self.half1 = np.full((1, 2 * B), 0.5), np.full((1, B), 0.5)
        self.m2, self.m1 = np.empty((h, 2 * B), bool), np.empty((h, B), bool)
        self.d2, self.d1 = np.empty((h, 2 * B)), np.empty((h, B))
        self.dx = np.empty((2, B))
        self.g1, self.g2 = np.empty((h, 3)), np.empty((2, h + 1))
        self.e1, self.e2 = np.empty((h, 3)), np.empty((1, h + 1))
        self.tmp = np.empty((2, B))

    def epochs(self, n):
        B, dot = self.B, np.dot
        for _ in range(n):
            c = self.c if self.c + 2 * B <= 12000 else 0
            self.c = c + 2 * B
            z = self.noise[c : c + B].T
            # D update on [real | fake]
            dot(self.gW1, z, out=self.gh[:-1])
            np.maximum(self.gh[:-1], self.zero1, out=self.gh[:-1])
            dot(self.gW2, self.gh, out=self.y)
            np.tanh(self.y, out=self.y)
            np.copyto(self.x[:B], self.real[c : c + B])
            np.copyto(self.x[B:, :2], self.y.T)
            xt = self.x.T
            dot(self.dW1, xt, out=self.dh[:-1])
            np.maximum(self.dh[:-1], self.zero2, out=self.dh[:-1])
            dot(self.dW2, self.dh, out=self.l2)
            np.multiply(self.l2, self.half2, out=self.l2)
            np.tanh(self.l2, out=self.l2)
            np.multiply(self.l2, self.a2, out=self.l2)
            np.add(self.l2, self.c2, out=self.l2)
            dot(self.l2, self.dh.T, out=self.e2)
            dot(self.dW2[:, :-1].T, self.l2, out=self.d2)
            np.less_equal(self.dh[:-1], self.zero2, out=self.m2)
            np.putmask(self.d2, self.m2, 0.0)
            dot(self.d2, self.x, out=self.e1)
            self.dW1 -= 0.1 * self.e1
            self.dW2 -= 0.1 * self.e2
            # G update
            z = self.noise[c + B : c + 2 * B].T
            dot(self.gW1, z, out=self.gh[:-1])
            np.maximum(self.gh[:-1], self.zero1, out=self.gh[:-1])
            dot(self.gW2, self.gh, out=self.xg[:2])
            np.tanh(self.xg[:2], out=self.xg[:2])
            dot(self.dW1, self.xg, out=self.dh1[:-1])
            np.maximum(self.dh1[:-1], self.zero1, out=self.dh1[:-1])
            dot(self.dW2, self.dh1, out=self.l1)
            np.multiply(self.l1, self.half1, out=self.l1)
            np.tanh(self.l1, out=self.l1)
            np.multiply(self.l1, self.a1, out=self.l1)
            np.add(self.l1, self.c1, out=self.l1)
            dot(self.dW2[:, :-1].T, self.l1, out=self.d1)
            np.less_equal(self.dh1[:-1], self.zero1, out=self.m1)
            np.putmask(self.d1, self.m1, 0.0)
            dot(self.dW1[:, :-1].T, self.d1, out=self.dx)
            np.multiply(self.xg[:2], self.xg[:2], out=self.tmp)
            np.subtract(1.0, self.tmp, out=self.tmp)
            np.multiply(self.dx, self.tmp, out=self.dx)
            dot(self.dx, self.gh.T, out=self.g2)
            dot(self.gW2[:, :-1].T, self.dx, out=self.d1)
            np.less_equal(self.gh[:-1], self.zero1, out=self.m1)
            np.putmask(self.d1, self.m1, 0.0)
            dot(self.d1, z.T, out=self.g1)
            self.gW1 -= 0.03 * self.g1
            self.gW2 -= 0.03 * self.g2


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=1.0, help="wall time per run")
    args = ap.parse_args()
    runners = {name: Trainer(seed=0, **cfg).train for name, cfg in MODELS.items()}
    runners["hand-written 1x14 SGD step (reference)"] = HandWritten().epochs
    results = {name: [] for name in runners}
    for _ in range(args.runs):  # interleave models so drift hits them all alike
        for name, run in runners.items():
            results[name].append(rate(run, args.seconds))
    print(f"epochs/s, median of {args.runs} runs of {args.seconds:.1f} s CPU each, single thread")
    print(f"  {'model':42s} {'wall':>9s} {'cpu':>9s}   (cpu min..max)")
    for name, rates in results.items():
        wall = statistics.median(r[0] for r in rates)
        cpu = [r[1] for r in rates]
        print(f"  {name:42s} {wall:9.0f} {statistics.median(cpu):9.0f}   ({min(cpu):.0f}..{max(cpu):.0f})")
    ours = statistics.median(r[1] for r in results["1x14 SGD, 1+1 updates"])
    ref = statistics.median(r[1] for r in results["hand-written 1x14 SGD step (reference)"])
    print(f"ratio ganlab / hand-written on 1x14 SGD: {ours / ref:.2f}  (target: >= 0.5 and >= 10,000 epochs/s)")


if __name__ == "__main__":
    main()
