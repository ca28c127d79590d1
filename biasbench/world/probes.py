"""Validity probes of a built world: is it the laboratory it claims to be?

- :func:`motion_probe` — a hand-made motion-only classifier (actor trajectory from frame
  differences -> logistic regression), fit on ic-train: it must score high out of context,
  so the task is solvable from motion alone;
- :func:`background_free_frame_probe` — a classifier that sees one frame with the background
  blanked by the generator's mask: it must stay near chance, so one frame carries no action;
- :func:`frozen_clip_zero_shot` — the tiny CLIP's zero-shot top-1 (frame-averaged normalised
  embeddings vs prompt embeddings): high in context, near chance out of context (static bias);
- :func:`clip_motion_probe` — a linear classifier on the *differences* of frozen tiny-CLIP
  frame embeddings, fit on ic-train and scored out of context: how much motion the frame
  embeddings let a linear model see;
- :func:`actor_position_probe` — R² of a ridge regression from frame embeddings to the
  actor's centre (from ``world.json``'s boxes): does the frozen CLIP know *where* the actor is?
- :func:`caption_word_sensitivity` — how far apart the text tower puts captions that differ
  in one word (place, colour, shape, scene): a mean cosine near 1 means that word is ignored,
  so pretraining taught the image side nothing about it either.

Videos are read with decord and SCUBA rawframes with PIL, independently of the project's
data loader, so these numbers are an independent check of the harness.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biasbench.world.build import WorldPaths
from biasbench.world.config import WorldConfig
from biasbench.world.generator import (
    IC_TEST,
    IC_TRAIN,
    OC_TEST,
    generate_video,
    plan_world,
    rng_for,
)
from biasbench.world.writer import FRAME_TEMPLATE, SCUBA_LIST, SPLIT_LIST_DIR

ZERO_SHOT_TEMPLATES = ("a video of a person {}.",)
_PROBE_STREAM = 95


@dataclass(frozen=True)
class ProbeResult:
    """A probe's top-1 accuracy (percent) on one split, with chance level and sample count."""

    probe: str
    split: str
    top1: float
    chance: float
    n: int

    def __str__(self) -> str:
        return f"{self.probe} [{self.split}]: top-1 {self.top1:.1f} (chance {self.chance:.1f}, n={self.n})"

    def as_dict(self) -> dict[str, Any]:
        return {"top1": self.top1, "chance": self.chance, "n": self.n}


@dataclass(frozen=True)
class RegressionResult:
    """A regression probe's R² on one split (1: perfect, 0: no better than the mean)."""

    probe: str
    split: str
    r2: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"r2": self.r2, "n": self.n}


@dataclass(frozen=True)
class WordSensitivity:
    """Mean pairwise cosine of text embeddings of captions that differ only in ``slot``."""

    slot: str
    mean_cosine: float
    captions: int

    def as_dict(self) -> dict[str, Any]:
        return {"mean_cosine": self.mean_cosine, "captions": self.captions}


def _manifest(paths: WorldPaths) -> dict[str, Any]:
    return json.loads(Path(paths.world_json).read_text())


def split_items(paths: WorldPaths, split: str) -> list[tuple[Path, int]]:
    """``(video file or frame folder, 0-based label)`` of a split, read from its list file."""
    if split == OC_TEST:
        lines = (paths.scuba_root / SCUBA_LIST).read_text().splitlines()
        return [
            (paths.scuba_root / "frames" / d, int(lab))
            for d, _, lab in (ln.split() for ln in lines)
        ]
    lists = paths.ucf_root / SPLIT_LIST_DIR
    class_ids = {
        d: int(i) - 1
        for i, d in (ln.split() for ln in (lists / "classInd.txt").read_text().splitlines())
    }
    name = {IC_TRAIN: "trainlist01.txt", IC_TEST: "testlist01.txt"}[split]
    rels = [ln.split()[0] for ln in (lists / name).read_text().splitlines()]
    return [(paths.ucf_root / "videos" / r, class_ids[r.split("/")[0]]) for r in rels]


