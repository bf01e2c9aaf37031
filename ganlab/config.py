"""Every hyperparameter of an experiment, validated (pydantic), with GAN Lab's defaults.

Defaults are GAN Lab's "gaussians" preset (its default experiment) except the loss: GAN Lab's
hidden 0.95 factor is available as ``loss="ganlab_log"``, while ours defaults to the plain
non-saturating log loss. GAN Lab's "L hidden layers" setting builds L + 1 hidden layers; ``layers``
here counts hidden layers exactly, so GAN Lab's L = 1 is ``layers = 2``.

Fields marked ``restart`` rebuild the networks when changed; all others apply between two updates.

Image data (``digits8``, ``mnist``, ``fashion``) allow wider networks and more noise dimensions than
2D data (see ``LIMITS``; checked across fields by :func:`make_config`, so the page, the CLI and the
API refuse the same values in the same words) and default to float32.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .losses import LOSSES

Activation = Literal["relu", "leaky_relu", "tanh", "elu"]
NOISE_KINDS = ("uniform", "gaussian", "normal", "uniform_signed")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class NetConfig(_Model):
    """One MLP: ``layers`` hidden layers of ``units`` units with one hidden activation."""

    layers: int = Field(2, ge=0, le=6, description="hidden layers", json_schema_extra={"restart": True})
    units: int = Field(8, ge=1, le=1024, description="units per hidden layer (at most 128 for 2D data)",
                       json_schema_extra={"restart": True})
    activation: Activation = Field("relu", description="hidden activation", json_schema_extra={"restart": True})
    leaky_slope: float = Field(0.2, ge=0.0, lt=1.0, description="leaky ReLU's slope c for z < 0",
                               json_schema_extra={"restart": True})


class GeneratorConfig(NetConfig):
    output: Literal["tanh", "linear"] = Field(
        "tanh", description="output activation (GAN Lab: tanh)", json_schema_extra={"restart": True}
    )


class DiscriminatorConfig(NetConfig):
    dropout: float = Field(
        0.0, ge=0.0, le=0.9,
        description="dropout rate p on D's hidden layers while training (inverted: kept units scaled "
        "by 1/(1-p)); off when D is evaluated for views and metrics; 0 = off",
    )


class OptimizerConfig(_Model):
    """Optimizer of one network. Changing ``kind`` resets its state; anything else keeps it."""

    kind: Literal["sgd", "momentum", "adam", "rmsprop"] = Field("sgd", description="optimizer")
    lr: float = Field(0.1, gt=0.0, le=10.0, description="learning rate")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="momentum (SGD with momentum)")
    nesterov: bool = Field(False, description="Nesterov momentum")
    beta1: float = Field(0.9, ge=0.0, lt=1.0, description="Adam beta1")
    beta2: float = Field(0.999, ge=0.0, lt=1.0, description="Adam beta2")
    eps: float = Field(1e-8, gt=0.0, le=1.0, description="Adam / RMSprop epsilon")
    rho: float = Field(0.99, ge=0.0, lt=1.0, description="RMSprop decay")
    decay: float = Field(0.0, ge=0.0, le=1.0,
                         description="learning-rate decay: lr_t = lr / (1 + decay * t) after t steps; 0 = off")


class Config(_Model):
    """A whole experiment."""

    seed: int = Field(0, ge=0, le=2**32 - 1, description="random seed", json_schema_extra={"restart": True})
    data: str = Field("gaussians", description="data distribution (see ganlab.data)")
    data_params: dict[str, Any] = Field(default_factory=dict, description="parameters of the distribution")
    noise: Literal["uniform", "gaussian", "normal", "uniform_signed"] = Field(
        "gaussian",
        description="noise: U[0,1] or N(0.5, 0.25^2) cut at 2 sd (GAN Lab's two), N(0,1), U[-1,1]",
        json_schema_extra={"restart": True},
    )
    noise_dim: int = Field(2, ge=1, le=128, description="noise dimension (at most 8 for 2D data)",
                           json_schema_extra={"restart": True})
    batch_size: int = Field(150, ge=1, le=1024, description="batch size")
    k_d: int = Field(2, ge=0, le=10, description="discriminator updates per epoch")
    k_g: int = Field(1, ge=0, le=10, description="generator updates per epoch")
    loss: str = Field("nonsaturating", description="loss (see ganlab.losses)")
    gp_weight: float = Field(10.0, ge=0.0, le=1000.0, description="gradient penalty weight (wgan-gp)")
    clip: float = Field(0.1, gt=0.0, le=10.0, description="critic weight clip (wgan)")
    r1: float = Field(
        0.0, ge=0.0, le=1000.0,
        description="R1 penalty gamma (Mescheder et al. 2018), any loss: D's loss gains "
        "gamma/2 * mean ||grad_x D(x)||^2 over the real batch (D's logit); 0 = off",
    )
    r1_every: int = Field(
        1, ge=1, le=64,
        description="lazy R1 (StyleGAN2): the penalty on every k-th D step only, with weight x k",
    )
    g_ema: float = Field(
        0.0, ge=0.0, le=0.9999,
        description="decay of an exponential moving average of G's weights, updated after every G "
        "step (warm-up: decay min(d, (1 + t)/(10 + t)) at G step t); when > 0, samples, views and "
        "metrics come from the averaged G; 0 = off",
    )
    label_smoothing: float = Field(
        0.0, ge=0.0, le=0.5,
        description="one-sided label smoothing s: D's target for real data is 1 - s (fakes keep 0); "
        "log losses and lsgan only (wgan, wgan-gp and hinge have no target); 0 = off",
    )
    conditional: bool = Field(
        False,
        description="class-conditional GAN (Mirza & Osindero 2014): a one-hot label joins G's noise "
        "and D's input; labelled image data only",
        json_schema_extra={"restart": True},
    )
    init: Literal["ganlab", "he", "glorot"] = Field(
        "ganlab", description="weight initialisation", json_schema_extra={"restart": True}
    )
    precision: Literal["float64", "float32"] = Field(
        "float64",
        description="arithmetic of both networks: float32 trains wide networks (64+ units) about "
        "twice as fast; float64 is the finite-difference path (default: float32 for image data, "
        "float64 for 2D data)",
        json_schema_extra={"restart": True},
    )
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = Field(default_factory=DiscriminatorConfig)
    g_optimizer: OptimizerConfig = Field(default_factory=lambda: OptimizerConfig(lr=0.03))
    d_optimizer: OptimizerConfig = Field(default_factory=lambda: OptimizerConfig(lr=0.1))

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, v: str) -> str:
        if v not in LOSSES:
            raise ValueError(f"unknown loss {short(v)}; choose one of {', '.join(LOSSES)}")
        return v

    @field_validator("data")
    @classmethod
    def _known_data(cls, v: str) -> str:
        from .data import DISTRIBUTIONS
        from .data.images import IMAGE_SETS

        if v not in DISTRIBUTIONS and v not in IMAGE_SETS:
            raise ValueError(f"unknown data {short(v)}; choose one of {', '.join([*DISTRIBUTIONS, *IMAGE_SETS])}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _precision_for_data(cls, values: Any) -> Any:
        """Image data default to float32 (the tutorial's speed); 2D data to float64."""
        if isinstance(values, dict) and "precision" not in values and is_image_data(values.get("data")):
            values = {**values, "precision": "float32"}
        return values


def is_image_data(name: Any) -> bool:
    """Whether ``name`` is one of the image sets (rows of pixels) rather than a 2D distribution."""
    from .data.images import IMAGE_SETS

    return isinstance(name, str) and name in IMAGE_SETS


# Caps that depend on the kind of data: (2D, image). The fields' own bounds are the image caps.
LIMITS = {"generator.units": (128, 1024), "discriminator.units": (128, 1024), "noise_dim": (8, 128)}


def cross_check(cfg: Config) -> list[tuple[str, str]]:
    """Rules across fields: caps per kind of data, label smoothing only where the loss has a
    target, the conditional GAN only on labelled image data. Returns (field, message) pairs."""
    errors = []
    image = is_image_data(cfg.data)
    if not image:
        for path, (cap, image_cap) in LIMITS.items():
            v: Any = cfg
            for part in path.split("."):
                v = getattr(v, part)
            if v > cap:
                errors.append((path, f"at most {cap} for 2D data (up to {image_cap} for image data); "
                                     f"got {v}"))
    if cfg.label_smoothing > 0 and not LOSSES[cfg.loss].smoothing:
        errors.append(("label_smoothing", f"loss {cfg.loss!r} has no real-data target to smooth; "
                                          "use 0, or a log loss or lsgan"))
    if cfg.conditional and not image:
        errors.append(("conditional", "needs labelled image data (digits8, mnist or fashion), "
                                      f"not the 2D data {cfg.data!r}"))
    return errors


RESTART_SECTIONS = ("generator", "discriminator")
MAX_ERRORS = 5  # errors listed in one ConfigError (a message with 10,000 unknown keys gets five)


def short(x: Any, limit: int = 60) -> str:
    """``repr(x)`` cut to ``limit`` characters: an error message quotes what it refuses without
    echoing a megabyte of it back (huge integers are described by their size, not printed)."""
    if isinstance(x, int) and not isinstance(x, bool) and x.bit_length() > 64:
        return f"an integer of {len(str(abs(x))) if x.bit_length() < 10_000 else 'over 3000'} digits"
    r = repr(x)
    return r if len(r) <= limit else r[: limit - 3] + "..."


class ConfigError(ValueError):
    """Invalid configuration; ``errors`` lists (field path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))


def _allowed(path: tuple, root: type[BaseModel] | None = None) -> str:
    """The allowed range or choices of a field, read from the models (never written twice)."""
    model: Any = root or Config
    info = None
    for part in path:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return ""
        info = model.model_fields.get(str(part))
        if info is None:
            return ""
        model = info.annotation
    if info is None:
        return ""
    lo, hi = field_bounds(info)
    if lo is not None or hi is not None:
        return f"allowed range {lo}..{hi}"
    return ""


def field_bounds(info: Any) -> tuple[Any, Any]:
    """(lower, upper) bound of a field from its ge/gt and le/lt constraints (None where open)."""
    lo = hi = None
    for m in info.metadata:
        lo = next((getattr(m, a) for a in ("ge", "gt") if getattr(m, a, None) is not None), lo)
        hi = next((getattr(m, a) for a in ("le", "lt") if getattr(m, a, None) is not None), hi)
    return lo, hi


def _errors(e: ValidationError, root: type[BaseModel] | None = None) -> list[tuple[str, str]]:
    out = []
    for err in e.errors()[:MAX_ERRORS]:
        loc = tuple(err["loc"])
        path = ".".join(str(p)[:60] for p in loc) or "config"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        allowed = _allowed(loc, root)
        if allowed and allowed not in msg:
            msg = f"{msg} ({allowed}); got {short(err.get('input'))}"
        out.append((path, msg))
    return out


def check_fields(model: type[BaseModel], values: dict[str, Any]) -> BaseModel:
    """``model`` validated from ``values``, or a ConfigError in the config's words (field, allowed
    range, what was given): for numbers that are not config fields, like the CLI's ``--epochs``."""
    try:
        return model.model_validate(values)
    except ValidationError as e:
        raise ConfigError(_errors(e, model)) from None


