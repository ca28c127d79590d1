"""The clip source as a torch Dataset and DataLoader.

- Determinism: every random choice comes from a generator derived from explicit keys, never
  from worker seeds, so a run gives the same batches with 0, 2 or 16 workers and after a
  resume. Training clips use ``(seed, epoch, index)``, the shuffle order ``(seed, epoch)``,
  the SCUFO frame ``(seed, video_id)``.
- Failure: an unreadable input does not raise; its sample is an error record that
  :func:`collate_clips` moves to the batch's ``errors`` list, so the harness can skip, count
  and list it in the run record.
- Throughput: decoding runs in persistent workers with one torch thread each and several
  batches prefetched, overlapped with model compute.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from biasbench.data.decode import FrameCache, FrameFolder, VideoFile, open_source
from biasbench.data.hat_compose import SwapSource, is_swap_set, open_swap
from biasbench.data.sampling import multiview_indices, segment_indices
from biasbench.data.transforms import TrainAugment, eval_views, train_clip
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import UnreadableInputError
from biasbench.models.backbone import DataConfig

# Batches each worker keeps in flight: decode time varies a lot between videos (length,
# keyframe spacing), and a deeper queue absorbs the slow ones.
PREFETCH_FACTOR = 4
MAX_AUTO_WORKERS = 4


class _Decoded:
    """A whole decoded video held in memory, read like a source."""

    def __init__(self, frames: np.ndarray):
        self.frames, self.num_frames = frames, len(frames)

    def read(self, indices: np.ndarray) -> np.ndarray:
        return self.frames[indices]


class ClipDataset(Dataset):
    """Clips of a :class:`VideoSet`, sampled and transformed for a learner's ``DataConfig``.

    ``__getitem__(i)`` returns ``{"frames", "label", "index"}`` with frames ``[T,3,S,S]`` when
    training and ``[V,T,3,S,S]`` at test, V = temporal_views x spatial_views ordered
    temporal-major (view ``t * spatial_views + s``). An unreadable input gives
    ``{"index", "label", "error": "<path>: <reason>"}`` instead of raising.

    ``repeat_one_frame`` builds SCUFO clips: one frame repeated over the whole clip (every
    temporal view is that same clip). The frame is drawn by a generator seeded with
    ``(seed, sha256(video_id))``, so it is the same on every run, in every worker and in train
    or test mode, and changes with ``seed``. ``frame_cache`` keeps whole decoded videos in
    memory; use it for small videos only (each is decoded in full once).
    """

    def __init__(
        self,
        videoset: VideoSet,
        data_config: DataConfig,
        train: bool,
        temporal_views: int = 1,
        spatial_views: int = 1,
        seed: int = 0,
        repeat_one_frame: bool = False,
        frame_cache: FrameCache | None = None,
        augment: TrainAugment | None = None,
    ):
        if data_config.resize < data_config.size:
            raise ValueError(f"resize {data_config.resize} smaller than crop {data_config.size}")
        if train and (temporal_views, spatial_views) != (1, 1):
            raise ValueError("training takes one clip per video: temporal/spatial views must be 1")
        if temporal_views < 1 or spatial_views not in (1, 3):
            raise ValueError(f"bad views: temporal {temporal_views}, spatial {spatial_views}")
        self.videoset, self.data_config, self.train = videoset, data_config, train
        self.temporal_views, self.spatial_views = temporal_views, spatial_views
        self.seed, self.repeat_one_frame = seed, repeat_one_frame
        self.frame_cache, self.augment = frame_cache, augment or TrainAugment()
        # In shared memory so that set_epoch reaches persistent workers.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return len(self.videoset)

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Select the training randomness of ``epoch``; call before iterating the loader."""
        self._epoch.fill_(epoch)

    def __getitem__(self, i: int) -> dict[str, Any]:
        record = self.videoset.records[i]
        try:
            frames = self._clip(i, record)
        except UnreadableInputError as e:
            return {"index": i, "label": record.label, "error": f"{e.path}: {e.reason}"}
        return {"frames": frames, "label": record.label, "index": i}

    def scufo_frame(self, record: VideoRecord, total: int) -> int:
        """The frame a SCUFO clip of ``record`` repeats (depends on seed and video id only)."""
        key = int.from_bytes(hashlib.sha256(record.video_id.encode()).digest()[:8], "little")
        return int(np.random.default_rng([self.seed, key]).integers(total))

    def _source(self, record: VideoRecord) -> VideoFile | FrameFolder | _Decoded | SwapSource:
        if is_swap_set(self.videoset):  # HAT Action-Swap: composed online, never cached
            return open_swap(record, self.videoset)
        key = str(record.path)
        if self.frame_cache is not None and (frames := self.frame_cache.get(key)) is not None:
            return _Decoded(frames)
        vs = self.videoset
        source = open_source(
            record.path,
            is_frames=vs.is_frames,
            frame_template=vs.frame_template,
            num_frames=record.num_frames,
        )
        if self.frame_cache is None:
            return source
        frames = source.read(np.arange(source.num_frames))
        self.frame_cache.put(key, frames)
        return _Decoded(frames)

    def _samplings(
        self, record: VideoRecord, total: int, rng: np.random.Generator | None
    ) -> list[np.ndarray]:
        t = self.data_config.num_frames
        if self.repeat_one_frame:
            return [np.full(t, self.scufo_frame(record, total))] * self.temporal_views
        if rng is not None:
            return [segment_indices(total, t, rng)]
        return multiview_indices(total, t, self.temporal_views)

    def _clip(self, i: int, record: VideoRecord) -> torch.Tensor:
        source = self._source(record)
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.train else None
        samplings = self._samplings(record, source.num_frames, rng)
        frames = source.read(np.concatenate(samplings))  # one decode for all views
        clips = frames.reshape(len(samplings), -1, *frames.shape[1:])
        if rng is not None:
            return train_clip(clips[0], self.data_config, rng, self.augment)
        return torch.cat([eval_views(clip, self.data_config, self.spatial_views) for clip in clips])


