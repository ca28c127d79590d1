"""Every knob of the embedded world in one frozen dataclass, and the world's content id.

The id names the cache folder: two configs that differ in any field build different worlds,
and bumping :data:`FORMAT_VERSION` (when the generator or the on-disk layout changes)
invalidates every cached world at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from biasbench.errors import ConfigError

FORMAT_VERSION = 2  # 2: captions with the action and no scene word (distinct class texts)

IN_CONTEXT_FAMILIES = ("beach", "forest", "city", "desert", "mountains", "field", "room")
PALETTES = ("sunny", "dusk", "night", "foggy")
HELD_OUT_FAMILIES = ("striped wall", "checkered wall", "cloudy sky", "bubbles")
#: what the tiny CLIP is pretrained on: frames of the in-context training videos, or its own
#: "photo" clips drawn independently of every video split (see ``WorldConfig.clip_corpus``)
CLIP_CORPORA = ("videos", "photos")
#: fields that shape only the video splits; a photo-pretrained tiny CLIP does not depend on them
VIDEO_SPLIT_FIELDS = (
    "p_home",
    "ic_train_per_class",
    "ic_test_per_class",
    "oc_test_per_class",
    "scuba_variants",
    "clips_per_group",
    "fps",
    "crf",
    "jpeg_quality",
)
#: fields read only when ``clip_corpus == "photos"``
PHOTO_FIELDS = ("clip_corpus", "photo_p_home", "photo_clips_per_class")


@dataclass(frozen=True)
class WorldConfig:
    """The embedded static-bias world: what is generated, how, and how the tiny CLIP learns.

    Scenes are ``family x palette``; each action gets one of them as its home scene and
    appears there with probability ``p_home`` in the in-context splits. Out-of-context
    (SCUBA-like) videos re-render the first ``oc_test_per_class`` in-context test videos of
    each class on ``scuba_variants`` backgrounds from ``held_out_families``.
    """

    seed: int = 0
    # video geometry
    frame_size: int = 64
    num_frames: int = 16
    fps: int = 8
    actor_size: int = 12  # nominal actor diameter in pixels; each video draws 0.75..1.25 x
    # vocabulary and scenes
    num_classes: int = 28
    scene_families: tuple[str, ...] = IN_CONTEXT_FAMILIES
    palettes: tuple[str, ...] = PALETTES
    held_out_families: tuple[str, ...] = HELD_OUT_FAMILIES
    p_home: float = 0.9
    # each action also has a home look (shape, colour) its actor wears with probability
    # p_look, in every split: the foreground's static cue (real actions come with poses and
    # objects), which out-of-context videos keep; motion alone still defines the class
    p_look: float = 0.0
    # split sizes (videos per class)
    ic_train_per_class: int = 40
    ic_test_per_class: int = 15
    oc_test_per_class: int = 15
    scuba_variants: int = 2
    clips_per_group: int = 5  # UCF101-style naming: v_<Class>_g<GG>_c<CC>
    # video encoding
    crf: int = 17
    jpeg_quality: int = 95
    # tiny CLIP pretraining on single frames with captions
    clip_arch: str = "biasbench-tiny-p8-64"
    pretrain_steps: int = 220
    pretrain_batch: int = 128
    pretrain_lr: float = 1e-3
    pretrain_weight_decay: float = 0.1
    pretrain_warmup: int = 20
    pretrain_frames_per_video: int = 8  # frames kept per ic-train video for pretraining
    pretrain_generic_images: int = 1500  # action-free scene images (all families incl. held-out)
    pretrain_generic_fraction: float = 0.25  # share of each batch drawn from those
    pretrain_group_size: int = 4  # frames of one video per batch: they differ only in position
    # "videos": the tiny CLIP learns from frames of the ic-train videos, so changing p_home
    # changes the CLIP too. "photos": it learns from its own clips, drawn from their own random
    # streams with their own action-scene co-occurrence photo_p_home (as CLIP learnt from web
    # photos, not from Kinetics); worlds that differ only in VIDEO_SPLIT_FIELDS then share one
    # CLIP, built once (the static-bias dial sweeps p_home this way)
    clip_corpus: str = "videos"
    photo_p_home: float = 0.9
    photo_clips_per_class: int = 40

    def __post_init__(self) -> None:
        problems = []
        n_scenes = len(self.scene_families) * len(self.palettes)
        if not 2 <= self.num_classes <= n_scenes:
            problems.append(f"num_classes must be in 2..{n_scenes} (families x palettes)")
        if not 0.0 <= self.p_home <= 1.0:
            problems.append("p_home must be in [0, 1]")
        if not 0.0 <= self.p_look <= 1.0:
            problems.append("p_look must be in [0, 1]")
        if self.oc_test_per_class > self.ic_test_per_class:
            problems.append(
                "oc_test_per_class cannot exceed ic_test_per_class (OC re-renders IC test)"
            )
        if not 1 <= self.scuba_variants <= len(self.held_out_families):
            problems.append(f"scuba_variants must be in 1..{len(self.held_out_families)}")
        if set(self.held_out_families) & set(self.scene_families):
            problems.append("held-out families must differ from in-context families")
        if self.frame_size < 32 or self.num_frames < 4:
            problems.append("frame_size >= 32 and num_frames >= 4 required")
        if self.ic_train_per_class < 1 or self.ic_test_per_class < 1 or self.clips_per_group < 1:
            problems.append("videos per class and clips_per_group must be >= 1")
        if not 1 <= self.pretrain_group_size <= self.pretrain_frames_per_video <= self.num_frames:
            problems.append(
                "need 1 <= pretrain_group_size <= pretrain_frames_per_video <= num_frames"
            )
        if self.clip_corpus not in CLIP_CORPORA:
            problems.append(f"clip_corpus must be one of {CLIP_CORPORA}, got {self.clip_corpus!r}")
        if not 0.0 <= self.photo_p_home <= 1.0:
            problems.append("photo_p_home must be in [0, 1]")
        if self.photo_clips_per_class < 1:
            problems.append("photo_clips_per_class must be >= 1")
        if self.pretrain_batch % self.pretrain_group_size:
            problems.append("pretrain_batch must be a multiple of pretrain_group_size")
        if problems:
            raise ConfigError("invalid WorldConfig: " + "; ".join(problems))

    @classmethod
    def small(cls, **overrides: Any) -> WorldConfig:
        """A reduced world for tests: 8 classes, few videos, a short pretraining (~30 s)."""
        small = dict(
            num_classes=8,
            ic_train_per_class=16,
            ic_test_per_class=8,
            oc_test_per_class=8,
            scuba_variants=1,
            pretrain_steps=80,
            pretrain_batch=64,
            pretrain_lr=2e-3,
            pretrain_warmup=8,
            pretrain_generic_images=300,
        )
        return cls(**{**small, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorldConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a config from another version)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(f"unknown WorldConfig fields: {unknown}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)


def content_fields(cfg: WorldConfig) -> dict[str, Any]:
    """The fields that shape the world's bytes: the photo fields are left out unless the
    tiny CLIP uses photos, so adding them kept every existing world's id."""
    fields = cfg.to_dict()
    if cfg.clip_corpus == "videos":
        for name in PHOTO_FIELDS:
            fields.pop(name)
    return fields


def _short_hash(payload: dict[str, Any]) -> str:
    blob = json.dumps({"format": FORMAT_VERSION, **payload}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def world_id(cfg: WorldConfig) -> str:
    """A short content hash of the config and the format version (names the cache folder)."""
    return _short_hash({"config": content_fields(cfg)})


def clip_id(cfg: WorldConfig) -> str | None:
    """The id of the photo-pretrained tiny CLIP a world uses (names its cache folder), the
    same for every world that differs only in :data:`VIDEO_SPLIT_FIELDS`; ``None`` when the
    CLIP learns from the world's own videos and so belongs to that world alone."""
    if cfg.clip_corpus == "videos":
        return None
    fields = content_fields(cfg)
    for name in VIDEO_SPLIT_FIELDS:
        fields.pop(name)
    return _short_hash({"clip": fields})