def read_clip(path: Path) -> np.ndarray:
    """All frames of an mp4 (decord) or a rawframe folder (PIL): uint8 ``[T, H, W, 3]``."""
    if path.is_dir():
        from PIL import Image

        files = sorted(path.glob(FRAME_TEMPLATE.replace("{:06d}", "*")))
        return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    import decord

    reader = decord.VideoReader(str(path), num_threads=1)
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def _clips(paths: WorldPaths, split: str) -> Iterator[tuple[np.ndarray, int]]:
    for path, label in split_items(paths, split):
        yield read_clip(path), label


def _fit_score(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    evals: dict[str, tuple[np.ndarray, np.ndarray]],
    k: int,
) -> dict[str, ProbeResult]:
    """Standardise, fit a multinomial logistic regression, score each evaluation split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=3000))
    model.fit(*train)
    out = {}
    for split, (x, y) in evals.items():
        top1 = 100.0 * float(np.mean(model.predict(x) == y))
        out[split] = ProbeResult(name, split, round(top1, 2), round(100.0 / k, 2), len(y))
    return out


# --- (a) motion-only probe -------------------------------------------------------------------


def trajectory_features(clip: np.ndarray, threshold: float = 0.12) -> np.ndarray:
    """Translation-invariant motion features of one clip, from consecutive frame differences.

    The background is static, so pixels that change between frames t and t+1 belong to the
    actor. Per step: centroid of the changed pixels (relative to the first), their spread and
    area; plus velocities, turning (cross and dot products of successive velocities), the
    distance from the mean centroid, and their summaries.
    """
    x = clip.astype(np.float32) / 255.0
    size = x.shape[1]
    changed = np.abs(np.diff(x, axis=0)).sum(-1) > threshold  # [T-1, H, W]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    area = changed.mean(axis=(1, 2))
    centres = np.zeros((len(changed), 2), np.float32)
    spread = np.zeros(len(changed), np.float32)
    last = np.array([0.5, 0.5], np.float32)
    for t, m in enumerate(changed):
        if m.any():
            last = np.array([xx[m].mean(), yy[m].mean()], np.float32)
            spread[t] = np.sqrt(((xx[m] - last[0]) ** 2 + (yy[m] - last[1]) ** 2).mean())
        centres[t] = last
    rel = centres - centres[0]
    vel = np.diff(centres, axis=0)
    cross = vel[:-1, 0] * vel[1:, 1] - vel[:-1, 1] * vel[1:, 0]
    dot = (vel[:-1] * vel[1:]).sum(-1)
    radius = np.linalg.norm(centres - centres.mean(0), axis=1)
    steps = np.arange(len(spread), dtype=np.float32)
    slope = lambda v: np.polyfit(steps[: len(v)], v, 1)[0]  # noqa: E731
    summary = [
        *(centres[-1] - centres[0]),
        np.linalg.norm(vel, axis=1).sum(),
        cross.sum(),
        np.abs(cross).sum(),
        dot.sum(),
        slope(spread),
        slope(radius),
        slope(area),
        area.mean(),
        area.std(),
    ]
    parts = [rel.ravel(), vel.ravel(), cross, dot, spread, area, radius, np.asarray(summary)]
    return np.concatenate([np.asarray(p, np.float32).ravel() for p in parts])


def motion_probe(
    paths: WorldPaths, eval_splits: Sequence[str] = (IC_TEST, OC_TEST)
) -> dict[str, ProbeResult]:
    """Motion-only classifier fit on ic-train; top-1 per evaluation split (OC must be high)."""
    k = len(_manifest(paths)["class_names"])

    def features(split):
        feats, labels = zip(
            *((trajectory_features(c), y) for c, y in _clips(paths, split)), strict=True
        )
        return np.stack(feats), np.array(labels)

    return _fit_score("motion", features(IC_TRAIN), {s: features(s) for s in eval_splits}, k)


# --- (b) background-free single frame --------------------------------------------------------


def background_free_frame_probe(paths: WorldPaths, pool: int = 4) -> dict[str, ProbeResult]:
    """One random frame per video, background blanked with the generator's mask.

    Features: the masked frame average-pooled by ``pool`` (RGB) plus the mask's centroid,
    size and extent. Fit on ic-train, scored on ic-test (whose tracks are the OC foregrounds).
    Masks are not stored on disk: the videos are regenerated from ``world.json``'s config.
    """
    cfg = WorldConfig.from_dict(_manifest(paths)["config"])
    plan = plan_world(cfg)
    rng = rng_for(cfg, _PROBE_STREAM)

    def features(split):
        feats, labels = [], []
        for spec in plan.videos[split]:
            sample = generate_video(spec, plan)
            t = rng.integers(cfg.num_frames)
            mask = sample.masks[t]
            frame = sample.frames[t].astype(np.float32) / 255.0 * mask[..., None]
            s = cfg.frame_size // pool
            pooled = frame.reshape(s, pool, s, pool, 3).mean(axis=(1, 3)).ravel()
            ys, xs = np.nonzero(mask)
            geo = [xs.mean(), ys.mean(), mask.sum(), np.ptp(xs), np.ptp(ys)] if len(xs) else [0] * 5
            feats.append(np.concatenate([pooled, np.asarray(geo, np.float32) / cfg.frame_size]))
            labels.append(spec.label)
        return np.stack(feats), np.array(labels)

    return _fit_score(
        "bg-free frame", features(IC_TRAIN), {IC_TEST: features(IC_TEST)}, cfg.num_classes
    )


# --- (c) frozen tiny CLIP zero-shot and (d) motion from its frame embeddings ------------------


def load_world_clip(paths: WorldPaths):
    """The world's pretrained tiny CLIP (eval mode) and its tokenizer."""
    from biasbench.models.backbone import BackboneSpec, create_clip, get_tokenizer

    return create_clip(BackboneSpec(paths.arch, str(paths.clip_weights))), get_tokenizer(paths.arch)


