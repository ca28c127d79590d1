"""``biasbench data check``: is everything a protocol needs on disk, and does it decode?

Before a long run: every dataset the protocol declares is resolved (``datasets.yaml``,
``--data-root``, ``--set data.<name>.root=...``), the protocol builds its requests with the
real readers (so annotation problems surface exactly as a run would meet them), every listed
video or frame folder is looked for, and a seeded sample of each set is decoded with the real
decoder (HAT swaps are composed). Missing datasets are explained with their expected layout.

Verdict: a required dataset or annotation file that is missing or unreadable fails the check
(exit code 1). Missing or undecodable videos are warnings by default — a run skips, counts and
lists them — and failures with ``strict``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biasbench.config import RunConfig, settings_from
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.datactx import DataContext
from biasbench.errors import BiasbenchError, MissingDatasetError
from biasbench.plugins import PROTOCOLS
from biasbench.protocol import DatasetNeed, Episode, Protocol

SHOWN = 5  # missing / unreadable paths printed per set (all of them are in to_dict())


@dataclass
class NeedReport:
    """One declared dataset: found, missing (with the reason and layout) or not needed."""

    name: str
    format: str
    purpose: str
    status: str  # ok | missing | optional-missing | not-needed
    root: str | None = None
    message: str = ""


@dataclass
class SetReport:
    """One set a run would read: its size, reader problems, missing files, decode sample."""

    where: str  # "<episode>/<train | eval key>"
    name: str
    split: str
    videos: int
    classes: int
    list_files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    sampled: int = 0
    unreadable: list[str] = field(default_factory=list)  # "<path>: <reason>"


@dataclass
class DataReport:
    """Everything ``data check`` found for one protocol; :meth:`render` prints it."""

    protocol: str
    embedded: bool
    with_train: bool
    needs: list[NeedReport] = field(default_factory=list)
    sets: list[SetReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what stopped the requests being built

    @property
    def missing_required(self) -> list[NeedReport]:
        return [n for n in self.needs if n.status == "missing"]

    def warnings(self) -> int:
        return sum(bool(s.missing) + bool(s.unreadable) + bool(s.problems) for s in self.sets)

    def ok(self, strict: bool = False) -> bool:
        """No required dataset missing, requests built, no empty set (``strict``: and every
        video present and every sampled video decodable)."""
        if self.missing_required or self.errors or any(s.videos == 0 for s in self.sets):
            return False
        return not strict or not any(s.missing or s.unreadable for s in self.sets)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok(), "ok_strict": self.ok(strict=True)}

    def render(self) -> str:
        """A per-dataset, per-set text report ending with the verdict."""
        kind = " (embedded world)" if self.embedded else ""
        lines = [f"biasbench data check · protocol {self.protocol}{kind}", "datasets:"]
        for n in self.needs:
            label = {"ok": "ok", "missing": "MISSING", "optional-missing": "absent"}.get(
                n.status, n.status
            )
            lines.append(f"  {label:<11} {n.name:<14} {n.root or '-'}  ({n.purpose})")
            lines += [f"      {ln}" for ln in n.message.splitlines()]
        if self.errors:
            lines.append("could not build the protocol's requests:")
            lines += [f"  {ln}" for e in self.errors for ln in e.splitlines()]
        if self.sets:
            lines.append("sets:")
        for s in self.sets:
            lines += _render_set(s)
        lines.append(self._verdict())
        return "\n".join(lines)

    def _verdict(self) -> str:
        if self.ok():
            warn = self.warnings()
            extra = f" ({warn} warning{'s' * (warn != 1)}: see above)" if warn else ""
            return f"result: OK{extra}"
        reasons = [f"missing dataset {n.name!r}" for n in self.missing_required]
        reasons += ["requests could not be built"] if self.errors else []
        reasons += [f"set {s.where} is empty" for s in self.sets if s.videos == 0]
        return "result: FAILED — " + "; ".join(reasons)


def _render_set(s: SetReport) -> list[str]:
    out = [f"  {s.where:<16} {s.name} {s.split}: {s.videos} videos, {s.classes} classes"]
    out += [f"      list: {f}" for f in s.list_files]
    out += [f"      reader: {p}" for p in s.problems]
    if s.missing:
        out.append(
            f"      files: {len(s.missing)} of {s.videos} missing — a run skips, counts and lists them"
        )
        out += [f"        {p}" for p in s.missing[:SHOWN]]
        out += [f"        ... and {len(s.missing) - SHOWN} more"] if len(s.missing) > SHOWN else []
    good = s.sampled - len(s.unreadable)
    out.append(f"      decode: {good} of {s.sampled} sampled videos readable")
    out += [f"        {u}" for u in s.unreadable[:SHOWN]]
    return out


def check_protocol(cfg: RunConfig, samples: int = 4, with_train: bool = True) -> DataReport:
    """Check the datasets of ``cfg.protocol`` (see module docstring); never raises for data."""
    cls = PROTOCOLS.get(cfg.protocol)
    protocol: Protocol = cls(settings_from(cls.Settings, cfg.protocol_cfg, "protocol"))
    data = DataContext.from_config(cfg, progress=True)
    report = DataReport(PROTOCOLS.canonical(cfg.protocol), protocol.embedded, with_train)
    report.needs = [_check_need(protocol, data, n, with_train) for n in protocol.needs]
    if report.missing_required:
        return report
    try:
        episodes = protocol.episodes(data, with_train=with_train)
    except BiasbenchError as e:
        report.errors.append(str(e))
        return report
    for where, vs in _distinct_sets(episodes):
        report.sets.append(_check_set(where, vs, samples, cfg.seed))
    return report


def _check_need(
    protocol: Protocol, data: DataContext, need: DatasetNeed, with_train: bool
) -> NeedReport:
    report = NeedReport(need.name, need.format, need.purpose, "ok")
    if need.train_only and not with_train:
        report.status = "not-needed"
        report.message = "read only by methods that train (--no-train given)"
        return report
    try:
        if protocol.embedded:
            report.root = str(data.world().root)
        else:
            report.root = str(protocol.open_dataset(data, need.name)["root"])
    except MissingDatasetError as e:
        report.status = "optional-missing" if need.optional else "missing"
        report.message = str(e)
        if need.optional:
            report.message += "\n(optional: the protocol falls back to its documented rule)"
    return report


def _distinct_sets(episodes: list[Episode]) -> list[tuple[str, VideoSet]]:
    """Every set of every episode once (identical sets of several seeds are checked once)."""
    seen: set[str] = set()
    out = []
    for ep in episodes:
        pairs = [("train", ep.train.videoset)] if ep.train is not None else []
        pairs += [(r.key, r.videoset) for r in ep.evals]
        for key, vs in pairs:
            digest = _content_key(vs)
            if digest not in seen:
                seen.add(digest)
                out.append((f"{ep.name}/{key}", vs))
    return out


def _content_key(vs: VideoSet) -> str:
    h = hashlib.sha1()
    for r in vs.records:
        h.update(f"{r.path}|{r.label}|{sorted(r.meta.items())}\n".encode())
    h.update("|".join(vs.class_names).encode())
    return h.hexdigest()


def _files_of(vs: VideoSet, record: VideoRecord) -> list[Path]:
    """What must exist for a record: the video (or frame folder), and for HAT swaps the
    foreground masks and the background's frames and masks."""
    from biasbench.data.hat_compose import is_swap_set

    files = [Path(record.path)]
    if is_swap_set(vs):
        files += [Path(record.meta[k]) for k in ("seg", "bg_path", "bg_seg") if k in record.meta]
    return files