def make_config(base: Config | dict | None = None, /, *, strict: bool = False,
                **overrides: Any) -> Config:
    """Validate a config from a dict (nested or with dotted keys) plus keyword overrides.

    ``strict`` is the wire's rule (docs/protocol.md): no coercion, so "3" is not a number, 1 is
    not a boolean and 7.0 is not an integer (an integer is a number). The Python API and the CLI
    stay lax."""
    start = config_dump(base) if isinstance(base, Config) else nest(dict(base or {}))
    merged = merge(start, nest(overrides))
    try:
        cfg = Config.model_validate(merged, strict=strict)
    except ValidationError as e:
        raise ConfigError(_errors(e)) from None
    errors = cross_check(cfg)
    if errors:
        raise ConfigError(errors[:MAX_ERRORS])
    return cfg


def check_numbers(data_params: Any) -> None:
    """The wire's rule for distribution parameters: ConfigError naming the first element of a
    list that is not a number (call it on incoming params only: it walks every point)."""
    if isinstance(data_params, dict) and (bad := non_number_in_lists(data_params)) is not None:
        raise ConfigError([(".".join(["data_params", *map(str, bad)]), "must be a number")])


def non_number_in_lists(value: Any) -> list | None:
    """Path of the first element inside a list (at any depth) that is not a number, else None.
    Every list in a distribution's parameters holds numbers (points, strokes, means, weights,
    sds, covs); numpy would read "0.5" and true as numbers, the wire's rules do not."""
    stack: list[tuple[tuple, Any, bool]] = [((), value, False)]  # iterative: nesting is hostile
    while stack:
        path, v, in_list = stack.pop()
        if isinstance(v, dict):
            stack.extend(((*path, k), x, in_list) for k, x in v.items())
        elif isinstance(v, list):
            if all(type(x) is float or type(x) is int for x in v) or (
                    all(type(r) is list for r in v)
                    and all(type(x) is float or type(x) is int for r in v for x in r)):
                continue  # the usual cases, numbers or rows of numbers: no path per element
            stack.extend(((*path, i), x, True) for i, x in enumerate(v))
        elif in_list and type(v) is not int and type(v) is not float:
            return list(path)
    return None


