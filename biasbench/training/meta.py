"""First-order meta-learning on two batches: the shared math of meta recipes.

With a support batch S and a query batch Q (Open-MeDe Eqs. 5-10, Algorithm 1; also the
seen -> unseen control of Table 5 (d)):

- ``g_s = grad_theta L(S; theta)``                                   (Eq. 5)
- fast weights ``theta' = theta - alpha * g_s``                      (Eq. 6, plain SGD step)
- ``g_q = grad_theta' L(Q; theta')``                                 (Eq. 7, first order)
- update direction ``support_weight * g_s + query_weight * g_q``     (Eq. 10, query_weight = delta)

then ``theta`` is restored and the optimizer steps along that direction. The gradient is
per task (per rank); the training loop averages it over ranks once per update.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from biasbench.training.weights import stepped, take_grads


def fast_weights(
    theta: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], alpha: float
) -> list[torch.Tensor]:
    """``theta - alpha * g`` per tensor (Eq. 6)."""
    return [t.detach() - alpha * g for t, g in zip(theta, grads, strict=True)]


def meta_gradient(
    g_support: Sequence[torch.Tensor],
    g_query: Sequence[torch.Tensor],
    support_weight: float = 1.0,
    query_weight: float = 1.0,
) -> list[torch.Tensor]:
    """``support_weight * g_s + query_weight * g_q`` per tensor (Eq. 10)."""
    return [support_weight * s + query_weight * q for s, q in zip(g_support, g_query, strict=True)]


def first_order_meta_grads(
    params: Sequence[torch.nn.Parameter],
    support_loss: Callable[[], torch.Tensor | None],
    query_loss: Callable[[], torch.Tensor | None],
    alpha: float,
    support_weight: float = 1.0,
    query_weight: float = 1.0,
) -> tuple[float, float]:
    """Fill ``.grad`` of ``params`` with the first-order meta gradient; return both losses.

    ``support_loss`` / ``query_loss`` build the loss at the current weights (``None`` for an
    empty batch, which contributes no gradient). The weights are back at ``theta`` afterwards,
    bit for bit. ``.grad`` must be empty on entry. Memory beyond one ordinary backward: one
    copy of the parameters (to restore ``theta``) and one of their gradients (``g_s``).
    """
    value_s = _backward(support_loss())
    g_s = take_grads(params)
    with stepped(params, g_s, alpha):  # theta' = theta - alpha * g_s, in place (Eq. 6)
        value_q = _backward(query_loss())
    # .grad now holds g_q; turn it into support_weight * g_s + query_weight * g_q in place
    for p, s in zip(params, g_s, strict=True):
        if p.grad is None:
            p.grad = (support_weight * s).to(p.dtype)
        else:
            p.grad.mul_(query_weight).add_(s, alpha=support_weight)
    return value_s, value_q


def _backward(loss: torch.Tensor | None) -> float:
    if loss is None:
        return 0.0
    loss.backward()
    return float(loss.detach())
