"""The open_clip adapter: build a CLIP backbone from (architecture, weights).

Identity is the pair (architecture, weights), both listable (``biasbench list learners``):

- ``ViT-B-16`` with ``openai`` weights for the real protocols, read from a local file given by
  path, from ``$BIASBENCH_WEIGHTS``, or from the open_clip / Hugging Face cache. Offline we fail
  fast, saying where to put the file, instead of hanging on a download.
- ``biasbench-tiny-*`` configs (shipped in ``models/configs``) for the embedded world, with
  weights the world builder pretrains and stores in its cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from biasbench.errors import ConfigError, WeightsNotFoundError

CONFIG_DIR = Path(__file__).parent / "configs"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

# Where the OpenAI ViT-B/16 file is looked for when no explicit path is given.
WEIGHT_FILE_NAMES = {("ViT-B-16", "openai"): ("ViT-B-16.pt", "open_clip_pytorch_model.bin")}


@dataclass(frozen=True)
class BackboneSpec:
    """An (architecture, weights) pair. ``weights`` is a tag (``openai``), a path, or ``None``."""

    arch: str = "ViT-B-16"
    weights: str | None = "openai"


@dataclass(frozen=True)
class DataConfig:
    """What inputs a learner wants: frames per clip, crop size, resize size, mean/std."""

    num_frames: int = 8
    size: int = 224
    resize: int = 256
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD


@cache
def _register_configs() -> None:
    import open_clip

    open_clip.add_model_config(CONFIG_DIR)


def list_architectures() -> list[str]:
    """Architectures we ship configs for plus the real one used by the paper."""
    return ["ViT-B-16", *sorted(p.stem for p in CONFIG_DIR.glob("*.json"))]


def arch_config(arch: str) -> dict[str, Any]:
    """The open_clip model config of ``arch`` (a dict with embed_dim, vision_cfg, text_cfg)."""
    _register_configs()
    import open_clip

    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        raise ConfigError(f"unknown CLIP architecture {arch!r}; known: {list_architectures()}")
    return cfg


def resolve_weights(spec: BackboneSpec) -> str | None:
    """Turn a weights tag into a local file path, or raise a clear offline error.

    Search order for a tag like ``openai``: ``$BIASBENCH_WEIGHTS`` (a file, or a folder holding
    one of the known file names), then ``~/.cache/biasbench/weights``, then whatever open_clip
    finds in its own / the Hugging Face cache (only attempted when not offline).
    """
    w = spec.weights
    if w is None:
        return None
    p = Path(w).expanduser()
    if p.suffix in {".pt", ".bin", ".pth", ".safetensors"} or p.exists():
        if not p.is_file():
            raise WeightsNotFoundError(f"weights file {p} does not exist")
        return str(p)
    names = WEIGHT_FILE_NAMES.get((spec.arch, w), (f"{spec.arch}-{w}.pt",))
    folders = []
    if os.environ.get("BIASBENCH_WEIGHTS"):
        env = Path(os.environ["BIASBENCH_WEIGHTS"]).expanduser()
        if env.is_file():
            return str(env)
        folders.append(env)
    folders.append(Path.home() / ".cache" / "biasbench" / "weights")
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return str(folder / name)
    if _offline():
        raise WeightsNotFoundError(
            f"CLIP weights {spec.arch}/{w} not found and downloads are disabled "
            f"(HF_HUB_OFFLINE/BIASBENCH_OFFLINE). Put the file at "
            f"{folders[-1] / names[0]} or point $BIASBENCH_WEIGHTS at it, "
            f"or pass --set learner.weights=/path/to/{names[0]}"
        )
    return w  # a tag: let open_clip fetch it into its cache (online machines)


def _offline() -> bool:
    flags = ("HF_HUB_OFFLINE", "BIASBENCH_OFFLINE", "TRANSFORMERS_OFFLINE")
    return any(os.environ.get(f, "0") not in ("", "0", "false", "False") for f in flags)


def create_clip(spec: BackboneSpec, device: str = "cpu"):
    """Build an open_clip CLIP model (eval mode, fp32) for ``spec``."""
    _register_configs()
    import open_clip

    arch_config(spec.arch)  # validates the name with a clear error
    weights = resolve_weights(spec)
    try:
        with _quiet_random_init(weights is None):
            model = open_clip.create_model(spec.arch, pretrained=weights, device=device)
    except RuntimeError as e:  # download failures surface as RuntimeError in open_clip
        raise WeightsNotFoundError(
            f"could not load CLIP weights {spec.arch}/{spec.weights}: {e}. "
            f"Put the file in ~/.cache/biasbench/weights or set $BIASBENCH_WEIGHTS"
        ) from e
    model.eval()
    return model


class _RandomInitNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


@contextlib.contextmanager
def _quiet_random_init(enabled: bool):
    """Silence open_clip's root-logger warning about random initialisation where it is the
    intent (``weights=None``: tiny CLIPs about to be pretrained or loaded, tests)."""
    root, notice = logging.getLogger(), _RandomInitNotice()
    if enabled:
        root.addFilter(notice)
    try:
        yield
    finally:
        root.removeFilter(notice)


def get_tokenizer(arch: str):
    """open_clip's BPE tokenizer with the architecture's context length (shipped, no download)."""
    _register_configs()
    import open_clip

    return open_clip.get_tokenizer(arch)


def data_config_for(arch: str, num_frames: int = 8) -> DataConfig:
    """Default input config of ``arch``: crop = the model's image size, resize = 8/7 of it."""
    size = arch_config(arch)["vision_cfg"]["image_size"]
    size = size if isinstance(size, int) else size[0]
    return DataConfig(num_frames=num_frames, size=size, resize=round(size * 256 / 224))


def file_digest(path: str | Path, n: int = 16) -> str:
    """A short sha256 of a file's bytes (weights identity for caches and provenance)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]
