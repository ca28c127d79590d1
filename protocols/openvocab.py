"""Open-vocabulary shapes shared by the real and embedded protocols (no protocol lives here).

- Base-to-novel (``b2n-*``, ``synth-b2n``): one episode per shot seed, evaluating the base
  classes with the base vocabulary and the novel classes with the novel one; the seed's
  :class:`Halves` come from the official split files or from the most-frequent-half rule
  (:func:`rebuild_halves`); :func:`b2n_metrics` reports base / novel top-1 and their HM.
- Cross-dataset (``xd-*``, ``synth-xd``): :func:`xd_metrics`, top-1 / top-5 mean ± std over
  the evaluation splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from biasbench import metrics as M
from biasbench.data.videoset import VideoSet
from biasbench.protocol import Episode, EvalRequest, TrainRequest
from biasbench.results import Metric, SetResult

BASE, NOVEL = "base", "novel"
B2N_ORDER = ("base_top1", "novel_top1", "hm", "hm_of_means")
XD_ORDER = ("top1", "top5")


@dataclass(frozen=True)
class Halves:
    """What one seed trains on and the two evaluation sets, with where they came from."""

    train: VideoSet | None
    base_val: VideoSet
    novel_val: VideoSet
    info: dict[str, Any]


def b2n_metrics(results: dict[str, dict[str, SetResult]]) -> list[Metric]:
    """Per seed base/novel top-1 and HM; reported means over seeds (std) and HM of the means."""
    seeds = sorted(results)
    base = [results[s][BASE] for s in seeds]
    novel = [results[s][NOVEL] for s in seeds]
    hms = [M.harmonic_mean(b.top1(), n.top1()) for b, n in zip(base, novel, strict=True)]
    b_mean, b_std = M.mean_std([b.top1() for b in base])
    n_mean, n_std = M.mean_std([n.top1() for n in novel])
    h_mean, h_std = M.mean_std(hms)
    nb, nn = min(b.n for b in base), min(n.n for n in novel)
    over = f"over {len(seeds)} seeds"
    out = [
        Metric("base_top1", b_mean, n=nb, std=b_std, note=f"base classes, base vocabulary; {over}"),
        Metric("novel_top1", n_mean, n=nn, std=n_std, note=f"novel vocabulary; mean {over}"),
        Metric("hm", h_mean, n=min(nb, nn), std=h_std, note=f"HM per seed, then the mean {over}"),
        Metric(
            "hm_of_means",
            M.harmonic_mean(b_mean, n_mean),
            n=min(nb, nn),
            note="HM of base_top1 and novel_top1 (the means)",
        ),
    ]
    for s, b, n, h in zip(seeds, base, novel, hms, strict=True):
        out += [
            Metric(f"base_top1_{s}", b.top1(), n=b.n),
            Metric(f"novel_top1_{s}", n.top1(), n=n.n),
            Metric(f"hm_{s}", h, n=min(b.n, n.n)),
        ]
    return out


def rebuild_halves(
    train_full: VideoSet | None,
    val_full: VideoSet,
    split_list: VideoSet,
    shot_seed: int,
    shots: int,
) -> Halves:
    """Most-frequent-half classes of ``split_list``'s training videos and ``shots`` seeded
    shots per base class from ``train_full`` (None: no training set wanted)."""
    from biasbench.data.readers.b2n import most_frequent_half, sample_shots

    base, novel = most_frequent_half(split_list)
    train = sample_shots(train_full, base, shots, seed=shot_seed) if train_full else None
    info = {
        "split_source": "most-frequent-half rule + seeded shot sampling (no official files)",
        "frequency_list": split_list.info.get("list_file")
        or split_list.info.get("list_files")
        or split_list.split,
        "tie_break": "higher class index first (the reader's documented rule)",
        "base_classes": [val_full.class_names[c] for c in base],
        "novel_classes": [val_full.class_names[c] for c in novel],
        "shots": shots,
        "shot_seed": shot_seed,
    }
    return Halves(
        train,
        val_full.subset(base, f"{val_full.name}-base"),
        val_full.subset(novel, f"{val_full.name}-novel"),
        info,
    )


def seed_episode(n: int, halves: Halves, family: str) -> Episode:
    """Episode ``seed<n>``: train on the shots, evaluate base and novel with their own
    vocabularies; the training seed is the run's seed + n - 1."""
    info = {**halves.info, "shot_split": n}
    evals = [
        EvalRequest(BASE, halves.base_val, "in", info={**info, "vocabulary": BASE}),
        EvalRequest(NOVEL, halves.novel_val, "in", info={**info, "vocabulary": NOVEL}),
    ]
    train = TrainRequest(halves.train, family, info) if halves.train is not None else None
    return Episode(f"seed{n}", train, evals, seed_offset=n - 1)


def xd_metrics(sets: dict[str, SetResult]) -> list[Metric]:
    """top-1 / top-5 mean ± std over the evaluation sets, and each set's top-1."""
    keys = sorted(sets)
    out = []
    for k in (1, 5):
        values = [sets[s].top1() if k == 1 else sets[s].top5() for s in keys]
        mean, std = M.mean_std(values)
        note = f"mean ± std over {len(keys)} splits" if len(keys) > 1 else "one evaluation set"
        n = sum(sets[s].n for s in keys)
        out.append(Metric(f"top{k}", mean, n=n, std=std if len(keys) > 1 else None, note=note))
    if len(keys) > 1:
        out += [Metric(f"top1_{s}", sets[s].top1(), n=sets[s].n) for s in keys]
    return out
