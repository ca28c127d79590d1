"""Parameter-space helpers the recipes share: snapshots, temporary weights, gradient buffers.

Recipes that evaluate the loss somewhere other than at the current weights (Open-VCLIP's
interpolated weights, fast weights of meta-learning) move the parameters there in place,
back-propagate, keep the gradients, and restore the weights exactly (a copy, not an inverse
update, so no rounding drift).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch


def clone(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Detached copies of ``params``."""
    return [p.detach().clone() for p in params]


def copy_into(params: Sequence[torch.Tensor], values: Sequence[torch.Tensor]) -> None:
    """Overwrite ``params`` with ``values`` in place (autograd does not see it)."""
    with torch.no_grad():
        for p, v in zip(params, values, strict=True):
            p.copy_(v)


@contextlib.contextmanager
def moved_to(params: Sequence[torch.Tensor], values: Sequence[torch.Tensor]) -> Iterator[None]:
    """Temporarily set ``params`` to ``values``; the original weights come back afterwards."""
    saved = clone(params)
    copy_into(params, values)
    try:
        yield
    finally:
        copy_into(params, saved)


@contextlib.contextmanager
def stepped(
    params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], alpha: float
) -> Iterator[None]:
    """Temporarily take the SGD step ``p - alpha * g`` in place; restore ``p`` exactly after.

    Costs one saved copy of ``params`` (the fast weights are written over the parameters
    themselves), where ``moved_to(params, fast_weights(...))`` would hold two.
    """
    saved = clone(params)
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            p.sub_(g.to(p.dtype), alpha=alpha)
    try:
        yield
    finally:
        copy_into(params, saved)


def take_grads(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Remove and return the gradients of ``params`` (zeros where there is none)."""
    out = []
    for p in params:
        out.append(p.grad if p.grad is not None else torch.zeros_like(p))
        p.grad = None
    return out


def add_grads(
    params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], scale: float = 1.0
) -> None:
    """``p.grad += scale * g`` for every parameter (creating the gradient where missing)."""
    for p, g in zip(params, grads, strict=True):
        if p.grad is None:
            p.grad = (g * scale).to(p.dtype)
        else:
            p.grad.add_(g, alpha=scale)


def interpolate(
    theta: Sequence[torch.Tensor], anchor: Sequence[torch.Tensor], ratio: float
) -> list[torch.Tensor]:
    """``ratio * anchor + (1 - ratio) * theta`` per tensor (weight-space interpolation)."""
    return [torch.lerp(t.detach(), a.to(t), ratio) for t, a in zip(theta, anchor, strict=True)]
