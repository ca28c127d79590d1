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
    """Reject settings the engine cannot run, naming every problem at once."""
    problems = []
    for name in ("epochs", "warmup_epochs", "lr", "min_lr", "warmup_start_lr", "batch_size"):
        if getattr(s, name) is None:
            problems.append(f"{name} is unset")
    if s.epochs is not None and s.epochs < 1:
        problems.append("epochs must be >= 1")
    if s.batch_size is not None and s.batch_size < 1:
        problems.append("batch_size must be >= 1")
    if s.warmup_epochs is not None and s.epochs is not None and s.warmup_epochs > s.epochs:
        problems.append("warmup_epochs cannot exceed epochs")
    if s.precision not in PRECISIONS:
        problems.append(f"precision must be one of {PRECISIONS}")
    if s.clip_ensemble not in CLIP_ENSEMBLES:
        problems.append(f"clip_ensemble must be one of {CLIP_ENSEMBLES}")
    if not 0.0 <= s.clip_ensemble_ratio <= 1.0:
        problems.append("clip_ensemble_ratio must be in [0, 1]")
    if s.grad_clip <= 0:
        problems.append("grad_clip must be > 0")
    if problems:
        raise ConfigError("invalid training settings: " + "; ".join(problems))
