"""Pretrain the tiny CLIP contrastively on single frames with captions (our own loop).

Like real CLIP, the tiny CLIP only ever sees still images: in-context training frames whose
captions name the action (so action words bind to the home scenes — static bias by
construction), plus action-free images of every scene family, held-out ones included (real
CLIP has seen the places SCUBA pastes actors onto). Every caption names the actor's look and
grid position, meant to make frame embeddings keep where the actor is — measured not to, at
the default budget (docs/world.md, "Why"). Loss: symmetric InfoNCE.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biasbench.world.actors import ActorTrack, render, sample_appearance
from biasbench.world.captions import caption, look_phrase, place_phrase
from biasbench.world.config import WorldConfig
from biasbench.world.generator import VideoSample, WorldPlan, rng_for
from biasbench.world.scenes import render_scene, scene_name

_GENERIC_STREAM, _BATCH_STREAM = 90, 91


@dataclass
class CaptionCorpus:
    """Still images and what their captions may say (captions are drawn per step)."""

    frame_size: int
    actor_size: float
    images: list[np.ndarray] = field(default_factory=list)  # uint8 [S, S, 3]
    shapes: list[str] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    centres: list[tuple[float, float]] = field(default_factory=list)
    diameters: list[float] = field(default_factory=list)
    scenes: list[str] = field(default_factory=list)
    actions: list[str | None] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)  # frames of one video share a group

    def __len__(self) -> int:
        return len(self.images)

    def add(
        self,
        image: np.ndarray,
        track: ActorTrack,
        t: int,
        scene: str,
        action: str | None,
        group: int,
    ) -> None:
        """Add frame ``t`` of a track (its actor attributes come from the track)."""
        self.groups.append(group)
        self.images.append(image)
        self.shapes.append(track.shape)
        self.colours.append(track.colour)
        self.centres.append((float(track.centres[t, 0]), float(track.centres[t, 1])))
        self.diameters.append(float(track.diameters[t]))
        self.scenes.append(scene)
        self.actions.append(action)

    def add_video(self, sample: VideoSample, plan: WorldPlan) -> None:
        """Keep ``pretrain_frames_per_video`` evenly spaced frames of an in-context video."""
        cfg = plan.config
        idx = np.linspace(0, cfg.num_frames - 1, cfg.pretrain_frames_per_video).round().astype(int)
        action, group = plan.class_names[sample.spec.label], self.next_group()
        for t in idx:
            self.add(sample.frames[t], sample.track, int(t), sample.spec.scene.name, action, group)

    def next_group(self) -> int:
        return self.groups[-1] + 1 if self.groups else 0


def add_generic_images(corpus: CaptionCorpus, cfg: WorldConfig) -> None:
    """Action-free stills: one actor placed anywhere on a scene of any family.

    Held-out families are included. Images come in groups of ``pretrain_group_size`` that
    share the background and the actor's look and differ only in where (and how big) the
    actor is, like the frames of one video.
    """
    rng = rng_for(cfg, _GENERIC_STREAM)
    scenes = [(f, p) for f in cfg.scene_families for p in cfg.palettes]
    scenes += [(f, None) for f in cfg.held_out_families]
    size, g = cfg.frame_size, cfg.pretrain_group_size
    for _ in range(-(-cfg.pretrain_generic_images // g)):
        family, palette = scenes[rng.integers(len(scenes))]
        background = render_scene(family, palette, rng, size)
        shape, colour, outline = sample_appearance(rng)
        diameters = cfg.actor_size * rng.uniform(0.45, 1.9, g)
        centres = rng.uniform(1 + diameters[:, None] / 2, size - 1 - diameters[:, None] / 2, (g, 2))
        track = ActorTrack(shape, colour, outline, centres, diameters)
        frames, _ = render(track, background)
        group = corpus.next_group()
        for t in range(g):
            corpus.add(frames[t], track, t, scene_name(family, palette), None, group)


def _zoom_crop(images, rng: np.random.Generator, max_zoom: float):
    """Random zoom-in crops (as an evaluation resize + centre crop would make), batched.

    Returns the crops and, per image, (zoom, shift_x, shift_y) in normalised coordinates.
    """
    import torch
    import torch.nn.functional as F

    n = images.shape[0]
    zoom = rng.uniform(1.0, max_zoom, n)
    room = 1.0 - 1.0 / zoom
    shift = rng.uniform(-1.0, 1.0, (n, 2)) * room[:, None]
    theta = np.zeros((n, 2, 3), np.float32)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / zoom
    theta[:, :, 2] = shift
    grid = F.affine_grid(torch.from_numpy(theta), list(images.shape), align_corners=False)
    crops = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return crops, zoom, shift


def _batch_captions(corpus: CaptionCorpus, idx, zoom, shift, rng) -> list[str]:
    size, out = corpus.frame_size, []
    for i, z, (sx, sy) in zip(idx, zoom, shift, strict=True):
        cx, cy = corpus.centres[i]
        # pixel -> normalised [-1, 1] -> crop coordinates -> pixel
        x = ((2 * cx / size - 1 - sx) * z + 1) * size / 2
        y = ((2 * cy / size - 1 - sy) * z + 1) * size / 2
        look = look_phrase(
            corpus.shapes[i], corpus.colours[i], corpus.diameters[i] * z, corpus.actor_size
        )
        place = place_phrase(
            float(np.clip(x, 0, size - 1e-3)), float(np.clip(y, 0, size - 1e-3)), size
        )
        out.append(caption(rng, look, place, corpus.scenes[i], corpus.actions[i]))
    return out


class GroupSampler:
    """Batches of whole groups: ``pretrain_group_size`` frames from each of several videos.

    Frames of one video share scene, action and actor look, so the only way to match them to
    their captions is *where* the actor is: the hard negatives that teach position.
    A ``pretrain_generic_fraction`` share of the groups is action-free.
    """

    def __init__(self, corpus: CaptionCorpus, cfg: WorldConfig):
        groups: dict[int, list[int]] = {}
        for i, g in enumerate(corpus.groups):
            groups.setdefault(g, []).append(i)
        self.size = cfg.pretrain_group_size
        members = [np.array(v) for v in groups.values() if len(v) >= self.size]
        generic = np.array([corpus.actions[m[0]] is None for m in members])
        self.pools = [
            [m for m, gen in zip(members, generic, strict=True) if gen == flag]
            for flag in (False, True)
        ]
        n_groups = cfg.pretrain_batch // self.size
        self.n_generic = round(n_groups * cfg.pretrain_generic_fraction) if self.pools[1] else 0
        self.n_action = n_groups - self.n_generic

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        picks = []
        for pool, n in zip(self.pools, (self.n_action, self.n_generic), strict=True):
            for g in rng.choice(len(pool), n, replace=False) if n else []:
                picks.append(rng.choice(pool[g], self.size, replace=False))
        return np.concatenate(picks)


@dataclass
class PretrainResult:
    """The pretrained weights, the loss log and how long it took."""

    state_dict: dict[str, Any]
    log: list[tuple[int, float]]
    seconds: float
    arch: str

    @property
    def final_loss(self) -> float:
        tail = [loss for _, loss in self.log[-10:]]
        return float(np.mean(tail)) if tail else float("nan")

    def save(self, folder: Path, steps: int, batch: int) -> Path:
        """Write ``tiny_clip.pt`` (a plain state_dict), ``pretrain_log.csv`` and ``info.json``."""
        import torch

        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / "tiny_clip.pt"
        buf = io.BytesIO()  # torch.save reports a full disk as RuntimeError: write it ourselves
        torch.save(self.state_dict, buf)
        weights.write_bytes(buf.getvalue())
        with open(folder / "pretrain_log.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["step", "loss"])
            writer.writerows((s, f"{loss:.5f}") for s, loss in self.log)
        info = {
            "arch": self.arch,
            "steps": steps,
            "batch": batch,
            "final_loss": round(self.final_loss, 5),
            "seconds": round(self.seconds, 2),
        }
        (folder / "info.json").write_text(json.dumps(info, indent=2) + "\n")
        return weights


def _param_groups(model, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        exclude = p.ndim < 2 or "logit_scale" in name or "embedding" in name or "ln" in name
        (no_decay if exclude else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0},
    ]


def _lr_at(step: int, cfg: WorldConfig) -> float:
    if step < cfg.pretrain_warmup:
        return cfg.pretrain_lr * (step + 1) / cfg.pretrain_warmup
    progress = (step - cfg.pretrain_warmup) / max(1, cfg.pretrain_steps - cfg.pretrain_warmup)
    return cfg.pretrain_lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain_tiny_clip(
    corpus: CaptionCorpus, cfg: WorldConfig, progress: bool = True, max_zoom: float = 1.15
) -> PretrainResult:
    """Contrastive (symmetric InfoNCE) pretraining of ``cfg.clip_arch`` from scratch on CPU.

    Batches mix ``1 - pretrain_generic_fraction`` action frames with action-free images;
    each image gets a fresh random zoom crop and a fresh caption every time it is drawn.
    """
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    from biasbench.models.backbone import BackboneSpec, create_clip, data_config_for, get_tokenizer

    torch.manual_seed(cfg.seed)
    model = create_clip(BackboneSpec(cfg.clip_arch, None))
    model.train()
    tokenizer = get_tokenizer(cfg.clip_arch)
    dc = data_config_for(cfg.clip_arch)
    mean = torch.tensor(dc.mean).view(1, 3, 1, 1)
    std = torch.tensor(dc.std).view(1, 3, 1, 1)
    images = torch.from_numpy(np.stack(corpus.images))  # uint8 [N, S, S, 3]
    sampler = GroupSampler(corpus, cfg)
    optimizer = torch.optim.AdamW(
        _param_groups(model, cfg.pretrain_weight_decay),
        lr=cfg.pretrain_lr,
        betas=(0.9, 0.98),
        eps=1e-6,
    )
    rng, log, start = rng_for(cfg, _BATCH_STREAM), [], time.perf_counter()
    bar = tqdm(range(cfg.pretrain_steps), desc="tiny-CLIP pretraining", disable=not progress)
    for step in bar:
        idx = sampler.sample(rng)
        x = images[idx].permute(0, 3, 1, 2).float().div_(255.0)
        x, zoom, shift = _zoom_crop(x, rng, max_zoom)
        tokens = tokenizer(_batch_captions(corpus, idx, zoom, shift, rng))
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, cfg)
        img = model.encode_image((x - mean) / std, normalize=True)
        txt = model.encode_text(tokens, normalize=True)
        logits = model.logit_scale.exp().clamp(max=100) * img @ txt.T
        target = torch.arange(len(idx))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        log.append((step + 1, loss.item()))
        bar.set_postfix(loss=f"{log[-1][1]:.3f}")
    model.eval()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return PretrainResult(state, log, time.perf_counter() - start, cfg.clip_arch)
