"""Fixture run records for the report tests, written with the real run-record writer.

Records are schema 2 (run id, variant id, identity, the protocol's report declaration);
:func:`write_v1_run` writes the schema-1 layout by hand, for the tests that old records
still load. Predictions follow fixed arithmetic patterns (no random numbers), so the tables
built from them are pinned by a golden file; a few metrics are hand-made numbers
(base-to-novel, cross-dataset) and one stored HM is deliberately wrong, to show that tables
recompute it.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from biasbench.config import RunConfig
from biasbench.protocols.ooc import ooc_metrics
from biasbench.reports.families import METRIC_ORDER
from biasbench.results import Metric, SetResult
from biasbench.runrecord import (
    MARKER,
    SCHEMA_VERSION,
    RunRecord,
    atomic_write_bytes,
    atomic_write_json,
    short_hash,
)

if TYPE_CHECKING:
    from biasbench.reports.report import ReportResult

CLASSES = [
    "apply eye makeup",
    "archery",
    "baby crawling",
    "balance beam",
    "band marching",
    "basketball",
    "bench press",
    "biking",
]
MALICIOUS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> $1 {{title}}'
DATA_ROOT = "/data/biasbench"

# what each fixture protocol declares (biasbench.protocol.ReportSpec): family, dataset
REPORTS = {
    "ucf-scuba": ("ooc", "UCF"),
    "ucf-hat": ("hat", "UCF"),
    "k400-scuba": ("closed", "K400"),
    "b2n-ucf": ("b2n", "UCF"),
    "b2n-hmdb": ("b2n", "HMDB"),
    "xd-ucf": ("xd", "UCF"),
    "xd-hmdb": ("xd", "HMDB"),
    "synth-scuba": ("ooc", "World"),
    "synth-xd": ("xd", "World"),
}


def report_of(protocol: str) -> dict[str, object]:
    """The report dict a fixture protocol's records carry (``other`` for unknown names)."""
    family, dataset = REPORTS.get(protocol, ("other", protocol))
    return {"family": family, "dataset": dataset, "metric_order": METRIC_ORDER.get(family, [])}


def make_set(
    key: str,
    n: int,
    rate: float,
    shift: int,
    top5_rate: float = 1.0,
    ids_from: str = "",
    embeddings: np.ndarray | None = None,
    class_names: list[str] | None = None,
) -> SetResult:
    """``n`` videos cycling over the classes; video i is right when a fixed arithmetic
    pattern (``(7 i + shift) mod 20``) falls below ``round(20 * rate)``; wrong ones still hit the
    top-5 at ``top5_rate``."""
    names = class_names or CLASSES
    k = len(names)
    labels = np.arange(n) % k
    scores = np.zeros((n, k), np.float32)
    for i, lab in enumerate(labels):
        pattern = (7 * i + shift) % 20
        if pattern < round(20 * rate):
            scores[i, lab] = 1.0
        else:
            scores[i, (lab + 1) % k] = 1.0
            scores[i, lab] = 0.5 if pattern < round(20 * top5_rate) else -1.0
    ids = [f"{ids_from or key}_v{i:03d}" for i in range(n)]
    return SetResult(key, ids, labels, scores, list(names), embeddings=embeddings)


