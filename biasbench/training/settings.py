"""Settings shared by every training recipe, and how their defaults are chosen.

A method's ``Settings`` is a frozen dataclass that extends :class:`TrainSettings`. Fields left
at ``None`` are filled when training starts from, in order: the paper defaults of the
protocol family (base-to-novel ``b2n`` or cross-dataset / out-of-context ``xd``) or, on the
embedded world, the small embedded-world defaults; then the recipe's own defaults for that
case. Values given with ``--set method.<field>=...`` always win. The resolved settings are
written to ``resolved_settings.json`` in the run's training folder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from biasbench.errors import ConfigError

#: Open-VCLIP / FROSTER / Open-MeDe recipe (BASELINES.md, "Training recipe"): AdamW, lr
#: 3.33e-6 cosine to 3.33e-8 after 2 warm-up epochs starting at 3.33e-8; 8 videos per GPU on
#: 4 GPUs = 32 per batch; 12 epochs base-to-novel, 22 cross-dataset / out-of-context.
PAPER_DEFAULTS: dict[str, Any] = {
    "warmup_epochs": 2.0,
    "lr": 3.33e-6,
    "min_lr": 3.33e-8,
    "warmup_start_lr": 3.33e-8,
    "batch_size": 32,
    "flip_p": 0.5,
    "frame_cache": False,
}
PAPER_EPOCHS = {"b2n": 12, "xd": 22}

#: The embedded world (64 px, tiny CLIP, 2 CPU cores): few epochs and a larger learning rate,
#: since a tiny CLIP trained from its pretrained state moves little at 3.33e-6 in a few
#: epochs (measured: docs/training.md). Flips are off: the world has mirror-image classes
#: ("moving left" / "moving right"), so a horizontal flip would change the label. Decoded
#: videos are small and kept in memory.
EMBEDDED_DEFAULTS: dict[str, Any] = {
    "epochs": 3,
    "warmup_epochs": 0.5,
    "lr": 3e-4,
    "min_lr": 3e-6,
    "warmup_start_lr": 3e-6,
    "batch_size": 8,
    "flip_p": 0.0,
    "frame_cache": True,
}

PRECISIONS = ("auto", "fp32", "bf16")
CLIP_ENSEMBLES = ("none", "weight", "decision")


def _at_least(low: float) -> tuple[Callable[[float], bool], str]:
    return (lambda v: v >= low), f"a number >= {low}"


#: numeric fields -> (accepts, what is expected): what AdamW, the schedule, the loader and
#: the loop can use (torch's AdamW refuses negative rates, decay and eps; 0 turns logging,
#: per-epoch evaluation and mid-epoch checkpoints off)
RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "epochs": _at_least(1),
    "warmup_epochs": _at_least(0),
    "lr": _at_least(0),
    "min_lr": _at_least(0),
    "warmup_start_lr": _at_least(0),
    "batch_size": _at_least(1),
    "weight_decay": _at_least(0),
    "adam_eps": _at_least(0),
    "grad_clip": ((lambda v: v > 0), "a number > 0"),
    "flip_p": ((lambda v: 0 <= v <= 1), "a probability in [0, 1]"),
    "eval_every": _at_least(0),
    "checkpoint_every": _at_least(0),
    "log_every": _at_least(0),
    "clip_ensemble_ratio": ((lambda v: 0 <= v <= 1), "a ratio in [0, 1]"),
}


@dataclass(frozen=True)
class TrainSettings:
    """What every recipe shares. ``None`` = chosen from the family / embedded defaults.

    ``batch_size`` is the global number of videos in one batch (all ranks together; each of
    W ranks gets ``batch_size / W``); a recipe that uses two batches per update sees twice
    that many videos per update. ``clip_ensemble`` combines the trained learner with CLIP at
    test time (supplementary Table 7): ``weight`` patches the weights
    ``(1 - r) * theta + r * theta_CLIP``, ``decision`` adds the logits ``(1 - r) * learner + r
    * CLIP``; ``r = clip_ensemble_ratio``. ``checkpoint_every`` also saves a resumable
    checkpoint every N updates inside an epoch (0: at epoch ends only).
    """

    epochs: int | None = None
    warmup_epochs: float | None = None
    lr: float | None = None
    min_lr: float | None = None
    warmup_start_lr: float | None = None
    batch_size: int | None = None
    weight_decay: float = 0.01
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    grad_clip: float = 1.0
    flip_p: float | None = None
    frame_cache: bool | None = None
    precision: str = "auto"
    grad_checkpointing: bool | None = None
    eval_every: int = 0
    checkpoint_every: int = 0
    log_every: int = 1
    clip_ensemble: str = "none"
    clip_ensemble_ratio: float = 0.5

    def __post_init__(self) -> None:
        """Refuse values the engine cannot use as soon as the settings are built (at run
        resolution, before any model loads). Subclasses with their own ``__post_init__``
        call this one first."""
        problems = value_problems(self)
        if problems:
            raise ConfigError("invalid training settings: " + "; ".join(problems))


def value_problems(s: TrainSettings) -> list[str]:
    """Every set field outside the range the engine can use (unset fields are skipped)."""
    problems = []
    for name, (ok, expected) in RANGES.items():
        v = getattr(s, name)
        if v is None:
            continue
        if not _is_number(v) or not ok(v):
            problems.append(f"method.{name}={v!r} (expected {expected})")
    if _is_number(s.warmup_epochs) and _is_number(s.epochs) and s.warmup_epochs > s.epochs:
        problems.append(f"method.warmup_epochs={s.warmup_epochs!r} exceeds epochs={s.epochs!r}")
    betas = s.adam_betas
    if not (
        isinstance(betas, (tuple, list))
        and len(betas) == 2
        and all(_is_number(b) and 0 <= b < 1 for b in betas)
    ):
        problems.append(f"method.adam_betas={betas!r} (expected two numbers in [0, 1))")
    if s.precision not in PRECISIONS:
        problems.append(f"method.precision={s.precision!r} (expected one of {PRECISIONS})")
    if s.clip_ensemble not in CLIP_ENSEMBLES:
        problems.append(
            f"method.clip_ensemble={s.clip_ensemble!r} (expected one of {CLIP_ENSEMBLES})"
        )
    return problems


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def defaults_for(family: str, embedded: bool) -> dict[str, Any]:
    """The engine's defaults for a protocol family, or for the embedded world."""
    if embedded:
        return dict(EMBEDDED_DEFAULTS)
    if family not in PAPER_EPOCHS:
        raise ConfigError(f"unknown protocol family {family!r}; known: {sorted(PAPER_EPOCHS)}")
    return {**PAPER_DEFAULTS, "epochs": PAPER_EPOCHS[family]}


def resolve_settings(settings: Any, defaults: dict[str, Any]) -> Any:
    """Fill the ``None`` fields of ``settings`` that ``defaults`` names, then validate."""
    names = {f.name for f in dataclasses.fields(settings)}
    fill = {k: v for k, v in defaults.items() if k in names and getattr(settings, k) is None}
    resolved = dataclasses.replace(settings, **fill)
    validate(resolved)
    return resolved


def validate(s: TrainSettings) -> None:
    """Reject settings the engine cannot run once defaults are filled, naming every problem
    at once (values again, for a subclass whose ``__post_init__`` skipped this class's)."""
    problems = []
    for name in ("epochs", "warmup_epochs", "lr", "min_lr", "warmup_start_lr", "batch_size"):
        if getattr(s, name) is None:
            problems.append(f"{name} is unset")
    problems += value_problems(s)
    if problems:
        raise ConfigError("invalid training settings: " + "; ".join(problems))
