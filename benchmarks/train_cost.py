"""Training cost of methods on learners, as ratios inside one run (supp. Table 9 shape).

For each method: trainable and total parameters (the learner plus the method's own modules,
e.g. FROSTER's frozen teacher and projectors), forward FLOPs per clip of the learner, peak
memory, and training samples/s (videos per second through the engine's real update step:
recipe gradients, cross-rank reduction, clipping, AdamW) as a ratio to ``plain``.

- Batches are random clips already in memory, so decoding is left out and the figures
  measure the method, not the loader. The learner starts from random weights unless
  ``--weights`` is given: cost does not depend on the weights.
- FLOPs follow the fvcore convention of the papers' tables (one multiply-add = one FLOP),
  attention matmuls included (see :func:`flop_counter`);
  ``train_gflops_per_sample`` counts a whole update (all forward and backward passes, teacher
  included) per training video.
- Each method runs in a fresh subprocess, so its peak memory is its own: on GPU the CUDA
  allocator's peak (``torch.cuda.max_memory_allocated``), on CPU the peak resident set size
  minus the resident size before the learner was built, with glibc told to return freed
  memory at once (``MALLOC_MMAP_THRESHOLD_``), so that it follows live tensors.

- ``--learner`` takes one learner, a comma-separated list or ``all`` (every trainable
  learner); with several learners the default methods are ``plain`` and ``openmede`` (paper
  Table 4's pair) and ratios are to ``plain`` on the same learner. A method that refuses a
  learner (``biasbench list methods --learner L``) is skipped with its reason.
- ``--repeats R`` measures every method R times, round robin (plain, a, b, ..., plain, a,
  b, ...), and reports the median samples/s and peak memory: on a shared machine the load
  drifts, and interleaving spreads it over the methods instead of charging it to one.
- ``extra_mem_mb`` is the method's peak minus ``plain``'s; ``one_copy_mb`` is the size of one
  copy of the trainable parameters plus their gradients (fp32): Open-MeDe's design budget
  for its extra memory (it keeps ``theta`` to restore and ``g_s`` while the query backward runs).

Output: a table, and with ``--out`` a JSON list of ``{method, learner, device,
params_trainable, params_total, gflops_per_clip, peak_mem_mb, samples_per_s, step_s,
ratio_to_plain, extra_mem_mb, one_copy_mb}`` (``step_s``: seconds per optimizer update; plus
``train_gflops_per_sample``, every repeat's samples/s and the settings measured).

Usage::

    python benchmarks/train_cost.py [--learner vclip|all|vclip,xclip] [--methods plain,...]
        [--count-only] [--preset embedded|vit-b16]
        [--device cpu|cuda] [--arch biasbench-tiny-p8-64] [--weights PATH]
        [--batch-size 8] [--frames 8] [--classes 28] [--updates 6] [--repeats 3] [--out cost.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(args: argparse.Namespace) -> dict:
    """Cost of one method (run in its own process)."""
    import torch

    torch.set_num_threads(args.threads)
    import biasbench.harness  # noqa: F401 - imported before the baseline RSS is taken
    from biasbench.config import settings_from
    from biasbench.method import FitContext
    from biasbench.plugins import METHODS
    from biasbench.training.data import Batch
    from biasbench.training.distributed import DistEnv
    from biasbench.training.loop import prepare, update_step

    device = torch.device(args.device)
    base_rss = _rss_mb()
    learner = _learner(args, args.learner)
    cls = METHODS.get(args.one)
    method = cls(
        settings_from(cls.Settings, {"batch_size": args.batch_size, "epochs": 1}, "method")
    )
    ctx = FitContext(
        Path(args.tmp),
        0,
        args.device,
        0,
        False,
        "xd",
        embedded=args.embedded,
        templates=["a video of {}."],
    )
    names = [f"action {i}" for i in range(args.classes)]
    prep = prepare(
        method, learner, names, ctx, DistEnv(device=device), args.updates + args.warmup + 1
    )
    size = learner.data_config.size
    g = torch.Generator().manual_seed(0)

    def batches() -> list[Batch]:
        return [
            Batch(
                torch.randn(args.batch_size, args.frames, 3, size, size, generator=g).to(device),
                torch.randint(args.classes, (args.batch_size,), generator=g).to(device),
                torch.arange(args.batch_size),
            )
            for _ in range(cls.batches_per_update)
        ]

    data = batches()  # reused by every update: memory holds one update's batches, as in training
    clip_flops = forward_flops(learner, data[0].frames[:1])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(args.warmup):  # builds the text classifier, warms allocators
        update_step(method, learner, data, step, 1, prep)
    with flop_counter() as fc:
        update_step(method, learner, data, args.warmup, 1, prep)
    train_flops = fc.get_total_flops() / 2 / (args.batch_size * cls.batches_per_update)
    _sync(device)
    t0 = time.perf_counter()
    for step in range(args.warmup + 1, args.warmup + 1 + args.updates):
        update_step(method, learner, data, step, 1, prep)
    _sync(device)
    elapsed = time.perf_counter() - t0
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10 - base_rss
    modules = list(prep.modules.values())
    every = [p for m in [learner, *modules] for p in m.parameters()]
    return {
        "method": args.one,
        "learner": args.learner,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "params_trainable": sum(p.numel() for p in every if p.requires_grad),
        "params_total": sum(p.numel() for p in every),
        "gflops_per_clip": round(clip_flops / 1e9, 3),
        "train_gflops_per_sample": round(train_flops / 1e9, 3),
        "peak_mem_mb": round(peak, 1),
        "samples_per_s": round(
            args.updates * args.batch_size * cls.batches_per_update / elapsed, 2
        ),
        "step_s": round(elapsed / args.updates, 3),
        "batch_size": args.batch_size,
        "batches_per_update": cls.batches_per_update,
        "frames": args.frames,
        "arch": args.arch,
        "torch_threads": torch.get_num_threads(),
    }


def _settings(args: argparse.Namespace, learner: str | None = None) -> dict:
    """The learner's settings: its shipped preset (``--preset``) with ``--frames`` on top."""
    from biasbench.config import load_config_file

    name = learner or args.learner
    values = {}
    if args.preset:
        values = dict(load_config_file(f"{name}-{args.preset}").get("learner_cfg") or {})
    return {**values, "num_frames": args.frames}


