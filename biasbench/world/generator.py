"""Plan and generate the world's videos (numpy only, deterministic from the seed).

:func:`plan_world` fixes the vocabulary, home scenes and one :class:`VideoSpec` per video;
:func:`generate_video` turns a spec into frames, masks and metadata. Every random draw of a
video comes from its own seed sequence ``(seed, split, class, clip, purpose)``, so videos are
independent of generation order and an out-of-context video reuses its in-context source's
track exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biasbench.errors import ConfigError
from biasbench.world.actors import COLOURS, SHAPES, ActorTrack, render, sample_track
from biasbench.world.config import WorldConfig
from biasbench.world.motions import MOTIONS, Motion
from biasbench.world.scenes import FAMILIES, PALETTE_TRANSFORMS, render_scene, scene_name

IC_TRAIN, IC_TEST, OC_TEST = "ic_train", "ic_test", "oc_test"
PHOTOS = "photos"  # the tiny CLIP's own clips (clip_corpus="photos"); never written as videos
_SPLIT_CODES = {IC_TRAIN: 1, IC_TEST: 2, OC_TEST: 3, PHOTOS: 4}
_TRACK, _SCENE, _SCENE_CHOICE = 0, 1, 2


@dataclass(frozen=True)
class Scene:
    """A background kind: an in-context ``family x palette`` or a held-out family."""

    family: str
    palette: str | None

    @property
    def name(self) -> str:
        return scene_name(self.family, self.palette)


@dataclass(frozen=True)
class VideoSpec:
    """Everything needed to regenerate one video; ``source_id`` links OC to its IC video."""

    video_id: str
    split: str
    label: int
    index: int  # position within its class in the split (OC: its source's position)
    group: int
    clip: int
    scene: Scene
    is_home: bool
    variant: int | None = None  # SCUBA background variant (OC only)
    source_id: str | None = None


@dataclass
class WorldPlan:
    """The vocabulary, home scenes and the specs of every video, by split."""

    config: WorldConfig
    motions: list[Motion]  # in class-index order
    home_scenes: list[Scene]  # home_scenes[label]
    home_looks: list[tuple[str, str]]  # home_looks[label]: (shape, colour), used w.p. p_look
    videos: dict[str, list[VideoSpec]] = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        return [m.name for m in self.motions]

    @property
    def class_dirs(self) -> list[str]:
        return [m.dir_name for m in self.motions]


@dataclass
class VideoSample:
    """A generated video: uint8 frames ``[T, S, S, 3]``, bool masks ``[T, S, S]``, track."""

    spec: VideoSpec
    frames: np.ndarray
    masks: np.ndarray
    track: ActorTrack

    def metadata(self, frame_size: int) -> dict[str, Any]:
        """JSON-ready per-video metadata (class, scene, home flag, actor, per-frame boxes)."""
        s, t = self.spec, self.track
        meta = {
            "id": s.video_id,
            "split": s.split,
            "label": s.label,
            "scene": s.scene.name,
            "family": s.scene.family,
            "palette": s.scene.palette,
            "is_home": s.is_home,
            "actor": {"shape": t.shape, "colour": t.colour, "outline": t.outline},
            "boxes": t.boxes(frame_size),
        }
        if s.variant is not None:
            meta.update(variant=s.variant, source_id=s.source_id)
        return meta


def rng_for(cfg: WorldConfig, *key: int) -> np.random.Generator:
    """An independent generator for one purpose of one video (order-free determinism)."""
    return np.random.default_rng(np.random.SeedSequence([cfg.seed, *key]))


def _check_names(cfg: WorldConfig) -> None:
    unknown = [f for f in cfg.scene_families + cfg.held_out_families if f not in FAMILIES]
    unknown += [p for p in cfg.palettes if p not in PALETTE_TRANSFORMS]
    if unknown:
        raise ConfigError(
            f"unknown scene families/palettes {unknown}; families: {sorted(FAMILIES)}, "
            f"palettes: {sorted(PALETTE_TRANSFORMS)}"
        )


def plan_world(cfg: WorldConfig) -> WorldPlan:
    """Choose classes and home scenes and lay out every video of every split."""
    _check_names(cfg)
    motions = sorted(MOTIONS[: cfg.num_classes], key=lambda m: m.dir_name)
    scenes = [Scene(f, p) for f in cfg.scene_families for p in cfg.palettes]
    order = rng_for(cfg, 0, 0).permutation(len(scenes))[: cfg.num_classes]
    looks = [(shape, colour) for shape in SHAPES for colour in COLOURS]
    look_order = rng_for(cfg, 0, 1).permutation(len(looks))[: cfg.num_classes]
    plan = WorldPlan(cfg, motions, [scenes[i] for i in order], [looks[i] for i in look_order])
    groups_test = -(-cfg.ic_test_per_class // cfg.clips_per_group)  # test groups come first (UCF)
    plan.videos[IC_TEST] = _in_context_specs(plan, IC_TEST, cfg.ic_test_per_class, first_group=1)
    plan.videos[IC_TRAIN] = _in_context_specs(
        plan, IC_TRAIN, cfg.ic_train_per_class, first_group=1 + groups_test
    )
    plan.videos[OC_TEST] = _out_of_context_specs(plan)
    return plan


def photo_specs(plan: WorldPlan) -> list[VideoSpec]:
    """The tiny CLIP's own clips when ``clip_corpus == "photos"``: every class on its home
    scene with probability ``photo_p_home``, each clip drawn from its own random streams
    (split code 4), so none is a frame of a video split and none depends on ``p_home``."""
    cfg = plan.config
    return _in_context_specs(
        plan, PHOTOS, cfg.photo_clips_per_class, first_group=1, p_home=cfg.photo_p_home
    )


def _in_context_specs(
    plan: WorldPlan, split: str, per_class: int, first_group: int, p_home: float | None = None
):
    cfg, specs = plan.config, []
    p_home = cfg.p_home if p_home is None else p_home
    prefix = "photo_" if split == PHOTOS else "v_"
    others = [Scene(f, p) for f in cfg.scene_families for p in cfg.palettes]
    for label, motion in enumerate(plan.motions):
        home = plan.home_scenes[label]
        away = [s for s in others if s != home]
        for i in range(per_class):
            rng = rng_for(cfg, _SPLIT_CODES[split], label, i, _SCENE_CHOICE)
            is_home = bool(rng.random() < p_home)
            scene = home if is_home else away[rng.integers(len(away))]
            group, clip = first_group + i // cfg.clips_per_group, 1 + i % cfg.clips_per_group
            vid = f"{prefix}{motion.dir_name}_g{group:02d}_c{clip:02d}"
            specs.append(VideoSpec(vid, split, label, i, group, clip, scene, is_home))
    return specs


def _out_of_context_specs(plan: WorldPlan) -> list[VideoSpec]:
    """The first ``oc_test_per_class`` IC test videos of each class x held-out backgrounds."""
    cfg, specs = plan.config, []
    per_class: dict[int, list[VideoSpec]] = {}
    for s in plan.videos[IC_TEST]:
        per_class.setdefault(s.label, []).append(s)
    for label in sorted(per_class):
        for i, src in enumerate(per_class[label][: cfg.oc_test_per_class]):
            rng = rng_for(cfg, _SPLIT_CODES[OC_TEST], label, i, _SCENE_CHOICE)
            families = rng.permutation(len(cfg.held_out_families))[: cfg.scuba_variants]
            for k, f in enumerate(families):
                scene = Scene(cfg.held_out_families[f], None)
                specs.append(
                    VideoSpec(
                        f"{src.video_id}__{k}", OC_TEST, label, src.index, src.group, src.clip, scene,
                        is_home=False, variant=k, source_id=src.video_id,
                    )
                )  # fmt: skip
    return specs


def _track_key(spec: VideoSpec) -> tuple[int, ...]:
    split = IC_TEST if spec.split == OC_TEST else spec.split  # OC reuses its source's track
    return (_SPLIT_CODES[split], spec.label, spec.index, _TRACK)


def make_track(spec: VideoSpec, plan: WorldPlan) -> ActorTrack:
    """The actor track of a video (identical for an OC video and its IC source)."""
    cfg = plan.config
    rng = rng_for(cfg, *_track_key(spec))
    motion = plan.motions[spec.label]
    return sample_track(
        motion,
        rng,
        cfg.num_frames,
        cfg.frame_size,
        cfg.actor_size,
        home_look=plan.home_looks[spec.label],
        p_look=cfg.p_look,
    )


def make_background(spec: VideoSpec, plan: WorldPlan) -> np.ndarray:
    """The static background of a video (float ``[S, S, 3]`` in [0, 1])."""
    cfg = plan.config
    variant = 0 if spec.variant is None else 1 + spec.variant
    key = (_SPLIT_CODES[spec.split], spec.label, spec.index, _SCENE, variant)
    return render_scene(spec.scene.family, spec.scene.palette, rng_for(cfg, *key), cfg.frame_size)


def generate_video(spec: VideoSpec, plan: WorldPlan) -> VideoSample:
    """Render one video: its track composited onto its background."""
    track = make_track(spec, plan)
    frames, masks = render(track, make_background(spec, plan))
    return VideoSample(spec, frames, masks, track)
