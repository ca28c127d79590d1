"""Resolution: a :class:`RunConfig` becomes a frozen :class:`ResolvedRun`, checked and hashed once.

Everything that can be refused is refused here, before a model is built or a video decoded:
setting values, names, the method x learner pairing, the output folder, the datasets and
their annotation files, labels outside the vocabulary and duplicated list lines. The run's
identity is the result-affecting part of the resolved configuration — names, settings,
absolute dataset roots, the sha256 of every annotation file read and of the weights — and
never where the run is written or how many workers read; its hash names the run folder, so a
run resumes from any spelling of ``--out`` and with any number of workers.
"""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biasbench.config import RunConfig, settings_dict, settings_from
from biasbench.data.annotations import track_reads
from biasbench.data.videoset import VideoSet
from biasbench.datactx import DataContext
from biasbench.errors import AnnotationError, ConfigError
from biasbench.method import Method
from biasbench.models.backbone import BackboneSpec, file_digest, resolve_weights
from biasbench.plugins import LEARNERS, METHODS, PROTOCOLS
from biasbench.protocol import Episode, Protocol
from biasbench.runrecord import OUTPUT_ONLY_METHOD_SETTINGS, SCHEMA_VERSION, short_hash
from biasbench.validation import check_output_dir, check_run_config
from biasbench.vocabulary import templates as template_set

DUPLICATE_POLICIES = ("error", "drop")


@dataclass(frozen=True)
class ResolvedRun:
    """One run, fully resolved: what the harness executes and the record stores."""

    cfg: RunConfig  # a private copy with canonical names and defaults filled; never mutated
    protocol: Protocol
    method: Method
    learner: str
    learner_settings: Any
    spec: BackboneSpec
    templates: tuple[str, ...]
    episodes: tuple[Episode, ...]
    device: str
    workers: int
    identity: dict[str, Any]
    not_in_identity: dict[str, Any]
    run_id: str
    variant_id: str
    path: Path

    @property
    def seed(self) -> int:
        return self.cfg.seed

    @property
    def embedded(self) -> bool:
        return self.protocol.embedded

    def record_config(self) -> dict[str, Any]:
        """What the run record's ``config.json`` holds (schema version 2)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "variant_id": self.variant_id,
            "identity": self.identity,
            "not_in_identity": self.not_in_identity,
            "run": self.cfg.to_dict(),
            "protocol_settings": settings_dict(self.protocol.settings),
            "method_settings": settings_dict(self.method.settings),
            "learner_settings": settings_dict(self.learner_settings),
            "backbone": self.identity["backbone"],
            "templates": list(self.templates),
            "embedded_world": self.embedded,
            "report": self.protocol.report.to_dict(),
            "episodes": {ep.name: _episode_summary(ep) for ep in self.episodes},
        }


def resolve(cfg: RunConfig, progress: bool = True) -> ResolvedRun:
    """Check, canonicalise and hash ``cfg`` (left untouched) into a :class:`ResolvedRun`."""
    check_run_config(cfg)
    cfg = _canonical(cfg)
    protocol, method, learner, learner_settings = _plugins(cfg)
    check_output_dir(Path(cfg.out))
    data = DataContext.from_config(cfg, progress=progress)
    with track_reads() as reads:
        episodes = tuple(protocol.episodes(data, with_train=method.trains))
        default = protocol.backbone(data)
        tmpl = tuple(template_set(cfg.eval.templates or protocol.templates_for(data)))
    spec = BackboneSpec(
        cfg.backbone.get("arch", default.arch), cfg.backbone.get("weights", default.weights)
    )
    if cfg.eval.temporal_views is None:
        cfg = dataclasses.replace(
            cfg,
            eval=dataclasses.replace(cfg.eval, temporal_views=protocol.default_temporal_views()),
        )
    check_sets(episodes, cfg.duplicates)
    identity = {
        "protocol": cfg.protocol,
        "method": cfg.method,
        "learner": learner,
        "seed": cfg.seed,
        "protocol_settings": settings_dict(protocol.settings),
        "method_settings": {
            k: v
            for k, v in settings_dict(method.settings).items()
            if k not in OUTPUT_ONLY_METHOD_SETTINGS
        },
        "learner_settings": settings_dict(learner_settings),
        "eval": {
            "temporal_views": cfg.eval.temporal_views,
            "spatial_views": cfg.eval.spatial_views,
            "aggregation": cfg.eval.aggregation,
        },
        "templates": list(tmpl),
        "backbone": weights_identity(spec)
        if LEARNERS.get(learner).uses_backbone
        else {"arch": None, "weights": None, "file": None, "sha256": None},
        "world": dict(cfg.world),
        "duplicates": cfg.duplicates,
        "data": {"roots": data.used_roots(), "annotations": dict(sorted(reads.items()))},
    }
    run_id = short_hash(identity, 12)
    variant_id = short_hash({k: v for k, v in identity.items() if k != "seed"}, 12)
    path = Path(cfg.out) / cfg.protocol / f"{cfg.method}__{learner}" / f"seed{cfg.seed}-{run_id}"
    return ResolvedRun(
        cfg=cfg,
        protocol=protocol,
        method=method,
        learner=learner,
        learner_settings=learner_settings,
        spec=spec,
        templates=tmpl,
        episodes=episodes,
        device=resolve_device(cfg.device),
        workers=resolve_workers(cfg.num_workers),
        identity=identity,
        not_in_identity={
            "out": cfg.out,
            "num_workers": cfg.num_workers,
            "device": cfg.device,
            "eval.batch_size": cfg.eval.batch_size,
            "eval.store_embeddings": cfg.eval.store_embeddings,
            **{
                f"method.{k}": getattr(method.settings, k)
                for k in OUTPUT_ONLY_METHOD_SETTINGS
                if hasattr(method.settings, k)
            },
        },
        run_id=run_id,
        variant_id=variant_id,
        path=path,
    )


def _canonical(cfg: RunConfig) -> RunConfig:
    """A copy with registry names canonical and the method's default learner filled in."""
    method = METHODS.canonical(cfg.method)
    learner = cfg.learner or METHODS.get(method).default_learner
    return dataclasses.replace(
        cfg,
        protocol=PROTOCOLS.canonical(cfg.protocol),
        method=method,
        learner=LEARNERS.canonical(learner),
        eval=dataclasses.replace(cfg.eval),
    )


