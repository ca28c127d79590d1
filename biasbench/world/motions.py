"""The action vocabulary: classes defined by the actor's motion alone.

Each motion maps normalised time ``u`` in [0, 1] to an offset path ``(dx, dy)`` in units of
the frame size and a size factor. Paths are relative: the generator places them at a random
anchor, so where the actor is in one frame says (almost) nothing about the class. Screen
coordinates: x grows to the right, y grows downwards (so clockwise means increasing angle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Path = tuple[np.ndarray, np.ndarray, np.ndarray]  # dx, dy (frame-size units), size factor
PathFn = Callable[[np.ndarray, np.random.Generator], Path]


@dataclass(frozen=True)
class Motion:
    """One action class: a natural-language name and its motion path."""

    name: str
    path: PathFn

    @property
    def dir_name(self) -> str:
        """The CamelCase folder name of the UCF101-style layout (``CirclingClockwise``)."""
        return "".join(w[:1].upper() + w[1:] for w in self.name.replace("-", " ").split())


def _flat(u: np.ndarray) -> np.ndarray:
    return np.zeros_like(u)


def _ones(u: np.ndarray) -> np.ndarray:
    return np.ones_like(u)


def _tri(x: np.ndarray) -> np.ndarray:
    """A triangle wave with period 1 and range [-1, 1]."""
    return 2.0 * np.abs(2.0 * (x - np.floor(x + 0.5))) - 1.0


def _amp(rng: np.random.Generator) -> float:
    return float(rng.uniform(0.8, 1.2))


def _linear(ux: float, uy: float, length: float) -> PathFn:
    def path(u, rng):
        a = length * _amp(rng)
        return ux * a * u, uy * a * u, _ones(u)

    return path


def _circle(direction: int) -> PathFn:
    def path(u, rng):
        r, phase = 0.17 * _amp(rng), rng.uniform(0, 2 * np.pi)
        theta = phase + direction * 2 * np.pi * u
        return r * np.cos(theta), r * np.sin(theta), _ones(u)

    return path


def _zigzag(ux: float, uy: float) -> PathFn:
    def path(u, rng):
        a, zig = 0.4 * _amp(rng), 0.085 * _amp(rng) * _tri(2.0 * u + rng.choice([0.0, 0.5]))
        # progress along (ux, uy), zigzag across it
        return ux * a * u - uy * zig, uy * a * u + ux * zig, _ones(u)

    return path


def _hop(ux: float, hops: int, travel: float) -> PathFn:
    def path(u, rng):
        height = 0.25 * _amp(rng)
        return ux * travel * _amp(rng) * u, -height * np.abs(np.sin(hops * np.pi * u)), _ones(u)

    return path


def _sway(u, rng):
    return 0.15 * _amp(rng) * np.sin(4 * np.pi * u + rng.choice([0.0, np.pi])), _flat(u), _ones(u)


def _there_and_back(u, rng):
    return 0.4 * _amp(rng) * (1.0 - np.abs(2.0 * u - 1.0)), _flat(u), _ones(u)


def _spiral(outward: bool) -> PathFn:
    def path(u, rng):
        grow = u if outward else 1.0 - u
        r = 0.04 + 0.18 * _amp(rng) * grow
        theta = rng.uniform(0, 2 * np.pi) + rng.choice([-1, 1]) * 2.5 * np.pi * u
        return r * np.cos(theta), r * np.sin(theta), _ones(u)

    return path


def _pulse(u, rng):
    return _flat(u), _flat(u), 1.0 + 0.35 * np.sin(4 * np.pi * u + rng.choice([0.0, np.pi]))


def _scale_ramp(start: float, end: float) -> PathFn:
    def path(u, rng):
        return _flat(u), _flat(u), start + (end - start) * u

    return path


def _still(u, rng):
    return _flat(u), _flat(u), _ones(u)


def _shake(u, rng):
    sign = np.where(np.arange(len(u)) % 2 == 0, 1.0, -1.0)
    dx = 0.045 * sign * rng.uniform(0.7, 1.3, len(u))
    dy = 0.02 * rng.uniform(-1.0, 1.0, len(u))
    return dx, dy, _ones(u)


def _figure_eight(u, rng):
    a, phase = _amp(rng), rng.choice([0.0, np.pi])
    return 0.18 * a * np.sin(2 * np.pi * u + phase), 0.1 * a * np.sin(4 * np.pi * u), _ones(u)


# Ordered for diversity: a world with N classes uses the first N (class indices are then
# assigned in alphabetical order of the folder names, as in UCF101's classInd.txt).
MOTIONS: tuple[Motion, ...] = (
    Motion("moving right", _linear(1, 0, 0.45)),
    Motion("circling clockwise", _circle(+1)),
    Motion("bouncing up and down", _hop(0, 2, 0.0)),
    Motion("growing", _scale_ramp(0.6, 1.5)),
    Motion("zigzagging upward", _zigzag(0, -1)),
    Motion("standing still", _still),
    Motion("spiralling outward", _spiral(True)),
    Motion("moving left", _linear(-1, 0, 0.45)),
    Motion("drifting down and right", _linear(0.75, 0.75, 0.45)),
    Motion("circling counterclockwise", _circle(-1)),
    Motion("swaying side to side", _sway),
    Motion("shrinking", _scale_ramp(1.5, 0.6)),
    Motion("tracing a figure eight", _figure_eight),
    Motion("moving up", _linear(0, -1, 0.45)),
    Motion("hopping to the right", _hop(1, 2, 0.4)),
    Motion("pulsing", _pulse),
    Motion("spiralling inward", _spiral(False)),
    Motion("zigzagging to the right", _zigzag(1, 0)),
    Motion("moving down", _linear(0, 1, 0.45)),
    Motion("drifting up and left", _linear(-0.75, -0.75, 0.45)),
    Motion("shaking", _shake),
    Motion("jumping in place", _hop(0, 1, 0.0)),
    Motion("moving right and back", _there_and_back),
    Motion("zigzagging downward", _zigzag(0, 1)),
    Motion("hopping to the left", _hop(-1, 2, 0.4)),
    Motion("drifting up and right", _linear(0.75, -0.75, 0.45)),
    Motion("zigzagging to the left", _zigzag(-1, 0)),
    Motion("drifting down and left", _linear(-0.75, 0.75, 0.45)),
)

MOTIONS_BY_NAME = {m.name: m for m in MOTIONS}


def motion_path(motion: Motion, num_frames: int, rng: np.random.Generator) -> Path:
    """Sample one instance of ``motion`` over ``num_frames`` frames (random amplitude/phase)."""
    u = np.linspace(0.0, 1.0, num_frames)
    dx, dy, scale = motion.path(u, rng)
    return np.asarray(dx, float), np.asarray(dy, float), np.asarray(scale, float)
