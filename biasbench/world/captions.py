"""Captions for tiny-CLIP pretraining: action + scene words, and the actor's look and place.

Naming the actor's shape, colour, size and grid position is meant to make the contrastive
objective keep *where* the actor is in the frame embedding (the prototype's trap: a
scene-only CLIP leaves a video learner nothing to learn motion from). Measured: within the
default pretraining budget it does not — the text tower reads scene words only
(``probes.caption_word_sensitivity``, ``probes.actor_position_probe``; docs/world.md). Action
words only ever come with frames, whose pixels cannot show motion, so the tiny CLIP ties them
to the scene: static bias by design.
"""

from __future__ import annotations

import numpy as np

ROWS, COLS = ("top", "middle", "bottom"), ("left", "centre", "right")

ACTION_TEMPLATES = (
    "a photo of a person {action}.",
    "a photo of a person {action} in the {scene}.",
    "a {look} at the {place} of the {scene}, someone {action}.",
    "someone {action}: a {look} at the {place}.",
    "a person {action}, a {look} at the {place} of the {scene}.",
)
GENERIC_TEMPLATES = (
    "a {look} at the {place} of the {scene}.",
    "a photo of the {scene} with a {look} at the {place}.",
    "a {look} at the {place}.",
)


def place_phrase(x: float, y: float, frame_size: int) -> str:
    """The 3x3 grid cell of a point: ``top left``, ``middle centre`` is just ``centre``."""
    row = ROWS[min(2, int(3 * y / frame_size))]
    col = COLS[min(2, int(3 * x / frame_size))]
    if row == "middle":
        return col
    return row if col == "centre" else f"{row} {col}"


def look_phrase(shape: str, colour: str, diameter: float, nominal: float) -> str:
    """``small red triangle`` / ``red triangle`` / ``large red triangle``."""
    size = "small " if diameter < 0.85 * nominal else "large " if diameter > 1.2 * nominal else ""
    return f"{size}{colour} {shape}"


def caption(
    rng: np.random.Generator,
    look: str,
    place: str,
    scene: str,
    action: str | None,
) -> str:
    """One caption from a random template; ``action=None`` gives an action-free caption."""
    templates = GENERIC_TEMPLATES if action is None else ACTION_TEMPLATES
    template = templates[rng.integers(len(templates))]
    return template.format(look=look, place=place, scene=scene, action=action)
