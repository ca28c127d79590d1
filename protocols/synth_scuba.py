"""Protocol ``synth-scuba``: the out-of-context shape of ``ucf-scuba`` on the embedded world.

Train: the world's in-context training list (UCF101 format). Evaluate: the in-context test
list (IC), the SCUBA-like set (the same motions pasted on held-out backgrounds, SCUBA
rawframe format: OC) and SCUFO (the SCUBA set with one seeded frame repeated). The world is
built on demand and read back by the *real* UCF101 and SCUBA readers; it has one background
source, so there are no per-source metrics.
"""

from __future__ import annotations

from biasbench.protocol import ReportSpec
from biasbench.protocols.ooc import WORLD_OOC_ORDER, WorldOutOfContextProtocol


class SynthScuba(WorldOutOfContextProtocol):
    """In-context vs SCUBA-like out-of-context vs SCUFO on the embedded world."""

    name = "synth-scuba"
    summary = "embedded world: in-context + SCUBA-like out-of-context + SCUFO"
    report = ReportSpec("ooc", "World", WORLD_OOC_ORDER)
