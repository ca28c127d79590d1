"""Gaussian weight averaging (GWA), Open-MeDe Eqs. 11-13.

The learner's weights after epochs ``t = 1..R`` are averaged with Gaussian weights over the
epoch index, ``w_t = N(t; mu, sigma^2)`` (Eq. 12), normalised over the epochs seen so far; the
CLIP weights ``theta_0`` are excluded (the paper's static-debiasing choice). The running form
(Eq. 13) keeps one copy of the trainable parameters, so no snapshot is stored:

    theta_GWA <- (S_{t-1} / S_t) * theta_GWA + (w_t / S_t) * theta_t,   S_t = sum_{i<=t} w_i

Paper values: ``mu = 7, sigma^2 = 10`` for base-to-novel (12 epochs) and ``mu = 15,
sigma^2 = 10`` for cross-dataset and out-of-context (22 epochs). For another number of epochs
(the embedded world trains a few) both are scaled with the schedule — ``mu * R / R_paper``
and ``sigma^2 * (R / R_paper)^2`` — so the weights keep their shape over the training: the
paper says it chooses ``mu`` "according to the epoch number".
"""

from __future__ import annotations

import math

from biasbench.errors import ConfigError
from biasbench.training.averaging import WeightAverage

#: family -> (mu, sigma^2, epochs) of the paper (main paper §4.1, supplementary A.3)
PAPER_GWA: dict[str, tuple[float, float, int]] = {"b2n": (7.0, 10.0, 12), "xd": (15.0, 10.0, 22)}


def gaussian_weight(t: float, mu: float, sigma2: float) -> float:
    """Eq. 12: ``exp(-(t - mu)^2 / (2 sigma^2)) / sqrt(2 pi sigma^2)``."""
    if sigma2 <= 0:
        raise ConfigError(f"GWA sigma^2 must be > 0, got {sigma2}")
    return math.exp(-((t - mu) ** 2) / (2.0 * sigma2)) / math.sqrt(2.0 * math.pi * sigma2)


def gwa_parameters(family: str, epochs: int) -> tuple[float, float]:
    """``(mu, sigma^2)`` of the paper for ``family``, scaled to ``epochs`` (see module doc)."""
    if family not in PAPER_GWA:
        raise ConfigError(
            f"no GWA defaults for protocol family {family!r}; known: {sorted(PAPER_GWA)}"
        )
    mu, sigma2, paper_epochs = PAPER_GWA[family]
    scale = epochs / paper_epochs
    return mu * scale, sigma2 * scale**2


class GaussianAverage(WeightAverage):
    """The running Gaussian-weighted average of the epoch snapshots (Eqs. 12-13)."""

    def __init__(self, mu: float, sigma2: float) -> None:
        super().__init__()
        gaussian_weight(1.0, mu, sigma2)  # validates sigma2
        self.mu, self.sigma2 = float(mu), float(sigma2)

    def weight(self, epoch: int) -> float:
        return gaussian_weight(float(epoch), self.mu, self.sigma2) if epoch >= 1 else 0.0