def _sample_indices(total: int, num_frames: int) -> np.ndarray:
    """Centres of ``num_frames`` equal segments (the usual uniform test-time sampling)."""
    return np.minimum(((np.arange(num_frames) + 0.5) * total / num_frames).astype(int), total - 1)


def encode_clips(model, clips: np.ndarray, arch: str, batch: int = 256):
    """Normalised frame embeddings ``[N, T, D]`` of uint8 clips ``[N, T, H, W, 3]``.

    Frames are resized (short side) and centre-cropped per the architecture's data config,
    then normalised with its mean/std, as the harness does.
    """
    import torch
    import torch.nn.functional as F

    from biasbench.models.backbone import data_config_for

    dc = data_config_for(arch)
    mean = torch.tensor(dc.mean).view(1, 3, 1, 1)
    std = torch.tensor(dc.std).view(1, 3, 1, 1)
    n, t = clips.shape[:2]
    frames = torch.from_numpy(clips.reshape(n * t, *clips.shape[2:])).permute(0, 3, 1, 2)
    out = []
    with torch.no_grad():
        for chunk in frames.split(batch):
            x = chunk.float() / 255.0
            x = F.interpolate(
                x, size=dc.resize, mode="bilinear", antialias=True, align_corners=False
            )
            off = (dc.resize - dc.size) // 2
            x = x[:, :, off : off + dc.size, off : off + dc.size]
            out.append(model.encode_image((x - mean) / std, normalize=True))
    return torch.cat(out).view(n, t, -1)


