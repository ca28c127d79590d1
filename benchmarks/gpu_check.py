"""The GPU check: one script, run once on a machine with a CUDA GPU, writes one JSON file.

Steps (each collects its failures instead of stopping; the JSON lists them):

1. **Real-size smoke test**: every registered learner with a ``<learner>-vit-b16`` preset is
   built on ViT-B/16 with random weights; a trainable one runs one Open-MeDe update through
   the training engine (``prepare`` + ``update_step``: support and query batch of one
   8x224 clip each), then every one scores one clip against a 2-class text classifier.
   The same functions run on the CPU in ``tests/test_real_size.py``; on a GPU the engine's
   GPU defaults apply (bf16 autocast, activation checkpointing).
2. **Training cost**: learner ``vclip`` at ViT-B/16, 8 frames at 224, bf16 autocast, random
   weights, synthetic clips already on the device, batches of ``--batch-size`` videos:
   samples/s (videos per second through whole updates) and peak memory
   (``torch.cuda.max_memory_allocated`` since the learner was built) for ``plain`` and for
   ``openmede``, one after the other in this process, and their ratio.
3. **Evaluation throughput including decoding**: ``--eval-videos`` synthetic H.264 mp4
   videos at 320x240 written with PyAV to a temporary folder, scored by
   :func:`biasbench.harness.evaluate_set` (decord decoding in the loader's workers,
   ``--views`` temporal views, bf16 on GPU) with ``vclip``: videos per second end to end,
   the second of two passes (the first warms files and kernels). Like
   ``benchmarks/eval_throughput.py``, "clips/s" counts videos, each scored on ``--views``
   clips of 8 frames.

Output: ``--out`` (default ``gpu_check.json``) with the command, device name, torch / CUDA /
cuDNN versions, the settings and every figure. On a machine without CUDA the script refuses
with one line, unless ``--allow-cpu`` (tiny iteration counts; with ``--quick`` also the
tiny CLIP and the learners' ``-embedded`` presets, so that the script itself can be tested
in seconds). Usage::

    python benchmarks/gpu_check.py --out gpu_check.json
    python benchmarks/gpu_check.py --allow-cpu --quick --out /tmp/gpu_check.json
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

ARCH = "ViT-B-16"
QUICK_ARCH = "biasbench-tiny-p8-64"
CLASSES = ["a person doing action one", "a person doing action two"]
TEMPLATES = ["a video of {}."]


# --- the real-size path (shared with tests/test_real_size.py) ----------------------------------


def presets(kind: str = "vit-b16") -> list[tuple[str, dict[str, Any]]]:
    """``(learner, learner settings)`` of every registered learner with a shipped
    ``<learner>-<kind>`` preset."""
    from biasbench.config import config_presets, load_config_file
    from biasbench.plugins import LEARNERS

    out = []
    for name in config_presets():
        if not name.endswith(f"-{kind}"):
            continue
        cfg = load_config_file(name)
        if cfg.get("learner") in LEARNERS.names():
            out.append((str(cfg["learner"]), dict(cfg.get("learner_cfg") or {})))
    return out


def vclip_settings(kind: str) -> dict[str, Any]:
    """The settings of ``vclip-<kind>``, the learner the cost figures are measured on."""
    return dict(presets(kind))["vclip"]


def build(name: str, settings: dict[str, Any], arch: str, device: torch.device):
    """Learner ``name`` with ``settings`` on ``arch`` with random weights (seed 0)."""
    from biasbench.harness import build_learner
    from biasbench.models.backbone import BackboneSpec

    torch.manual_seed(0)
    return build_learner(name, BackboneSpec(arch, None), settings).to(device)


def trains_with_openmede(name: str) -> bool:
    """Does Open-MeDe train learner ``name`` (it has trainable parameters, no refusal)?"""
    from biasbench.plugins import LEARNERS, METHODS

    cls = LEARNERS.get(name)
    return bool(cls.trainable) and not METHODS.get("openmede")().refusal(cls)


def prepared(method: str, learner, device: torch.device, batch_size: int, run_dir: Path):
    """``(method, Prepared)`` as the training loop sets them up (paper settings, family
    ``xd``, no warm-up), for ``update_step``."""
    from biasbench.config import settings_from
    from biasbench.method import FitContext
    from biasbench.plugins import METHODS
    from biasbench.training.distributed import DistEnv
    from biasbench.training.loop import prepare

    cls = METHODS.get(method)
    values = {"batch_size": batch_size, "epochs": 1, "warmup_epochs": 0.0}
    recipe = cls(settings_from(cls.Settings, values, "method"))
    ctx = FitContext(run_dir, 0, str(device), 0, False, "xd", templates=TEMPLATES)
    return recipe, prepare(recipe, learner, CLASSES, ctx, DistEnv(device=device), 1000)


def clips(learner, n: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    """``n`` random clips at the learner's frames and crop size, on ``device``."""
    cfg = learner.data_config
    g = torch.Generator().manual_seed(seed)
    shape = (n, cfg.num_frames, 3, cfg.size, cfg.size)
    return torch.randn(*shape, generator=g).to(device)