def _plugins(cfg: RunConfig) -> tuple[Protocol, Method, str, Any]:
    """Protocol, method and learner settings, each validated; the pairing checked."""
    protocol_cls = PROTOCOLS.get(cfg.protocol)
    protocol = protocol_cls(settings_from(protocol_cls.Settings, cfg.protocol_cfg, "protocol"))
    method_cls = METHODS.get(cfg.method)
    method: Method = method_cls(settings_from(method_cls.Settings, cfg.method_cfg, "method"))
    learner = str(cfg.learner)
    learner_cls = LEARNERS.get(learner)
    learner_settings = settings_from(learner_cls.Settings, cfg.learner_cfg, f"learner ({learner})")
    reason = method.refusal(learner_cls)
    if reason:
        raise ConfigError(f"method {cfg.method} cannot train learner {learner}: {reason}")
    return protocol, method, learner, learner_settings


def resolve_device(device: str) -> str:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_workers(num_workers: int | str) -> int:
    """Loader workers per process: ``auto`` counts the cores this process may use (a SLURM
    or taskset CPU set, shared among torchrun's ranks on the node), not the machine's."""
    if num_workers == "auto":
        from biasbench.data.loader import auto_num_workers

        return auto_num_workers()
    return int(num_workers)


def weights_identity(spec: BackboneSpec) -> dict[str, Any]:
    """Architecture, weights tag, and the weights file with its sha256 (None: random init)."""
    path = resolve_weights(spec)
    local = path is not None and Path(path).is_file()
    return {
        "arch": spec.arch,
        "weights": spec.weights,
        "file": str(Path(path).resolve()) if local else path,
        "sha256": file_digest(path, 64) if local else None,
    }


# -- the sets themselves ---------------------------------------------------------------------


def check_sets(episodes: tuple[Episode, ...], duplicates: str) -> None:
    """Refuse labels outside a set's vocabulary; refuse or drop duplicated list lines.

    Every set (training and evaluation) is checked once. Dropped duplicates are counted in
    the set's ``info["duplicates_dropped"]``, which the run record keeps.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise ConfigError(f"duplicates must be one of {DUPLICATE_POLICIES}, not {duplicates!r}")
    seen: set[int] = set()
    for ep in episodes:
        sets = [ep.train.videoset] if ep.train is not None else []
        for vs in [*sets, *(r.videoset for r in ep.evals)]:
            if id(vs) in seen:
                continue
            seen.add(id(vs))
            _check_labels(vs)
            _check_duplicates(vs, duplicates)


def _check_labels(vs: VideoSet) -> None:
    k = len(vs.class_names)
    bad = [r for r in vs.records if not 0 <= r.label < k]
    if bad:
        first = bad[0]
        raise AnnotationError(
            locate(vs, first.video_id),
            None,
            f"{len(bad)} label(s) of {vs.name} {vs.split} outside its vocabulary of {k} classes "
            f"(0..{k - 1}); first: video {first.video_id!r} has label {first.label}",
        )


def _check_duplicates(vs: VideoSet, policy: str) -> None:
    counts = collections.Counter(r.video_id for r in vs.records)
    dup = [v for v, c in counts.items() if c > 1]
    extra = sum(counts[v] - 1 for v in dup)
    vs.info["duplicates_dropped"] = 0
    if not dup:
        return
    if policy == "error":
        raise AnnotationError(
            locate(vs, dup[0]),
            None,
            f"{extra} duplicated line(s) in {vs.name} {vs.split} ({len(dup)} videos listed more "
            f"than once; first: {dup[0]!r}); remove them or pass --set duplicates=drop to keep "
            "the first of each",
        )
    kept, taken = [], set()
    for r in vs.records:
        if r.video_id not in taken:
            taken.add(r.video_id)
            kept.append(r)
    vs.records[:] = kept
    vs.info["duplicates_dropped"] = extra


def locate(vs: VideoSet, video_id: str) -> str:
    """``file:line`` of the list lines naming ``video_id`` (else the set's list files).

    Pooled sets prefix ids with their source (``places365/<video>``): the bare name is
    looked for too.
    """
    files = list(dict.fromkeys(Path(f).resolve() for f in _strings(vs.info) if Path(f).is_file()))
    names = list(dict.fromkeys([video_id, video_id.rpartition("/")[2]]))
    hits = []
    for f in files:
        try:
            lines = f.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        hits += [f"{f}:{i}" for i, line in enumerate(lines, 1) if any(n in line for n in names)]
    if hits:
        return ", ".join(hits[:3])
    return ", ".join(str(f) for f in files) or str(vs.root)


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, (list, tuple)):
        return [s for v in obj for s in _strings(v)]
    return []


def _episode_summary(ep: Episode) -> dict[str, Any]:
    return {
        "train": None
        if ep.train is None
        else {"videos": len(ep.train.videoset), **ep.train.videoset.info, **ep.train.info},
        "evals": {
            r.key: {
                "videos": len(r.videoset),
                "context": r.context,
                "repeat_one_frame": r.repeat_one_frame,
                **r.videoset.info,
                **r.info,
            }
            for r in ep.evals
        },
    }
