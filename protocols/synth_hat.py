"""Protocol ``synth-hat``: the Action-Swap shape of ``ucf-hat`` on the embedded world.

The world's in-context test videos are exported in the HAT layout
(:mod:`biasbench.world.hat_export`: ``ori/`` frames, ``seg/`` actor masks, ``inp/`` the
actor-free background) with Close / Far pair files: a Close swap puts a video's actor on the
home scene of one of the actions most similar to its own (by the motion definitions), a Far
swap on the home scene of one of the least similar. Swaps are composed online exactly as for
UCF-HAT and scored against the foreground (actor) label with the world's vocabulary; the same
metrics are reported, including how often the background's class is predicted. The actor
covers a few % of a frame by design, so UCF-HAT's 5-50 % mask rule is off by default (the
coverage of every video is in the export's ``hat_export.json``).
"""

from __future__ import annotations

from dataclasses import dataclass

from biasbench.datactx import DataContext
from biasbench.errors import ConfigError
from biasbench.protocol import Episode, ReportSpec, TrainRequest
from biasbench.protocols.sources import WORLD_NEED, WorldProtocol, world_list, world_manifest
from biasbench.protocols.swap import HAT_ORDER, KINDS, ActionSwapProtocol


class SynthHat(WorldProtocol, ActionSwapProtocol):
    """Action-Swap Close / Far on the embedded world."""

    name = "synth-hat"
    summary = "embedded world: HAT-like Action-Swap Close / Far"
    report = ReportSpec("hat", "World", HAT_ORDER)
    family = "xd"
    needs = (WORLD_NEED,)

    @dataclass(frozen=True)
    class Settings:
        """``repeats``: pair-file repeats evaluated (1..3); ``mask_coverage``: [lo, hi] share
        of every frame the actor mask must cover (null: keep all)."""

        repeats: tuple[int, ...] = (1,)
        mask_coverage: tuple[float, float] | None = None

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        from biasbench.world.hat_export import HatExportSettings, export_hat

        export = export_hat(data.world())
        repeats = [int(r) for r in self.settings.repeats]
        available = HatExportSettings().repeats
        if not repeats or any(not 1 <= r <= available for r in repeats):
            raise ConfigError(f"protocol.repeats must be in 1..{available}, not {repeats}")
        meta = world_manifest(data)
        pairs = {(k, r): export.pair_file(k, r) for k in KINDS for r in repeats}
        evals = self.swap_requests(
            pairs, export.root, meta["class_dirs"], meta["class_names"], export.video_list
        )
        for req in evals:
            req.info["export"] = str(export.root)
            req.info["similarity"] = export.info["similarity"]
        train = None
        if with_train:
            train = TrainRequest(world_list(data, "train"), self.family)
        return [Episode("main", train, evals)]
