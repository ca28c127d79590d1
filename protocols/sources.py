"""Where protocols' sets come from: the helpers every protocol module shares.

- Kinetics-400 training (:func:`kinetics_train`): the training set of the K400-trained protocols.
- The embedded world (:class:`WorldProtocol`, :func:`world_list`, :func:`world_scuba`): its
  tiny CLIP, prompt templates and on-disk lists.
- SCUBA background sources (:func:`read_scuba_sources`): a SCUBA benchmark's out-of-context
  lists, one per background source (Places365, VQGAN-CLIP, sinusoidal stripes), pooled into
  one set whose video ids name their source, so each source can be scored alone and together.

Protocol modules import shared code from here and from the family base modules, never from
each other, so a new protocol is one module plus one registry line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.datactx import DataContext
from biasbench.errors import ConfigError, MissingDatasetError
from biasbench.models.backbone import BackboneSpec
from biasbench.protocol import DatasetNeed, Protocol, TrainRequest

K400_TRAIN = DatasetNeed(
    "kinetics400", "kinetics", "K400 training list + videos", "Kinetics-400", train_only=True
)
WORLD_NEED = DatasetNeed("world", "ucf101+scuba", "the embedded world (built on demand)")

# SCUBA background source (its key in set ids and metric names) -> the scuba reader's family
SCUBA_SOURCES: dict[str, str] = {
    "places365": "places365",
    "vqgan": "vqgan-clip",
    "stripes": "stripes",
}
SOURCE_SEP = "/"  # pooled OC video ids are "<source>/<frame folder>"


def kinetics_train(protocol: Protocol, data: DataContext) -> TrainRequest:
    """The K400 training request; ``train_list`` / ``labels`` dataset keys override the files."""
    from biasbench.data.readers.kinetics import read_kinetics

    k = protocol.open_dataset(data, "kinetics400")
    root = k["root"]
    vs = read_kinetics(
        root,
        subset="train",
        list_file=root / k["train_list"] if "train_list" in k else None,
        label_file=root / k["labels"] if "labels" in k else None,
    )
    info = {"train_list": vs.info["list_file"], "label_file": vs.info["label_file"]}
    return TrainRequest(vs, protocol.family, info)


# -- the embedded world ------------------------------------------------------------------------


class WorldProtocol(Protocol):
    """Base of the embedded-world protocols: tiny-CLIP backbone, world prompt templates."""

    embedded = True
    needs = (WORLD_NEED,)

    def backbone(self, data: DataContext) -> BackboneSpec:
        w = data.world()
        return BackboneSpec(w.arch, str(w.clip_weights))

    def templates_for(self, data: DataContext) -> str | list[str]:
        return world_manifest(data).get("prompt_templates") or "video"


def world_manifest(data: DataContext) -> dict[str, Any]:
    """The built world's ``world.json`` (vocabulary, config, per-video metadata)."""
    return json.loads(data.world().world_json.read_text())


def world_list(data: DataContext, subset: str) -> VideoSet:
    """The world's in-context ``train`` or ``test`` list (UCF101 format, split 1)."""
    from biasbench.data.readers.ucf101 import read_ucf101

    return read_ucf101(data.world().ucf_root, split=1, subset=subset)  # type: ignore[arg-type]


def world_scuba(data: DataContext, class_names: list[str]) -> VideoSet:
    """The world's SCUBA-like set: its one background source (held-out scene families)."""
    from biasbench.data.readers.scuba import read_scuba
    from biasbench.world.writer import SCUBA_LIST

    w = data.world()
    return read_scuba(w.scuba_root / SCUBA_LIST, w.scuba_root / "frames", class_names=class_names)


# -- SCUBA background sources -------------------------------------------------------------------


def scuba_source(name: str) -> str:
    """``"place365"``, ``"Places365"``, ``"vqgan-clip"``, ``"sinusoid"``... -> its source key."""
    from biasbench.data.readers.scuba import canonical_variant

    family = canonical_variant(name)  # ConfigError for a name no family answers to
    return next(key for key, fam in SCUBA_SOURCES.items() if fam == family)


