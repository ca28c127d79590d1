"""Which frames a clip takes: TSN-style segment sampling and multi-view test sampling.

Pure numpy and deterministic given an ``np.random.Generator``, so the same seed picks the same
frames on every machine and in every loader worker.

The rule, for ``total`` frames and ``T = num_frames``:

- ``total >= T``: the video is cut into T integer segments, segment ``i`` holding frames
  ``[i * total // T, (i + 1) * total // T)`` (every segment has at least one frame). Training
  takes one uniformly random frame per segment; test takes the segment's centre frame
  ``(start + end) // 2``.
- ``total < T``: the segments are narrower than a frame, so index ``i`` is the frame holding
  the centre of segment ``i``, ``(2 i + 1) * total // (2 T)``: every frame is used, in order,
  some repeated. This is the same with or without a generator.
"""

from __future__ import annotations

import numpy as np


def _check(total: int, num_frames: int) -> None:
    if total <= 0:
        raise ValueError(f"cannot sample from a video with {total} frames")
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")


def segment_bounds(total: int, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) frame of each of the ``num_frames`` segments."""
    _check(total, num_frames)
    i = np.arange(num_frames + 1, dtype=np.int64) * total // num_frames
    return i[:-1], i[1:]


def _short_video(total: int, num_frames: int) -> np.ndarray:
    return (2 * np.arange(num_frames, dtype=np.int64) + 1) * total // (2 * num_frames)


def segment_indices(total: int, num_frames: int, rng: np.random.Generator | None) -> np.ndarray:
    """One frame index per segment: random within it with ``rng`` (train), its centre without.

    Returns a non-decreasing int64 array of length ``num_frames`` with values in
    ``[0, total)``. Raises ``ValueError`` for an empty video.
    """
    if total < num_frames:
        _check(total, num_frames)
        return _short_video(total, num_frames)
    start, end = segment_bounds(total, num_frames)
    if rng is None:
        return (start + end) // 2
    return rng.integers(start, end)


def multiview_indices(total: int, num_frames: int, temporal_views: int) -> list[np.ndarray]:
    """``temporal_views`` deterministic samplings, evenly shifted inside the segments.

    View ``v`` (0-based) takes, in segment ``i`` of length ``L = end - start``, the frame
    ``start + (2 v + 1) * L // (2 V)``: the views split every segment into V equal parts and
    each takes the centre of its part, so together they cover the video evenly. For V = 1 this
    is the segment centre, i.e. ``segment_indices(total, num_frames, None)``. Videos shorter
    than ``num_frames`` cannot be shifted: every view is the test sampling.
    """
    if temporal_views <= 0:
        raise ValueError(f"temporal_views must be positive, got {temporal_views}")
    if total < num_frames:
        _check(total, num_frames)
        return [_short_video(total, num_frames) for _ in range(temporal_views)]
    start, end = segment_bounds(total, num_frames)
    length = end - start
    return [start + (2 * v + 1) * length // (2 * temporal_views) for v in range(temporal_views)]
