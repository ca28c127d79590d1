"""Evaluation throughput on the embedded world, measured as ratios inside one run.

Three numbers on the same evaluation set (the world's in-context test list) with the same
learner, batch size, views and loader workers:

- decode-only clips/s: the harness's loader iterated without a model (decode + sample +
  transform in workers);
- model-only clips/s: the learner on batches already in memory (encode + classify);
- end-to-end clips/s: :func:`biasbench.harness.evaluate_set`, the code path of ``biasbench run``.

Target (issue 2): end-to-end >= 0.8 x the slower of the other two, i.e. decoding is overlapped
with compute. Usage::

    python benchmarks/eval_throughput.py [--preset small|default] [--workers N] [--views 3]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch


def _loader(vs, learner, args, workers):
    from biasbench.data.loader import ClipDataset, make_loader

    ds = ClipDataset(vs, learner.data_config, train=False, temporal_views=args.views)
    return make_loader(ds, args.batch_size, shuffle=False, num_workers=workers, seed=0)


def decode_only(vs, learner, args, workers) -> float:
    n, t0 = 0, time.perf_counter()
    for batch in _loader(vs, learner, args, workers):
        n += 0 if batch["frames"] is None else len(batch["frames"])
    return n / (time.perf_counter() - t0)


@torch.no_grad()
def model_only(vs, learner, classifier, args) -> float:
    batches = [b["frames"] for b, _ in zip(_loader(vs, learner, args, 0), range(4), strict=False)]
    for frames in batches[:1]:  # warm-up
        learner.encode_video(frames.flatten(0, 1))
    n, t0 = 0, time.perf_counter()
    reps = max(1, args.model_clips // sum(len(b) for b in batches))
    for _ in range(reps):
        for frames in batches:
            b, v = frames.shape[:2]
            emb = learner.encode_video(frames.flatten(0, 1))
            learner.logits(emb, classifier).view(b, v, -1).sum(1)
            n += b
    return n / (time.perf_counter() - t0)


def end_to_end(vs, learner, args, workers) -> float:
    from biasbench.config import RunConfig, apply_overrides
    from biasbench.harness import evaluate_set
    from biasbench.protocol import EvalRequest

    cfg = apply_overrides(
        RunConfig(), {"eval": {"temporal_views": args.views, "batch_size": args.batch_size}}
    )
    t0 = time.perf_counter()
    res = evaluate_set(learner, EvalRequest("ic", vs), ["{}"], cfg, "cpu", workers, False)
    return res.n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="default", choices=["small", "default"])
    p.add_argument("--workers", default="auto")
    p.add_argument("--views", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--model-clips", type=int, default=256)
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    args = p.parse_args(argv)

    from biasbench.data.loader import auto_num_workers
    from biasbench.data.readers.ucf101 import read_ucf101
    from biasbench.harness import build_learner
    from biasbench.models.backbone import BackboneSpec
    from biasbench.vocabulary import build_classifier
    from biasbench.world.build import build_world
    from biasbench.world.config import WorldConfig

    world = build_world(WorldConfig.small() if args.preset == "small" else WorldConfig())
    vs = read_ucf101(world.ucf_root, split=1, subset="test")
    learner = build_learner("clip", BackboneSpec(world.arch, str(world.clip_weights)), {})
    learner.eval()
    classifier = build_classifier(learner, vs.class_names, ["{}"])
    workers = auto_num_workers() if args.workers == "auto" else int(args.workers)

    e2e = end_to_end(vs, learner, args, workers)  # first: also warms file caches for all
    dec = decode_only(vs, learner, args, workers)
    mod = model_only(vs, learner, classifier, args)
    e2e = max(e2e, end_to_end(vs, learner, args, workers))
    slower = min(dec, mod)
    result = {
        "world": args.preset,
        "videos": len(vs),
        "views": args.views,
        "batch_size": args.batch_size,
        "workers": workers,
        "torch_threads": torch.get_num_threads(),
        "cpu_cores": os.cpu_count(),
        "decode_clips_per_s": round(dec, 1),
        "model_clips_per_s": round(mod, 1),
        "end_to_end_clips_per_s": round(e2e, 1),
        "end_to_end_over_slower": round(e2e / slower, 3),
        "target": 0.8,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
