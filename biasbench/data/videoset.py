"""What a dataset reader returns: a :class:`VideoSet` of :class:`VideoRecord` s.

Readers validate as they parse (label range, duplicate ids, class map vs list consistency) and
record problems instead of stopping at the first one, so ``biasbench data inspect`` can report
everything that is wrong with an annotation tree at once.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class VideoRecord:
    """One video (or frame folder) of a split.

    ``path`` is a video file or, for rawframe datasets, a frame folder. ``num_frames`` is known
    for rawframe lists (and the embedded world); ``None`` means "ask the decoder".
    ``meta`` carries format-specific extras (SCUBA background, HAT background video, ...).
    """

    video_id: str
    path: Path
    label: int
    num_frames: int | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class VideoSet:
    """The records of one split plus its vocabulary and where the files live."""

    name: str
    split: str
    records: list[VideoRecord]
    class_names: list[str]
    root: Path
    problems: list[str] = field(default_factory=list)
    is_frames: bool = False  # True: paths are frame folders (rawframes), not video files
    frame_template: str = "frame{:06d}.jpg"  # how frame k (1-based) is named inside a folder
    info: dict[str, Any] = field(default_factory=dict)  # provenance: which list files, settings

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def validate(self, check_files: bool = False) -> list[str]:
        """Append and return problems: out-of-range labels, duplicate ids, missing files."""
        found: list[str] = []
        k = self.num_classes
        bad = [r.video_id for r in self.records if not 0 <= r.label < k]
        if bad:
            found.append(f"{len(bad)} labels outside 0..{k - 1} (first: {bad[0]})")
        dup = [v for v, c in collections.Counter(r.video_id for r in self.records).items() if c > 1]
        if dup:
            found.append(f"{len(dup)} duplicate video ids (first: {dup[0]})")
        if len(set(self.class_names)) != len(self.class_names):
            names = [n for n, c in collections.Counter(self.class_names).items() if c > 1]
            found.append(f"duplicate class names: {names[:5]}")
        if check_files:
            missing = [r for r in self.records if not r.path.exists()]
            if missing:
                found.append(f"{len(missing)} files missing (first: {missing[0].path})")
        self.problems.extend(p for p in found if p not in self.problems)
        return found

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description: counts, label range, per-class counts, problems."""
        labels = [r.label for r in self.records]
        per_class = collections.Counter(labels)
        return {
            "name": self.name,
            "split": self.split,
            "root": str(self.root),
            "videos": len(self.records),
            "classes": self.num_classes,
            "classes_present": len(per_class),
            "label_range": [min(labels), max(labels)] if labels else None,
            "videos_per_class": {"min": min(per_class.values()), "max": max(per_class.values())}
            if per_class
            else None,
            "frames": self.is_frames,
            "problems": list(self.problems),
            "info": self.info,
        }

    def subset(self, keep: list[int], name: str | None = None) -> VideoSet:
        """A new set with records whose *label* is in ``keep``, relabelled 0..len(keep)-1."""
        remap = {old: new for new, old in enumerate(keep)}
        recs = [
            VideoRecord(r.video_id, r.path, remap[r.label], r.num_frames, r.meta)
            for r in self.records
            if r.label in remap
        ]
        return VideoSet(
            name or self.name,
            self.split,
            recs,
            [self.class_names[i] for i in keep],
            self.root,
            list(self.problems),
            self.is_frames,
            self.frame_template,
            dict(self.info),
        )
