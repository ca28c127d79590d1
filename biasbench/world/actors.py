"""The foreground actor: its appearance, its per-frame track, and compositing onto a scene.

``render(track, background)`` is deliberately separate from track sampling and scene drawing:
the same track re-rendered on another background is how out-of-context (SCUBA-like) and
action-swap (HAT-like) videos are made, with pixel-identical foreground motion.
Shapes are drawn from signed distance functions, so sub-pixel motion stays visible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biasbench.world.motions import Motion, motion_path

SHAPES = ("circle", "square", "triangle", "diamond", "cross")
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.9, 0.1, 0.1),
    "orange": (1.0, 0.55, 0.05),
    "yellow": (0.98, 0.92, 0.1),
    "green": (0.1, 0.75, 0.2),
    "cyan": (0.1, 0.85, 0.9),
    "blue": (0.15, 0.25, 0.95),
    "purple": (0.6, 0.15, 0.8),
    "pink": (1.0, 0.5, 0.75),
    "white": (0.97, 0.97, 0.97),
    "black": (0.05, 0.05, 0.05),
}
OUTLINE_PX = 1.2


@dataclass(frozen=True)
class ActorTrack:
    """Who moves and where: shape, colours, and per-frame centre (px) and diameter (px)."""

    shape: str
    colour: str
    outline: str  # "black" or "white", whichever contrasts with the fill
    centres: np.ndarray  # [T, 2] float (x, y) in pixels
    diameters: np.ndarray  # [T] float

    @property
    def num_frames(self) -> int:
        return len(self.diameters)

    def boxes(self, frame_size: int) -> list[list[int]]:
        """Per-frame integer boxes ``[x0, y0, x1, y1]`` (exclusive ends) clipped to the frame."""
        half = self.diameters[:, None] / 2.0
        lo = np.floor(self.centres - half).astype(int).clip(0, frame_size)
        hi = np.ceil(self.centres + half).astype(int).clip(0, frame_size)
        return [[int(a), int(b), int(c), int(d)] for (a, b), (c, d) in zip(lo, hi, strict=True)]


def sample_appearance(rng: np.random.Generator) -> tuple[str, str, str]:
    """A random shape, a named fill colour and a contrasting outline colour."""
    shape = SHAPES[rng.integers(len(SHAPES))]
    colour = list(COLOURS)[rng.integers(len(COLOURS))]
    return shape, colour, outline_for(colour)


def outline_for(colour: str) -> str:
    """A contrasting outline: black around light fills, white around dark ones."""
    return "black" if np.mean(COLOURS[colour]) > 0.45 else "white"


def sample_track(
    motion: Motion,
    rng: np.random.Generator,
    num_frames: int,
    frame_size: int,
    actor_size: float,
    home_look: tuple[str, str] | None = None,
    p_look: float = 0.0,
) -> ActorTrack:
    """One instance of ``motion``: its look, size and amplitude, placed at a random anchor.

    The look is random, except that with probability ``p_look`` it is the class's
    ``home_look`` (shape, colour): the foreground's static cue, like the poses and objects
    that go with real actions. The anchor is uniform over all positions that keep the whole
    path inside the frame, so a single frame's actor position carries little information
    about the class.
    """
    shape, colour, outline = sample_appearance(rng)
    if home_look is not None and p_look > 0.0 and rng.random() < p_look:
        shape, colour = home_look
        outline = outline_for(colour)
    diameter = actor_size * rng.uniform(0.75, 1.25)
    dx, dy, scale = motion_path(motion, num_frames, rng)
    offsets = np.stack([dx, dy], axis=1) * frame_size
    diameters = diameter * scale
    margin = 1.0 + diameters[:, None] / 2.0
    lo = (margin - offsets).max(axis=0)  # anchor must be >= this on each axis
    hi = (frame_size - margin - offsets).min(axis=0)
    if np.any(hi < lo):  # path wider than the frame: shrink it about its centre
        span = offsets.max(axis=0) - offsets.min(axis=0)
        room = frame_size - 2 * margin.max()
        offsets = offsets * min(1.0, float(np.min(room / np.maximum(span, 1e-6))))
        lo = (margin - offsets).max(axis=0)
        hi = np.maximum(lo, (frame_size - margin - offsets).min(axis=0))
    anchor = rng.uniform(lo, hi)
    return ActorTrack(shape, colour, outline, anchor + offsets, diameters)


def _sdf(shape: str, x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    """Signed distance (px) to a shape of radius ``r`` centred at the origin (negative inside)."""
    if shape == "circle":
        return np.hypot(x, y) - r
    if shape == "square":
        return _box(x, y, 0.85 * r, 0.85 * r)
    if shape == "diamond":
        return (np.abs(x) + np.abs(y) - 1.15 * r) / np.sqrt(2.0)
    if shape == "cross":
        return np.minimum(_box(x, y, r, 0.38 * r), _box(x, y, 0.38 * r, r))
    if shape == "triangle":  # equilateral, pointing up, centred on its bounding box
        k = np.sqrt(3.0)
        yy = y - 0.25 * r
        return np.maximum(np.abs(x) * k / 2 - yy / 2 - 0.5 * r, yy - 0.75 * r)
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")


def _box(x: np.ndarray, y: np.ndarray, hx: float, hy: float) -> np.ndarray:
    qx, qy = np.abs(x) - hx, np.abs(y) - hy
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0)


def render(track: ActorTrack, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Composite the actor onto a static background, frame by frame.

    ``background``: float ``[S, S, 3]`` in [0, 1] (one static scene) or ``[T, S, S, 3]``.
    Returns ``frames`` uint8 ``[T, S, S, 3]`` and ``masks`` bool ``[T, S, S]`` (actor coverage
    >= 0.5), the per-frame foreground masks a HAT-like composition needs.
    """
    size = background.shape[-2]
    coords = np.arange(size, dtype=np.float32) + 0.5
    fill = np.asarray(COLOURS[track.colour], np.float32)
    edge = np.asarray(COLOURS[track.outline], np.float32)
    frames = np.empty((track.num_frames, size, size, 3), np.uint8)
    masks = np.empty((track.num_frames, size, size), bool)
    for t in range(track.num_frames):
        bg = background[t] if background.ndim == 4 else background
        (cx, cy), r = track.centres[t], track.diameters[t] / 2.0
        d = _sdf(track.shape, coords[None, :] - cx, coords[:, None] - cy, r)
        cover = np.clip(0.5 - d, 0.0, 1.0)[..., None]
        inner = np.clip(0.5 - (d + OUTLINE_PX), 0.0, 1.0)[..., None]
        fg = inner * fill + (cover - inner) * edge
        frames[t] = np.round((bg * (1.0 - cover) + fg) * 255.0).astype(np.uint8)
        masks[t] = cover[..., 0] >= 0.5
    return frames, masks
