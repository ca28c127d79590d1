"""Training data for the engine: the rank-sharded sampler and batches on the device.

Sharding keeps one global order: the permutation of epoch ``e`` comes from ``(seed, e)`` (the
same on every rank), is cut into global batches of ``batch_size`` videos, and rank ``r`` of
``W`` takes the ``r``-th contiguous slice of ``batch_size / W`` videos of each global batch.
So one process with batch B and two processes with B/2 each see the same videos in every
update. The tail that does not fill a whole update (``batches_per_update`` global batches)
is dropped, so every rank does the same number of updates with full batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from biasbench.errors import ConfigError


class ShardedBatchOrder(Sampler[int]):
    """Indices of this rank's share of each global batch, for the dataset's current epoch.

    The epoch is read from ``dataset.epoch`` (``ClipDataset.set_epoch``), which also selects
    the clip randomness. :meth:`skip` starts the next iteration after ``n`` global batches
    (resuming inside an epoch). ``arrange(permutation, epoch)`` may reorder the epoch's
    shuffled permutation (a recipe's batch sampler, e.g. Open-MeDe's ``initial`` and
    ``similar``); it must return a permutation of the same indices and be deterministic,
    since every rank computes it.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        batches_per_update: int = 1,
        arrange: Callable[[np.ndarray, int], np.ndarray] | None = None,
    ):
        if batch_size % world_size:
            raise ConfigError(f"batch_size {batch_size} is not divisible by the {world_size} ranks")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.per_rank = batch_size // world_size
        n_batches = len(dataset) // batch_size  # type: ignore[arg-type]
        self.updates_per_epoch = n_batches // batches_per_update
        self.num_batches = self.updates_per_epoch * batches_per_update
        if self.updates_per_epoch < 1:
            raise ConfigError(
                f"{len(dataset)} training videos cannot fill one update of "  # type: ignore[arg-type]
                f"{batches_per_update} x {batch_size} videos; lower method.batch_size"
            )
        self.arrange = arrange
        self._skip = 0

    def skip(self, global_batches: int) -> None:
        """Start the next iteration after ``global_batches`` batches of the epoch."""
        self._skip = global_batches

    def __len__(self) -> int:
        return (self.num_batches - self._skip) * self.per_rank

    def __iter__(self) -> Iterator[int]:
        epoch = int(getattr(self.dataset, "epoch", 0))
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))  # type: ignore[arg-type]
        if self.arrange is not None:
            arranged = np.asarray(self.arrange(order, epoch))
            if arranged.shape != order.shape or not np.array_equal(
                np.sort(arranged), np.sort(order)
            ):
                raise ValueError("a batch arrangement must return a permutation of the epoch")
            order = arranged
        start = self.rank * self.per_rank
        out: list[int] = []
        for b in range(self._skip, self.num_batches):
            base = b * self.batch_size + start
            out.extend(order[base : base + self.per_rank].tolist())
        self._skip = 0
        return iter(out)


@dataclass
class Batch:
    """One batch of this rank: frames ``[B, T, C, H, W]``, labels ``[B]``, dataset indices."""

    frames: torch.Tensor | None
    labels: torch.Tensor
    indices: torch.Tensor

    @property
    def size(self) -> int:
        return 0 if self.frames is None else int(self.frames.shape[0])

    @classmethod
    def from_collated(cls, batch: dict[str, Any], device: torch.device) -> Batch:
        frames = batch["frames"]
        if frames is not None:
            frames = frames.to(device, non_blocking=True)
        return cls(frames, batch["labels"].to(device, non_blocking=True), batch["indices"])

    def select(self, mask: torch.Tensor) -> Batch:
        """The samples where ``mask`` (over this batch) is true."""
        if self.frames is None:
            return self
        keep = mask.to(self.labels.device)
        idx = keep.nonzero().flatten()
        frames = self.frames[idx] if len(idx) else None
        return Batch(frames, self.labels[idx], self.indices[idx.cpu()])
