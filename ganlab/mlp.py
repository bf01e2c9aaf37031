"""A multilayer perceptron with hand-written forward and backward passes.

Layout, chosen for speed at GAN Lab sizes (a few units, batches of ~150), where numpy's per-call
overhead dominates and arithmetic is nearly free:

- features x batch: a layer is ``z = W a`` with ``a`` of shape (n_in + 1, B);
- the bias is folded into ``W`` (shape (n_out, n_in + 1)); every activation buffer carries a last
  row of ones, so one ``np.dot`` does the affine map and one gives both weight and bias gradients;
- all weights are views into one flat parameter vector, all gradients into one flat gradient
  vector, so an optimizer updates a whole network with a handful of calls;
- buffers live in a :class:`Workspace` per batch width and are reused step after step.

Hidden layers use one activation from :mod:`ganlab.activations` (leaky ReLU with a slope of the
network's own); the output is linear or tanh. Inverted dropout on the hidden layers is a per-pass
option of a workspace (:meth:`MLP.draw_dropout`): the hidden output h becomes h * m / (1 - p) with
m ~ Bernoulli(1 - p), and backward multiplies the delta by the same mask.
"""

from __future__ import annotations

import numpy as np

from .activations import ACTIVATIONS, LEAKY_SLOPE, Scratch
from .rawnp import copyto, dot

multiply, subtract, tanh = np.multiply, np.subtract, np.tanh

INITS = ("ganlab", "he", "glorot")


class Workspace:
    """Buffers for one batch width: layer outputs ``a[l]`` (with a ones row), deltas, scratch."""

    def __init__(self, net: MLP, batch: int):
        self.batch = batch
        sizes, dt = net.sizes, net.dtype
        # a[0] is the input (set per call); a[l] for 1 <= l < len(sizes) - 1 are hidden outputs.
        self.a: list[np.ndarray | None] = [None]
        self.h: list[np.ndarray | None] = [None]  # h[l] = a[l][:-1], the view without ones
        self.s: list[Scratch | None] = [None]
        for n in sizes[1:-1]:
            a = np.ones((n + 1, batch), dt)
            self.a.append(a)
            self.h.append(a[:-1])
            self.s.append(Scratch((n, batch), dt, net.slope))
        # Dropout (allocated on first use): inp[l] is what layer l reads, a[l] or its masked copy
        # (the activation's derivative is read from the unmasked a[l], so it stays exact for tanh).
        self.dropout = False
        self.inp = self.a
        self.mask: list[np.ndarray | None] = []
        self.out = np.empty((sizes[-1], batch), dt)
        self.out_s = Scratch((sizes[-1], batch), dt)
        # d[l] holds dLoss/d(input of layer l), shape (sizes[l], batch).
        self.d = [np.empty((n, batch), dt) for n in sizes[:-1]]
        self.plans(net)

    def plans(self, net: MLP) -> None:
        """The hidden layers' operands as tuples, built once, so that a pass is a loop over them
        without indexing or view-making (at GAN Lab sizes a numpy call costs ~1 us and the Python
        around it as much): ``fwd`` and ``back`` without dropout, ``fwd_drop`` and ``back_drop``
        reading the masked copies ``inp`` (once ``MLP.draw_dropout`` made them).

        fwd[l - 1] = (W[l-1], h[l], s[l], next input, masked copy's rows or None, mask or None);
        back[k] for l = L-1 .. 1 = (dW[l], inp[l]^T, W[l][:, :-1]^T or its buffer's transpose,
        the buffer or None, W[l][:, :-1], d[l], mask or None, h[l], s[l])."""
        drop = bool(self.mask)
        for masked in (False, True) if drop else (False,):
            inp = self.inp if masked else self.a
            fwd, back = [], []
            for l in range(1, len(net.sizes) - 1):
                mask = self.mask[l - 1] if masked else None
                fwd.append((net.W[l - 1], self.h[l], self.s[l], inp[l], inp[l][:-1] if masked else None, mask))
            for l in range(len(net.W) - 1, 0, -1):
                buf = net._wt_buf[l]
                mask = self.mask[l - 1] if masked else None
                back.append((net.dW[l], inp[l].T, net.WT[l] if buf is None else buf.T, buf, net.W[l][:, :-1],
                             self.d[l], mask, self.h[l], self.s[l]))
            if masked:
                self.fwd_drop, self.back_drop = fwd, back
            else:
                self.fwd, self.back = fwd, back


