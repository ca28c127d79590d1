"""Write the world in the real official formats, so the real readers run on it unchanged.

- in-context, UCF101 layout: ``ucf/videos/<ClassDir>/v_<ClassDir>_g<GG>_c<CC>.mp4`` and
  ``ucf/ucfTrainTestlist/{classInd,trainlist01,testlist01}.txt`` (CRLF line ends, 1-based ids);
- out-of-context, SCUBA rawframes: ``scuba/frames/<video_stem>__<k>/frame%06d.jpg`` (from 1)
  and ``scuba/ucf_scuba.txt`` with ``<frame_dir> <num_frames> <label>`` (0-based labels).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from biasbench.world.generator import IC_TEST, IC_TRAIN, OC_TEST, VideoSpec, WorldPlan

UCF_DIR, SCUBA_DIR = "ucf", "scuba"
SPLIT_LIST_DIR = "ucfTrainTestlist"
SCUBA_LIST = "ucf_scuba.txt"
FRAME_TEMPLATE = "frame{:06d}.jpg"
CRLF = "\r\n"


def ucf_relpath(spec: VideoSpec, plan: WorldPlan) -> str:
    """``<ClassDir>/<video_id>.mp4``, the path as the UCF101 split lists spell it."""
    return f"{plan.class_dirs[spec.label]}/{spec.video_id}.mp4"


def write_mp4(path: Path, frames: np.ndarray, fps: int, crf: int) -> None:
    """Encode uint8 RGB frames ``[T, H, W, 3]`` as H.264 mp4 (yuv420p, no B-frames).

    One encoder thread and no B-frames keep the bytes deterministic and every frame directly
    addressable by decord.
    """
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.thread_count = 1
        stream.options = {"crf": str(crf), "preset": "veryfast", "bf": "0", "threads": "1"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def write_rawframes(folder: Path, frames: np.ndarray, quality: int) -> None:
    """Write frames as ``frame000001.jpg`` ... into ``folder`` (numbered from 1, as SCUBA)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / FRAME_TEMPLATE.format(t), quality=quality)


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:  # exact CRLF, whatever the platform
        f.writelines(line + CRLF for line in lines)


def write_ucf_lists(root: Path, plan: WorldPlan) -> None:
    """classInd.txt, trainlist01.txt, testlist01.txt in UCF101's exact format (CRLF)."""
    lists = root / UCF_DIR / SPLIT_LIST_DIR
    _write_lines(lists / "classInd.txt", (f"{i + 1} {d}" for i, d in enumerate(plan.class_dirs)))
    train = sorted(plan.videos[IC_TRAIN], key=lambda s: ucf_relpath(s, plan))
    test = sorted(plan.videos[IC_TEST], key=lambda s: ucf_relpath(s, plan))
    _write_lines(
        lists / "trainlist01.txt", (f"{ucf_relpath(s, plan)} {s.label + 1}" for s in train)
    )
    _write_lines(lists / "testlist01.txt", (ucf_relpath(s, plan) for s in test))


def write_scuba_list(root: Path, plan: WorldPlan) -> None:
    """``ucf_scuba.txt``: ``<frame_dir> <num_frames> <label>`` with 0-based labels."""
    n = plan.config.num_frames
    lines = (f"{s.video_id} {n} {s.label}" for s in sorted(plan.videos[OC_TEST], key=_vid))
    _write_lines(root / SCUBA_DIR / SCUBA_LIST, lines)


def _vid(spec: VideoSpec) -> str:
    return spec.video_id


def world_manifest(plan: WorldPlan, videos: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The content of ``world.json``: config, vocabulary, scenes, per-video metadata, counts."""
    from biasbench.world.config import FORMAT_VERSION, world_id

    cfg = plan.config
    return {
        "format_version": FORMAT_VERSION,
        "world_id": world_id(cfg),
        "config": cfg.to_dict(),
        "class_names": plan.class_names,
        "class_dirs": plan.class_dirs,
        "home_scenes": [s.name for s in plan.home_scenes],
        "home_looks": [f"{colour} {shape}" for shape, colour in plan.home_looks],
        "scenes": {
            "in_context": [f"{f}/{p}" for f in cfg.scene_families for p in cfg.palettes],
            "held_out": list(cfg.held_out_families),
        },
        "layout": {
            "ucf_videos": f"{UCF_DIR}/videos/<ClassDir>/<video_id>.mp4",
            "ucf_lists": f"{UCF_DIR}/{SPLIT_LIST_DIR}/",
            "scuba_frames": f"{SCUBA_DIR}/frames/<video_id>__<k>/{FRAME_TEMPLATE.format(1)}..",
            "scuba_list": f"{SCUBA_DIR}/{SCUBA_LIST}",
            "oc_design": "SCUBA videos re-render the first oc_test_per_class IC test tracks of each "
            "class on scuba_variants held-out backgrounds (distinct families per video)",
        },
        "counts": {split: len(v) for split, v in plan.videos.items()},
        "home_rate": {
            split: round(float(np.mean([s.is_home for s in plan.videos[split]])), 4)
            for split in (IC_TRAIN, IC_TEST)
        },
        "videos": videos,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Compact, key-sorted JSON (deterministic bytes)."""
    path.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