def write_run(
    root: Path,
    protocol: str,
    method: str,
    learner: str,
    seed: int,
    sets: dict[str, SetResult],
    metrics: list[Metric] | None = None,
    embedded: bool = False,
    complete: bool = True,
    contexts: dict[str, str] | None = None,
    device: str = "cpu (2 cores)",
    folder_method: str | None = None,
    epochs: list[tuple[int, str, float]] | None = None,
    data_root: str = DATA_ROOT,
    report: dict[str, object] | None = None,
    world: dict[str, object] | None = None,
) -> Path:
    """One schema-2 run record; ``sets`` are keyed by set name (episode ``main``); metrics
    default to the out-of-context protocol's own (``ooc_metrics``). The identity holds the
    names, the seed and the data root (its annotation files hashed as the root's name), so
    a different ``data_root`` makes a different variant, as do ``world`` overrides."""
    cfg = RunConfig(method=method, protocol=protocol, learner=learner, seed=seed, out=str(root))
    identity = {
        "protocol": protocol,
        "method": method,
        "learner": learner,
        "seed": seed,
        "data": {
            "roots": {"ucf": data_root},
            "annotations": {f"{data_root}/ucf/testlist01.txt": short_hash(data_root, 64)},
        },
    }
    if world is not None:
        identity["world"] = world
    report = report_of(protocol) if report is None else report
    config = {
        "schema_version": SCHEMA_VERSION,
        "run_id": short_hash(identity, 12),
        "variant_id": short_hash({k: v for k, v in identity.items() if k != "seed"}, 12),
        "identity": identity,
        "run": cfg.to_dict(),
        "embedded_world": embedded,
        "report": report,
        "templates": ["a video of {}."],
        "episodes": {"main": {"train": None, "evals": _evals(sets, contexts)}},
    }
    path = (
        root / protocol / f"{folder_method or method}__{learner}" / f"seed{seed}-{config['run_id']}"
    )
    rec = RunRecord.open(path, config, _provenance(seed, device))
    try:
        for key, s in sets.items():
            rec.save_set(
                "main", s, {"context": config["episodes"]["main"]["evals"][key]["context"]}
            )
        _write_epochs(path, epochs)
        if complete:
            metrics = ooc_metrics(sets) if metrics is None else metrics
            summaries = {f"main/{k}": {**s.summary(), "unreadable": []} for k, s in sets.items()}
            rec.complete(metrics, summaries, {"embedded_world": embedded, "report": report})
    finally:
        rec.close()
    return path


def write_v1_run(
    root: Path,
    protocol: str,
    method: str,
    learner: str,
    seed: int,
    sets: dict[str, SetResult],
    metrics: list[Metric] | None = None,
    **run: object,
) -> Path:
    """A schema-1 record, by hand: no schema version, run id, identity or report; sets as
    ``predictions/main/<set>.npz``; the folder named ``seed<N>-<config hash>``. ``run``
    overrides run settings (``data_root``, ``out``, ...)."""
    cfg = RunConfig(method=method, protocol=protocol, learner=learner, seed=seed, out=str(root))
    settings = {**cfg.to_dict(), **run}
    path = root / protocol / f"{method}__{learner}" / f"seed{seed}-{short_hash(settings)}"
    config = {
        "run": settings,
        "embedded_world": False,
        "episodes": {"main": {"train": None, "evals": _evals(sets, None)}},
    }
    atomic_write_json(path / "config.json", config)
    atomic_write_json(path / "provenance.json", _provenance(seed, "cpu (2 cores)"))
    for key, s in sets.items():
        arrays = {
            "ids": np.asarray(s.ids, dtype=str),
            "labels": s.labels.astype(np.int64),
            "scores": s.scores.astype(np.float32),
            "class_names": np.asarray(s.class_names, dtype=str),
            "unreadable": np.asarray(json.dumps([])),
        }
        (path / "predictions" / "main").mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path / "predictions" / "main" / f"{key}.npz", **arrays)
    metrics = ooc_metrics(sets) if metrics is None else metrics
    atomic_write_json(path / "sets.json", {f"main/{k}": s.summary() for k, s in sets.items()})
    atomic_write_json(path / "metrics.json", {"metrics": [m.to_dict() for m in metrics]})
    atomic_write_bytes(path / MARKER, b"2025-12-01T12:00:00+0000")
    return path


def _evals(sets: dict[str, SetResult], contexts: dict[str, str] | None) -> dict[str, dict]:
    contexts = contexts or {"ic": "in", "oc": "out", "scufo": "out"}
    return {
        k: {"videos": s.n, "context": contexts.get(k, "in"), "repeat_one_frame": k == "scufo"}
        for k, s in sets.items()
    }


def _provenance(seed: int, device: str) -> dict[str, object]:
    return {
        "biasbench_version": "0.1.0",
        "git_commit": f"c0ffee{seed}",
        "seed": seed,
        "device": device,
        "libraries": {"numpy": np.__version__},
        "started": f"2026-01-0{seed + 1}T12:00:00+0000",
    }


