"""The one training loop. Every trainable method runs through :func:`train`.

Per update: seed the step, set the scheduled learning rate, zero the gradients, let the recipe
fill them from ``batches_per_update`` consecutive batches, average gradients (and the logged
statistics) over ranks in one all-reduce, clip at L2 norm ``grad_clip``, AdamW step, log.
Per epoch: the recipe's ``on_epoch_end``, the epoch's weights (``checkpoints/epoch_XXX.pt``)
and the resumable state (``checkpoints/last.pt``), the epoch log, and the optional evaluation
(``ctx.evaluate``, rank 0). At the end: the recipe's ``finalize`` and the CLIP ensemble.

Resuming: when ``checkpoints/last.pt`` exists the run continues from it. Data order and clip
randomness are functions of ``(seed, epoch, index)``, the generators of an update are seeded
from ``(seed, step)`` (and the rank), and the learning rate is a function of the step, so a
killed and resumed run computes the same updates as an uninterrupted one — bit for bit on CPU.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from biasbench.errors import ConfigError
from biasbench.method import FitContext
from biasbench.models.learner import Learner
from biasbench.training import checkpoint as ckpt
from biasbench.training.context import StepContext, TrainRun
from biasbench.training.data import Batch, ShardedBatchOrder
from biasbench.training.distributed import (
    DistEnv,
    barrier,
    broadcast_parameters,
    derived_seed,
    init_distributed,
    reduce_grads_and_stats,
)
from biasbench.training.ensemble import apply_clip_ensemble
from biasbench.training.logs import TrainLogger
from biasbench.training.optim import build_optimizer, set_lr
from biasbench.training.schedule import WarmupCosine
from biasbench.training.text import TrainingText

if TYPE_CHECKING:
    from biasbench.protocol import TrainRequest
    from biasbench.training.recipe import Recipe

log = logging.getLogger("biasbench.training")
RESOLVED = "resolved_settings.json"


@dataclasses.dataclass
class Position:
    """Where training stands: the next epoch (1-based), global batches done in it, updates."""

    epoch: int = 1
    batch: int = 0
    step: int = 0


@dataclasses.dataclass
class Prepared:
    """A recipe set up on a learner: the run, its modules, parameters, optimizer, schedule."""

    run: TrainRun
    learner: Learner
    modules: dict[str, torch.nn.Module]
    params: list[torch.nn.Parameter]
    learner_params: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    schedule: WarmupCosine


def prepare(
    recipe: Recipe,
    learner: Learner,
    class_names: list[str],
    ctx: FitContext,
    env: DistEnv,
    updates_per_epoch: int,
) -> Prepared:
    """Resolve settings, place the learner, and set the recipe up (no data, no resume).

    Shared by :func:`train` and ``benchmarks/train_cost.py``: settings for the protocol
    family / world, activation checkpointing and bf16 autocast on GPU, the training text,
    the recipe's ``configure_learner`` and ``setup``, AdamW groups and the schedule.
    """
    settings = recipe.resolved_settings(ctx.family, ctx.embedded)
    recipe.settings = settings
    learner.to(env.device).train()
    on_gpu = env.device.type == "cuda"
    if settings.grad_checkpointing or (settings.grad_checkpointing is None and on_gpu):
        learner.set_grad_checkpointing(True)
    bf16 = settings.precision == "bf16" or (settings.precision == "auto" and on_gpu)
    recipe.configure_learner(learner)
    text = TrainingText(
        learner,
        class_names,
        _templates(ctx),
        env.device,
        trainable=recipe.text_trainable() or bool(getattr(learner, "text_trainable", False)),
        descriptions=recipe.class_descriptions(),
    )
    run = TrainRun(
        settings=settings,
        env=env,
        ctx=ctx,
        text=text,
        class_names=list(class_names),
        initial_state=ckpt.trainable_state(learner),
        updates_per_epoch=updates_per_epoch,
        total_updates=updates_per_epoch * settings.epochs,
        autocast=functools.partial(
            torch.autocast, device_type=env.device.type, dtype=torch.bfloat16, enabled=bf16
        ),
        bf16=bf16,
    )
    recipe.setup(learner, run)
    modules = recipe.modules()
    for m in modules.values():
        m.to(env.device)
    named = _trainable_named(learner, modules)
    if not named:
        raise ConfigError(
            f"{recipe.name}: learner {type(learner).__name__} has no trainable parameters"
        )
    params = [p for _, p in named]
    broadcast_parameters(params, env)
    optimizer = build_optimizer(
        named, settings.lr, settings.weight_decay, settings.adam_betas, settings.adam_eps
    )
    schedule = WarmupCosine.for_epochs(
        settings.lr,
        settings.min_lr,
        settings.warmup_start_lr,
        settings.warmup_epochs,
        settings.epochs,
        updates_per_epoch,
    )
    learner_params = [p for p in learner.parameters() if p.requires_grad]
    return Prepared(run, learner, modules, params, learner_params, optimizer, schedule)


def train(recipe: Recipe, learner: Learner, request: TrainRequest, ctx: FitContext) -> Learner:
    """Train ``learner`` with ``recipe`` on ``request.videoset``; return the model to evaluate."""
    env = init_distributed(ctx.device)
    run_dir = Path(ctx.run_dir)
    settings = recipe.resolved_settings(ctx.family, ctx.embedded)
    loader, order, dataset = _training_data(request.videoset, learner, settings, recipe, ctx, env)
    k, per_epoch = recipe.batches_per_update, order.updates_per_epoch
    prep = prepare(recipe, learner, list(request.videoset.class_names), ctx, env, per_epoch)
    run, modules, optimizer = prep.run, prep.modules, prep.optimizer
    pos = _resume(run_dir, learner, modules, optimizer, recipe)
    if env.is_main:
        _write_resolved(run_dir, recipe, run, order, dataset, pos)
    logger = TrainLogger(run_dir, env.is_main, resume_step=pos.step, resume_epoch=pos.epoch - 1)

    for epoch in range(pos.epoch, settings.epochs + 1):
        first = pos.batch // k if epoch == pos.epoch else 0
        row = _train_epoch(recipe, learner, loader, order, dataset, prep, epoch, first, logger)
        recipe.on_epoch_end(learner, epoch, run)
        end = Position(epoch + 1, 0, epoch * per_epoch)
        if env.is_main:
            ckpt.atomic_save(ckpt.trainable_state(learner), ckpt.epoch_path(run_dir, epoch))
        _save_last(run_dir, prep, recipe, end)
        logger.epoch(row, end.step)
        _evaluate_epoch(learner, epoch, ctx, settings, env, logger, end.step)
        barrier(env)

    learner = recipe.finalize(learner, run)
    learner = apply_clip_ensemble(
        learner, run, settings.clip_ensemble, settings.clip_ensemble_ratio
    )
    logger.close()
    return learner


def _train_epoch(
    recipe,
    learner,
    loader,
    order,
    dataset,
    prep: Prepared,
    epoch: int,
    first: int,
    logger: TrainLogger,
) -> dict[str, Any]:
    """Updates ``first..`` of ``epoch``; returns the epoch's log row."""
    run, env = prep.run, prep.run.env
    settings, k, per_epoch = run.settings, recipe.batches_per_update, run.updates_per_epoch
    dataset.set_epoch(epoch - 1)
    order.skip(first * k)
    totals: dict[str, float] = {}
    unreadable, seen, t_epoch = 0, 0.0, time.perf_counter()
    batches_iter = iter(loader)
    show = run.ctx.progress and env.is_main
    bar = _progress(range(first, per_epoch), show, epoch, settings.epochs)
    for u in bar:
        t0 = time.perf_counter()
        raw = [next(batches_iter) for _ in range(k)]
        unreadable += sum(len(b["errors"]) for b in raw)
        batches = [Batch.from_collated(b, env.device) for b in raw]
        step = (epoch - 1) * per_epoch + u
        stats = update_step(recipe, learner, batches, step, epoch, prep)
        samples = stats.pop("samples") * env.world_size
        seen += samples
        for key, v in stats.items():
            totals[key] = totals.get(key, 0.0) + v
        if settings.log_every and (step % settings.log_every == 0 or u == per_epoch - 1):
            rate = samples / max(time.perf_counter() - t0, 1e-9)
            logger.step({"epoch": epoch, "step": step, **stats, "samples_per_s": rate})
        if show:
            bar.set_postfix(loss=f"{stats.get('loss', float('nan')):.3f}", lr=f"{stats['lr']:.2e}")
        every = settings.checkpoint_every
        if every and (step + 1) % every == 0 and u + 1 < per_epoch:
            _save_last(run.run_dir, prep, recipe, Position(epoch, (u + 1) * k, step + 1))
    done, elapsed = per_epoch - first, time.perf_counter() - t_epoch
    return {
        "epoch": epoch,
        **{key: v / max(done, 1) for key, v in totals.items()},
        "updates": done,
        "samples": int(seen),
        "seconds": elapsed,
        "samples_per_s": seen / max(elapsed, 1e-9),
        "unreadable": unreadable,
    }


