"""Weight averaging over epochs as objects with ``update(model, epoch)``.

Every average here is the running form of a weighted mean of the epoch snapshots
``theta_t`` (Open-MeDe Eq. 13, which holds for any weights ``w_t``)::

    theta_avg <- (S_{t-1} / S_t) * theta_avg + (w_t / S_t) * theta_t,   S_t = sum_{i<=t} w_i

so only one extra copy of the trainable parameters is kept, however many epochs are averaged.
A subclass only says how much epoch ``t`` weighs (:meth:`WeightAverage.weight`): uniform
over a window for SWA (Open-VCLIP, FROSTER), Gaussian for Open-MeDe's GWA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn


class WeightAverage:
    """A running weighted average of a module's trainable parameters over epochs."""

    def __init__(self) -> None:
        self.total_weight = 0.0
        self.epochs: list[int] = []
        self.average: dict[str, torch.Tensor] = {}

    def weight(self, epoch: int) -> float:
        """The weight ``w_t`` of the snapshot after ``epoch`` (1-based); 0 leaves it out."""
        raise NotImplementedError

    def update(self, model: nn.Module | Mapping[str, torch.Tensor], epoch: int) -> None:
        """Fold the current trainable parameters of ``model`` in as epoch ``epoch`` (Eq. 13)."""
        w = float(self.weight(epoch))
        if w <= 0.0:
            return
        state = _trainable(model)
        new_total = self.total_weight + w
        keep, take = self.total_weight / new_total, w / new_total
        with torch.no_grad():
            for name, value in state.items():
                v = value.detach().to("cpu", torch.float32)
                if name in self.average:
                    self.average[name].mul_(keep).add_(v, alpha=take)
                else:
                    self.average[name] = v.clone()
        self.total_weight = new_total
        self.epochs.append(int(epoch))

    @property
    def empty(self) -> bool:
        return not self.epochs

    def apply_to(self, model: nn.Module) -> None:
        """Overwrite ``model``'s parameters with the average (no-op while empty)."""
        if self.empty:
            return
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in self.average.items():
                params[name].copy_(value.to(params[name].device, params[name].dtype))

    def state_dict(self) -> dict:
        return {
            "total_weight": self.total_weight,
            "epochs": list(self.epochs),
            "average": dict(self.average),
        }

    def load_state_dict(self, state: Mapping) -> None:
        self.total_weight = float(state["total_weight"])
        self.epochs = [int(e) for e in state["epochs"]]
        self.average = {k: v.clone() for k, v in state["average"].items()}


class UniformAverage(WeightAverage):
    """SWA: equal weights for the snapshots of epochs ``start..end`` (``end=None``: all).

    Open-VCLIP and FROSTER average epochs 2..22, leaving out the first epoch.
    """

    def __init__(self, start: int = 1, end: int | None = None) -> None:
        super().__init__()
        self.start, self.end = start, end

    def weight(self, epoch: int) -> float:
        inside = epoch >= self.start and (self.end is None or epoch <= self.end)
        return 1.0 if inside else 0.0


def uniform_average(states: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The plain mean of parameter snapshots, ``(1/n) * sum_t theta_t`` (SWA's definition)."""
    if not states:
        raise ValueError("no snapshots to average")
    return {name: torch.stack([s[name].float() for s in states]).mean(0) for name in states[0]}


def _trainable(model: nn.Module | Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
    if isinstance(model, nn.Module):
        return {n: p for n, p in model.named_parameters() if p.requires_grad}
    return model
