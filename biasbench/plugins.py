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

# --- dataset formats (module targets: each has LAYOUT, read_* and inspect) ---------------
for _name, _summary in (
    ("ucf101", "UCF101 classInd / trainlist0N / testlist0N (CRLF, HandstandPushups quirk)"),
    ("hmdb51", "HMDB51 per-class <class>_test_split{1,2,3}.txt, tags 1 train / 2 test / 0"),
    ("kinetics", "Kinetics csv 'path,id' or txt 'path id' lists + 'id,name' label csv"),
    ("ssv2", "Something-Something v2 labels json + train/validation json"),
    ("b2n", "ViFi-CLIP base-to-novel split files (fs_base_s{1,2,3}_train, base/novel_val)"),
    ("k600", "K600 novel-class splits: 3 x 160 class lists + video lists"),
    ("scuba", "SCUBA rawframe lists '<frame_dir> <num_frames> <label>'"),
    ("hat", "HAT ori/seg/inp folders + Action-Swap pair files"),
):
    DATASETS.add(_name, f"biasbench.data.readers.{_name}:", _summary)

# --- learners ---------------------------------------------------------------------------
LEARNERS.add("clip", "biasbench.baselines.learners.clip:ClipLearner", "frozen CLIP, frame-average")
LEARNERS.add(
    "dummy", "biasbench.baselines.learners.dummy:DummyLearner", "tiny linear learner for tests"
)
LEARNERS.add(
    "vclip",
    "biasbench.baselines.learners.vclip:VClipLearner",
    "CLIP with neighbour-frame temporal attention (Open-VCLIP); visual tower trainable",
)
LEARNERS.add(
    "vifi-clip",
    "biasbench.baselines.learners.vifi_clip:ViFiClipLearner",
    "frame-average CLIP, image and text towers fully fine-tuned (ViFi-CLIP)",
)
LEARNERS.add(
    "st-adapter",
    "biasbench.baselines.learners.st_adapter:STAdapterLearner",
    "frozen CLIP + depth-wise temporal-conv adapters before each vision block (ST-Adapter)",
)
LEARNERS.add(
    "xclip",
    "biasbench.baselines.learners.xclip:XClipLearner",
    "cross-frame communication tokens + multi-frame integration + video-specific prompts (X-CLIP)",
)
LEARNERS.add(
    "vita-clip",
    "biasbench.baselines.learners.vita_clip:VitaClipLearner",
    "frozen CLIP with video prompts (global, local, summary) and learnable text context (Vita-CLIP)",
)
LEARNERS.add(
    "motion-clip",
    "biasbench.baselines.learners.motion_clip:MotionClipLearner",
    "frozen CLIP + a frame-difference motion stream fused through a zero-initialised "
    "projection (TSN RGB-diff / DiST-style)",
)

# --- methods ----------------------------------------------------------------------------
METHODS.add(
    "zero-shot",
    "biasbench.baselines.recipes.zero_shot:ZeroShot",
    "no training: score the learner as it is",
    aliases=("frozen-clip",),
)
METHODS.add(
    "plain",
    "biasbench.baselines.recipes.plain:Plain",
    "standard fine-tuning (the papers' VCLIP with learner vclip)",
    aliases=("vclip-plain",),
)
METHODS.add(
    "open-vclip",
    "biasbench.baselines.recipes.open_vclip:OpenVClip",
    "interpolated weight regularization + SWA + patching with CLIP (Open-VCLIP)",
)
METHODS.add(
    "froster",
    "biasbench.baselines.recipes.froster:Froster",
    "residual feature distillation from frozen CLIP + SWA (FROSTER; frozen text by default)",
)
METHODS.add(
    "grad-accum",
    "biasbench.baselines.recipes.grad_accum:GradAccum",
    "plain fine-tuning with two batches accumulated per update (supp. Table 4 control)",
)
METHODS.add(
    "meta-unseen",
    "biasbench.baselines.recipes.meta_unseen:MetaUnseen",
    "first-order meta-learning with class-disjoint seen/unseen halves (Table 5 (d) control)",
)
METHODS.add(
    "openmede",
    "biasbench.methods.openmede.method:OpenMeDe",
    "Open-MeDe: cross-batch meta-optimization + Gaussian weight averaging (any learner)",
    aliases=("open-mede",),
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
for _name, _target, _summary in (
    ("b2n-k400", "b2n:B2nK400", "base-to-novel K400: 16 shots x 200 base classes, 3 seeds"),
    ("b2n-hmdb", "b2n:B2nHmdb", "base-to-novel HMDB51: 16 shots x 26 base classes, 3 seeds"),
    ("b2n-ucf", "b2n:B2nUcf", "base-to-novel UCF101: 16 shots x 51 base classes, 3 seeds"),
    ("b2n-ssv2", "b2n:B2nSsv2", "base-to-novel SSv2: 16 shots x 87 base classes, 3 seeds"),
    ("xd-ucf", "xd:XdUcf", "K400-trained; UCF101 3 test splits, top-1 mean ± std"),
    ("xd-hmdb", "xd:XdHmdb", "K400-trained; HMDB51 3 test splits, top-1 mean ± std"),
    ("xd-ucf-full", "xd:XdUcfFull", "K400-trained; UCF* (all 13,320 UCF101 videos), top-1"),
    ("xd-hmdb-full", "xd:XdHmdbFull", "K400-trained; HMDB* (5,100 HMDB51 videos), top-1"),
    ("xd-k600", "xd:XdK600", "K400-trained; K600 new classes, 3 splits of 160, top-1"),
    ("hmdb-scuba", "hmdb_scuba:HmdbScuba", "K400-trained; HMDB51 (IC) + HMDB-SCUBA (OC) + SCUFO"),
    ("k400-scuba", "k400_scuba:K400Scuba", "K400-trained; closed-set K400 (IC) + K400-SCUBA (OC)"),
    ("ucf-hat", "ucf_hat:UcfHat", "K400-trained; UCF-HAT Action-Swap Close / Far"),
    ("synth-b2n", "synth_b2n:SynthB2n", "embedded world: base-to-novel, 3 seeds"),
    ("synth-xd", "synth_xd:SynthXd", "embedded world: 3 splits of never-trained classes"),
    ("synth-hat", "synth_hat:SynthHat", "embedded world: HAT-like Action-Swap Close / Far"),
    ("synth-closed", "synth_closed:SynthClosed", "embedded world: closed-set IC + OC, HM"),
):
    PROTOCOLS.add(_name, f"biasbench.protocols.{_target}", _summary)
