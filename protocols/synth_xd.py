"""Protocol ``synth-xd``: the cross-dataset shape of ``xd-k600`` on the embedded world.

K600 adds 220 classes to K400's 400 and is evaluated on three splits of 160 of those new
classes, each with its own vocabulary. Here the world's classes are divided the same way: a
seeded draw of ``round(source_fraction * K)`` *source* classes (default 400/620, K400's share
of K400 + the new classes) is the training vocabulary; the rest are *new* classes, never
trained on. Each of three target splits draws ``round(split_fraction * new)`` new classes
(default 160/220) with its own seed, and is evaluated on the in-context test videos of those
classes with their names as the vocabulary. Reported: top-1 / top-5 mean ± std over the splits
and each split's top-1 (as ``xd-*``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biasbench.datactx import DataContext
from biasbench.errors import ConfigError
from biasbench.protocol import Episode, EvalRequest, ReportSpec, TrainRequest
from biasbench.protocols.openvocab import XD_ORDER, xd_metrics
from biasbench.protocols.sources import WorldProtocol, world_list
from biasbench.results import Metric, SetResult


def source_and_splits(
    num_classes: int, source_fraction: float, split_fraction: float, splits: int, seed: int
) -> tuple[list[int], list[list[int]]]:
    """Source classes and ``splits`` seeded samples of the remaining (new) classes."""
    n_source = round(source_fraction * num_classes)
    if not 1 <= n_source < num_classes:
        raise ConfigError(f"source_fraction leaves {n_source} of {num_classes} classes as source")
    order = np.random.default_rng([seed, 0]).permutation(num_classes)
    source = sorted(int(c) for c in order[:n_source])
    new = sorted(int(c) for c in order[n_source:])
    n_split = max(1, round(split_fraction * len(new)))
    drawn = [
        sorted(int(c) for c in np.random.default_rng([seed, s]).choice(new, n_split, replace=False))
        for s in range(1, splits + 1)
    ]
    return source, drawn


class SynthXd(WorldProtocol):
    """Train on source classes; evaluate on three splits of never-trained classes."""

    name = "synth-xd"
    summary = "embedded world: 3 splits of never-trained classes"
    report = ReportSpec("xd", "World", XD_ORDER)
    family = "xd"

    @dataclass(frozen=True)
    class Settings:
        """``source_fraction`` of classes trained on; ``split_fraction`` of the new classes
        per target split; ``splits`` target splits; ``class_seed`` seeds every draw."""

        source_fraction: float = 400 / 620
        split_fraction: float = 160 / 220
        splits: int = 3
        class_seed: int = 0

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        s = self.settings
        test = world_list(data, "test")
        source, drawn = source_and_splits(
            test.num_classes, s.source_fraction, s.split_fraction, s.splits, s.class_seed
        )
        names = test.class_names
        evals = []
        for n, classes in enumerate(drawn, start=1):
            info = {"classes": [names[c] for c in classes], "class_seed": s.class_seed}
            vs = test.subset(classes, f"world-split{n}")
            evals.append(EvalRequest(f"split{n}", vs, "in", info=info))
        train = None
        if with_train:
            full = world_list(data, "train")
            info = {"source_classes": [names[c] for c in source], "class_seed": s.class_seed}
            train = TrainRequest(full.subset(source, "world-source"), self.family, info)
        return [Episode("main", train, evals)]

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        return xd_metrics(results["main"])
