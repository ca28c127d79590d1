"""HAT-format Action-Swap data derived from a built world (``synth-hat``).

The world's in-context test videos are re-rendered with the generator's public functions
(:func:`plan_world`, :func:`generate_video`, :func:`make_background`) into the HAT layout:
``ori/`` (the frames), ``seg/`` (the actor masks) and ``inp/`` (the exact background without
the actor: a perfect inpainting). Each re-rendered video is checked against the boxes
``world.json`` recorded when the world was built, so an export can never drift from its world.

Close / Far pairs follow UCF-HAT's shape (5 closest and 30 farthest of 101 classes): a
foreground video of class ``c`` gets a background video from the home scene of one of the
``round(close_fraction * K)`` actions most similar to ``c`` (Close) or of one of the
``round(far_fraction * K)`` least similar (Far). Similarity comes from the motion definitions:
each motion is sampled ``descriptor_samples`` times and summarised by direction-free
trajectory statistics (absolute net displacement per axis, path length, horizontal and
vertical activity, absolute turning, absolute size change, size oscillation), z-scored across
the world's classes; distance is Euclidean. Being direction-free, mirror-image actions
("moving left" / "moving right", the two circlings) count as the most similar.
The export is cached inside the world folder, built in a temporary folder and renamed into
place with a ``DONE`` marker, like the world itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from biasbench.errors import BiasbenchError
from biasbench.world.config import WorldConfig
from biasbench.world.generator import (
    IC_TEST,
    VideoSpec,
    WorldPlan,
    generate_video,
    make_background,
    plan_world,
    rng_for,
)
from biasbench.world.motions import motion_path

if TYPE_CHECKING:
    from biasbench.world.build import WorldPaths

EXPORT_VERSION = 1
VIDEO_LIST = "world_hat_rawframes.txt"
KINDS = ("close", "far")
_KIND_CODES = {"close": 1, "far": 2}
_DESCRIPTOR_KEY, _PAIR_KEY = 101, 102  # seed-sequence purposes (distinct from the generator's)


@dataclass(frozen=True)
class HatExportSettings:
    """How Close / Far are defined and how many pair files (repeats) are written."""

    close_fraction: float = 0.05
    far_fraction: float = 0.30
    repeats: int = 3
    descriptor_samples: int = 32


@dataclass(frozen=True)
class HatExport:
    """A finished export: its folder, the rawframe list and the pair file of each kind/repeat."""

    root: Path
    video_list: Path
    info: dict[str, Any]

    def pair_file(self, kind: str, repeat: int) -> Path:
        return self.root / f"actionswap_{kind}_{repeat}.json"


# -- class similarity from the motion definitions ---------------------------------------------


def motion_descriptors(plan: WorldPlan, samples: int = 32) -> np.ndarray:
    """``[K, 8]`` mean direction-free trajectory statistics of each class's motion."""
    cfg = plan.config
    rows = []
    for label, motion in enumerate(plan.motions):
        feats = []
        for i in range(samples):
            dx, dy, scale = motion_path(
                motion, cfg.num_frames, rng_for(cfg, _DESCRIPTOR_KEY, label, i)
            )
            vx, vy = np.diff(dx), np.diff(dy)
            turning = np.sum(vx[:-1] * vy[1:] - vy[:-1] * vx[1:])
            feats.append(
                [
                    abs(dx[-1] - dx[0]),
                    abs(dy[-1] - dy[0]),
                    np.hypot(vx, vy).sum(),
                    np.abs(vx).sum(),
                    np.abs(vy).sum(),
                    abs(turning),
                    abs(scale[-1] - scale[0]),
                    scale.std(),
                ]
            )
        rows.append(np.mean(feats, axis=0))
    return np.asarray(rows)


def class_distances(plan: WorldPlan, samples: int = 32) -> np.ndarray:
    """``[K, K]`` Euclidean distances between z-scored motion descriptors."""
    d = motion_descriptors(plan, samples)
    spread = d.std(axis=0)
    z = (d - d.mean(axis=0)) / np.where(spread > 1e-12, spread, 1.0)
    return np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1))


def close_and_far(
    distances: np.ndarray, close_fraction: float, far_fraction: float
) -> tuple[list[list[int]], list[list[int]]]:
    """Per class: its closest and its farthest other classes (disjoint, ties by index)."""
    k = len(distances)
    n_close = max(1, round(close_fraction * k))
    n_far = max(1, round(far_fraction * k))
    if n_close + n_far > k - 1:
        raise BiasbenchError(
            f"{k} classes cannot give {n_close} Close and {n_far} Far classes each; "
            "lower close_fraction / far_fraction"
        )
    close, far = [], []
    for c in range(k):
        others = sorted((float(distances[c, o]), o) for o in range(k) if o != c)
        close.append(sorted(o for _, o in others[:n_close]))
        far.append(sorted(o for _, o in others[-n_far:]))
    return close, far


# -- export ------------------------------------------------------------------------------------