def collate_clips(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the good samples; list the failed ones as ``errors: [(index, message)]``.

    Returns ``frames`` (``None`` when every sample failed), ``labels`` and ``indices`` (int64
    tensors of the good samples) and ``errors``. A batch can hence be smaller than the
    loader's batch size.
    """
    good = [b for b in batch if "error" not in b]
    return {
        "frames": torch.stack([b["frames"] for b in good]) if good else None,
        "labels": torch.tensor([b["label"] for b in good], dtype=torch.long),
        "indices": torch.tensor([b["index"] for b in good], dtype=torch.long),
        "errors": [(int(b["index"]), str(b["error"])) for b in batch if "error" in b],
    }


class EpochShuffle(Sampler[int]):
    """A permutation of the dataset drawn from ``(seed, dataset.epoch)``.

    Unlike a shared generator (which a DataLoader also draws worker seeds from, differently
    with and without persistent workers), this gives the same order for any worker count and
    after resuming at an epoch. ``ClipDataset.set_epoch`` selects the order and the clips.
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        epoch = int(getattr(self.dataset, "epoch", 0))
        return iter(np.random.default_rng([self.seed, epoch]).permutation(len(self)).tolist())


def auto_num_workers(num_batches: int | None = None) -> int:
    """Loader workers for this process: up to 4, leaving one core for the main process.

    Cores are those this process may run on, shared among the ranks of a node under
    torchrun (``LOCAL_WORLD_SIZE``); never more workers than batches.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    per_rank = (cores or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    workers = min(MAX_AUTO_WORKERS, per_rank - 1)
    if num_batches is not None:
        workers = min(workers, num_batches)
    return max(0, workers)


def _worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)  # workers decode; parallelism comes from their number


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    num_workers: int | Literal["auto"],
    seed: int,
    drop_last: bool = False,
    sampler: Sampler | None = None,
) -> DataLoader:
    """A DataLoader of :func:`collate_clips` batches, reproducible from ``seed``.

    ``shuffle`` uses :class:`EpochShuffle` (order from ``seed`` and the dataset's epoch); with
    a ``sampler`` (e.g. a DistributedSampler) the sampler decides the order and ``shuffle``
    must be False. Worker base seeds come from a generator seeded with ``seed``.
    Workers are persistent (no re-fork per epoch; :meth:`ClipDataset.set_epoch` still reaches
    them), single-threaded, and keep ``PREFETCH_FACTOR`` batches each in flight.
    """
    if sampler is not None and shuffle:
        raise ValueError("pass shuffle=False with a sampler: the sampler decides the order")
    if shuffle:
        sampler = EpochShuffle(dataset, seed)
    batches = -(-len(dataset) // batch_size)  # type: ignore[arg-type]
    if num_workers == "auto":
        num_workers = auto_num_workers(batches)
    num_workers = min(num_workers, batches)  # a worker without a batch only costs a fork
    extra: dict[str, Any] = {}
    if num_workers > 0:
        extra = {
            "persistent_workers": True,
            "prefetch_factor": PREFETCH_FACTOR,
            "worker_init_fn": _worker_init,
        }
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_clips,
        generator=torch.Generator().manual_seed(seed),
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available(),
        **extra,
    )
