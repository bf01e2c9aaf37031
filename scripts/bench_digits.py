"""The digits GAN's speed: ganlab's Trainer and a bare numpy iteration of the classic tutorial's GAN.

G: z (100) -> 256 leaky ReLU (0.2) -> d tanh;  D: x (d) -> 64 leaky ReLU -> 1 logit (sigmoid in the
loss); non-saturating loss, plain SGD, batch 100, one BLAS thread. One iteration = one D update
(G forward, D forward and backward on real and fake) + one G update (G forward, D forward and
backward to its input, G backward). Timed beside it, in the same run: only that iteration's
``np.dot`` calls, replayed on the same buffers: the ceiling a step made of those products can reach.
GFLOP/s counts 2 m k n per product (elementwise work not counted).

The engine row is ``ganlab.Trainer`` on the real data (784: MNIST-5k, 64: the 8x8 digits) with the
same architecture and settings (``TUTORIAL`` below; k_d = k_g = 1, so one epoch is one iteration),
timed with ``train(1)`` calls; its ratio is to the bare products of the same shapes, in this run.
Targets (issue 10): MNIST >= 150 it/s and >= 0.6 of the bare products; 8x8 >= 800 it/s.

    python scripts/bench_digits.py [--dims 784 64] [--dtype float32] [--batch 100] [--runs 5] [--seconds 1]

Prints a table: iterations/s (CPU time of this thread, so a shared machine does not hide the
engine's own speed; wall-clock beside it), GFLOP/s, the same for the bare products, and the ratio.
"""

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy is imported

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

SLOPE = 0.2
DATA = {784: "mnist", 64: "digits8"}
TUTORIAL = dict(noise="normal", noise_dim=100, k_d=1, k_g=1, loss="nonsaturating", init="he",
                generator={"layers": 1, "units": 256, "activation": "leaky_relu", "leaky_slope": SLOPE},
                discriminator={"layers": 1, "units": 64, "activation": "leaky_relu", "leaky_slope": SLOPE},
                d_optimizer={"kind": "sgd", "lr": 0.01}, g_optimizer={"kind": "sgd", "lr": 0.01})


def engine_step(d: int, batch: int, dtype: str, seed: int = 0):
    """``train(1)`` of a Trainer with the tutorial's settings on the set of dimension ``d``."""
    from ganlab import Trainer

    t = Trainer(TUTORIAL, data=DATA[d], batch_size=batch, precision=dtype, seed=seed)
    return t, lambda: t.train(1)


class BareStep:
    """The tutorial's GAN as one specialised function (rows are samples)."""

    def __init__(self, d: int, batch: int = 100, z: int = 100, gh: int = 256, dh: int = 64,
                 dtype=np.float32, seed: int = 0, lr: float = 0.01):
        r = np.random.default_rng(seed)
        self.B, self.lr, self.dt = batch, dtype(lr), dtype
        self.z = z

        def w(a, b):
            return r.normal(0, np.sqrt(2 / a), (a, b)).astype(dtype)

        self.G1, self.G2, self.D1, self.D2 = w(z, gh), w(gh, d), w(d, dh), w(dh, 1)
        self.g1b, self.g2b, self.d1b = np.zeros(gh, dtype), np.zeros(d, dtype), np.zeros(dh, dtype)
        self.d2b = np.zeros(1, dtype)
        self.real = r.uniform(-1, 1, (20 * batch, d)).astype(dtype)
        self.noise = r.normal(0, 1, (40 * batch, z)).astype(dtype)
        B = batch
        e = np.empty
        self.hg, self.x, self.hd = e((B, gh), dtype), e((2 * B, d), dtype), e((2 * B, dh), dtype)
        self.s, self.ds, self.dhd = e((2 * B, 1), dtype), e((2 * B, 1), dtype), e((2 * B, dh), dtype)
        self.gD1, self.gD2 = e((d, dh), dtype), e((dh, 1), dtype)
        self.hd1, self.s1, self.dhd1 = e((B, dh), dtype), e((B, 1), dtype), e((B, dh), dtype)
        self.dx, self.dhg = e((B, d), dtype), e((B, gh), dtype)
        self.gG1, self.gG2 = e((z, gh), dtype), e((gh, d), dtype)
        self.tmp_d, self.tmp_gh = e((B, d), dtype), e((B, gh), dtype)
        self.tmp2 = e((2 * B, dh), dtype)
        self.tmp1 = e((B, dh), dtype)
        self.c = 0
        self.dot = np.dot

    def _leaky(self, h, tmp):
        np.multiply(h, SLOPE, out=tmp)
        np.maximum(h, tmp, out=h)

    def _leaky_grad(self, d, h):
        d[h < 0] *= SLOPE

    def iteration(self):
        B, dot, lr = self.B, self.dot, self.lr
        c = self.c
        self.c = (c + 1) % 20
        z = self.noise[2 * c * B : (2 * c + 1) * B]
        # -- D update on [real; G(z)] --
        dot(z, self.G1, out=self.hg)
        self.hg += self.g1b
        self._leaky(self.hg, self.tmp_gh)
        fake = self.x[B:]
        dot(self.hg, self.G2, out=fake)
        fake += self.g2b
        np.tanh(fake, out=fake)
        self.x[:B] = self.real[c * B : (c + 1) * B]
        dot(self.x, self.D1, out=self.hd)
        self.hd += self.d1b
        self._leaky(self.hd, self.tmp2)
        dot(self.hd, self.D2, out=self.s)
        self.s += self.d2b
        # loss = -mean log sig(s_real) - mean log sig(-s_fake): ds = (sig(s) - [real]) / B
        np.negative(self.s, out=self.ds)
        np.exp(self.ds, out=self.ds)
        self.ds += 1
        np.reciprocal(self.ds, out=self.ds)
        self.ds[:B] -= 1
        self.ds *= 1 / B
        dot(self.hd.T, self.ds, out=self.gD2)
        db2 = self.ds.sum(0)
        dot(self.ds, self.D2.T, out=self.dhd)
        self._leaky_grad(self.dhd, self.hd)
        dot(self.x.T, self.dhd, out=self.gD1)
        db1 = self.dhd.sum(0)
        self.D1 -= lr * self.gD1
        self.D2 -= lr * self.gD2
        self.d1b -= lr * db1
        self.d2b -= lr * db2
        # -- G update: loss = -mean log sig(D(G(z))) --
        z = self.noise[(2 * c + 1) * B : (2 * c + 2) * B]
        dot(z, self.G1, out=self.hg)
        self.hg += self.g1b
        self._leaky(self.hg, self.tmp_gh)
        dot(self.hg, self.G2, out=fake)
        fake += self.g2b
        np.tanh(fake, out=fake)
        dot(fake, self.D1, out=self.hd1)
        self.hd1 += self.d1b
        self._leaky(self.hd1, self.tmp1)
        dot(self.hd1, self.D2, out=self.s1)
        self.s1 += self.d2b
        ds = self.s1
        np.exp(ds, out=ds)  # dl/ds = (sig(s) - 1) / B = -1 / ((1 + e^s) B)
        ds += 1
        np.reciprocal(ds, out=ds)
        ds *= -1 / B
        dot(ds, self.D2.T, out=self.dhd1)
        self._leaky_grad(self.dhd1, self.hd1)
        dot(self.dhd1, self.D1.T, out=self.dx)
        np.multiply(fake, fake, out=self.tmp_d)  # through tanh: * (1 - y^2)
        np.subtract(1, self.tmp_d, out=self.tmp_d)
        self.dx *= self.tmp_d
        dot(self.hg.T, self.dx, out=self.gG2)
        db = self.dx.sum(0)
        dot(self.dx, self.G2.T, out=self.dhg)
        self._leaky_grad(self.dhg, self.hg)
        dot(z.T, self.dhg, out=self.gG1)
        self.G1 -= lr * self.gG1
        self.G2 -= lr * self.gG2
        self.g2b -= lr * db
        self.g1b -= lr * self.dhg.sum(0)

    def record_dots(self) -> list[tuple]:
        """The (a, b, out) of every np.dot one iteration makes, on its own buffers."""
        calls = []

        def rec(a, b, out):
            calls.append((a, b, out))
            return np.dot(a, b, out=out)

        self.dot = rec
        self.iteration()
        self.dot = np.dot
        return calls