def export_id(world_id: str, settings: HatExportSettings) -> str:
    """Content id of an export: the world and every export setting."""
    payload = json.dumps(
        {"version": EXPORT_VERSION, "world": world_id, **asdict(settings)}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def export_hat(world: WorldPaths, settings: HatExportSettings | None = None) -> HatExport:
    """The HAT-format export of a built world, written on first use and cached in it."""
    settings = settings or HatExportSettings()
    manifest = json.loads(Path(world.world_json).read_text())
    final = Path(world.root) / f"hat-{export_id(manifest['world_id'], settings)}"
    if not (final / "DONE").is_file():
        tmp = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=world.root))
        try:
            _write_export(tmp, manifest, settings)
            (tmp / "DONE").write_text(final.name + "\n")
            try:
                os.replace(tmp, final)
            except OSError:
                if not (final / "DONE").is_file():  # no other builder published it
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    info = json.loads((final / "hat_export.json").read_text())
    return HatExport(final, final / VIDEO_LIST, info)


def _write_export(root: Path, manifest: dict[str, Any], settings: HatExportSettings) -> None:
    cfg = WorldConfig.from_dict(manifest["config"])
    plan = plan_world(cfg)
    recorded = {v["id"]: v for v in manifest["videos"][IC_TEST]}
    specs = plan.videos[IC_TEST]
    coverage = {}
    for spec in specs:
        coverage[spec.video_id] = _write_video(root, spec, plan, recorded.get(spec.video_id))
    lines = (f"{_key(s, plan)} {cfg.num_frames} {s.label}\r\n" for s in specs)
    (root / VIDEO_LIST).write_text("".join(lines), newline="")
    distances = class_distances(plan, settings.descriptor_samples)
    close, far = close_and_far(distances, settings.close_fraction, settings.far_fraction)
    fallbacks = {}
    for kind, classes in zip(KINDS, (close, far), strict=True):
        for r in range(1, settings.repeats + 1):
            pairs, fallbacks[f"{kind}_{r}"] = _pairs(plan, specs, classes, kind, r)
            (root / f"actionswap_{kind}_{r}.json").write_text(json.dumps(pairs, indent=1) + "\n")
    info = {
        "export_version": EXPORT_VERSION,
        "world_id": manifest["world_id"],
        "settings": asdict(settings),
        "source": "in-context test videos of the world, re-rendered (ori/seg/inp)",
        "similarity": "Euclidean distance of z-scored motion descriptors (see hat_export.py)",
        "class_names": plan.class_names,
        "class_distances": np.round(distances, 4).tolist(),
        "close_classes": close,
        "far_classes": far,
        "background_rule": "a video of the chosen class shot in that class's home scene",
        "pairs_without_home_background": fallbacks,
        "mask_coverage": coverage,
    }
    (root / "hat_export.json").write_text(json.dumps(info, indent=1) + "\n")


def _key(spec: VideoSpec, plan: WorldPlan) -> str:
    return f"{plan.class_dirs[spec.label]}/{spec.video_id}"


def _write_video(
    root: Path, spec: VideoSpec, plan: WorldPlan, recorded: dict[str, Any] | None
) -> list[float]:
    """Write ori/seg/inp frames of one video; returns its [min, max] mask coverage."""
    from PIL import Image

    cfg = plan.config
    sample = generate_video(spec, plan)
    if recorded is None or sample.metadata(cfg.frame_size)["boxes"] != recorded["boxes"]:
        raise BiasbenchError(
            f"re-rendering {spec.video_id} does not reproduce the built world (generator "
            "changed without a FORMAT_VERSION bump?): rebuild the world"
        )
    key = _key(spec, plan)
    ori, seg, inp = (root / part / key for part in ("ori", "seg", "inp"))
    for folder in (ori, seg, inp):
        folder.mkdir(parents=True)
    background = np.round(make_background(spec, plan) * 255.0).astype(np.uint8)
    Image.fromarray(background).save(inp / "000001.jpg", quality=cfg.jpeg_quality)
    for t, (frame, mask) in enumerate(zip(sample.frames, sample.masks, strict=True), start=1):
        Image.fromarray(frame).save(ori / f"{t:06d}.jpg", quality=cfg.jpeg_quality)
        Image.fromarray(mask.astype(np.uint8) * 255).save(seg / f"{t:06d}.png")
        if t > 1:
            _link_or_copy(inp / "000001.jpg", inp / f"{t:06d}.jpg")  # a static background
    share = sample.masks.reshape(len(sample.masks), -1).mean(axis=1)
    return [round(float(share.min()), 5), round(float(share.max()), 5)]


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _pairs(
    plan: WorldPlan, specs: list[VideoSpec], classes: list[list[int]], kind: str, repeat: int
) -> tuple[dict[str, list[Any]], int]:
    """One pair file: each foreground video -> a home-scene video of one of its classes."""
    cfg = plan.config
    by_class: dict[int, list[VideoSpec]] = {}
    for s in specs:
        by_class.setdefault(s.label, []).append(s)
    pairs, fallbacks = {}, 0
    for pos, fg in enumerate(specs):
        candidates = [s for c in classes[fg.label] for s in by_class.get(c, []) if s.is_home]
        if not candidates:  # no home-scene video of those classes: any video of them
            candidates = [s for c in classes[fg.label] for s in by_class.get(c, [])]
            fallbacks += 1
        rng = rng_for(cfg, _PAIR_KEY, _KIND_CODES[kind], repeat, pos)
        bg = candidates[int(rng.integers(len(candidates)))]
        pairs[_key(fg, plan)] = [_key(bg, plan), cfg.num_frames, bg.label]
    return pairs, fallbacks