def _learner(args: argparse.Namespace, name: str):
    """Learner ``name`` on ``--arch`` / ``--weights`` with :func:`_settings`, seeded."""
    import torch

    from biasbench.harness import build_learner
    from biasbench.models.backbone import BackboneSpec

    torch.manual_seed(0)
    return build_learner(name, BackboneSpec(args.arch, args.weights), _settings(args, name))


def count(args: argparse.Namespace, name: str) -> dict:
    """Parameters and forward FLOPs of one clip of learner ``name`` (in this process)."""
    import torch

    torch.set_num_threads(args.threads)
    learner = _learner(args, name).eval()
    size = learner.data_config.size
    frames = torch.randn(1, args.frames, 3, size, size)
    return {
        "learner": name,
        "arch": args.arch,
        "frames": args.frames,
        "params_trainable": sum(p.numel() for p in learner.trainable_parameters()),
        "params_total": sum(p.numel() for p in learner.parameters()),
        "gflops_per_clip": round(forward_flops(learner, frames) / 1e9, 3),
    }


def forward_flops(learner, frames) -> float:
    """Multiply-adds of one ``encode_video`` call (fvcore's convention: 1 MAC = 1 FLOP).

    PyTorch's fused ``nn.MultiheadAttention`` inference path (taken under ``no_grad`` by
    frozen blocks) is invisible to the FLOP counter, so it is switched off while counting:
    otherwise frozen CLIP's attention projections would go uncounted.
    """
    import torch

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), flop_counter() as fc:
            learner.encode_video(frames)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return fc.get_total_flops() / 2