def config_dump(cfg: Config) -> dict:
    """``cfg.model_dump()`` sharing ``data_params`` instead of copying it: configs are replaced,
    never changed in place, and deep-copying an uploaded 100,000-point set cost ~60 ms on
    every change of any field."""
    out = cfg.model_dump(exclude={"data_params"})
    out["data_params"] = cfg.data_params
    return out


def nest(d: dict) -> dict:
    """{"generator.units": 5} -> {"generator": {"units": 5}} (plain nested dicts pass through)."""
    out: dict = {}
    for k, v in d.items():
        parts = str(k).split(".")
        cur = out
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
            if not isinstance(cur, dict):
                raise ConfigError([(k, "is not a section")])
        cur[parts[-1]] = merge(cur.get(parts[-1], {}), v) if isinstance(v, dict) else v
    return out


def merge(base: Any, change: Any) -> Any:
    """Deep merge of ``change`` into ``base`` (dicts recursively, anything else replaced)."""
    if isinstance(base, dict) and isinstance(change, dict) and change is not base:
        out = dict(base)
        for k, v in change.items():
            out[k] = merge(base.get(k), v) if k in base and k != "data_params" else v
        return out
    return change


def data_shape(name: str) -> tuple[int, ...]:
    """The shape of one sample of data ``name``: (2,) for 2D data, (h, w) for an image set."""
    from .data.images import IMAGE_SETS

    if is_image_data(name):
        side = IMAGE_SETS[name]["side"]
        return (side, side)
    return (2,)