def _sampled_clips(paths: WorldPaths, split: str, num_frames: int):
    """uint8 clips ``[N, T, H, W, 3]`` at the probes' frame indices, and their labels."""
    items = list(_clips(paths, split))
    clips = np.stack([c[_sample_indices(len(c), num_frames)] for c, _ in items])
    return clips, np.array([y for _, y in items])


def _split_embeddings(model, paths: WorldPaths, split: str, num_frames: int):
    clips, labels = _sampled_clips(paths, split, num_frames)
    return encode_clips(model, clips, paths.arch), labels


def class_text_embeddings(
    model, tokenizer, class_names: Sequence[str], templates=ZERO_SHOT_TEMPLATES
):
    """Prompt-ensembled, normalised text embeddings ``[K, D]``."""
    import torch

    with torch.no_grad():
        per_class = []
        for name in class_names:
            e = model.encode_text(tokenizer([t.format(name) for t in templates]), normalize=True)
            per_class.append(torch.nn.functional.normalize(e.mean(0), dim=-1))
    return torch.stack(per_class)


def class_text_similarity(paths: WorldPaths) -> dict[str, WordSensitivity]:
    """Mean off-diagonal cosine of the class texts (the zero-shot prompts): near 1 the tiny
    CLIP cannot tell its classes apart by name (the collapse a video-pretrained CLIP showed
    at ``p_home`` 0.5)."""
    model, tokenizer = load_world_clip(paths)
    names = _manifest(paths)["class_names"]
    text = class_text_embeddings(model, tokenizer, names).numpy()
    cosines = (text @ text.T)[~np.eye(len(names), dtype=bool)]
    return {"class": WordSensitivity("class", round(float(cosines.mean()), 4), len(names))}


def frozen_clip_zero_shot(paths: WorldPaths, split: str, num_frames: int = 8) -> ProbeResult:
    """Zero-shot top-1 of the frozen tiny CLIP on ``ic_test`` or ``oc_test``.

    Video embedding = mean of normalised frame embeddings (``num_frames`` uniform frames);
    classifier = prompts ``"a video of a person {class name}."``.
    """
    model, tokenizer = load_world_clip(paths)
    names = _manifest(paths)["class_names"]
    frames, labels = _split_embeddings(model, paths, split, num_frames)
    text = class_text_embeddings(model, tokenizer, names)
    pred = (frames.mean(1) @ text.T).argmax(-1).numpy()
    top1 = 100.0 * float(np.mean(pred == labels))
    return ProbeResult(
        "frozen tiny-CLIP zero-shot",
        split,
        round(top1, 2),
        round(100.0 / len(names), 2),
        len(labels),
    )


def clip_motion_probe(
    paths: WorldPaths, eval_splits: Sequence[str] = (IC_TEST, OC_TEST), num_frames: int = 8
) -> dict[str, ProbeResult]:
    """Linear classifier on consecutive differences of frozen frame embeddings (fit ic-train).

    Differences cancel the static scene, so what is left is how the actor moved, as far as
    the frame embeddings encode it. OC well above chance means motion is learnable from them.
    """
    model, _ = load_world_clip(paths)
    k = len(_manifest(paths)["class_names"])

    def features(split):
        emb, labels = _split_embeddings(model, paths, split, num_frames)
        return (emb[:, 1:] - emb[:, :-1]).flatten(1).numpy(), labels

    return _fit_score(
        "frozen-CLIP frame differences",
        features(IC_TRAIN),
        {s: features(s) for s in eval_splits},
        k,
    )


# --- (e) does the frozen CLIP know where the actor is, and (f) which caption words it reads ----


def actor_centres(paths: WorldPaths, split: str, num_frames: int) -> np.ndarray:
    """Actor box centres ``[N, T, 2]`` in frame-size units at the probes' sampled frames.

    Read from ``world.json``'s per-video boxes, in the order of the split's list file.
    """
    manifest = _manifest(paths)
    boxes = {v["id"]: v["boxes"] for v in manifest["videos"][split]}
    out = []
    for path, _ in split_items(paths, split):
        video_boxes = np.asarray(boxes[path.stem if split != OC_TEST else path.name], np.float32)
        b = video_boxes[_sample_indices(len(video_boxes), num_frames)]
        out.append(np.stack([b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], -1) / 2.0)
    return np.stack(out) / manifest["config"]["frame_size"]


