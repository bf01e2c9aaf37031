"""Recommended settings per image set (config overrides, like the 2D distributions' presets), and a
preset per set that collapses on purpose, for teaching.

``recommended`` is measured by ``scripts/digits_quality.py`` (classes captured of 10 within the
bar's CPU time on one core, on every seed tried); ``collapse`` writes few classes (mode collapse:
see the class histogram fill only a few bars).
"""

from __future__ import annotations

from typing import Any

_ADAM = {"kind": "adam", "beta1": 0.5, "beta2": 0.999}


def _net(units: int, **kw: Any) -> dict:
    return {"layers": 1, "units": units, "activation": "leaky_relu", "leaky_slope": 0.2, **kw}


IMAGE_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "digits8": {
        "recommended": {
            "noise": "normal", "noise_dim": 32, "batch_size": 64, "k_d": 1, "k_g": 1, "init": "he",
            "generator": _net(128), "discriminator": _net(64),
            "d_optimizer": {**_ADAM, "lr": 0.001}, "g_optimizer": {**_ADAM, "lr": 0.001},
        },
        # G takes three steps of a 15x larger rate per D step: it jumps to whatever D currently
        # takes for real, D catches up, G jumps again (the class histogram shows one or two bars).
        "collapse": {
            "noise": "normal", "noise_dim": 32, "batch_size": 64, "k_d": 1, "k_g": 3, "init": "he",
            "generator": _net(128), "discriminator": _net(64),
            "d_optimizer": {**_ADAM, "lr": 0.0002}, "g_optimizer": {**_ADAM, "lr": 0.003},
        },
    },
    "mnist": {
        # The tutorial's G (one hidden layer of 256, leaky ReLU, tanh out) against a wider D with
        # dropout: the tutorial's 64-unit D lets G get away with grey average digits for long.
        "recommended": {
            "noise": "normal", "noise_dim": 64, "batch_size": 64, "k_d": 1, "k_g": 1, "init": "he",
            "generator": _net(256), "discriminator": _net(256, dropout=0.3),
            "d_optimizer": {**_ADAM, "lr": 0.0005}, "g_optimizer": {**_ADAM, "lr": 0.001},
        },
        # The digits8 recipe on the recommended networks (no dropout): every sample turns into
        # nearly the same image within a few hundred iterations, and stays one class for long.
        "collapse": {
            "noise": "normal", "noise_dim": 64, "batch_size": 64, "k_d": 1, "k_g": 3, "init": "he",
            "generator": _net(256), "discriminator": _net(256),
            "d_optimizer": {**_ADAM, "lr": 0.0002}, "g_optimizer": {**_ADAM, "lr": 0.003},
        },
    },
}
IMAGE_PRESETS["fashion"] = IMAGE_PRESETS["mnist"]


def image_preset(data: str, name: str = "recommended") -> dict[str, Any]:
    """A copy of preset ``name`` of image set ``data`` (KeyError naming the choices otherwise)."""
    import copy

    presets = IMAGE_PRESETS.get(data)
    if presets is None:
        raise KeyError(f"no image presets for {data!r}; sets: {', '.join(IMAGE_PRESETS)}")
    if name not in presets:
        raise KeyError(f"image set {data!r} has no preset {name!r}; choose one of {', '.join(presets)}")
    return copy.deepcopy(presets[name])


__all__ = ["IMAGE_PRESETS", "image_preset"]
