"""Procedural backgrounds: in-context scene families x palettes, and held-out families.

A scene is a static RGB image (float32 in [0, 1], shape ``[S, S, 3]``). Each call draws fresh
layout parameters (horizon height, tree positions, building heights, ...) from the generator,
so two videos of one scene share its look, not its pixels. Held-out families (stripes,
checkers, clouds, bubbles — in the spirit of SCUBA's synthetic backgrounds) take random
colours and appear only in out-of-context sets and in action-free pretraining images.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Image = np.ndarray
SceneFn = Callable[[np.random.Generator, int], Image]


def scene_name(family: str, palette: str | None) -> str:
    """The phrase a caption uses for a scene: ``beach at dusk``, ``foggy city``, ``bubbles``."""
    if palette is None:
        return family
    return {
        "sunny": f"sunny {family}",
        "dusk": f"{family} at dusk",
        "night": f"{family} at night",
        "foggy": f"foggy {family}",
    }.get(palette, f"{palette} {family}")


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    return np.meshgrid(c, c, indexing="ij")  # yy, xx in (0, 1)


def _fill(size: int, rgb) -> Image:
    return np.broadcast_to(np.asarray(rgb, np.float32), (size, size, 3)).copy()


def _paint(img: Image, where: np.ndarray, rgb) -> None:
    img[where] = np.asarray(rgb, np.float32)


def _jitter(rng: np.random.Generator, rgb, amount: float = 0.06) -> np.ndarray:
    return np.clip(np.asarray(rgb, np.float32) + rng.uniform(-amount, amount, 3), 0, 1)


def _sky(yy: np.ndarray, rng: np.random.Generator) -> Image:
    top, low = _jitter(rng, (0.45, 0.65, 0.95)), _jitter(rng, (0.8, 0.9, 1.0))
    return top + (low - top) * yy[..., None]


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Bilinear value noise in [0, 1] with ``cells`` lattice cells per side."""
    lattice = rng.random((cells + 1, cells + 1)).astype(np.float32)
    t = np.linspace(0, cells, size, dtype=np.float32)
    i = np.minimum(t.astype(int), cells - 1)
    f = t - i
    rows = lattice[i] * (1 - f)[:, None] + lattice[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def _beach(rng, size):
    yy, xx = _grid(size)
    img = _sky(yy, rng)
    horizon = rng.uniform(0.28, 0.4)
    shore = horizon + rng.uniform(0.15, 0.25) + 0.02 * np.sin(2 * np.pi * (xx * 2 + rng.random()))
    sea = (yy > horizon) & (yy <= shore)
    waves = 0.06 * np.sin(2 * np.pi * (yy * rng.uniform(10, 16) + xx * 0.5))[..., None]
    img = np.where(sea[..., None], _jitter(rng, (0.1, 0.4, 0.7)) + waves, img)
    sand = _jitter(rng, (0.92, 0.82, 0.56)) - 0.08 * _smooth_noise(rng, size, 8)[..., None]
    return np.where((yy > shore)[..., None], sand, img)


def _forest(rng, size):
    yy, xx = _grid(size)
    img = _fill(size, _jitter(rng, (0.22, 0.42, 0.22)))
    for _ in range(rng.integers(4, 8)):
        x0, w = rng.uniform(0, 1), rng.uniform(0.04, 0.08)
        _paint(img, (np.abs(xx - x0) < w / 2) & (yy > 0.3), _jitter(rng, (0.4, 0.25, 0.1)))
    for _ in range(rng.integers(5, 9)):
        cy, cx, r = rng.uniform(0.05, 0.4), rng.uniform(0, 1), rng.uniform(0.1, 0.2)
        _paint(img, (yy - cy) ** 2 + (xx - cx) ** 2 < r**2, _jitter(rng, (0.12, 0.5, 0.15)))
    _paint(img, yy > rng.uniform(0.78, 0.88), _jitter(rng, (0.3, 0.25, 0.12)))
    return img


def _city(rng, size):
    yy, xx = _grid(size)
    img = _sky(yy, rng)
    x = 0.0
    while x < 1.0:
        w, top = rng.uniform(0.12, 0.25), rng.uniform(0.2, 0.65)
        body = (xx >= x) & (xx < x + w) & (yy > top)
        _paint(img, body, _jitter(rng, (0.45, 0.45, 0.5), 0.1))
        windows = body & (np.sin(xx * size * 1.3) > 0.3) & (np.sin(yy * size * 1.1) > 0.3)
        _paint(img, windows, _jitter(rng, (0.95, 0.85, 0.4)))
        x += w + rng.uniform(0.0, 0.04)
    _paint(img, yy > 0.9, (0.25, 0.25, 0.27))
    return img


def _desert(rng, size):
    yy, xx = _grid(size)
    img = _sky(yy, rng)
    sun = (yy - rng.uniform(0.08, 0.2)) ** 2 + (xx - rng.uniform(0.1, 0.9)) ** 2 < 0.008
    _paint(img, sun, (1.0, 0.95, 0.6))
    for level, rgb in (
        (0.45, (0.93, 0.76, 0.46)),
        (0.6, (0.86, 0.63, 0.36)),
        (0.75, (0.76, 0.5, 0.28)),
    ):
        crest = level + 0.06 * np.sin(2 * np.pi * (xx * rng.uniform(0.8, 2.0) + rng.random()))
        _paint(img, yy > crest, _jitter(rng, rgb, 0.04))
    return img


def _mountains(rng, size):
    yy, xx = _grid(size)
    img = _sky(yy, rng)
    ridge = np.full_like(xx, 1.0)
    for _ in range(rng.integers(2, 4)):
        peak_x, peak_y, slope = rng.uniform(0, 1), rng.uniform(0.15, 0.4), rng.uniform(1.0, 1.8)
        ridge = np.minimum(ridge, peak_y + slope * np.abs(xx - peak_x))
    rock = yy > ridge
    _paint(img, rock, _jitter(rng, (0.45, 0.42, 0.52)))
    _paint(img, rock & (yy < ridge + 0.08), (0.95, 0.95, 0.97))
    _paint(img, yy > rng.uniform(0.75, 0.85), _jitter(rng, (0.3, 0.55, 0.25)))
    return img


def _field(rng, size):
    yy, xx = _grid(size)
    img = _sky(yy, rng)
    horizon = rng.uniform(0.35, 0.5)
    depth = np.clip(yy - horizon, 1e-3, None)
    furrows = 0.07 * np.sin(2 * np.pi * (rng.uniform(1.5, 3.0) / depth + rng.random()))[..., None]
    ground = _jitter(rng, (0.5, 0.72, 0.25)) + furrows
    img = np.where((yy > horizon)[..., None], ground, img)
    for _ in range(rng.integers(1, 3)):  # a haystack or bush on the horizon
        cx, r = rng.uniform(0.05, 0.95), rng.uniform(0.04, 0.07)
        _paint(img, (yy - horizon) ** 2 + (xx - cx) ** 2 < r**2, _jitter(rng, (0.75, 0.6, 0.2)))
    return img


def _room(rng, size):
    yy, xx = _grid(size)
    wall = _jitter(rng, (0.85, 0.78, 0.66)) - 0.05 * (np.sin(xx * size * 0.8) > 0.6)[..., None]
    img = wall.astype(np.float32)
    floor_y = rng.uniform(0.6, 0.72)
    planks = 0.05 * np.sin(2 * np.pi * yy * rng.uniform(14, 20))[..., None]
    img = np.where((yy > floor_y)[..., None], _jitter(rng, (0.58, 0.38, 0.2)) + planks, img)
    wx, wy = rng.uniform(0.1, 0.6), rng.uniform(0.1, 0.25)
    window = (xx > wx) & (xx < wx + 0.3) & (yy > wy) & (yy < wy + 0.25)
    _paint(img, window, _jitter(rng, (0.6, 0.8, 0.95)))
    _paint(img, (yy > floor_y - 0.03) & (yy <= floor_y), (0.95, 0.95, 0.92))
    return img


def _random_colours(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(0.05, 0.95, (n, 3)).astype(np.float32)


def _stripes(rng, size):
    yy, xx = _grid(size)
    angle, cycles = rng.uniform(0, np.pi), rng.uniform(2.5, 7)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * cycles * (xx * np.cos(angle) + yy * np.sin(angle)))
    a, b = _random_colours(rng, 2)
    return a + (b - a) * wave[..., None]


def _checkers(rng, size):
    yy, xx = _grid(size)
    cells, angle = rng.uniform(4, 9), rng.uniform(0, np.pi / 2)
    u, v = xx * np.cos(angle) - yy * np.sin(angle), xx * np.sin(angle) + yy * np.cos(angle)
    parity = (np.floor(u * cells) + np.floor(v * cells)) % 2 == 0
    a, b = _random_colours(rng, 2)
    return np.where(parity[..., None], a, b)


def _clouds(rng, size):
    noise = 0.6 * _smooth_noise(rng, size, 3) + 0.4 * _smooth_noise(rng, size, 7)
    a, b, c = _random_colours(rng, 3)
    t = noise[..., None]
    return np.where(t < 0.5, a + (b - a) * (2 * t), b + (c - b) * (2 * t - 1))


def _bubbles(rng, size):
    yy, xx = _grid(size)
    img = _fill(size, _random_colours(rng, 1)[0])
    for rgb in _random_colours(rng, int(rng.integers(10, 20))):
        cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.04, 0.14)
        _paint(img, (yy - cy) ** 2 + (xx - cx) ** 2 < r**2, rgb)
    return img


