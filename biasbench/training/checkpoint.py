"""Checkpoints: atomic writes, per-epoch weight snapshots and the resumable training state.

Two kinds of file live in ``<run_dir>/checkpoints/``:

- ``epoch_XXX.pt`` — the trainable weights after epoch XXX (1-based), kept for weight
  averaging and for the epoch curves; small (frozen weights are not repeated).
- ``last.pt`` — everything a killed run needs to continue to the same result: trainable
  weights, optimizer state, the recipe's state (weight averages, projectors), the position
  (epoch, update, batches consumed in the epoch) and the RNG states.

Writes go to a temporary file in the same folder and are renamed into place, so a kill never
leaves a truncated checkpoint. Loading uses ``weights_only=True`` (no arbitrary pickles).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

FORMAT = 1
LAST = "last.pt"


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def epoch_path(run_dir: Path, epoch: int) -> Path:
    """``<run_dir>/checkpoints/epoch_XXX.pt`` for the 1-based ``epoch``."""
    return checkpoint_dir(run_dir) / f"epoch_{epoch:03d}.pt"


def last_path(run_dir: Path) -> Path:
    return checkpoint_dir(run_dir) / LAST


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file next to ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by this module onto the CPU."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def trainable_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU copies of ``module``'s parameters that require gradients, by name."""
    return {
        n: p.detach().to("cpu", copy=True) for n, p in module.named_parameters() if p.requires_grad
    }


def load_trainable_state(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` (from :func:`trainable_state`) into ``module``'s parameters."""
    params = dict(module.named_parameters())
    missing = sorted(set(state) - set(params))
    if missing:
        raise KeyError(f"checkpoint has parameters the model lacks: {missing[:5]}")
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def capture_rng() -> dict[str, Any]:
    """The states of Python's, NumPy's and torch's (CPU and CUDA) generators."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    random.setstate(_as_tuples(state["python"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy(), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(x: Any) -> Any:
    """Python's random state must be nested tuples (a round trip may give lists)."""
    if isinstance(x, (list, tuple)):
        return tuple(_as_tuples(v) for v in x)
    return x
