"""Frame decoding: decord for video files, PIL for rawframe folders.

Every failure to read an input (missing file, corrupt container, zero frames, a missing or
broken frame image, an index past the end) becomes :class:`UnreadableInputError` carrying the
path, never a raw decord or PIL exception, so the loader can skip and list the input instead
of aborting a run. Frames come back as uint8 ``[T, H, W, 3]`` RGB arrays.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from biasbench.data.videoset import VideoRecord
from biasbench.errors import UnreadableInputError

DEFAULT_FRAME_TEMPLATE = "frame{:06d}.jpg"


class VideoFile:
    """An open video file. ``num_frames`` comes from the container index (decord)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if not os.path.isfile(self.path):
            raise UnreadableInputError(self.path, "no such file")
        try:
            import decord

            self._reader = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=1)
            self.num_frames = len(self._reader)
        except Exception as e:  # decord raises RuntimeError or its own DECORDError
            raise UnreadableInputError(self.path, f"cannot open video ({_first_line(e)})") from e
        if self.num_frames <= 0:
            raise UnreadableInputError(self.path, "video has no frames")

    def read(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at 0-based ``indices`` (any order, repeats allowed) as uint8 [T,H,W,3]."""
        unique, inverse = _unique(indices, self.num_frames, self.path)
        try:
            batch = self._reader.get_batch(unique.tolist())
            frames = batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)
        except Exception as e:
            raise UnreadableInputError(self.path, f"decoding failed ({_first_line(e)})") from e
        return _checked(frames, len(unique), self.path)[inverse]


class FrameFolder:
    """A rawframe folder whose frame k (1-based) is ``frame_template.format(k)``.

    ``num_frames`` is taken as given (rawframe lists record it) or, when first asked for,
    counted as the run of consecutive frame files from 1. Reading needs no count: a missing
    frame is reported by its file name.
    """

    def __init__(
        self,
        path: str | Path,
        frame_template: str = DEFAULT_FRAME_TEMPLATE,
        num_frames: int | None = None,
    ):
        self.path, self.template, self._num_frames = Path(path), frame_template, num_frames
        if not self.path.is_dir():
            raise UnreadableInputError(self.path, "no such frame folder")
        if num_frames is not None and num_frames <= 0:
            raise UnreadableInputError(self.path, f"annotation gives {num_frames} frames")

    @property
    def num_frames(self) -> int:
        if self._num_frames is None:
            names = set(os.listdir(self.path))
            n = 0
            while self.template.format(n + 1) in names:
                n += 1
            if n == 0:
                raise UnreadableInputError(
                    self.path, f"no frames named like {self.template.format(1)!r}"
                )
            self._num_frames = n
        return self._num_frames

    def read(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at 0-based ``indices``; index k is file ``frame_template.format(k + 1)``."""
        from PIL import Image

        unique, inverse = _unique(indices, self._num_frames, self.path)
        frames = []
        for k in unique.tolist():
            file = self.path / self.template.format(k + 1)
            try:
                with Image.open(file) as img:
                    frames.append(np.asarray(img.convert("RGB")))
            except Exception as e:  # PIL raises OSError, ValueError, DecompressionBombError...
                raise UnreadableInputError(self.path, f"frame {file.name}: {_first_line(e)}") from e
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise UnreadableInputError(self.path, f"frames differ in size: {sorted(shapes)}")
        return np.stack(frames)[inverse]


def open_source(
    path: str | Path,
    *,
    is_frames: bool,
    frame_template: str = DEFAULT_FRAME_TEMPLATE,
    num_frames: int | None = None,
) -> VideoFile | FrameFolder:
    """Open a video file or frame folder once, to count frames and read several samplings.

    ``num_frames`` (known for rawframe lists) saves listing the folder; video files always
    take their count from the container.
    """
    if is_frames:
        return FrameFolder(path, frame_template, num_frames)
    return VideoFile(path)


def count_frames(
    record_path: str | Path, is_frames: bool, frame_template: str = DEFAULT_FRAME_TEMPLATE
) -> int:
    """Number of frames of a video file (container index) or frame folder (files present)."""
    return open_source(record_path, is_frames=is_frames, frame_template=frame_template).num_frames


def frame_count(
    record: VideoRecord, *, is_frames: bool, frame_template: str = DEFAULT_FRAME_TEMPLATE
) -> int:
    """``record.num_frames`` when the annotation gave it, else ask the decoder."""
    if record.num_frames is not None:
        return record.num_frames
    return count_frames(record.path, is_frames, frame_template)


def read_frames(
    path: str | Path,
    indices: Sequence[int] | np.ndarray,
    *,
    is_frames: bool,
    frame_template: str = DEFAULT_FRAME_TEMPLATE,
) -> np.ndarray:
    """Decode the frames at 0-based ``indices`` as uint8 ``[T, H, W, 3]`` RGB."""
    return open_source(path, is_frames=is_frames, frame_template=frame_template).read(indices)


class FrameCache:
    """An in-process LRU of whole decoded videos, bounded in bytes, keyed by path.

    Meant for small videos read every epoch (the embedded world: 16 frames of 64x64 are
    196 kB), where decoding costs more than the model. Each loader worker holds its own cache
    (with persistent workers it fills during the first epoch), so budget ``max_bytes`` per
    worker. Large videos should not be cached: a video larger than ``max_bytes`` is skipped.
    """

    def __init__(self, max_bytes: int = 512 * 2**20):
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> np.ndarray | None:
        """The cached frames of ``key`` (read-only), or None."""
        frames = self._items.get(key)
        if frames is not None:
            self._items.move_to_end(key)
        return frames

    def put(self, key: str, frames: np.ndarray) -> None:
        """Store ``frames`` under ``key``, evicting the least recently used videos."""
        if frames.nbytes > self.max_bytes or key in self._items:
            return
        frames.setflags(write=False)
        self._items[key] = frames
        self.nbytes += frames.nbytes
        while self.nbytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.nbytes -= old.nbytes


def _unique(
    indices: Sequence[int] | np.ndarray, total: int | None, path: str | Path
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct indices and how to expand them back; checks the range when known."""
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size == 0:
        raise ValueError("no frame indices requested")
    if idx.min() < 0:
        raise ValueError(f"negative frame index {idx.min()}")
    if total is not None and idx.max() >= total:
        raise UnreadableInputError(path, f"frame index {idx.max()} outside 0..{total - 1}")
    return np.unique(idx, return_inverse=True)


def _checked(frames: np.ndarray, expected: int, path: str) -> np.ndarray:
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise UnreadableInputError(path, f"decoder returned {frames.dtype} {frames.shape}")
    if len(frames) != expected:
        raise UnreadableInputError(path, f"decoder returned {len(frames)} of {expected} frames")
    return frames


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__