def batches(recipe, learner, batch_size: int, device: torch.device, seed: int = 0) -> list:
    """One update's batches (``recipe.batches_per_update`` of ``batch_size`` clips)."""
    from biasbench.training.data import Batch

    out = []
    for b in range(recipe.batches_per_update):
        labels = torch.arange(b, b + batch_size) % len(CLASSES)
        out.append(Batch(clips(learner, batch_size, device, seed + b), labels.to(device), labels))
    return out


def openmede_update(learner, device: torch.device, run_dir: Path) -> dict[str, float]:
    """One Open-MeDe update through the engine on a support and a query batch of one clip."""
    from biasbench.training.loop import update_step

    recipe, prep = prepared("openmede", learner, device, 1, run_dir)
    return update_step(recipe, learner, batches(recipe, learner, 1, device), 0, 1, prep)


@torch.no_grad()
def evaluation_batch(learner, device: torch.device) -> torch.Tensor:
    """Logits of one clip against the 2-class text classifier (eval mode; bf16 on GPU, as
    the harness evaluates)."""
    from biasbench.vocabulary import build_classifier

    learner.eval()
    classifier = build_classifier(learner, CLASSES, TEMPLATES, device=str(device))
    on_gpu = device.type == "cuda"
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_gpu):
        emb = learner.encode_video(clips(learner, 1, device, seed=9)).float()
    return learner.logits(emb, classifier)


# --- the check's steps -------------------------------------------------------------------------


def smoke(args: argparse.Namespace, device: torch.device, tmp: Path) -> list[dict[str, Any]]:
    """Step 1: every learner's preset (or those of ``--learners``) built, updated once by
    Open-MeDe, scored once."""
    out = []
    wanted = set(args.learners.split(",")) if args.learners else None
    for name, settings in presets(args.preset):
        if wanted is not None and name not in wanted:
            continue
        row: dict[str, Any] = {"learner": name, "arch": args.arch, "ok": False}
        t0 = time.perf_counter()
        _reset_peak(device)
        try:
            learner = build(name, settings, args.arch, device)
            if trains_with_openmede(name):
                stats = openmede_update(learner, device, tmp / f"smoke-{name}")
                row["update_loss"] = round(float(stats["loss"]), 4)
            logits = evaluation_batch(learner, device)
            row["ok"] = bool(torch.isfinite(logits).all()) and tuple(logits.shape) == (1, 2)
        except Exception as e:  # collected and reported, as the harness does
            row["error"] = f"{type(e).__name__}: {e}"
            row["traceback"] = traceback.format_exc(limit=8)
        row["seconds"] = round(time.perf_counter() - t0, 2)
        row["peak_mem_mb"] = _peak_mb(device)
        out.append(row)
        learner = None
        _free(device)
    return out


