"""The protocol contract: protocols build requests, the harness answers them.

A protocol never calls a model. From a :class:`DataContext` it builds *episodes* — one
training request (or none) plus the evaluation requests scored with the model that training
produced — and afterwards turns the per-set results into the metrics it reports. Base-to-novel
has one episode per seed; cross-dataset has one episode with three test splits; out-of-context
has one episode with in-context, SCUBA and SCUFO sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from biasbench.data.videoset import VideoSet
from biasbench.models.backbone import BackboneSpec
from biasbench.results import Metric, SetResult

if TYPE_CHECKING:
    from biasbench.datactx import DataContext


@dataclass(frozen=True)
class ReportSpec:
    """How a protocol's runs are reported; written into every run record, read by reports.

    ``family`` picks the table layout (``b2n``, ``xd``, ``ooc``, ``closed``, ``hat`` or
    ``other``); ``dataset`` is the display name of the evaluated dataset (``UCF``,
    ``HMDB*``, ``World`` for the embedded world); ``metric_order`` is the column order, the
    first entry being the headline metric (metrics not listed follow, sorted by name).
    """

    family: str = "other"
    dataset: str = ""
    metric_order: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "dataset": self.dataset,
            "metric_order": list(self.metric_order),
        }


@dataclass(frozen=True)
class DatasetNeed:
    """A dataset a protocol needs: its name in the data config, reader format, and purpose.

    ``folder`` is its default folder under ``--data-root`` (empty: the name itself);
    ``train_only``: read only by methods that train; ``optional``: the protocol has a
    documented fallback when it is absent (``biasbench data check`` reports it, not fails).
    """

    name: str
    format: str
    purpose: str
    folder: str = ""
    train_only: bool = False
    optional: bool = False


@dataclass
class TrainRequest:
    """What to train on: a video set (labels index its class names) and its family.

    ``family`` picks the paper defaults of a method (epochs, GWA mean): ``b2n`` or ``xd``.
    """

    videoset: VideoSet
    family: str = "xd"
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalRequest:
    """One evaluation set: the videos, their vocabulary (``videoset.class_names``), how to view."""

    key: str
    videoset: VideoSet
    context: str = "in"  # "in" or "out" of context
    repeat_one_frame: bool = False  # SCUFO: one seeded frame repeated for the whole clip
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Episode:
    """A training request and the evaluation sets scored with its result."""

    name: str
    train: TrainRequest | None
    evals: list[EvalRequest]
    seed_offset: int = 0


class Protocol:
    """Base class of protocol plugins. Subclasses set the class attributes and two methods."""

    name: ClassVar[str]
    summary: ClassVar[str]
    embedded: ClassVar[bool] = False  # True: runs on the embedded synthetic world
    family: ClassVar[str] = "xd"  # which training defaults methods use: "b2n" or "xd"
    report: ClassVar[ReportSpec] = ReportSpec()
    default_templates: ClassVar[str] = "openvclip"
    needs: ClassVar[tuple[DatasetNeed, ...]] = ()

    @dataclass(frozen=True)
    class Settings:
        """Protocol settings (subclasses define their own frozen dataclass)."""

    def __init__(self, settings: Any = None):
        self.settings = settings if settings is not None else self.Settings()

    def backbone(self, data: DataContext) -> BackboneSpec:
        """The CLIP backbone this protocol's learners start from (real: ViT-B/16 OpenAI)."""
        return BackboneSpec("ViT-B-16", "openai")

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        """Build every training and evaluation request (reads annotation files, not videos).

        ``with_train=False`` (methods that do not train) skips reading the training set, so
        a zero-shot run does not need the training dataset on disk.
        """
        raise NotImplementedError

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        """``results[episode][eval key]`` -> the metrics this protocol reports."""
        raise NotImplementedError

    def default_temporal_views(self) -> int:
        """Test views per video unless the run sets ``eval.temporal_views``: the papers' 3 x 1
        on real data; 1 on the embedded world, whose 16-frame videos one 8-frame view covers."""
        return 1 if self.embedded else 3

    def templates_for(self, data: DataContext) -> str | list[str]:
        """The prompt template set used unless the run overrides it."""
        return self.default_templates

    @classmethod
    def need(cls, name: str) -> DatasetNeed:
        """The declared :class:`DatasetNeed` called ``name`` (a typo is a programming error)."""
        for n in cls.needs:
            if n.name == name:
                return n
        raise KeyError(f"{cls.__name__} declares no dataset need {name!r}")

    def open_dataset(self, data: DataContext, name: str) -> dict[str, Any]:
        """Settings of the declared dataset ``name`` with its root resolved (or a
        :class:`~biasbench.errors.MissingDatasetError` showing its reader's layout)."""
        from biasbench.plugins import DATASETS

        need = self.need(name)
        layout = getattr(DATASETS.get(need.format), "LAYOUT", "")
        return data.dataset(need.name, need.folder or need.name, layout)
