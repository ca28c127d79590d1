"""The class-text side of the training loss.

Frozen text encoder (the papers' re-implementations, our default): the classifier of the
training vocabulary is built once with the shared :func:`~biasbench.vocabulary.build_classifier`
(mean of normalised prompt embeddings over the templates) and reused every step.

Trainable text encoder (FROSTER's own setting): text embeddings are recomputed with gradients
every step. To keep that affordable for large vocabularies, each step encodes one prompt per
class drawn from its templates (and its descriptions, FROSTER's rephrased class names, when
given), using the step's generator so that the draw is the same on every rank and on resume.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from biasbench.models.learner import Learner
from biasbench.vocabulary import build_classifier, prompts


class TrainingText:
    """Class embeddings ``[K, D]`` of the training vocabulary for the loss."""

    def __init__(
        self,
        learner: Learner,
        class_names: Sequence[str],
        template_list: Sequence[str],
        device: torch.device,
        trainable: bool = False,
        descriptions: Mapping[str, Sequence[str]] | None = None,
    ):
        self.learner, self.device, self.trainable = learner, device, trainable
        self.class_names, self.template_list = list(class_names), list(template_list)
        extra = descriptions or {}
        self.prompts = [
            per_class + list(extra.get(name, ()))
            for name, per_class in zip(
                self.class_names, prompts(self.class_names, self.template_list), strict=True
            )
        ]
        self._frozen: torch.Tensor | None = None
        if descriptions and not trainable:
            raise ValueError("class descriptions need a trainable text side")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def classifier(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[K, D]`` normalised class embeddings (with gradients when the text side trains)."""
        if not self.trainable:
            if self._frozen is None:
                self._frozen = build_classifier(
                    self.learner, self.class_names, self.template_list, device=self.device
                )
            return self._frozen
        return self.encode(self.draw(generator))

    def draw(self, generator: torch.Generator | None = None) -> list[str]:
        """One training prompt per class, drawn with ``generator``."""
        return [
            p[int(torch.randint(len(p), (1,), generator=generator))] if len(p) > 1 else p[0]
            for p in self.prompts
        ]

    def encode(self, texts: Sequence[str], learner: Learner | None = None) -> torch.Tensor:
        """``[K, D]`` normalised embeddings of ``texts`` by ``learner`` (default: the trained one)."""
        learner = learner or self.learner
        tokens = learner.tokenize(list(texts)).to(self.device)
        return F.normalize(learner.encode_text(tokens).float(), dim=-1)