def training_cost(args: argparse.Namespace, device: torch.device, tmp: Path) -> dict[str, Any]:
    """Step 2: samples/s and peak memory of plain and openmede on vclip, and their ratio."""
    from biasbench.training.loop import update_step

    settings = vclip_settings(args.preset)
    out: dict[str, Any] = {"learner": "vclip", "arch": args.arch, "batch_size": args.batch_size}
    for method in ("plain", "openmede"):
        learner = build("vclip", settings, args.arch, device)
        _reset_peak(device)
        recipe, prep = prepared(method, learner, device, args.batch_size, tmp / method)
        data = batches(recipe, learner, args.batch_size, device)
        for step in range(args.warmup):
            update_step(recipe, learner, data, step, 1, prep)
        _sync(device)
        t0 = time.perf_counter()
        for step in range(args.warmup, args.warmup + args.updates):
            update_step(recipe, learner, data, step, 1, prep)
        _sync(device)
        seconds = time.perf_counter() - t0
        videos = args.updates * args.batch_size * recipe.batches_per_update
        out[method] = {
            "samples_per_s": round(videos / seconds, 2),
            "step_s": round(seconds / args.updates, 4),
            "peak_mem_mb": _peak_mb(device),
            "batches_per_update": recipe.batches_per_update,
            "bf16": prep.run.bf16,
            "grad_checkpointing": bool(
                prep.run.settings.grad_checkpointing
                or (prep.run.settings.grad_checkpointing is None and device.type == "cuda")
            ),
        }
        learner = recipe = prep = data = None
        _free(device)
    plain, ours = out["plain"], out["openmede"]
    out["openmede_over_plain_samples_per_s"] = round(
        ours["samples_per_s"] / plain["samples_per_s"], 3
    )
    if plain["peak_mem_mb"] is not None:
        out["openmede_over_plain_peak_mem"] = round(ours["peak_mem_mb"] / plain["peak_mem_mb"], 3)
    return out


def eval_throughput(args: argparse.Namespace, device: torch.device, tmp: Path) -> dict[str, Any]:
    """Step 3: videos/s of the harness's evaluation, decoding included, on synthetic mp4s."""
    from biasbench.config import RunConfig, apply_overrides
    from biasbench.data.loader import auto_num_workers
    from biasbench.harness import evaluate_set
    from biasbench.protocol import EvalRequest

    vs = synthetic_videos(tmp / "videos", args.eval_videos, args.eval_frames)
    learner = build("vclip", vclip_settings(args.preset), args.arch, device).eval()
    cfg = apply_overrides(
        RunConfig(), {"eval": {"temporal_views": args.views, "batch_size": args.eval_batch_size}}
    )
    workers = auto_num_workers() if args.workers is None else args.workers
    rates = []
    for _ in range(2):  # the first pass warms the file cache, decoder and kernels
        t0 = time.perf_counter()
        res = evaluate_set(
            learner, EvalRequest("eval", vs), TEMPLATES, cfg, str(device), workers, False
        )
        _sync(device)
        rates.append(res.n / (time.perf_counter() - t0))
    return {
        "learner": "vclip",
        "arch": args.arch,
        "videos": len(vs),
        "frames_per_video": args.eval_frames,
        "video_size": "320x240",
        "views": args.views,
        "batch_size": args.eval_batch_size,
        "workers": workers,
        "unreadable": len(res.unreadable),
        "eval_clips_per_s": round(rates[-1], 2),
        "first_pass_clips_per_s": round(rates[0], 2),
    }


def synthetic_videos(root: Path, n: int, frames: int):
    """``n`` H.264 mp4 videos at 320x240 (a moving square on a coloured gradient), as a
    VideoSet of two classes."""
    from biasbench.data.videoset import VideoRecord, VideoSet
    from biasbench.world.writer import write_mp4

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, 320, dtype=np.float32)[None, :, None]
    records = []
    for i in range(n):
        colour = rng.uniform(40, 215, size=3).astype(np.float32)
        video = np.empty((frames, 240, 320, 3), np.uint8)
        for t in range(frames):
            img = colour * (0.6 + 0.4 * ramp) * np.ones((240, 1, 1), np.float32)
            x, y = (7 * t + 31 * i) % 280, (3 * t + 17 * i) % 200
            img[y : y + 40, x : x + 40] = 255.0
            video[t] = img.astype(np.uint8)
        path = root / f"video{i:04d}.mp4"
        write_mp4(path, video, fps=25, crf=23)
        records.append(VideoRecord(path.stem, path, i % len(CLASSES)))
    return VideoSet("synthetic", "test", records, list(CLASSES), root)


