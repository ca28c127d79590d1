"""What a recipe sees of a training run: :class:`TrainRun` (fixed for the whole training) and
:class:`StepContext` (one update). Kept apart from the recipe base class so the loop can use
them without importing the recipes that call the loop."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from biasbench.method import FitContext
from biasbench.training.distributed import DistEnv
from biasbench.training.text import TrainingText


@dataclass
class TrainRun:
    """What a recipe learns about the run in ``setup`` (fixed for the whole training)."""

    settings: Any
    env: DistEnv
    ctx: FitContext
    text: TrainingText
    class_names: list[str]
    #: the learner's trainable parameters before training (CLIP's, for learners that start
    #: at CLIP): the anchor of weight interpolation, patching and CLIP ensembles
    initial_state: dict[str, torch.Tensor]
    updates_per_epoch: int
    total_updates: int
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    bf16: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.ctx.run_dir

    @property
    def device(self) -> torch.device:
        return self.env.device


@dataclass
class StepContext:
    """What one update needs: position, learning rate, randomness, autocast, parameters."""

    step: int  # 0-based update index over the whole training
    epoch: int  # 1-based
    lr: float
    #: seeded from (seed, step): the same on every rank and after resuming
    generator: torch.Generator
    run: TrainRun
    #: every trainable parameter (learner's, then the recipe modules'), in optimizer order
    params: list[nn.Parameter]
    learner_params: list[nn.Parameter]

    def autocast(self) -> contextlib.AbstractContextManager:
        return self.run.autocast()

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        """A draw from U(low, high) with the step's generator."""
        return low + (high - low) * float(torch.rand((), generator=self.generator))
