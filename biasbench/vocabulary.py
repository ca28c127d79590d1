"""Vocabulary: class names x prompt templates -> a text classifier, cached by content hash.

One shared function (:func:`build_classifier`) turns names into classifier weights for every
learner: the mean over templates of the L2-normalised text embeddings, re-normalised. The
cache key is (the learner's text-weights hash, the exact prompts), in memory and on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from biasbench.errors import ConfigError
from biasbench.models.learner import Learner


def _openvclip_templates() -> list[str]:
    """The Open-VCLIP / FROSTER / Open-MeDe set (BASELINES.md): 4 nouns x 6 phrasings + bare."""
    nouns = ("photo", "video", "example", "demonstration")
    phrasings = (
        "{}",
        "a person using {}",
        "a person doing {}",
        "a person during {}",
        "a person performing {}",
        "a person practicing {}",
    )
    return [f"a {n} of {p}." for n in nouns for p in phrasings] + ["{}"]


TEMPLATE_SETS: dict[str, list[str]] = {
    "bare": ["{}"],  # zero-shot CLIP baselines use the bare class name
    "openvclip": _openvclip_templates(),
    "video": ["a video of a person {}."],
}

_MEMORY: dict[str, torch.Tensor] = {}


def templates(name_or_list: str | list[str]) -> list[str]:
    """Resolve a template-set name (or pass a list through), checking each has one ``{}``."""
    if isinstance(name_or_list, list):
        items = name_or_list
    elif name_or_list in TEMPLATE_SETS:
        items = TEMPLATE_SETS[name_or_list]
    else:
        raise ConfigError(
            f"unknown template set {name_or_list!r}; known: {sorted(TEMPLATE_SETS)} "
            "(or give a list of strings with one '{}')"
        )
    bad = [t for t in items if t.count("{}") != 1]
    if bad:
        raise ConfigError(f"templates must contain exactly one '{{}}': {bad}")
    return list(items)


def prompts(class_names: list[str], template_list: list[str]) -> list[list[str]]:
    """``[K][M]`` prompt strings: every class name in every template."""
    return [[t.format(c) for t in template_list] for c in class_names]


def cache_dir() -> Path:
    root = os.environ.get("BIASBENCH_CACHE") or Path.home() / ".cache" / "biasbench"
    return Path(root) / "classifiers"


@torch.no_grad()
def build_classifier(
    learner: Learner,
    class_names: list[str],
    template_list: list[str],
    *,
    device: str | torch.device = "cpu",
    use_disk_cache: bool = True,
) -> torch.Tensor:
    """``[K, D]`` classifier: per class, mean of normalised prompt embeddings, re-normalised."""
    texts = prompts(class_names, template_list)
    key = hashlib.sha256((learner.text_identity() + json.dumps(texts)).encode()).hexdigest()[:24]
    if key in _MEMORY:
        return _MEMORY[key].to(device)
    path = cache_dir() / f"{key}.pt"
    if use_disk_cache and path.is_file():
        try:
            w = torch.load(path, map_location="cpu", weights_only=True)
            _MEMORY[key] = w
            return w.to(device)
        except (OSError, RuntimeError):
            pass  # a damaged cache entry is rebuilt below
    flat = [p for per_class in texts for p in per_class]
    was_training = learner.training
    learner.eval()
    emb = []
    for i in range(0, len(flat), 256):
        tokens = learner.tokenize(flat[i : i + 256]).to(device)
        emb.append(learner.encode_text(tokens).float().cpu())
    learner.train(was_training)
    e = torch.cat(emb).view(len(class_names), len(template_list), -1)
    w = F.normalize(F.normalize(e, dim=-1).mean(dim=1), dim=-1)
    _MEMORY[key] = w
    if use_disk_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(w, tmp)
        os.replace(tmp, path)
    return w.to(device)