def flop_counter():
    """``FlopCounterMode`` that also counts the CPU flash-attention kernel (forward and
    backward), which PyTorch's FLOP registry leaves out: attention matmuls, ``Q K^T`` and
    ``A V``, would otherwise go uncounted on CPU (the GPU kernels are registered)."""
    import torch
    from torch.utils import flop_counter as fcm

    aten = torch.ops.aten
    mapping = {}
    forward = getattr(aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    backward = getattr(aten, "_scaled_dot_product_flash_attention_for_cpu_backward", None)
    if forward is not None:
        mapping[forward] = lambda q, k, v, *a, out_shape=None, **kw: fcm.sdpa_flop_count(q, k, v)
    if backward is not None:
        mapping[backward] = lambda g, q, k, v, *a, out_shape=None, **kw: (
            fcm.sdpa_backward_flop_count(g, q, k, v)
        )
    return fcm.FlopCounterMode(display=False, custom_mapping=mapping)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _parser() -> argparse.ArgumentParser:
    """The command line (a child process gets the same one, plus ``--one METHOD``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--learner", default="vclip", help="a learner, a comma-separated list, or all trainable"
    )
    p.add_argument(
        "--methods",
        default=None,
        help="comma-separated; default: every trainable method (several learners: plain,openmede)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--arch", default="biasbench-tiny-p8-64")
    p.add_argument("--weights", default=None)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--classes", type=int, default=28)
    p.add_argument("--updates", type=int, default=6, help="timed updates per method")
    p.add_argument("--warmup", type=int, default=2, help="untimed updates first (>= 1)")
    p.add_argument("--repeats", type=int, default=1, help="round-robin repeats (median kept)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--embedded",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="method settings of the embedded world (default) or the paper's",
    )
    p.add_argument(
        "--count-only",
        action="store_true",
        help="parameters and forward FLOPs per clip of each learner only (no training)",
    )
    p.add_argument(
        "--preset",
        default=None,
        help="learner settings from the shipped config <learner>-PRESET (embedded, vit-b16)",
    )
    p.add_argument("--out", default=None, help="write the list of results as JSON here")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    p.add_argument("--tmp", default="/tmp/biasbench-train-cost", help=argparse.SUPPRESS)
    return p


def _selection(args) -> tuple[list[str], list[str]]:
    """The learners and methods to measure (``all``: every trainable learner; with
    ``--count-only`` every learner). Methods default to every trainable one for one learner,
    plain and openmede for several."""
    from biasbench.plugins import LEARNERS, METHODS

    if args.learner == "all":
        learners = [
            n
            for n in LEARNERS.names()
            if n != "dummy" and (args.count_only or LEARNERS.get(n).trainable)
        ]
    else:
        learners = [LEARNERS.canonical(n) for n in args.learner.split(",")]
    if args.methods:
        methods = args.methods.split(",")
    elif len(learners) > 1:
        methods = ["plain", "openmede"]
    else:
        methods = [n for n in METHODS.names() if METHODS.get(n).trains]
    return learners, methods


def main(argv: list[str] | None = None) -> list[dict]:
    args = _parser().parse_args(argv)

    if args.one:  # child: one method, JSON on the last line of stdout
        print(json.dumps(measure(args)))
        return []

    from biasbench.plugins import LEARNERS, METHODS

    learners, methods = _selection(args)
    if args.count_only:
        results = [count(args, learner) for learner in learners]
        _print_table(results, ("learner", "params_trainable", "params_total", "gflops_per_clip"))
        _write(results, args.out)
        return results
    if "plain" not in methods:
        methods.insert(0, "plain")
    forwarded = _drop_values(
        sys.argv[1:] if argv is None else argv, ("--out", "--methods", "--repeats", "--learner")
    )
    runs: dict[tuple[str, str], list[dict]] = {}
    for learner in learners:
        for name in methods:
            reason = METHODS.get(name)().refusal(LEARNERS.get(learner))
            if reason:
                print(f"skipped {name} x {learner}: {reason}", file=sys.stderr)
            else:
                runs[(learner, name)] = []
    for _ in range(args.repeats):
        for learner, name in runs:
            cmd = [sys.executable, __file__, *forwarded, "--learner", learner, "--one", name]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=_child_env())
            if proc.returncode != 0:
                raise SystemExit(f"{name} x {learner} failed:\n{proc.stderr[-3000:]}")
            runs[(learner, name)].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    results = [_median_of(r) for r in runs.values()]
    for r in results:
        plain = next(q for q in results if q["method"] == "plain" and q["learner"] == r["learner"])
        r["ratio_to_plain"] = round(r["samples_per_s"] / plain["samples_per_s"], 3)
        r["extra_mem_mb"] = round(r["peak_mem_mb"] - plain["peak_mem_mb"], 1)
        r["one_copy_mb"] = round(2 * 4 * r["params_trainable"] / 2**20, 1)
    _print_table(results)
    _write(results, args.out)
    return results


def _write(results: list[dict], out: str | None) -> None:
    """The results as a JSON list at ``out`` (nothing without ``--out``)."""
    if out:
        with open(out, "w") as f:
            json.dump(results, f, indent=2)


def _child_env() -> dict[str, str]:
    """On CPU, let glibc serve tensors of 64 KiB and more with mmap and give freed memory back
    at once, so that the peak resident size follows live tensor memory instead of allocator
    caching (with the default arenas two runs of the same update differ by tens of MB)."""
    return {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0", **os.environ}


def _median_of(repeats: list[dict]) -> dict:
    """The first repeat's record with the median samples/s and peak memory of all repeats."""
    import statistics

    out = dict(repeats[0])
    out["samples_per_s"] = round(statistics.median(r["samples_per_s"] for r in repeats), 2)
    out["step_s"] = round(statistics.median(r["step_s"] for r in repeats), 3)
    out["peak_mem_mb"] = round(statistics.median(r["peak_mem_mb"] for r in repeats), 1)
    out["samples_per_s_repeats"] = [r["samples_per_s"] for r in repeats]
    return out


def _drop_values(argv: list[str], options: tuple[str, ...]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in options:
            skip = True
            continue
        if any(a.startswith(o + "=") for o in options):
            continue
        out.append(a)
    return out


def _print_table(results: list[dict], cols: tuple[str, ...] | None = None) -> None:
    cols = cols or (
        "learner",
        "method",
        "params_trainable",
        "params_total",
        "gflops_per_clip",
        "train_gflops_per_sample",
        "peak_mem_mb",
        "extra_mem_mb",
        "one_copy_mb",
        "samples_per_s",
        "step_s",
        "ratio_to_plain",
    )
    widths = [max(len(c), *(len(str(r[c])) for r in results)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for r in results:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths, strict=True)))


if __name__ == "__main__":
    main()