# --- helpers -----------------------------------------------------------------------------------


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mb(device: torch.device) -> float | None:
    """CUDA's peak allocated memory since the last reset (None on the CPU)."""
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def environment(device: torch.device) -> dict[str, Any]:
    """Device name and library versions."""
    on_gpu = device.type == "cuda"
    return {
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if on_gpu else None,
        "gpu_count": torch.cuda.device_count(),
        "torch_threads": torch.get_num_threads(),
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu_check.json", help="the JSON file to write")
    p.add_argument("--allow-cpu", action="store_true", help="run without CUDA (tiny counts)")
    p.add_argument("--quick", action="store_true", help="tiny CLIP and -embedded presets")
    p.add_argument("--batch-size", type=int, default=8, help="videos per batch (training)")
    p.add_argument("--updates", type=int, default=10, help="timed updates per method")
    p.add_argument("--warmup", type=int, default=3, help="untimed updates first")
    p.add_argument("--eval-videos", type=int, default=96)
    p.add_argument("--eval-frames", type=int, default=64, help="frames of each synthetic video")
    p.add_argument("--eval-batch-size", type=int, default=16)
    p.add_argument("--views", type=int, default=3, help="temporal views per video")
    p.add_argument("--workers", type=int, default=None, help="loader workers (default: auto)")
    p.add_argument("--skip", default="", help="comma-separated steps to skip: smoke,train,eval")
    p.add_argument("--learners", default="", help="step 1 on these learners only (default: all)")
    return p


def _settings(args: argparse.Namespace, on_gpu: bool) -> argparse.Namespace:
    """The resolved run settings: ViT-B/16 presets, or the tiny CLIP with ``--quick``;
    tiny counts on the CPU."""
    args.arch, args.preset = (QUICK_ARCH, "embedded") if args.quick else (ARCH, "vit-b16")
    if not on_gpu:
        args.batch_size, args.updates, args.warmup = min(args.batch_size, 2), 1, 1
        args.eval_videos, args.eval_frames = min(args.eval_videos, 4), min(args.eval_frames, 16)
        args.eval_batch_size, args.views = min(args.eval_batch_size, 2), min(args.views, 2)
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    on_gpu = torch.cuda.is_available()
    if not on_gpu and not args.allow_cpu:
        raise SystemExit(
            "gpu_check: no CUDA device here; run it on a machine with a GPU "
            "(--allow-cpu runs it on the CPU with tiny counts, for testing the script)"
        )
    args = _settings(args, on_gpu)
    device = torch.device("cuda" if on_gpu else "cpu")
    skip = {s for s in args.skip.split(",") if s}
    doc: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/gpu_check.py", *argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **environment(device),
        "arch": args.arch,
        "weights": "random (cost and shapes do not depend on the weights)",
        "frames": vclip_settings(args.preset).get("num_frames"),
    }
    steps = {"smoke": smoke, "train": training_cost, "eval": eval_throughput}
    with tempfile.TemporaryDirectory(prefix="biasbench-gpu-check-") as tmp:
        for name, step in steps.items():
            if name in skip:
                continue
            t0 = time.perf_counter()
            try:
                doc[name] = step(args, device, Path(tmp))
            except Exception as e:  # one failed step leaves the others their figures
                doc[name] = {
                    "error": f"{type(e).__name__}: {e}",
                    "traceback": traceback.format_exc(),
                }
            doc[f"{name}_seconds"] = round(time.perf_counter() - t0, 1)
    doc["failures"] = _failures(doc)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in doc.items() if k != "smoke"}, indent=2, default=str))
    print(f"wrote {args.out}; {len(doc['failures'])} failure(s)", file=sys.stderr)
    return doc


def _failures(doc: dict[str, Any]) -> list[str]:
    """One line per failed step or learner."""
    out = [
        f"smoke {r['learner']}: {r.get('error', 'non-finite or misshapen logits')}"
        for r in doc.get("smoke", [])
        if isinstance(r, dict) and not r.get("ok")
    ]
    out += [f"{k}: {v['error']}" for k, v in doc.items() if isinstance(v, dict) and "error" in v]
    return out


if __name__ == "__main__":
    main()
