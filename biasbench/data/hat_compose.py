"""HAT Action-Swap videos composed online: a foreground human on another video's background.

A swap record (from :func:`biasbench.data.readers.hat.read_hat`) names a foreground video
(``ori/`` frames + ``seg/`` masks) and a background video (``inp/`` inpainted frames + its own
``seg/`` masks). Frame ``i`` of ``n`` foreground frames is pasted onto background frame
``floor(i * m / n)`` of ``m`` (the same relative time). The foreground is shifted so that the
mean centre of its masks meets the mean centre of the background video's masks (where the
removed human stood), both taken over the frames being read: one shift per clip, so the
foreground keeps its own motion. Background frames of another size are resized to the
foreground's. Every failure to read a frame or mask raises :class:`UnreadableInputError`, so
the loader skips, counts and lists the video like any unreadable input.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from biasbench.data.decode import FrameFolder
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import UnreadableInputError

MASK_TEMPLATE = "{:06d}.png"


def is_swap_set(videoset: VideoSet) -> bool:
    """True for a HAT Action-Swap set, whose clips must be composed rather than decoded."""
    return videoset.info.get("format") == "hat"


def background_indices(indices: np.ndarray, fg_frames: int, bg_frames: int) -> np.ndarray:
    """Background frame at the same relative time as each foreground frame index."""
    idx = np.asarray(indices, dtype=np.int64)
    return np.minimum(idx * bg_frames // max(fg_frames, 1), bg_frames - 1)


def read_masks(folder: Path, indices: Sequence[int] | np.ndarray, template: str) -> np.ndarray:
    """Boolean masks ``[T, H, W]`` of 0-based ``indices`` (file ``template.format(k + 1)``).

    Palette and 0/1 images count any non-zero pixel; 8-bit grey or colour masks count pixels
    of at least 128 (so soft mask edges split at half).
    """
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise UnreadableInputError(folder, "no such mask folder")
    out = []
    for k in np.asarray(indices, dtype=np.int64).tolist():
        file = folder / template.format(k + 1)
        try:
            with Image.open(file) as img:
                palette = img.mode == "P"
                arr = np.asarray(img) if palette else np.asarray(img.convert("L"))
        except Exception as e:  # PIL raises OSError, ValueError, ...
            raise UnreadableInputError(folder, f"mask {file.name}: {e}") from e
        out.append(arr > 0 if palette or arr.max() <= 1 else arr >= 128)
    return np.stack(out)


def mask_centre(masks: np.ndarray) -> np.ndarray | None:
    """Mean over frames of each non-empty mask's centroid ``(y, x)``; None if all are empty."""
    centres = []
    for m in masks:
        ys, xs = np.nonzero(m)
        if len(ys):
            centres.append((ys.mean(), xs.mean()))
    return np.mean(centres, axis=0) if centres else None


def _shift(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate ``[T, H, W, ...]`` by ``(dy, dx)`` pixels, filling uncovered pixels with 0."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src_y, dst_y = slice(max(0, -dy), h - max(0, dy)), slice(max(0, dy), h - max(0, -dy))
    src_x, dst_x = slice(max(0, -dx), w - max(0, dx)), slice(max(0, dx), w - max(0, -dx))
    out[:, dst_y, dst_x] = images[:, src_y, src_x]
    return out


def _resize(frames: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    """Resize ``[T, H, W(, 3)]`` frames to ``(H, W)`` with PIL (bilinear, or nearest for masks)."""
    from PIL import Image

    if frames.shape[1:3] == size:
        return frames
    method = Image.NEAREST if nearest else Image.BILINEAR
    as_u8 = frames.astype(np.uint8) * (255 if frames.dtype == bool else 1)
    out = [np.asarray(Image.fromarray(f).resize((size[1], size[0]), method)) for f in as_u8]
    stacked = np.stack(out)
    return stacked >= 128 if frames.dtype == bool else stacked


def compose(
    fg: np.ndarray, fg_masks: np.ndarray, bg: np.ndarray, bg_masks: np.ndarray | None
) -> np.ndarray:
    """Paste the masked foreground frames ``[T, H, W, 3]`` onto background frames ``[T, h, w, 3]``.

    The backgrounds are resized to ``(H, W)``; the foreground (pixels and masks) is shifted so
    the mean centre of its masks meets that of ``bg_masks`` (no shift when either is empty
    or ``bg_masks`` is None). Returns uint8 ``[T, H, W, 3]``.
    """
    size = fg.shape[1:3]
    bg = _resize(bg, size, nearest=False)
    dy = dx = 0
    if bg_masks is not None:
        fg_c, bg_c = mask_centre(fg_masks), mask_centre(_resize(bg_masks, size, nearest=True))
        if fg_c is not None and bg_c is not None:
            dy, dx = (int(round(v)) for v in bg_c - fg_c)
    moved, keep = _shift(fg, dy, dx), _shift(fg_masks, dy, dx)
    return np.where(keep[..., None], moved, bg).astype(np.uint8)


class SwapSource:
    """A composed Action-Swap video, read like a decoded source (``num_frames``, ``read``)."""

    def __init__(self, record: VideoRecord, videoset: VideoSet):
        meta = record.meta
        missing = [k for k in ("seg", "bg_path", "bg_seg", "bg_num_frames") if k not in meta]
        if missing:
            raise UnreadableInputError(record.path, f"swap record lacks {missing}")
        self.mask_template = str(videoset.info.get("mask_template") or MASK_TEMPLATE)
        self.fg = FrameFolder(record.path, videoset.frame_template, record.num_frames)
        self.bg = FrameFolder(meta["bg_path"], videoset.frame_template, meta["bg_num_frames"])
        self.fg_seg, self.bg_seg = Path(meta["seg"]), Path(meta["bg_seg"])

    @property
    def num_frames(self) -> int:
        return self.fg.num_frames

    def read(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Composed frames at 0-based foreground ``indices`` as uint8 ``[T, H, W, 3]``."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        fg = self.fg.read(idx)
        fg_masks = read_masks(self.fg_seg, idx, self.mask_template)
        bg_idx = background_indices(idx, self.num_frames, self.bg.num_frames)
        bg = self.bg.read(bg_idx)
        bg_masks = read_masks(self.bg_seg, bg_idx, self.mask_template)
        if fg_masks.shape != fg.shape[:3]:
            raise UnreadableInputError(self.fg_seg, f"masks {fg_masks.shape} vs frames {fg.shape}")
        return compose(fg, fg_masks, bg, bg_masks)


def open_swap(record: VideoRecord, videoset: VideoSet) -> SwapSource:
    """The composing source of one swap record (what the loader reads instead of a file)."""
    return SwapSource(record, videoset)


def mask_coverage(
    folder: Path, num_frames: int | None = None, template: str = MASK_TEMPLATE
) -> tuple[float, float]:
    """Smallest and largest share of pixels a video's masks cover, over all its frames.

    Used for UCF-HAT's rule (keep videos whose human masks cover 5-50 % of every frame).
    Counts the masks from 1 when ``num_frames`` is not given.
    """
    folder = Path(folder)
    if num_frames is None:
        names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
        num_frames = 0
        while template.format(num_frames + 1) in names:
            num_frames += 1
    if not num_frames:
        raise UnreadableInputError(folder, "no masks")
    masks = read_masks(folder, np.arange(num_frames), template)
    share = masks.reshape(len(masks), -1).mean(axis=1)
    return float(share.min()), float(share.max())
