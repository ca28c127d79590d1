"""Build (or reuse) the embedded world on disk: videos, lists, world.json, tiny-CLIP weights.

The world lives in ``<cache>/world-<world_id>``. Building happens in a private temporary
folder next to it; a ``DONE`` marker is written last and the folder is then renamed into
place, so a half-built world never looks complete and concurrent builders cannot corrupt each
other (one wins the rename, the others discard their copy). A per-world lock file makes
concurrent builders wait instead of duplicating work, where the platform supports it.

A world whose tiny CLIP learns from photos (``clip_corpus="photos"``) copies its weights from
``<cache>/clip-<clip_id>``, pretrained once, the same way, for every world that differs only
in its video splits: the static-bias dial sweeps ``p_home`` without retraining the CLIP.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biasbench.errors import RunEnvironmentError
from biasbench.validation import unwritable_reason
from biasbench.world.config import WorldConfig, clip_id, world_id
from biasbench.world.generator import (
    IC_TEST,
    IC_TRAIN,
    OC_TEST,
    WorldPlan,
    generate_video,
    photo_specs,
    plan_world,
)
from biasbench.world.pretrain import CaptionCorpus, add_generic_images, pretrain_tiny_clip
from biasbench.world.writer import (
    SCUBA_DIR,
    UCF_DIR,
    ucf_relpath,
    world_manifest,
    write_json,
    write_mp4,
    write_rawframes,
    write_scuba_list,
    write_ucf_lists,
)

log = logging.getLogger("biasbench.world")
DONE_MARKER = "DONE"
TMP_INFIX = ".tmp-"
#: write failures that are the machine's, not the world's: one line and exit 1 in the CLI
ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


@dataclass(frozen=True)
class WorldPaths:
    """Where a built world lives and which backbone its weights belong to."""

    root: Path
    ucf_root: Path
    scuba_root: Path
    clip_weights: Path
    arch: str
    world_json: Path

    @classmethod
    def at(cls, root: Path, arch: str) -> WorldPaths:
        """The paths of a world folder (built or not)."""
        root = Path(root)
        return cls(
            root=root,
            ucf_root=root / UCF_DIR,
            scuba_root=root / SCUBA_DIR,
            clip_weights=root / "clip" / "tiny_clip.pt",
            arch=arch,
            world_json=root / "world.json",
        )

    @classmethod
    def from_root(cls, root: Path) -> WorldPaths:
        """Open a completed world folder (reads the architecture from ``world.json``)."""
        manifest = json.loads((Path(root) / "world.json").read_text())
        return cls.at(Path(root), manifest["config"]["clip_arch"])


def default_cache_dir() -> Path:
    """``$BIASBENCH_CACHE`` or ``~/.cache/biasbench``."""
    env = os.environ.get("BIASBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "biasbench"


def is_complete(root: Path) -> bool:
    """A world folder counts only once its ``DONE`` marker exists."""
    return (Path(root) / DONE_MARKER).is_file()


def build_world(
    cfg: WorldConfig | None = None, cache_dir: Path | None = None, progress: bool = True
) -> WorldPaths:
    """Return the world for ``cfg`` (default config), building it first unless cached."""
    cfg = cfg or WorldConfig()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final = cache_dir / f"world-{world_id(cfg)}"
    _build_cached(final, lambda tmp: _build_into(tmp, cfg, progress), "the world")
    return WorldPaths.at(final, cfg.clip_arch)


def build_photo_clip(cfg: WorldConfig, cache_dir: Path, progress: bool = True) -> Path:
    """The folder of the photo-pretrained tiny CLIP of ``cfg`` (``clip_corpus="photos"``),
    pretrained once and shared by every world that differs only in its video splits."""
    cid = clip_id(cfg)
    if cid is None:
        raise ValueError("build_photo_clip needs clip_corpus='photos'")
    final = Path(cache_dir) / f"clip-{cid}"
    _build_cached(final, lambda tmp: _pretrain_on_photos(tmp, cfg, progress), "the tiny CLIP")
    return final


def _build_cached(final: Path, make: Callable[[Path], None], what: str) -> None:
    """Run ``make`` into a private temp folder and publish it as ``final`` (see module doc),
    unless a complete ``final`` exists; machine-side write failures become one line."""
    if is_complete(final):
        return
    cache_dir = final.parent
    check_cache_dir(cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with _build_lock(cache_dir / f"{final.name}.lock"):
            if is_complete(final):  # another process finished while we waited
                return
            _remove_stale_temps(final)
            tmp = Path(tempfile.mkdtemp(prefix=final.name + TMP_INFIX, dir=cache_dir))
            try:
                make(tmp)
                _publish(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:
        if e.errno not in ENVIRONMENT_ERRNOS:
            raise
        where = f" ({e.filename})" if e.filename else ""
        raise RunEnvironmentError(
            f"cannot build {what} in {cache_dir}: {e.strerror or e}{where}; free space or "
            "set BIASBENCH_CACHE or --cache-dir to another folder"
        ) from None


def check_cache_dir(cache_dir: Path) -> None:
    """Refuse a cache folder no world can be written to, before generating anything (a
    build takes minutes; failing at its first write would waste them)."""
    reason = unwritable_reason(cache_dir)
    if reason:
        raise RunEnvironmentError(
            f"world cache {cache_dir} is not writable: {reason}; set BIASBENCH_CACHE or "
            "--cache-dir to a writable folder"
        )


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no advisory locks: the atomic rename alone keeps worlds consistent
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _remove_stale_temps(final: Path) -> None:
    """Temp folders of this world left by killed builds (we hold the lock: none is live)."""
    for leftover in final.parent.glob(final.name + TMP_INFIX + "*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _publish(tmp: Path, final: Path) -> None:
    if final.exists() and not is_complete(final):  # an incomplete folder by that name: replace
        trash = final.with_name(final.name + TMP_INFIX + "trash")
        os.replace(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.replace(tmp, final)
    except OSError:
        if not is_complete(final):  # a winner must have published a complete world
            raise


class _Stages:
    """Times build stages; prints them when ``progress`` and logs them always."""

    def __init__(self, progress: bool):
        self.progress, self.seconds = progress, {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 2)
        message = f"[world] {name}: {self.seconds[name]:.1f} s"
        log.info(message)
        if self.progress:
            print(message, file=sys.stderr, flush=True)


def write_dataset(
    root: Path, cfg: WorldConfig, progress: bool = False, stage=None
) -> CaptionCorpus | None:
    """Generate and write videos, frame folders, list files and ``world.json`` under ``root``.

    Returns the pretraining corpus collected on the way (frames of the ic-train videos), or
    ``None`` when the tiny CLIP learns from photos instead. Deterministic: the same config
    writes the same bytes.
    """
    stage = stage or _Stages(progress=False)
    with stage("plan"):
        plan = plan_world(cfg)
    corpus = CaptionCorpus(cfg.frame_size, cfg.actor_size) if cfg.clip_corpus == "videos" else None
    videos: dict[str, list[dict[str, Any]]] = {}
    with stage("generate + write in-context mp4 (UCF101 layout)"):
        for split in (IC_TRAIN, IC_TEST):
            videos[split] = _write_in_context(root, plan, split, corpus, progress)
    with stage("generate + write out-of-context rawframes (SCUBA layout)"):
        videos[OC_TEST] = _write_out_of_context(root, plan, progress)
    with stage("lists + world.json"):
        write_ucf_lists(root, plan)
        write_scuba_list(root, plan)
        write_json(root / "world.json", world_manifest(plan, videos))
    return corpus


def photo_corpus(cfg: WorldConfig, progress: bool = False) -> CaptionCorpus:
    """The photo pretraining corpus: frames of the clips of :func:`photo_specs` plus the
    action-free images, nothing from a video split."""
    plan = plan_world(cfg)
    corpus = CaptionCorpus(cfg.frame_size, cfg.actor_size)
    for spec in _iterate(photo_specs(plan), "photo clips", progress):
        corpus.add_video(generate_video(spec, plan), plan)
    add_generic_images(corpus, cfg)
    return corpus


def _pretrain_on_photos(root: Path, cfg: WorldConfig, progress: bool) -> None:
    stage = _Stages(progress)
    with stage("photo corpus"):
        corpus = photo_corpus(cfg, progress)
    with stage("tiny-CLIP pretraining on photos"):
        result = pretrain_tiny_clip(corpus, cfg, progress=progress)
        result.save(root, cfg.pretrain_steps, cfg.pretrain_batch)
    specs = photo_specs(plan_world(cfg))
    actions = sum(a is not None for a in corpus.actions)
    info = {
        "clip_id": clip_id(cfg),
        "corpus": "photos",
        "photo_clips": len(specs),
        "photo_home_rate": round(sum(s.is_home for s in specs) / len(specs), 4),
        "action_frames": actions,
        "generic_images": len(corpus) - actions,
        "stage_seconds": stage.seconds,
        "versions": _versions(),
    }
    (root / "corpus.json").write_text(json.dumps(info, indent=2) + "\n")
    (root / DONE_MARKER).write_text(f"{clip_id(cfg)}\n")


def _build_into(root: Path, cfg: WorldConfig, progress: bool) -> None:
    stage = _Stages(progress)
    corpus = write_dataset(root, cfg, progress, stage)
    info: dict[str, Any] = {"world_id": world_id(cfg)}
    if corpus is None:  # clip_corpus == "photos": the shared CLIP, pretrained once
        with stage("tiny CLIP (photo corpus, shared)"):
            shared = build_photo_clip(cfg, root.parent, progress)
            shutil.copytree(shared, root / "clip", ignore=shutil.ignore_patterns(DONE_MARKER))
        info["clip_id"] = clip_id(cfg)
    else:
        with stage("action-free pretraining images"):
            add_generic_images(corpus, cfg)
        with stage("tiny-CLIP pretraining"):
            result = pretrain_tiny_clip(corpus, cfg, progress=progress)
            result.save(root / "clip", cfg.pretrain_steps, cfg.pretrain_batch)
    info.update(stage_seconds=stage.seconds, bytes=_bytes(root), versions=_versions())
    (root / "build_info.json").write_text(json.dumps(info, indent=2) + "\n")
    (root / DONE_MARKER).write_text(world_id(cfg) + "\n")


def _iterate(specs: list, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(specs, desc=desc, disable=not progress, leave=False)


def _write_in_context(
    root: Path, plan: WorldPlan, split: str, corpus: CaptionCorpus | None, progress
):
    cfg, metas = plan.config, []
    for spec in _iterate(plan.videos[split], f"{split} videos", progress):
        sample = generate_video(spec, plan)
        write_mp4(
            root / UCF_DIR / "videos" / ucf_relpath(spec, plan), sample.frames, cfg.fps, cfg.crf
        )
        if split == IC_TRAIN and corpus is not None:
            corpus.add_video(sample, plan)
        metas.append(sample.metadata(cfg.frame_size))
    return metas


def _write_out_of_context(root: Path, plan: WorldPlan, progress: bool):
    cfg, metas = plan.config, []
    for spec in _iterate(plan.videos[OC_TEST], "oc_test frame folders", progress):
        sample = generate_video(spec, plan)
        write_rawframes(
            root / SCUBA_DIR / "frames" / spec.video_id, sample.frames, cfg.jpeg_quality
        )
        metas.append(sample.metadata(cfg.frame_size))
    return metas


def _bytes(root: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for part in (UCF_DIR, SCUBA_DIR, "clip", "world.json"):
        p = root / part
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
        sizes[part] = sum(f.stat().st_size for f in files)
    return sizes


def _versions() -> dict[str, str]:
    import av
    import numpy
    import PIL
    import torch

    return {
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "av": av.__version__,
        "pillow": PIL.__version__,
    }