def update_step(
    recipe: Recipe, learner: Learner, batches: list[Batch], step: int, epoch: int, prep: Prepared
) -> dict[str, float]:
    """One update: recipe gradients -> one cross-rank average -> clip -> AdamW step.

    Returns the logged scalars (averaged over ranks): ``lr``, the recipe's statistics,
    ``samples`` (videos per rank) and ``grad_norm`` (before clipping).
    """
    run, env = prep.run, prep.run.env
    seed = run.ctx.seed
    torch.manual_seed(derived_seed(seed, env.rank, step))
    generator = torch.Generator().manual_seed(derived_seed(seed, step))
    lr = prep.schedule(step)
    set_lr(prep.optimizer, lr)
    prep.optimizer.zero_grad(set_to_none=True)
    sc = StepContext(step, epoch, lr, generator, run, prep.params, prep.learner_params)
    stats = dict(recipe.compute_grads(learner, batches, sc))
    stats["samples"] = float(sum(b.size for b in batches))
    stats = reduce_grads_and_stats(prep.params, stats, env)
    grad_norm = torch.nn.utils.clip_grad_norm_(prep.params, run.settings.grad_clip)
    prep.optimizer.step()
    return {"lr": lr, **stats, "grad_norm": float(grad_norm)}


def _training_data(videoset, learner, settings, recipe, ctx, env):
    from biasbench.data.decode import FrameCache
    from biasbench.data.loader import ClipDataset, make_loader
    from biasbench.data.transforms import TrainAugment

    dataset = ClipDataset(
        videoset,
        learner.data_config,
        train=True,
        seed=ctx.seed,
        augment=TrainAugment(flip_p=settings.flip_p),
        frame_cache=FrameCache() if settings.frame_cache else None,
    )
    labels = np.array([r.label for r in videoset.records], dtype=np.int64)
    order = ShardedBatchOrder(
        dataset,
        settings.batch_size,
        ctx.seed,
        env.rank,
        env.world_size,
        recipe.batches_per_update,
        arrange=lambda perm, epoch: recipe.arrange_epoch(perm, labels, epoch),
    )
    loader = make_loader(
        dataset,
        order.per_rank,
        shuffle=False,
        num_workers=ctx.num_workers,
        seed=ctx.seed + env.rank,
        sampler=order,
    )
    return loader, order, dataset


