"""Protocol ``synth-b2n``: the base-to-novel shape of ``b2n-*`` on the embedded world.

The world's classes are split by the most-frequent-half rule applied to its in-context
training list (every class has as many training videos, so the reader's documented tie rule
decides: the higher class indices are base). For each of three seeds (the shot-split
number), ``shots`` training videos per base class are drawn with that seed; evaluation uses
the in-context test list restricted to the base classes (base vocabulary) and to the novel
classes (novel vocabulary). Metrics as in ``b2n-*``: per-seed base / novel top-1 and HM, their
means over seeds with std, and the HM of the means.
"""

from __future__ import annotations

from dataclasses import dataclass

from biasbench.datactx import DataContext
from biasbench.errors import ConfigError
from biasbench.protocol import Episode, ReportSpec
from biasbench.protocols.openvocab import B2N_ORDER, b2n_metrics, rebuild_halves, seed_episode
from biasbench.protocols.sources import WorldProtocol, world_list
from biasbench.results import Metric, SetResult


class SynthB2n(WorldProtocol):
    """Base-to-novel generalization on the embedded world."""

    name = "synth-b2n"
    summary = "embedded world: base-to-novel, 3 seeds"
    report = ReportSpec("b2n", "World", B2N_ORDER)
    family = "b2n"

    @dataclass(frozen=True)
    class Settings:
        """``seeds``: shot samples trained (one episode each); ``shots`` per base class."""

        seeds: int = 3
        shots: int = 16

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        if self.settings.seeds < 1 or self.settings.shots < 1:
            raise ConfigError("protocol.seeds and protocol.shots must be >= 1")
        train_full, val_full = world_list(data, "train"), world_list(data, "test")
        out = []
        for n in range(1, self.settings.seeds + 1):
            wanted = train_full if with_train else None
            halves = rebuild_halves(wanted, val_full, train_full, n, self.settings.shots)
            out.append(seed_episode(n, halves, self.family))
        return out

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        return b2n_metrics(results)