def restart_fields(old: Config, new: Config) -> list[str]:
    """Names of changed fields that require rebuilding the networks (data of another shape
    needs networks of other sizes)."""
    changed = [] if data_shape(old.data) == data_shape(new.data) else ["data"]
    for name, info in Config.model_fields.items():
        a, b = getattr(old, name), getattr(new, name)
        if name in RESTART_SECTIONS:
            for sub, sinfo in type(a).model_fields.items():
                extra = sinfo.json_schema_extra or {}
                if extra.get("restart") and getattr(a, sub) != getattr(b, sub):
                    changed.append(f"{name}.{sub}")
        elif (info.json_schema_extra or {}).get("restart") and a != b:
            changed.append(name)
    return changed


def flat_fields() -> list[tuple[str, Any]]:
    """(dotted path, FieldInfo) for every leaf field, in declaration order (for CLI and schema)."""
    out = []
    for name, info in Config.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += [(f"{name}.{sub}", sinfo) for sub, sinfo in ann.model_fields.items()]
        else:
            out.append((name, info))
    return out


__all__ = [
    "Config",
    "ConfigError",
    "GeneratorConfig",
    "NetConfig",
    "DiscriminatorConfig",
    "LIMITS",
    "cross_check",
    "data_shape",
    "is_image_data",
    "OptimizerConfig",
    "NOISE_KINDS",
    "make_config",
    "check_numbers",
    "config_dump",
    "restart_fields",
    "flat_fields",
    "field_bounds",
    "short",
]
