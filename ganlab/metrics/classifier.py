"""The small numpy classifiers behind the image metrics: an MLP with a softmax output.

    h_0 = x,   h_l = relu(h_{l-1} W_l + b_l)  (l < L),   z = h_{L-1} W_L + b_L,
    p(y | x) = softmax(z),
    loss = -1/B sum_i log p(y_i | x_i) + wd/2 sum_l |W_l|^2          (biases are not decayed)

Backward (rows are samples): dz = (p - onehot(y)) / B; dW_l = h_{l-1}^T d_l + wd W_l,
db_l = sum_i d_l; d_{l-1} = (d_l W_l^T) * [h_{l-1} > 0].

Inputs are images flattened to (n, h*w) and scaled to [-1, 1] (``to_unit``), the range G's tanh
output lives in, so a generator's samples go in as they are. ``features`` is the last hidden
layer, the representation the Frechet distance is computed on. Trained weights ship in
``classifiers/<set>.npz`` (made by scripts/train_classifier.py); :func:`load_classifier` reads them.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "classifiers"


class Classifier:
    """An MLP classifier on flat parameters (``params``, ``grad``; ``W[l]``, ``b[l]`` are views)."""

    CHUNK = 2048  # rows per evaluation pass: bounds memory for large sample sets

    def __init__(self, sizes: list[int], rng: np.random.Generator | None = None,
                 dtype: str | np.dtype = np.float32, meta: dict | None = None):
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list at least an input and an output width, got {sizes}")
        self.sizes = [int(s) for s in sizes]
        self.dtype = np.dtype(dtype)
        self.meta = dict(meta or {})
        shapes = [(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True)]
        self.size = sum(a * b + b for a, b in shapes)
        self.params = np.zeros(self.size, self.dtype)
        self.grad = np.zeros(self.size, self.dtype)
        self.W, self.b = self._views(self.params, shapes)
        self.dW, self.db = self._views(self.grad, shapes)
        rng = rng or np.random.default_rng(0)
        for w in self.W:  # He initialisation: W ~ N(0, 2 / n_in), b = 0
            w[:] = rng.normal(0.0, np.sqrt(2.0 / w.shape[0]), w.shape)

    @staticmethod
    def _views(flat, shapes):
        W, b, k = [], [], 0
        for n_in, n_out in shapes:
            W.append(flat[k : k + n_in * n_out].reshape(n_in, n_out))
            k += n_in * n_out
            b.append(flat[k : k + n_out])
            k += n_out
        return W, b

    # -- passes -------------------------------------------------------------------------------

    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        """[h_0, ..., h_{L-1}, z]: every layer's output, the logits last."""
        hs = [np.asarray(x, self.dtype)]
        for l, (w, b) in enumerate(zip(self.W, self.b, strict=True)):
            z = hs[-1] @ w
            z += b
            if l < len(self.W) - 1:
                np.maximum(z, 0, out=z)
            hs.append(z)
        return hs

    def loss_grad(self, x: np.ndarray, y: np.ndarray, weight_decay: float = 0.0) -> float:
        """The loss of the module docstring on (x, y); writes its gradient into ``self.grad``."""
        hs = self._forward(x)
        p = softmax(hs[-1])
        B = len(y)
        rows = np.arange(B)
        loss = -float(np.mean(np.log(np.maximum(p[rows, y], np.finfo(self.dtype).tiny))))
        d = p
        d[rows, y] -= 1.0
        d /= B
        for l in range(len(self.W) - 1, -1, -1):
            np.dot(hs[l].T, d, out=self.dW[l])
            self.db[l][:] = d.sum(axis=0)
            if weight_decay:
                self.dW[l] += weight_decay * self.W[l]
                loss += 0.5 * weight_decay * float(np.sum(self.W[l].astype(np.float64) ** 2))
            if l:
                d = d @ self.W[l].T
                d *= hs[l] > 0
        return loss

    def logits_and_features(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits (n, classes), last hidden layer (n, units)) as float64, in chunks."""
        x = np.asarray(x).reshape(len(x), -1)
        if x.shape[1] != self.sizes[0]:
            raise ValueError(f"classifier takes {self.sizes[0]} values per image, got {x.shape[1]}")
        z = np.empty((len(x), self.sizes[-1]))
        f = np.empty((len(x), self.sizes[-2]))
        for i in range(0, len(x), self.CHUNK):
            hs = self._forward(x[i : i + self.CHUNK])
            z[i : i + len(hs[-1])] = hs[-1]
            f[i : i + len(hs[-1])] = hs[-2]
        return z, f

    def probs(self, x: np.ndarray) -> np.ndarray:
        """p(y | x), (n, classes)."""
        return softmax(self.logits_and_features(x)[0])

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.logits_and_features(x)[0].argmax(axis=1) == y))

    # -- files --------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """An .npz with ``sizes``, ``params`` (float32) and ``meta`` (JSON text)."""
        np.savez_compressed(path, sizes=np.array(self.sizes, np.int64), params=self.params.astype(np.float32),
                            meta=np.array(json.dumps(self.meta)))

    @classmethod
    def load(cls, path: str | Path) -> Classifier:
        with np.load(path, allow_pickle=False) as f:
            net = cls([int(s) for s in f["sizes"]], meta=json.loads(str(f["meta"])))
            if f["params"].shape != (net.size,):
                raise ValueError(f"{path}: {f['params'].shape[0]} parameters for sizes {net.sizes}")
            net.params[:] = f["params"]
        return net


def softmax(z: np.ndarray) -> np.ndarray:
    """exp(z - max z) / sum exp(z - max z), row-wise (the shift keeps exp from overflowing)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def available_classifiers() -> list[str]:
    return sorted(p.stem for p in WEIGHTS.glob("*.npz"))


@cache
def load_classifier(name: str) -> Classifier:
    """The shipped classifier for image set ``name`` ("digits8", "mnist", "fashion")."""
    path = WEIGHTS / f"{name}.npz"
    if not path.is_file():
        have = ", ".join(available_classifiers()) or "none"
        raise FileNotFoundError(f"no classifier for {name!r} ships with ganlab (have: {have}); "
                                f"train one with scripts/train_classifier.py --data {name}")
    return Classifier.load(path)


def heldout_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices): ``fraction`` of each class, drawn with ``seed``, held out."""
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        held.append(rng.choice(idx, int(round(fraction * len(idx))), replace=False))
    held = np.sort(np.concatenate(held))
    return np.setdiff1d(np.arange(len(y)), held), held


def recipe_split(recipe: dict, y: np.ndarray, n_train: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices a training recipe names: its own ``heldout`` fraction and ``seed``,
    or, when ``heldout`` is None, the set's first ``n_train`` rows against the rest (Fashion-MNIST)."""
    if recipe["heldout"] is None:
        return np.arange(n_train), np.arange(n_train, len(y))
    return heldout_split(y, recipe["heldout"], recipe["seed"])