def actor_position_probe(
    paths: WorldPaths,
    eval_splits: Sequence[str] = (IC_TEST, OC_TEST),
    num_frames: int = 8,
    encode=None,
) -> dict[str, RegressionResult]:
    """R² of a ridge regression from frame embeddings to the actor's centre (fit on ic-train).

    ``encode(clips [N, T, H, W, 3] uint8) -> [N, T, D]`` defaults to the world's frozen tiny
    CLIP. A video learner on top of a CLIP whose frames score near 0 here must discover the
    actor by itself before it can learn any motion.
    """
    from sklearn.linear_model import Ridge

    if encode is None:
        model, _ = load_world_clip(paths)
        encode = lambda clips: encode_clips(model, clips, paths.arch).numpy()  # noqa: E731

    def data(split):
        emb = np.asarray(encode(_sampled_clips(paths, split, num_frames)[0]), np.float64)
        centres = actor_centres(paths, split, num_frames)
        return emb.reshape(-1, emb.shape[-1]), centres.reshape(-1, 2)

    regression = Ridge(alpha=1.0).fit(*data(IC_TRAIN))
    out = {}
    for split in eval_splits:
        x, y = data(split)
        out[split] = RegressionResult(
            "frozen-CLIP actor position", split, round(float(regression.score(x, y)), 3), len(y)
        )
    return out


SENSITIVITY_TEMPLATE = "a {look} at the {place} of the {scene}."


def sensitivity_captions(cfg: WorldConfig) -> dict[str, list[str]]:
    """Per word slot, captions (pretraining phrasing) that differ only in that slot."""
    from biasbench.world.actors import COLOURS, SHAPES
    from biasbench.world.captions import place_phrase
    from biasbench.world.scenes import scene_name

    third = cfg.frame_size / 3
    places = [place_phrase((c + 0.5) * third, (r + 0.5) * third, cfg.frame_size)
              for r in range(3) for c in range(3)]  # fmt: skip
    scenes = [scene_name(f, p) for f in cfg.scene_families for p in cfg.palettes]
    base = {"colour": "red", "shape": "triangle", "place": "top left", "scene": scenes[0]}
    values = {"place": places, "colour": list(COLOURS), "shape": list(SHAPES), "scene": scenes}

    def fill(**slot):
        v = {**base, **slot}
        look = f"{v['colour']} {v['shape']}"
        return SENSITIVITY_TEMPLATE.format(look=look, place=v["place"], scene=v["scene"])

    return {slot: [fill(**{slot: x}) for x in xs] for slot, xs in values.items()}


def caption_word_sensitivity(
    paths: WorldPaths, model=None, tokenizer=None
) -> dict[str, WordSensitivity]:
    """Mean pairwise cosine of the text embeddings of captions differing in one slot only.

    Near 1 for a slot means the text tower does not read that word: contrastive pretraining
    then exerted no pull on the image tower to encode it (e.g. where the actor is). ``model``
    and ``tokenizer`` (given together) replace the world's tiny CLIP.
    """
    import torch

    if model is None:
        model, tokenizer = load_world_clip(paths)
    cfg = WorldConfig.from_dict(_manifest(paths)["config"])
    out = {}
    with torch.no_grad():
        for slot, captions in sensitivity_captions(cfg).items():
            emb = torch.nn.functional.normalize(model.encode_text(tokenizer(captions)), dim=-1)
            cos = emb @ emb.T
            off = cos[~torch.eye(len(captions), dtype=torch.bool)]
            out[slot] = WordSensitivity(slot, round(float(off.mean()), 4), len(captions))
    return out