def flops(calls) -> int:
    return sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in calls)


def timed(fn, seconds: float) -> tuple[float, float]:
    """(wall, cpu) calls/s of fn over about ``seconds`` of this thread's CPU time."""
    n, w0, c0 = 0, time.perf_counter(), time.thread_time()
    while (cpu := time.thread_time() - c0) < seconds:
        for _ in range(10):
            fn()
        n += 10
    return n / (time.perf_counter() - w0), n / cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[784, 64], help="data dimensions (784 MNIST, 64 8x8)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5, help="median of this many runs")
    ap.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per run")
    ap.add_argument("--bare-only", action="store_true", help="skip the ganlab Trainer rows")
    args = ap.parse_args()
    dt = np.dtype(args.dtype).type
    print(f"{args.dtype}, batch {args.batch}, one BLAS thread, median of {args.runs} runs of {args.seconds} CPU s")
    print(f"{'model':28} {'MFLOP/it':>8} {'it/s cpu':>9} {'it/s wall':>9} {'GFLOP/s':>8} "
          f"{'dots it/s':>9} {'dots GFLOP/s':>12} {'ratio':>6}")
    for d in args.dims:
        step = BareStep(d, args.batch, dtype=dt)
        calls = step.record_dots()
        f = flops(calls)

        def dots_only(calls=calls):
            for a, b, out in calls:
                np.dot(a, b, out=out)

        step.iteration()
        runs = [timed(step.iteration, args.seconds) for _ in range(args.runs)]
        druns = [timed(dots_only, args.seconds) for _ in range(args.runs)]
        it_cpu = statistics.median(r[1] for r in runs)
        it_wall = statistics.median(r[0] for r in runs)
        dots_cpu = statistics.median(r[1] for r in druns)
        name = f"G 100-256-{d}, D {d}-64-1"
        print(f"{name:28} {f / 1e6:8.1f} {it_cpu:9.0f} {it_wall:9.0f} {it_cpu * f / 1e9:8.1f} "
              f"{dots_cpu:9.0f} {dots_cpu * f / 1e9:12.1f} {it_cpu / dots_cpu:6.2f}")
        if not np.isfinite(step.G2).all():
            raise SystemExit("the bare step diverged: the benchmark is not measuring a sane step")
        if d in DATA and not args.bare_only:
            t, fn = engine_step(d, args.batch, args.dtype)
            fn()
            eruns = [timed(fn, args.seconds) for _ in range(args.runs)]
            e_cpu = statistics.median(r[1] for r in eruns)
            e_wall = statistics.median(r[0] for r in eruns)
            name = f"  ganlab Trainer ({DATA[d]})"
            print(f"{name:28} {f / 1e6:8.1f} {e_cpu:9.0f} {e_wall:9.0f} {e_cpu * f / 1e9:8.1f} "
                  f"{dots_cpu:9.0f} {dots_cpu * f / 1e9:12.1f} {e_cpu / dots_cpu:6.2f}")
            if not t.status.ok:
                raise SystemExit(f"the engine diverged: {t.status.message}")


if __name__ == "__main__":
    main()
