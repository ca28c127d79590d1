"""One code path for 1 CPU, 1 GPU and N GPUs/nodes: the torchrun environment and collectives.

Distributed mode is detected from torchrun's environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``); the backend is gloo on CPU and nccl on GPU. Without torchrun every helper
here is a no-op on a single process, so the training loop never branches on the world size.

Gradient reduction: the loop calls :func:`reduce_grads_and_stats` once per update. It sums
the gradients (and the per-update statistics, packed into the same buffer) over ranks and
divides by the world size, so with equal per-rank batches the result is the gradient of the
mean loss over the global batch — the same as one process seeing the whole batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the job and the device it computes on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files, logs and evaluates."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_ranks() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment, ``(0, 1, 0)`` without."""
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


def init_distributed(device: str = "cpu") -> DistEnv:
    """Join the torchrun job (if any) and pick this rank's device.

    ``device`` is the harness's choice (``cpu`` or ``cuda``); under torchrun each rank uses
    ``cuda:<LOCAL_RANK>``. The process group is created once and reused by later calls.
    """
    rank, world, local = env_ranks()
    on_gpu = str(device).startswith("cuda")
    if on_gpu:
        index = local if world > 1 else (torch.device(device).index or 0)
        torch.cuda.set_device(index)
        dev = torch.device("cuda", index)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if on_gpu else "gloo")
    if dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    return DistEnv(rank, world, local, dev)


def barrier(env: DistEnv) -> None:
    """Wait for every rank (no-op on one process)."""
    if env.distributed:
        dist.barrier()


def broadcast_parameters(params: list[torch.Tensor], env: DistEnv, src: int = 0) -> None:
    """Make every rank start from rank ``src``'s values (randomly initialised heads included)."""
    if not env.distributed:
        return
    with torch.no_grad():
        for p in params:
            dist.broadcast(p.data, src)


def reduce_grads_and_stats(
    params: list[torch.Tensor], stats: dict[str, float], env: DistEnv
) -> dict[str, float]:
    """Average ``.grad`` of ``params`` and ``stats`` over ranks in one all-reduce.

    Missing gradients count as zeros (and are materialised), so every rank contributes the
    same buffer layout. ``stats`` must have the same keys on every rank. Returns the averaged
    statistics; gradients are averaged in place.
    """
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    keys = sorted(stats)
    if not env.distributed:
        return {k: float(stats[k]) for k in keys}
    grads = [p.grad for p in params]
    flat = torch.cat([g.reshape(-1).float() for g in grads])
    extra = torch.tensor([float(stats[k]) for k in keys], dtype=flat.dtype, device=flat.device)
    flat = torch.cat([flat, extra])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= env.world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n
    return {k: float(v) for k, v in zip(keys, flat[offset:].tolist(), strict=True)}


def reduce_mean(values: dict[str, float], env: DistEnv) -> dict[str, float]:
    """Average scalar metrics over ranks (the same keys on every rank)."""
    keys = sorted(values)
    if not env.distributed:
        return {k: float(values[k]) for k in keys}
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    if env.device.type == "cuda":
        t = t.to(env.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return {k: float(v) / env.world_size for k, v in zip(keys, t.tolist(), strict=True)}


def derived_seed(*keys: int) -> int:
    """A 63-bit seed from integer keys, e.g. ``(seed, rank, step)``: seeds offset by rank."""
    return int(
        np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(2, np.uint64)[0]
        >> 1
    )
