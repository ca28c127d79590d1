"""The harness: the one loop that scores any method x learner on any protocol.

resolve protocol -> build method + learner -> per episode: train if the method trains ->
for each evaluation set: classifier from class names x templates, multi-view inference,
per-video predictions -> protocol metrics -> run record (complete marker last).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from biasbench import metrics as M
from biasbench.config import RunConfig, settings_dict, settings_from
from biasbench.datactx import DataContext
from biasbench.errors import ConfigError
from biasbench.method import FitContext, Method
from biasbench.models.backbone import BackboneSpec
from biasbench.models.learner import Learner
from biasbench.plugins import LEARNERS, METHODS, PROTOCOLS
from biasbench.results import Metric, SetResult
from biasbench.runrecord import RunRecord, provenance
from biasbench.vocabulary import build_classifier, templates

if TYPE_CHECKING:
    from biasbench.protocols.base import Protocol

log = logging.getLogger("biasbench")


@dataclass
class RunOutcome:
    """What :func:`run` returns: the record folder, the metrics, and whether it was reused."""

    path: Path
    metrics: list[Metric]
    embedded: bool
    reused: bool = False
    unreadable: int = 0


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_workers(num_workers: int | str) -> int:
    if num_workers == "auto":
        return max(0, min(4, (os.cpu_count() or 1) - 1))
    return int(num_workers)


def build_learner(name: str, spec: BackboneSpec, cfg: dict[str, Any]) -> Learner:
    """Instantiate a registered learner with its settings dataclass."""
    cls = LEARNERS.get(name)
    settings = settings_from(cls.Settings, cfg, f"learner ({name})")
    return cls(spec, settings)


def run_dir_for(cfg: RunConfig, learner: str) -> Path:
    """Deterministic run folder: same config -> same folder (so reruns resume)."""
    return (
        Path(cfg.out)
        / cfg.protocol
        / f"{cfg.method}__{learner}"
        / f"seed{cfg.seed}-{cfg.config_hash()}"
    )


def run(cfg: RunConfig, progress: bool = True) -> RunOutcome:
    """Execute one run end to end and return its outcome (see module docstring)."""
    protocol, method, learner_name = _resolve(cfg)
    data = DataContext.from_config(cfg, progress=progress)
    # fails fast (missing data) before anything heavy
    episodes = protocol.episodes(data, with_train=method.trains)
    spec = protocol.backbone(data)
    spec = BackboneSpec(
        cfg.backbone.get("arch", spec.arch), cfg.backbone.get("weights", spec.weights)
    )
    tmpl = templates(cfg.eval.templates or protocol.templates_for(data))
    device = resolve_device(cfg.device)
    workers = resolve_workers(cfg.num_workers)

    resolved = _resolved_config(cfg, protocol, method, spec, tmpl, episodes)
    path = run_dir_for(cfg, learner_name)
    record = RunRecord.open(path, resolved, provenance(cfg.seed, device))
    if record.is_complete:
        return _reuse(record, protocol.embedded)

    results: dict[str, dict[str, SetResult]] = {}
    for ep in episodes:
        seed = cfg.seed + ep.seed_offset
        done = {r.key: record.load_set(ep.name, r.key) for r in ep.evals}
        if all(v is not None for v in done.values()):
            results[ep.name] = done  # type: ignore[assignment]
            continue
        torch.manual_seed(seed)
        learner = build_learner(learner_name, spec, cfg.learner_cfg).to(device)
        if method.trains and ep.train is not None:
            ctx = FitContext(
                path / "train" / ep.name,
                seed,
                device,
                workers,
                progress,
                ep.train.family,
                embedded=protocol.embedded,
                templates=tmpl,
                evaluate=epoch_evaluator(ep.evals, tmpl, cfg, device, workers, seed),
            )
            learner = method.fit(learner, ep.train, ctx)
        results[ep.name] = {}
        for req in ep.evals:
            res = done.get(req.key)
            if res is None:
                res = evaluate_set(learner, req, tmpl, cfg, device, workers, progress, seed)
                record.save_set(ep.name, res)
            results[ep.name][req.key] = res
    return _complete(record, protocol, results)


def _resolve(cfg: RunConfig) -> tuple[Protocol, Method, str]:
    """Build protocol and method from ``cfg``, canonicalise its names, check the pairing.

    Refuses a method x learner pair the method cannot train, and fixes the number of
    temporal views before the config is hashed (an explicit default = the default).
    """
    protocol_cls = PROTOCOLS.get(cfg.protocol)
    cfg.protocol = PROTOCOLS.canonical(cfg.protocol)
    cfg.method = METHODS.canonical(cfg.method)
    protocol = protocol_cls(settings_from(protocol_cls.Settings, cfg.protocol_cfg, "protocol"))
    method_cls = METHODS.get(cfg.method)
    method: Method = method_cls(settings_from(method_cls.Settings, cfg.method_cfg, "method"))
    learner_name = LEARNERS.canonical(cfg.learner or method_cls.default_learner)
    cfg.learner = learner_name
    reason = method.refusal(LEARNERS.get(learner_name))
    if reason:
        raise ConfigError(f"method {cfg.method} cannot train learner {learner_name}: {reason}")
    if cfg.eval.temporal_views is None:
        cfg.eval.temporal_views = protocol.default_temporal_views()
    return protocol, method, learner_name


def _resolved_config(cfg, protocol, method, spec, tmpl, episodes) -> dict[str, Any]:
    """What the run record's ``config.json`` holds: settings, backbone, every set's source."""
    return {
        "run": cfg.to_dict(),
        "protocol_settings": settings_dict(protocol.settings),
        "method_settings": settings_dict(method.settings),
        "backbone": {"arch": spec.arch, "weights": spec.weights},
        "templates": tmpl,
        "embedded_world": protocol.embedded,
        "episodes": {
            ep.name: {
                "train": None
                if ep.train is None
                else {"videos": len(ep.train.videoset), **ep.train.info},
                "evals": {
                    r.key: {
                        "videos": len(r.videoset),
                        "context": r.context,
                        "repeat_one_frame": r.repeat_one_frame,
                        **r.videoset.info,
                        **r.info,
                    }
                    for r in ep.evals
                },
            }
            for ep in episodes
        },
    }


def _complete(
    record: RunRecord, protocol: Protocol, results: dict[str, dict[str, SetResult]]
) -> RunOutcome:
    """Aggregate the protocol's metrics and write the record's final marker."""
    metrics = protocol.aggregate(results)
    sets = {
        f"{ep}/{key}": {**r.summary(), "unreadable": r.unreadable}
        for ep, per in results.items()
        for key, r in per.items()
    }
    unreadable = sum(len(r.unreadable) for per in results.values() for r in per.values())
    record.complete(metrics, sets, {"embedded_world": protocol.embedded})
    return RunOutcome(record.path, metrics, protocol.embedded, False, unreadable)


def epoch_evaluator(
    evals, template_list: list[str], cfg: RunConfig, device: str, workers: int, seed: int
):
    """``evaluate(learner, epoch)`` for training curves (paper Fig. 3): every set's top-1/5.

    Training calls it after the epochs its ``eval_every`` setting selects (none by default).
    """

    def evaluate(learner: Learner, epoch: int) -> dict[str, dict[str, float]]:
        out = {}
        for req in evals:
            res = evaluate_set(learner, req, template_list, cfg, device, workers, False, seed)
            out[req.key] = {"top1": res.top1(), "top5": res.top5(), "n": res.n}
        return out

    return evaluate


def _reuse(record: RunRecord, embedded: bool) -> RunOutcome:
    import json

    data = json.loads((record.path / "metrics.json").read_text())
    metrics = [Metric(**m) for m in data["metrics"]]
    sets = json.loads((record.path / "sets.json").read_text())
    unreadable = sum(s.get("videos_unreadable", 0) for s in sets.values())
    return RunOutcome(record.path, metrics, embedded, True, unreadable)


@torch.no_grad()
def evaluate_set(
    learner: Learner,
    req,
    template_list: list[str],
    cfg: RunConfig,
    device: str,
    workers: int,
    progress: bool = True,
    seed: int = 0,
) -> SetResult:
    """Multi-view inference over one evaluation set; unreadable videos are listed, not fatal."""
    from tqdm.auto import tqdm

    from biasbench.data.loader import ClipDataset, make_loader

    learner.eval()
    vs = req.videoset
    classifier = build_classifier(learner, vs.class_names, template_list, device=device)
    ds = ClipDataset(
        vs,
        learner.data_config,
        train=False,
        temporal_views=cfg.eval.temporal_views,
        spatial_views=cfg.eval.spatial_views,
        seed=seed,
        repeat_one_frame=req.repeat_one_frame,
    )
    loader = make_loader(ds, cfg.eval.batch_size, shuffle=False, num_workers=workers, seed=seed)
    idx_all, scores_all, emb_all, errors = [], [], [], []
    use_amp = device.startswith("cuda")
    t0 = time.time()
    bar = tqdm(loader, desc=f"eval {req.key}", unit="batch", disable=not progress, leave=False)
    for batch in bar:
        errors.extend(batch["errors"])
        if batch["frames"] is None:
            continue
        frames = batch["frames"].to(device, non_blocking=True)  # [B, V, T, C, H, W]
        b, v = frames.shape[:2]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            emb = learner.encode_video(frames.flatten(0, 1)).float()  # [B*V, D]
        logits = learner.logits(emb, classifier).view(b, v, -1)
        scores_all.append(M.aggregate_views(logits.cpu().numpy(), cfg.eval.aggregation))
        idx_all.append(batch["indices"].numpy())
        if cfg.eval.store_embeddings:
            emb_all.append(learner.video_embedding(emb).view(b, v, -1).mean(1).cpu().numpy())
    log.info("eval %s: %d videos in %.1fs", req.key, len(vs), time.time() - t0)
    idx = np.concatenate(idx_all) if idx_all else np.zeros(0, dtype=np.int64)
    k = len(vs.class_names)
    scores = np.concatenate(scores_all) if scores_all else np.zeros((0, k), np.float32)
    recs = vs.records
    return SetResult(
        key=req.key,
        ids=[recs[i].video_id for i in idx],
        labels=np.asarray([recs[i].label for i in idx], dtype=np.int64),
        scores=scores.astype(np.float32),
        class_names=list(vs.class_names),
        unreadable=[
            {"video_id": recs[i].video_id, "path": str(recs[i].path), "error": msg}
            for i, msg in errors
        ],
        embeddings=np.concatenate(emb_all) if emb_all else None,
    )
