"""The method contract: a training recipe applied to a learner (DESIGN.md, "Method").

A method names its default learner, says whether it trains, and turns a learner plus a
training request into the model that gets evaluated. Model-agnostic methods work with any
learner exposing ``trainable_parameters()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from biasbench.models.learner import Learner

if TYPE_CHECKING:
    from biasbench.protocol import TrainRequest


@dataclass
class FitContext:
    """What a training method gets from the harness besides the data."""

    run_dir: Path
    seed: int
    device: str
    num_workers: int
    progress: bool = True
    family: str = "xd"
    #: True on the embedded synthetic world: methods then use their small embedded defaults
    embedded: bool = False
    #: the prompt templates of the run (the text classifier of the training vocabulary)
    templates: list[str] | None = None
    #: optional per-epoch evaluation supplied by the harness (paper Fig. 3 curves):
    #: ``evaluate(learner, epoch) -> {set key: {"top1": ..., "top5": ..., "n": ...}}``
    evaluate: Callable[[Learner, int], dict[str, dict[str, float]]] | None = None


class Method:
    """Base class of methods. ``fit`` returns the learner to evaluate (possibly a new one)."""

    name: ClassVar[str]
    trains: ClassVar[bool] = True
    default_learner: ClassVar[str] = "vclip"

    @dataclass(frozen=True)
    class Settings:
        """Method settings (subclasses define their own frozen dataclass)."""

    def __init__(self, settings: Any = None):
        self.settings = settings if settings is not None else self.Settings()

    def refusal(self, learner_cls: type[Learner]) -> str | None:
        """Why this method, with its settings, cannot be applied to ``learner_cls``; None if it can.

        Checked before a run starts and listed by ``biasbench list methods --learner L``.
        """
        return None

    def fit(self, learner: Learner, train: TrainRequest, ctx: FitContext) -> Learner:
        """Train ``learner`` on ``train`` (a TrainRequest) and return the model to evaluate."""
        raise NotImplementedError
