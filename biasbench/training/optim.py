"""AdamW with the shared recipe's parameter groups (BASELINES.md, "Training recipe").

Weight decay applies to matrices and convolution kernels only; 1-D parameters (biases,
LayerNorm gains and shifts, CLIP's class embedding, scalars such as a logit scale) are not
decayed.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def param_groups(
    named_params: Iterable[tuple[str, nn.Parameter]], weight_decay: float
) -> list[dict]:
    """Two AdamW groups: ``decay`` (ndim >= 2) and ``no_decay`` (ndim <= 1), names kept."""
    decay, no_decay = [], []
    for name, p in named_params:
        (decay if p.ndim >= 2 else no_decay).append((name, p))
    return [
        {
            "params": [p for _, p in decay],
            "names": [n for n, _ in decay],
            "weight_decay": weight_decay,
        },
        {
            "params": [p for _, p in no_decay],
            "names": [n for n, _ in no_decay],
            "weight_decay": 0.0,
        },
    ]


def build_optimizer(
    named_params: Iterable[tuple[str, nn.Parameter]],
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> torch.optim.AdamW:
    """AdamW over ``named_params`` with no decay on 1-D parameters."""
    groups = [g for g in param_groups(named_params, weight_decay) if g["params"]]
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Give every parameter group the learning rate ``lr``."""
    for group in optimizer.param_groups:
        group["lr"] = lr