def _templates(ctx: FitContext) -> list[str]:
    from biasbench.vocabulary import templates

    return templates(ctx.templates if ctx.templates else "openvclip")


def _trainable_named(learner: Learner, modules: dict[str, torch.nn.Module]):
    named = [(n, p) for n, p in learner.named_parameters() if p.requires_grad]
    for key, m in modules.items():
        named += [(f"{key}.{n}", p) for n, p in m.named_parameters() if p.requires_grad]
    return named


def _resume(run_dir: Path, learner, modules, optimizer, recipe: Recipe) -> Position:
    path = ckpt.last_path(run_dir)
    if not path.is_file():
        return Position()
    state = ckpt.load(path)
    if state.get("format") != ckpt.FORMAT:
        raise RuntimeError(f"{path}: checkpoint format {state.get('format')} != {ckpt.FORMAT}")
    ckpt.load_trainable_state(learner, state["learner"])
    for key, m in modules.items():
        ckpt.load_trainable_state(m, state["modules"].get(key, {}))
    optimizer.load_state_dict(state["optimizer"])
    recipe.load_state_dict(state["recipe"])
    ckpt.restore_rng(state["rng"])
    pos = Position(**state["position"])
    log.info("resuming %s at epoch %d, update %d", run_dir, pos.epoch, pos.step)
    return pos


def _save_last(run_dir: Path, prep: Prepared, recipe: Recipe, pos: Position) -> None:
    """Write ``checkpoints/last.pt`` (rank 0): everything needed to continue from ``pos``."""
    if not prep.run.env.is_main:
        return
    ckpt.atomic_save(
        {
            "format": ckpt.FORMAT,
            "position": dataclasses.asdict(pos),
            "learner": ckpt.trainable_state(prep.learner),
            "modules": {k: ckpt.trainable_state(m) for k, m in prep.modules.items()},
            "optimizer": prep.optimizer.state_dict(),
            "recipe": recipe.state_dict(),
            "rng": ckpt.capture_rng(),
        },
        ckpt.last_path(run_dir),
    )


def _evaluate_epoch(learner, epoch, ctx: FitContext, settings, env, logger, step) -> None:
    if ctx.evaluate is None or not settings.eval_every or epoch % settings.eval_every:
        return
    if env.is_main:
        results = ctx.evaluate(learner, epoch)
        logger.epoch_eval(epoch, results, step)
    learner.train()


def _write_resolved(run_dir: Path, recipe, run: TrainRun, order, dataset, pos) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "method": getattr(recipe, "name", type(recipe).__name__),
        "settings": dataclasses.asdict(run.settings),
        "family": run.ctx.family,
        "embedded": run.ctx.embedded,
        "world_size": run.env.world_size,
        "per_rank_batch": order.per_rank,
        "batches_per_update": recipe.batches_per_update,
        "updates_per_epoch": run.updates_per_epoch,
        "total_updates": run.total_updates,
        "train_videos": len(dataset),
        "templates": run.text.template_list,
        "text_trainable": run.text.trainable,
        "device": str(run.env.device),
        "bf16_autocast": run.bf16,
        "resumed_from": dataclasses.asdict(pos) if pos.step else None,
    }
    tmp = run_dir / f".{RESOLVED}.tmp"
    tmp.write_text(json.dumps(info, indent=2, default=str))
    tmp.replace(run_dir / RESOLVED)


def _progress(it, enabled: bool, epoch: int, epochs: int):
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=f"train {epoch}/{epochs}", unit="upd", leave=False)