def _write_epochs(path: Path, epochs: list[tuple[int, str, float]] | None) -> None:
    if not epochs:
        return
    lines = ["epoch,set,top1,top5,n"] + [
        f"{ep},{name},{v:.2f},{min(100, v + 20):.2f},40" for ep, name, v in epochs
    ]
    atomic_write_bytes(
        path / "train" / "main" / "epoch_eval.csv", ("\n".join(lines) + "\n").encode()
    )


# (method, learner, per-set accuracy rates by seed offset)
OOC_METHODS = {
    "openmede": ("vclip", {"ic": 0.85, "oc": 0.35, "scufo": 0.10}),
    "openvclip": ("vclip", {"ic": 0.85, "oc": 0.25, "scufo": 0.20}),
    "zero-shot": ("clip", {"ic": 0.75, "oc": 0.10, "scufo": 0.10}),
}


def _ooc_sets(
    rates: dict[str, float], seed: int, n: int = 40, embed: int = 0
) -> dict[str, SetResult]:
    sets = {}
    for key, base in rates.items():
        rate = base + 0.05 * (seed - 1) if seed < 3 else base  # seed-to-seed spread
        emb = _embeddings(n, rate, seed) if embed else None
        ids_from = "oc" if key == "scufo" else ""
        sets[key] = make_set(
            key,
            n,
            rate,
            shift=seed * 3,
            top5_rate=min(1.0, rate + 0.25),
            ids_from=ids_from,
            embeddings=emb,
        )
    return sets


def _embeddings(n: int, tightness: float, seed: int, dim: int = 16) -> np.ndarray:
    rng = np.random.default_rng(seed + 100)
    centres = np.eye(len(CLASSES), dim) * 4.0
    labels = np.arange(n) % len(CLASSES)
    return (centres[labels] + rng.normal(scale=2.5 * (1.2 - tightness), size=(n, dim))).astype(
        np.float32
    )