FAMILIES: dict[str, SceneFn] = {
    "beach": _beach,
    "forest": _forest,
    "city": _city,
    "desert": _desert,
    "mountains": _mountains,
    "field": _field,
    "room": _room,
    "striped wall": _stripes,
    "checkered wall": _checkers,
    "cloudy sky": _clouds,
    "bubbles": _bubbles,
}

# colour transforms (multiply, add) applied to in-context scenes
PALETTE_TRANSFORMS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "sunny": ((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
    "dusk": ((1.0, 0.68, 0.55), (0.1, 0.03, 0.08)),
    "night": ((0.28, 0.33, 0.55), (0.0, 0.0, 0.04)),
    "foggy": ((0.4, 0.4, 0.4), (0.47, 0.47, 0.5)),
}


def render_scene(
    family: str, palette: str | None, rng: np.random.Generator, size: int
) -> np.ndarray:
    """A fresh background of ``family`` under ``palette`` (``None``: the family's own colours).

    Returns float32 ``[size, size, 3]`` in [0, 1] with a faint static texture noise.
    """
    img = np.asarray(FAMILIES[family](rng, size), np.float32)
    if palette is not None:
        mul, add = PALETTE_TRANSFORMS[palette]
        img = img * np.asarray(mul, np.float32) + np.asarray(add, np.float32)
    img = img + rng.normal(0.0, 0.015, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0)
