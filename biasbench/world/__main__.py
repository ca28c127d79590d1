"""``python -m biasbench.world [--small] [--cache DIR] [--probes]``: build a world, check it.

A thin shell over :func:`build_world` and the probes, for measuring a world by hand; the
project's CLI is the user-facing entry point.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from biasbench.world.config import WorldConfig


def main(argv: list[str] | None = None) -> int:
    """Build (or reuse) the world; with ``--probes`` print the validity probes as JSON."""
    parser = argparse.ArgumentParser(prog="python -m biasbench.world", description=__doc__)
    parser.add_argument("--small", action="store_true", help="the reduced test preset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cache", type=Path, default=None, help="cache folder (default: $BIASBENCH_CACHE)"
    )
    parser.add_argument("--probes", action="store_true", help="run the validity probes")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from biasbench.world import probes
    from biasbench.world.build import build_world

    cfg = WorldConfig.small(seed=args.seed) if args.small else WorldConfig(seed=args.seed)
    start = time.perf_counter()
    paths = build_world(cfg, cache_dir=args.cache)
    print(f"world: {paths.root} ({time.perf_counter() - start:.1f} s)")
    if args.probes:
        results = {}
        for name, run in (
            ("zero_shot_ic", lambda: probes.frozen_clip_zero_shot(paths, "ic_test")),
            ("zero_shot_oc", lambda: probes.frozen_clip_zero_shot(paths, "oc_test")),
            ("motion", lambda: probes.motion_probe(paths)),
            ("background_free_frame", lambda: probes.background_free_frame_probe(paths)),
            ("clip_frame_differences", lambda: probes.clip_motion_probe(paths)),
            ("clip_actor_position", lambda: probes.actor_position_probe(paths)),
            ("caption_word_sensitivity", lambda: probes.caption_word_sensitivity(paths)),
            ("class_text_similarity", lambda: probes.class_text_similarity(paths)),
        ):
            t = time.perf_counter()
            out = run()
            out = out if isinstance(out, dict) else {out.split: out}
            results[name] = {key: r.as_dict() for key, r in out.items()}
            results[name]["seconds"] = round(time.perf_counter() - t, 1)
            print(name, json.dumps(results[name]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