class MLP:
    """y = f_L(W_L [... phi(W_1 [phi(W_0 [x; 1]); 1]) ...; 1]) with f_L linear or tanh."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        layers: int,
        units: int,
        activation: str = "relu",
        output: str = "linear",
        init: str = "ganlab",
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype = "float64",
        slope: float = LEAKY_SLOPE,
    ):
        if output not in ("linear", "tanh"):
            raise ValueError(f"output must be 'linear' or 'tanh', not {output!r}")
        self.sizes = [n_in] + [units] * layers + [n_out]
        self._arch = (n_in, n_out, layers, units, activation, output)
        self.slope = float(slope)  # leaky ReLU's c (ignored by the other activations)
        self.act = ACTIVATIONS[activation]
        self.output = output
        self.tanh_out = output == "tanh"
        self.shapes = [(self.sizes[i + 1], self.sizes[i] + 1) for i in range(len(self.sizes) - 1)]
        self.size = sum(r * c for r, c in self.shapes)
        # float32 halves the cost of the matrix products that dominate wide networks; float64
        # (the default) keeps gradient checks and bit-for-bit replays exact.
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float64, np.float32):
            raise ValueError(f"dtype must be float64 or float32, not {self.dtype}")
        self.params = np.zeros(self.size, self.dtype)
        self.grad = np.zeros(self.size, self.dtype)
        self.backup = np.empty(self.size, self.dtype)  # last weights before an update, to undo an overflow
        self.W = self._views(self.params)
        self.dW = self._views(self.grad)
        # Transposed weight views without the bias column, for backpropagating deltas.
        self.WT = [w[:, :-1].T for w in self.W]
        # numpy copies such a strided view before every BLAS call; for large layers a copy into a
        # buffer of our own (then read transposed) is ~25% faster and gives the same bits.
        self._wt_buf = [np.empty((r, c - 1), self.dtype) if r * (c - 1) >= self.BIG else None
                        for r, c in self.shapes]
        self._ws: dict[int, Workspace] = {}
        # Columns per evaluation pass: about 2^15 values per hidden buffer bounds a session's
        # workspace memory for a 200 x 200 grid, while small nets see a 50 x 50 grid in one pass.
        self.chunk = max(self.CHUNK, min(4 * self.CHUNK, 2**15 // max(self.sizes)))
        self.init(init, rng or np.random.default_rng(0))

    def copy(self) -> MLP:
        """A network of the same architecture and precision holding a copy of these weights."""
        twin = MLP(*self._arch, init="he", rng=np.random.default_rng(0), dtype=self.dtype, slope=self.slope)
        twin.params[:] = self.params
        return twin

    def _views(self, flat: np.ndarray) -> list[np.ndarray]:
        views, k = [], 0
        for r, c in self.shapes:
            views.append(flat[k : k + r * c].reshape(r, c))
            k += r * c
        return views

    def init(self, scheme: str, rng: np.random.Generator) -> None:
        """Draw weights; biases are zero.

        ganlab: W_0 ~ N(0, 1/2), later W_l ~ N(0, 1/n_in) (GAN Lab's scheme);
        he: W ~ N(0, 2/n_in); glorot: W ~ U(-r, r), r = sqrt(6 / (n_in + n_out)).
        """
        if scheme not in INITS:
            raise ValueError(f"init must be one of {INITS}, not {scheme!r}")
        for i, w in enumerate(self.W):
            n_out, n_in = w.shape[0], w.shape[1] - 1
            if scheme == "ganlab":
                w[:, :-1] = rng.normal(0.0, 1.0 / np.sqrt(2.0 if i == 0 else n_in), (n_out, n_in))
            elif scheme == "he":
                w[:, :-1] = rng.normal(0.0, np.sqrt(2.0 / n_in), (n_out, n_in))
            else:
                r = np.sqrt(6.0 / (n_in + n_out))
                w[:, :-1] = rng.uniform(-r, r, (n_out, n_in))
            w[:, -1] = 0.0

    def workspace(self, batch: int) -> Workspace:
        """The cached workspace for evaluation passes of ``batch`` columns (dropout always off)."""
        ws = self._ws.get(batch)
        if ws is None:
            if len(self._ws) > 8:  # batch sizes come and go with live edits; keep memory bounded
                self._ws.clear()
            ws = self._ws[batch] = Workspace(self, batch)
        ws.dropout = False
        return ws

    def draw_dropout(self, ws: Workspace, rate: float, rng: np.random.Generator) -> None:
        """Masks for the next passes on ``ws``: each hidden unit of each column kept with
        probability 1 - rate and then scaled by 1 / (1 - rate); rate 0 turns dropout off (and
        draws nothing, so a run without dropout never touches ``rng``)."""
        ws.dropout = rate > 0
        if not ws.dropout:
            return
        if not ws.mask:
            ws.inp = [ws.a[0]]
            for l in range(1, len(self.sizes) - 1):
                ws.inp.append(np.ones_like(ws.a[l]))
                ws.mask.append(np.empty_like(ws.h[l]))
            ws.plans(self)
        keep = 1.0 - rate
        for m, s in zip(ws.mask, ws.s[1:], strict=True):
            rng.random(out=m, dtype=m.dtype)
            np.less(m, keep, out=s.mask)
            np.multiply(s.mask, 1.0 / keep, out=m)

    # -- passes -------------------------------------------------------------------------------

    def forward(self, ws: Workspace, x: np.ndarray) -> np.ndarray:
        """Returns ``ws.out`` = f(x) for ``x`` of shape (n_in + 1, B) whose last row is ones."""
        ws.a[0] = x
        if ws.dropout:
            ws.inp[0] = x
            plan = ws.fwd_drop
        else:
            plan = ws.fwd
        a, act = x, self.act.forward
        for w, h, s, nxt, rows, mask in plan:
            dot(w, a, h)
            act(h, s)
            if mask is not None:
                multiply(h, mask, out=rows)
            a = nxt
        out = ws.out
        dot(self.W[-1], a, out)
        if self.tanh_out:
            tanh(out, out=out)
        return out

    def backward(
        self, ws: Workspace, dout: np.ndarray, param_grad: bool = True, input_grad: bool = False
    ) -> np.ndarray | None:
        """Backpropagate dL/dy (``dout``, overwritten) from the last ``forward`` on ``ws``.

        With ``param_grad``, writes dL/dW into ``self.grad``; with ``input_grad``, returns dL/dx
        (shape (n_in, B), a workspace buffer).
        """
        d = dout
        if self.tanh_out:
            s = ws.out_s
            multiply(ws.out, ws.out, out=s.tmp)
            subtract(s.ones, s.tmp, out=s.tmp)
            multiply(d, s.tmp, out=d)
        grad = self.act.grad
        for dW, aT, wt, buf, w, dprev, mask, h, s in ws.back_drop if ws.dropout else ws.back:
            if param_grad:
                dot(d, aT, dW)
            if buf is not None:
                copyto(buf, w)
            dot(wt, d, dprev)
            if mask is not None:
                multiply(dprev, mask, out=dprev)
            grad(dprev, h, s)
            d = dprev
        if param_grad:
            dot(d, ws.a[0].T, self.dW[0])
        if not input_grad:
            return None
        wt = self.WT[0]
        if self._wt_buf[0] is not None:
            copyto(self._wt_buf[0], self.W[0][:, :-1])
            wt = self._wt_buf[0].T
        dot(wt, d, ws.d[0])
        return ws.d[0]

    # -- evaluation on arbitrary point sets -----------------------------------------------------

    CHUNK = 1024  # the smallest evaluation pass (``self.chunk`` is 1 to 4 times this)
    BIG = 4096  # weights in a layer from which backward copies them (see ``_wt_buf``)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """f(x) for points x of shape (B, n_in); returns a new (B, n_out) array."""
        xa = augment(x, self.dtype)
        out = np.empty((xa.shape[1], self.sizes[-1]))
        with np.errstate(over="ignore", invalid="ignore"):  # callers check and flag non-finite
            for i in range(0, xa.shape[1], self.chunk):
                part = xa[:, i : i + self.chunk]
                out[i : i + part.shape[1]] = self.forward(self.workspace(part.shape[1]), part).T
        return out

    def input_grad(self, x: np.ndarray, dout=None) -> np.ndarray:
        """d(sum_i dout_i . f(x_i))/dx_i for points x (B, n_in).

        ``dout``: None (ones), an array (B, n_out), or a function of the outputs y (n_out, b) of a
        chunk returning that chunk's dout as (n_out, b): gradients that depend on f(x) itself
        then need one forward pass, not two."""
        xa = augment(x, self.dtype)
        n = xa.shape[1]
        d = None if dout is None or callable(dout) else np.array(dout, self.dtype).T
        out = np.empty((n, self.sizes[0]))
        with np.errstate(over="ignore", invalid="ignore"):  # callers check and flag non-finite
            for i in range(0, n, self.chunk):
                part = xa[:, i : i + self.chunk]
                b = part.shape[1]
                ws = self.workspace(b)
                y = self.forward(ws, part)
                if dout is None:
                    dpart = np.ones((self.sizes[-1], b), self.dtype)
                elif d is None:
                    dpart = np.array(dout(y), self.dtype, order="C")
                else:
                    dpart = np.array(d[:, i : i + b], order="C")  # backward overwrites it
                out[i : i + b] = self.backward(ws, dpart, param_grad=False, input_grad=True).T
        return out

    def penalty_grad(self, x: np.ndarray, weight: float, center: float = 1.0) -> float:
        """Add dP/dW to ``self.grad`` for the gradient penalty P and return P.

        P = weight * mean_i (||grad_x f(x_i)||_2 - c)^2, for a scalar, linear output: c = 1 is
        WGAN-GP's penalty, c = 0 the zero-centred one, weight * mean_i ||grad_x f(x_i)||^2 (R1 when
        the x_i are real points).

        Backward pass for the input gradient g_0 (h_l hidden outputs, phi' from h_l):
            g_{L} = W_L[:, :-1]^T 1,   u_l = g_l * phi'(h_l),   g_{l-1} = W_{l-1}[:, :-1]^T u_l.
        Its reverse pass, seeded with gbar_0 = dP/dg_0 = weight * 2/B * (|g_0| - c) g_0 / |g_0|
        (for c = 0: weight * 2/B * g_0):
            ubar_l = W_{l-1}[:, :-1] gbar_{l-1},   dW_{l-1}[:, :-1] += u_l gbar_{l-1}^T,
            gbar_l = ubar_l * phi'(h_l),           zbar_l = ubar_l * g_l * phi''(h_l),
            dW_L[:, :-1] += sum_batch gbar_L^T;
        then zbar flows back through the forward pass:
            dW_{l-1} += zbar_l [h_{l-1}; 1]^T,   zbar_{l-1} += (W_{l-1}[:, :-1]^T zbar_l) * phi'(h_{l-1}).
        """
        if self.sizes[-1] != 1 or self.output != "linear":
            raise ValueError("gradient penalty needs a scalar linear output")
        xa = augment(x, self.dtype)
        B = xa.shape[1]
        ws = self.workspace(B)
        self.forward(ws, xa)
        W, WT, dW, act, L = self.W, self.WT, self.dW, self.act, len(self.W) - 1
        dphi = [None] + [act.derivative_from_output(ws.h[l], ws.s[l]) for l in range(1, L + 1)]
        # Backward for g_0, keeping g_l and u_l (np.dot: matmul is ~3x slower on these views).
        g = [None] * (L + 1)
        u = [None] * (L + 1)
        g[L] = np.repeat(WT[L], B, axis=1)
        for l in range(L, 0, -1):
            u[l] = g[l] * dphi[l]
            g[l - 1] = np.dot(WT[l - 1], u[l])
        if center == 0.0:  # smooth at g = 0, where the general form divides by |g|
            P = weight * float(np.mean((g[0] ** 2).sum(axis=0)))
            gbar = (weight * 2.0 / B) * g[0]
        else:
            norm = np.sqrt((g[0] ** 2).sum(axis=0))
            P = weight * float(np.mean((norm - center) ** 2))
            gbar = weight * 2.0 / B * (norm - center) / np.maximum(norm, 1e-12) * g[0]
        # phi'' = 0 (relu, leaky relu): no second-order term, so zbar and its pass vanish.
        curved = not act.piecewise_linear
        zbar = [None] * (L + 1)
        for l in range(1, L + 1):
            ubar = np.dot(W[l - 1][:, :-1], gbar)
            dW[l - 1][:, :-1] += np.dot(u[l], gbar.T)
            gbar = ubar * dphi[l]
            if curved:
                zbar[l] = ubar * g[l] * act.second(ws.h[l])
        dW[L][:, :-1] += gbar.sum(axis=1)[None, :]
        if curved:
            for l in range(L, 0, -1):
                dW[l - 1] += np.dot(zbar[l], ws.a[l - 1].T)
                if l > 1:
                    zbar[l - 1] += np.dot(WT[l - 1], zbar[l]) * dphi[l - 1]
        return P


def augment(x: np.ndarray, dtype: str | np.dtype = "float64") -> np.ndarray:
    """[x^T; 1]: points (B, n) -> a (n + 1, B) array of ``dtype`` whose last row is ones."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"expected points of shape (n, d), got {x.shape}")
    xa = np.ones((x.shape[1] + 1, x.shape[0]), dtype)
    xa[:-1] = x.T
    return xa
