"""The harness: the one loop that scores any method x learner on any protocol.

resolve (check every setting, read the annotation files, hash the identity; nothing heavy)
-> open the run record (one writer) -> per episode: train if the method trains -> for each
evaluation set: classifier from class names x templates, multi-view inference, per-video
predictions written in one step -> protocol metrics -> run record (complete marker last).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from biasbench import metrics as M
from biasbench.config import RunConfig, settings_from
from biasbench.method import FitContext
from biasbench.models.backbone import BackboneSpec
from biasbench.models.learner import Learner
from biasbench.plugins import LEARNERS
from biasbench.protocol import Episode
from biasbench.resolve import ResolvedRun, resolve
from biasbench.results import Metric, SetResult
from biasbench.runrecord import RunRecord, provenance, read_record
from biasbench.vocabulary import build_classifier

log = logging.getLogger("biasbench")


@dataclass
class RunOutcome:
    """What :func:`run` returns: the record folder, the metrics, and whether it was reused."""

    path: Path
    metrics: list[Metric]
    embedded: bool
    reused: bool = False
    unreadable: int = 0
    resolved: ResolvedRun | None = None


def build_learner(name: str, spec: BackboneSpec, cfg: dict[str, Any]) -> Learner:
    """Instantiate a registered learner with its settings dataclass."""
    cls = LEARNERS.get(name)
    settings = settings_from(cls.Settings, cfg, f"learner ({name})")
    return cls(spec, settings)


def run(cfg: RunConfig, progress: bool = True, wait: bool = False) -> RunOutcome:
    """Execute one run end to end and return its outcome (see module docstring).

    ``cfg`` is resolved (checked, hashed) before anything heavy and is not modified. A
    complete record of the same identity is reused; a partial one is resumed. ``wait``:
    queue behind another process writing the same run instead of refusing.
    """
    res = resolve(cfg, progress=progress)
    record = RunRecord.open(
        res.path, res.record_config(), provenance(res.seed, res.device), wait=wait
    )
    try:
        if record.is_complete:
            return _reuse(record, res)
        results = {ep.name: _run_episode(res, ep, record, progress) for ep in res.episodes}
        return _complete(record, res, results)
    finally:
        record.close()


def _run_episode(
    res: ResolvedRun, ep: Episode, record: RunRecord, progress: bool
) -> dict[str, SetResult]:
    """Train (if needed) and score one episode's sets; finished sets are loaded, not redone."""
    seed = res.seed + ep.seed_offset
    done = {r.key: record.load_set(ep.name, r.key) for r in ep.evals}
    if all(v is not None for v in done.values()):
        return done  # type: ignore[return-value]
    torch.manual_seed(seed)
    learner = LEARNERS.get(res.learner)(res.spec, res.learner_settings).to(res.device)
    tmpl = list(res.templates)
    if res.method.trains and ep.train is not None:
        ctx = FitContext(
            res.path / "train" / ep.name,
            seed,
            res.device,
            res.workers,
            progress,
            ep.train.family,
            embedded=res.embedded,
            templates=tmpl,
            evaluate=epoch_evaluator(ep.evals, tmpl, res.cfg, res.device, res.workers, seed),
        )
        learner = res.method.fit(learner, ep.train, ctx)
    out: dict[str, SetResult] = {}
    for req in ep.evals:
        result = done.get(req.key)
        if result is None:
            result = evaluate_set(
                learner, req, tmpl, res.cfg, res.device, res.workers, progress, seed
            )
            record.save_set(ep.name, result, {"context": req.context})
        out[req.key] = result
    return out


def _complete(
    record: RunRecord, res: ResolvedRun, results: dict[str, dict[str, SetResult]]
) -> RunOutcome:
    """Aggregate the protocol's metrics and write the record's final marker."""
    metrics = res.protocol.aggregate(results)
    sets = {
        f"{ep}/{key}": {**r.summary(), "unreadable": r.unreadable}
        for ep, per in results.items()
        for key, r in per.items()
    }
    unreadable = sum(len(r.unreadable) for per in results.values() for r in per.values())
    extra = {"embedded_world": res.embedded, "report": res.protocol.report.to_dict()}
    record.complete(metrics, sets, extra)
    return RunOutcome(record.path, metrics, res.embedded, False, unreadable, res)


def epoch_evaluator(
    evals, template_list: list[str], cfg: RunConfig, device: str, workers: int, seed: int
):
    """``evaluate(learner, epoch)`` for training curves (paper Fig. 3): every set's top-1/5.

    Training calls it after the epochs its ``eval_every`` setting selects (none by default).
    """

    def evaluate(learner: Learner, epoch: int) -> dict[str, dict[str, float]]:
        out = {}
        for req in evals:
            r = evaluate_set(learner, req, template_list, cfg, device, workers, False, seed)
            out[req.key] = {"top1": r.top1(), "top5": r.top5(), "n": r.n}
        return out

    return evaluate


def _reuse(record: RunRecord, res: ResolvedRun) -> RunOutcome:
    stored = read_record(record.path)
    unreadable = sum(s.get("videos_unreadable", 0) for s in stored.sets.values())
    return RunOutcome(record.path, stored.metrics, stored.embedded, True, unreadable, res)


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
