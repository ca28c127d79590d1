"""Protocol ``synth-closed``: the closed-set shape of ``k400-scuba`` on the embedded world.

Train on the world's in-context training list and evaluate with the same vocabulary on its
in-context test list (IC) and on its SCUBA-like set (the same motions on held-out
backgrounds: OC); report IC and OC top-1 / top-5 and their HM (Open-MeDe Table 5's closed-set
row). It reads the same world sets as ``synth-scuba`` but reports the closed-set layout
(no SCUFO unless the setting ``scufo`` asks for it).
"""

from __future__ import annotations

from dataclasses import dataclass

from biasbench.protocol import ReportSpec
from biasbench.protocols.ooc import (
    WORLD_OOC_ORDER,
    OutOfContextProtocol,
    WorldOutOfContextProtocol,
)


class SynthClosed(WorldOutOfContextProtocol):
    """Closed-set in-context vs out-of-context (IC / OC / HM) on the embedded world."""

    name = "synth-closed"
    summary = "embedded world: closed-set IC + OC, HM"
    report = ReportSpec("closed", "World", WORLD_OOC_ORDER)

    @dataclass(frozen=True)
    class Settings(OutOfContextProtocol.Settings):
        """``scufo`` is off, as in k400-scuba."""

        scufo: bool = False
