"""The plugin registries and the built-in table of what ships with biasbench.

Names map to ``"module:attr"`` strings: listing them imports nothing heavy. Outside packages
add plugins through the entry-point groups ``biasbench.datasets``, ``biasbench.learners``,
``biasbench.methods`` and ``biasbench.protocols``, e.g. in their pyproject.toml::

    [project.entry-points."biasbench.methods"]
    my-method = "my_pkg.method:MyMethod"
"""

from __future__ import annotations

from biasbench.registry import Registry

DATASETS: Registry = Registry("dataset")
LEARNERS: Registry = Registry("learner")
METHODS: Registry = Registry("method")
PROTOCOLS: Registry = Registry("protocol")

REGISTRIES = {
    "datasets": DATASETS,
    "learners": LEARNERS,
    "methods": METHODS,
    "protocols": PROTOCOLS,
}

# --- learners ---------------------------------------------------------------------------
LEARNERS.add("clip", "biasbench.baselines.clip:ClipLearner", "frozen CLIP, frame-average")
LEARNERS.add("dummy", "biasbench.baselines.dummy:DummyLearner", "tiny linear learner for tests")

# --- methods ----------------------------------------------------------------------------
METHODS.add(
    "zero-shot",
    "biasbench.baselines.zero_shot:ZeroShot",
    "no training: score the learner as it is",
    aliases=("frozen-clip",),
)

# --- protocols --------------------------------------------------------------------------
PROTOCOLS.add(
    "synth-scuba",
    "biasbench.protocols.synth_scuba:SynthScuba",
    "embedded world: in-context + SCUBA-like out-of-context + SCUFO",
)
PROTOCOLS.add(
    "ucf-scuba",
    "biasbench.protocols.ucf_scuba:UcfScuba",
    "K400-trained; UCF101 (IC) + UCF-SCUBA (OC) + SCUFO, top-1/top-5, HM, contrasted acc.",
)