def _check_set(where: str, vs: VideoSet, samples: int, seed: int) -> SetReport:
    info = vs.info
    lists = [
        str(v)
        for k in ("list_file", "list_files", "split_file", "pair_file", "video_list", "class_file")
        for v in (info.get(k) if isinstance(info.get(k), list) else [info.get(k)])
        if v
    ]
    report = SetReport(where, vs.name, vs.split, len(vs), vs.num_classes, lists, list(vs.problems))
    present = []
    for r in vs.records:
        absent = [str(f) for f in _files_of(vs, r) if not f.exists()]
        report.missing += absent
        if not absent:
            present.append(r)
    picked = random.Random(seed).sample(present, min(samples, len(present)))
    report.sampled = len(picked)
    for r in picked:
        try:
            _decode(vs, r)
        except BiasbenchError as e:
            report.unreadable.append(str(e))
    return report


def _decode(vs: VideoSet, record: VideoRecord) -> None:
    """Read the first, middle and last frame of a record with the real clip source."""
    from biasbench.data.decode import open_source
    from biasbench.data.hat_compose import is_swap_set, open_swap

    if is_swap_set(vs):
        source: Any = open_swap(record, vs)
    else:
        source = open_source(
            record.path,
            is_frames=vs.is_frames,
            frame_template=vs.frame_template,
            num_frames=record.num_frames,
        )
    n = source.num_frames
    source.read(np.unique([0, n // 2, n - 1]))