def scuba_lists(dataset: dict[str, Any], name: str) -> dict[str, tuple[Path, str]]:
    """Source -> (list file, how it was found) of every source a SCUBA dataset entry has.

    ``<source>_list`` keys name a source's list; ``list`` (one list) counts for the source its
    name names, else Places365; the other sources are the lists under the root whose name or
    folders name them (one each). A root whose only list names no source (a single-list
    layout) holds Places365, the source the published tables use."""
    from biasbench.data.readers.scuba import find_variant_lists, variant_of

    root: Path = dataset["root"]
    out: dict[str, tuple[Path, str]] = {}
    if "list" in dataset:
        family = variant_of(root / dataset["list"])
        how = f"data.{name}.list" + ("" if family else ", which names no source: Places365")
        out[scuba_source(family) if family else "places365"] = (root / dataset["list"], how)
    for s in SCUBA_SOURCES:
        if f"{s}_list" in dataset:
            out[s] = (root / dataset[f"{s}_list"], f"data.{name}.{s}_list")
    found = {} if len(out) == len(SCUBA_SOURCES) else find_variant_lists(root)
    for source, family in SCUBA_SOURCES.items():
        lists = found.get(family, [])
        if source in out or not lists:
            continue
        if len(lists) > 1:
            raise ConfigError(
                f"several {source} lists under {root} ({', '.join(map(str, lists))}): choose "
                f"one with --set data.{name}.{source}_list=FILE"
            )
        out[source] = (lists[0], "its name or folder names the source")
    unnamed = found.get(None, [])
    if not out and len(unnamed) == 1:
        out["places365"] = (unnamed[0], "the only list, naming no source: Places365")
    return out


def read_scuba_sources(
    dataset: dict[str, Any], name: str, selected: tuple[str, ...] | str, class_names: list[str]
) -> VideoSet:
    """Every selected background source of a SCUBA benchmark (``()``: every one present), pooled.

    A source without a list is skipped (recorded as ``sources_absent``) unless it was selected
    by name; none at all raises :class:`MissingDatasetError` with the reader's layout. Frame
    folders: ``<source>_frames`` or ``frames`` keys, else next to the list (or its ``frames/``).
    """
    from biasbench.data.readers.scuba import LAYOUT, read_scuba

    root: Path = dataset["root"]
    named = [selected] if isinstance(selected, str) else list(selected)
    wanted = list(dict.fromkeys(scuba_source(s) for s in named)) or list(SCUBA_SOURCES)
    lists = scuba_lists(dataset, name)
    absent = [s for s in wanted if s not in lists]
    if absent and (named or len(absent) == len(wanted)):
        why = "selected by protocol.sources" if named else "no source present"
        missing = [f"a list naming {s} ({why}; or data.{name}.{s}_list=FILE)" for s in absent]
        raise MissingDatasetError(name, root, LAYOUT, missing)
    sets = {}
    for s in (s for s in wanted if s in lists):
        frames = dataset.get(f"{s}_frames", dataset.get("frames"))
        sets[s] = read_scuba(
            lists[s][0],
            root / frames if frames is not None else None,
            class_names=class_names,
            variant=SCUBA_SOURCES[s],
            name=name,
        )
    pooled = pool_sources(sets, name, root)
    pooled.info["sources_absent"] = absent
    pooled.info["lists_found_by"] = {s: lists[s][1] for s in sets}
    return pooled


def pool_sources(sets: dict[str, VideoSet], name: str, root: Path) -> VideoSet:
    """One set holding every source's records, ids ``<source>/<frame folder>`` (sources reuse
    folder names, and the prefix lets the metrics score each source apart); per-source
    provenance (list file, videos, backgrounds) in ``info``."""
    first = next(iter(sets.values()))
    templates = {s: vs.frame_template for s, vs in sets.items()}
    if len(set(templates.values())) > 1:
        raise ConfigError(
            f"{name}: the background sources name their frames differently: {templates}"
        )
    records = [
        VideoRecord(
            f"{s}{SOURCE_SEP}{r.video_id}", r.path, r.label, r.num_frames, {**r.meta, "source": s}
        )
        for s, vs in sets.items()
        for r in vs.records
    ]
    info = {
        "format": "scuba",
        "sources": list(sets),
        "lists": {s: vs.info["list_file"] for s, vs in sets.items()},
        "list_files": [vs.info["list_file"] for vs in sets.values()],  # what data check shows
        "videos_per_source": {s: len(vs) for s, vs in sets.items()},
        "source_videos": {s: vs.info["source_videos"] for s, vs in sets.items()},
        "backgrounds": {s: vs.info["backgrounds"] for s, vs in sets.items()},
        "frame_template_source": {s: vs.info["frame_template_source"] for s, vs in sets.items()},
        "class_names": first.info["class_names"],
    }
    return VideoSet(
        name=name,
        split="+".join(sets),
        records=records,
        class_names=list(first.class_names),
        root=root,
        problems=[f"{s}: {p}" for s, vs in sets.items() for p in vs.problems],
        is_frames=True,
        frame_template=first.frame_template,
        info=info,
    )