def build_runs(root: Path, malicious: bool = True) -> Path:
    """The fixture: real protocols of every family, the embedded world, one incomplete run,
    a training-cost benchmark file and (``malicious``) a run whose strings are HTML/JS
    payloads. Returns ``root``."""
    for method, (learner, rates) in OOC_METHODS.items():
        seeds = [0] if method == "zero-shot" else [0, 1, 2]
        for seed in seeds:
            epochs = None
            if method != "zero-shot":
                lift = 10.0 if method == "openmede" else 0.0
                epochs = [
                    (ep, s, base + ep * 2 + lift - seed)
                    for ep in (2, 4, 6, 8)
                    for s, base in (("ic", 60.0), ("oc", 10.0))
                ]
            write_run(
                root, "ucf-scuba", method, learner, seed, _ooc_sets(rates, seed), epochs=epochs
            )
            hat = {
                "close": make_set("close", 20, rates["oc"] + 0.3, shift=seed),
                "far": make_set("far", 30, rates["oc"] + 0.4, shift=seed + 1),
            }
            write_run(
                root,
                "ucf-hat",
                method,
                learner,
                seed,
                hat,
                metrics=_hat_metrics(hat),
                contexts={"close": "out", "far": "out"},
            )
            closed = {k: v + 0.05 for k, v in rates.items() if k != "scufo"}
            write_run(root, "k400-scuba", method, learner, seed, _ooc_sets(closed, seed))
    # an interrupted run: never in a table
    write_run(
        root,
        "ucf-scuba",
        "openmede",
        "vclip",
        3,
        _ooc_sets(OOC_METHODS["openmede"][1], 3),
        complete=False,
    )
    # base-to-novel and cross-dataset: hand-made numbers (stored hm deliberately wrong)
    b2n = {"openmede": (94.9, 78.5), "openvclip": (94.6, 77.2), "zero-shot": (78.5, 63.6)}
    xd = {"openmede": (83.7, 1.3), "openvclip": (83.3, 1.4), "zero-shot": (73.8, 0.6)}
    for method, (base, novel) in b2n.items():
        learner = OOC_METHODS[method][0]
        for protocol, delta in (("b2n-ucf", 0.0), ("b2n-hmdb", -25.0)):
            metrics = [
                Metric("base_top1", base + delta, n=100, std=0.4),
                Metric("novel_top1", novel + delta, n=100, std=0.6),
                Metric("hm", 0.0, n=100, note="deliberately wrong: tables recompute it"),
            ]
            sets = {"base": make_set("base", 16, 0.9, 0), "novel": make_set("novel", 16, 0.7, 0)}
            write_run(root, protocol, method, learner, 0, sets, metrics=metrics)
        mean, std = xd[method]
        for protocol, delta in (("xd-ucf", 0.0), ("xd-hmdb", -29.1)):
            metrics = [Metric("top1", mean + delta, n=3783, std=std)]
            write_run(
                root,
                protocol,
                method,
                learner,
                0,
                {"test": make_set("test", 16, 0.8, 0)},
                metrics=metrics,
            )
    # the embedded world, with embeddings for t-SNE and per-epoch evaluations
    for method in ("openmede", "openvclip"):
        learner, rates = OOC_METHODS[method]
        for seed in (0, 1):
            epochs = [
                (ep, s, base + ep * (3 if method == "openmede" else 2) - seed)
                for ep in (1, 2, 3, 4)
                for s, base in (("ic", 70.0), ("oc", 20.0))
            ]
            tight = {"openmede": 0.9, "openvclip": 0.5}[method]
            sets = _ooc_sets(rates, seed, n=48, embed=1)
            for key, s in sets.items():
                s.embeddings = _embeddings(s.n, tight * (1.0 if key == "ic" else 0.75), seed)
            write_run(
                root, "synth-scuba", method, learner, seed, sets, embedded=True, epochs=epochs
            )
    costs = [
        {
            "method": m,
            "learner": "vclip",
            "device": "cuda (NVIDIA H100)",
            "params_trainable": p,
            "params_total": t,
            "gflops_per_clip": 152.11,
            "peak_mem_mb": mem,
            "samples_per_s": sps,
            "ratio_to_plain": sps / 30.0,
        }
        for m, p, t, mem, sps in (
            ("plain", 149.62e6, 149.62e6, 14478.0, 30.0),
            ("openvclip", 149.62e6, 149.62e6, 20572.0, 29.5),
            ("froster", 149.62e6, 299.77e6, 21576.0, 25.1),
            ("openmede", 149.62e6, 149.62e6, 16988.0, 29.8),
        )
    ]
    atomic_write_json(root / "benchmarks" / "training_cost.json", costs)
    if malicious:
        add_malicious_run(root)
    return root


def _hat_metrics(sets: dict[str, SetResult]) -> list[Metric]:
    return [
        Metric(f"{k}_top{t}", getattr(s, f"top{t}")(), n=s.n)
        for k, s in sets.items()
        for t in (1, 5)
    ]


def add_malicious_run(root: Path) -> Path:
    """A run whose method name, device and commit are HTML/JS (and matplotlib) payloads."""
    sets = {
        k: make_set(k, 40, r, shift=1, ids_from="oc" if k == "scufo" else "")
        for k, r in {"ic": 0.9, "oc": 0.6, "scufo": 0.1}.items()
    }
    path = write_run(
        root, "ucf-scuba", MALICIOUS, "clip", 0, sets, device=MALICIOUS, folder_method="evil"
    )
    prov = json.loads((path / "provenance.json").read_text())
    prov["git_commit"] = MALICIOUS
    atomic_write_json(path / "provenance.json", prov)
    return path


@functools.cache
def shared_report() -> tuple[Path, Path, ReportResult]:
    """Runs and a full report written once per test process (both report test modules use
    it): ``(runs folder, report folder, result)``."""
    from biasbench.reports.report import ReportOptions, write_report

    root = Path(tempfile.mkdtemp(prefix="biasbench-report-test-"))
    atexit.register(shutil.rmtree, root, True)
    runs = build_runs(root / "runs")
    result = write_report(runs, root / "report", ReportOptions(tsne_points=200))
    return runs, root / "report", result
