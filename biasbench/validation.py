"""Checks that refuse a run before any model or data is loaded.

:func:`check_run_config` refuses setting values a run could not use (:class:`ConfigError`,
exit 2 in the CLI); :func:`check_output_dir` and the device check refuse an environment that
cannot hold the run (:class:`RunEnvironmentError`, exit 1). Both run in the resolution step,
so a refused run costs no model load and leaves no folder behind. Every message is one line
naming the setting, the bad value and what is expected.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from biasbench.config import FREE_FORM, EvalConfig, RunConfig
from biasbench.errors import ConfigError, RunEnvironmentError

#: derived seeds keep 32 bits of each key (training/distributed.py), so larger seeds would
#: silently repeat smaller ones
SEED_LIMIT = 2**32
#: views per clip the test-time loader can crop: the centre, or left/centre/right
SPATIAL_VIEWS = (1, 3)
BACKBONE_KEYS = ("arch", "weights")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_run_config(cfg: RunConfig) -> None:
    """Refuse the first setting of ``cfg`` a run could not use; cheap (no model, no data)."""
    _check_names(cfg)
    _check_seed(cfg.seed)
    _check_workers(cfg.num_workers)
    _check_eval(cfg.eval)
    _check_groups(cfg)
    _check_duplicates(cfg.duplicates)
    check_device(cfg.device)  # last: the only check that can be the machine's fault


def check_output_dir(out: Path) -> None:
    """Refuse an output folder the run could not write (a file, read-only), without
    creating it."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunEnvironmentError(f"--out {out} exists and is a file; give a folder")
    reason = unwritable_reason(out)
    if reason:
        raise RunEnvironmentError(f"--out {out} cannot hold run records: {reason}")


def unwritable_reason(folder: Path) -> str | None:
    """Why files cannot be created in ``folder`` (None: they can).

    The folder is not created: a probe file is created and removed in its nearest existing
    ancestor, which binds every user (root included) on read-only or full file systems,
    unlike ``os.access``.
    """
    base = nearest_existing(Path(folder))
    if not base.is_dir():
        return f"{base} is a file, so no folder can be made under it"
    try:
        fd, probe = tempfile.mkstemp(prefix=".biasbench-probe-", dir=base)
    except OSError as e:
        return f"cannot create files in {base} ({e.strerror or e})"
    os.close(fd)
    os.unlink(probe)
    return None


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (the file system root at worst)."""
    p = Path(path).absolute()
    while not os.path.exists(p) and p != p.parent:
        p = p.parent
    return p


def check_device(device: Any) -> None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``; a CUDA device must exist on this machine."""
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise ConfigError(f"device={device!r}: expected auto, cpu, cuda or cuda:N")
    if not device.startswith("cuda"):
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.partition(":")[2] or 0)
    if count == 0:
        raise RunEnvironmentError(
            f"device={device}: no CUDA device is available on this machine; "
            "use --set device=cpu or device=auto"
        )
    if index >= count:
        raise RunEnvironmentError(
            f"device={device}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}"
        )


def _check_names(cfg: RunConfig) -> None:
    """Names and paths are strings (a config file may give numbers or lists)."""
    for name in ("method", "protocol", "out"):
        _expect_text(name, getattr(cfg, name), optional=False)
    for name in ("learner", "data_root"):
        _expect_text(name, getattr(cfg, name), optional=True)


def _expect_text(name: str, value: Any, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        expected = "a name or path, or null" if optional else "a non-empty name or path"
        raise ConfigError(f"{name}={value!r}: expected {expected}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_seed(seed: Any) -> None:
    if not _is_int(seed) or not 0 <= seed < SEED_LIMIT:
        raise ConfigError(f"seed={seed!r}: expected a whole number in 0..{SEED_LIMIT - 1}")


def _check_workers(num_workers: Any) -> None:
    if num_workers == "auto" or (_is_int(num_workers) and num_workers >= 0):
        return
    raise ConfigError(f"num_workers={num_workers!r}: expected 'auto' or a whole number >= 0")


def _check_eval(ev: EvalConfig) -> None:
    """Views, aggregation, templates and batch size, as the evaluation loop will use them."""
    tv = ev.temporal_views
    if tv is not None and not (_is_int(tv) and tv >= 1):
        raise ConfigError(
            f"eval.temporal_views={tv!r}: expected a whole number >= 1 (or null: the "
            "protocol's default)"
        )
    if ev.spatial_views not in SPATIAL_VIEWS or not _is_int(ev.spatial_views):
        raise ConfigError(
            f"eval.spatial_views={ev.spatial_views!r}: expected 1 (centre crop) or 3 (three crops)"
        )
    if not _is_int(ev.batch_size) or ev.batch_size < 1:
        raise ConfigError(f"eval.batch_size={ev.batch_size!r}: expected a whole number >= 1")
    if not isinstance(ev.store_embeddings, bool):
        raise ConfigError(f"eval.store_embeddings={ev.store_embeddings!r}: expected true/false")
    _check_aggregation(ev.aggregation)
    if ev.templates is not None:
        _check_templates(ev.templates)


def _check_aggregation(how: Any) -> None:
    """Ask the function that aggregates views, so the accepted names live in one place."""
    import numpy as np

    from biasbench.metrics import aggregate_views

    try:
        aggregate_views(np.zeros((1, 1, 1)), how)
    except ValueError as e:
        raise ConfigError(f"eval.aggregation={how!r}: {e}") from None


def _check_templates(name_or_list: Any) -> None:
    from biasbench.vocabulary import templates

    try:
        templates(name_or_list)
    except ConfigError as e:
        raise ConfigError(f"eval.templates={name_or_list!r}: {e}") from None


def _check_duplicates(policy: Any) -> None:
    """Checked here too: resolution applies the policy only after reading the lists."""
    from biasbench.resolve import DUPLICATE_POLICIES

    if policy not in DUPLICATE_POLICIES:
        raise ConfigError(f"duplicates={policy!r}: expected one of {DUPLICATE_POLICIES}")


def _check_groups(cfg: RunConfig) -> None:
    """Free-form groups are mappings; the backbone and world groups are checked here, the
    method, learner and protocol groups by their plugins' settings dataclasses."""
    for name in sorted(FREE_FORM):
        value = getattr(cfg, name)
        if not isinstance(value, dict):
            raise ConfigError(f"{name}={value!r}: expected a group of settings (a mapping)")
    unknown = sorted(set(cfg.backbone) - set(BACKBONE_KEYS))
    if unknown:
        raise ConfigError(f"unknown backbone settings {unknown}; known: {list(BACKBONE_KEYS)}")
    for key, value in cfg.backbone.items():
        _expect_text(f"backbone.{key}", value, optional=key == "weights")
    for name, value in cfg.data.items():
        if not isinstance(value, dict):
            raise ConfigError(f"data.{name}={value!r}: expected a group, e.g. data.{name}.root=DIR")
    if cfg.world:
        from biasbench.datactx import world_config

        world_config(cfg.world)
