"""Where the data lives: dataset roots, annotation files, and the embedded world.

Dataset locations come from (lowest to highest priority): ``<data_root>/<default folder>``,
a ``datasets.yaml`` file (``$BIASBENCH_DATASETS``, ``./datasets.yaml`` or
``~/.config/biasbench/datasets.yaml``), and the run's ``data`` settings (``--set
data.ucf101.root=DIR``). Protocols ask for a dataset by name and get its settings or a
:class:`~biasbench.errors.MissingDatasetError` that shows the expected layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biasbench.errors import ConfigError, MissingDatasetError

if TYPE_CHECKING:
    from biasbench.world.build import WorldPaths
    from biasbench.world.config import WorldConfig


def _datasets_file() -> Path | None:
    candidates = [
        os.environ.get("BIASBENCH_DATASETS"),
        "datasets.yaml",
        str(Path.home() / ".config" / "biasbench" / "datasets.yaml"),
    ]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


def read_datasets_file(path: Path) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """``(data_root, {dataset: settings})`` from a datasets.yaml; one-line errors naming it."""
    from biasbench.config import read_yaml_file

    loaded = read_yaml_file(path, "datasets file") or {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"datasets file {path}: expected a mapping of dataset name -> settings, got {loaded!r}"
        )
    root = loaded.pop("data_root", None)
    if root is not None and not isinstance(root, str):
        raise ConfigError(f"datasets file {path}: data_root={root!r}: expected a folder path")
    datasets = {}
    for name, v in loaded.items():
        if v is not None and not isinstance(v, dict):
            raise ConfigError(
                f"datasets file {path}: entry {name!r} must be a mapping of settings "
                f"(root, list files), got {v!r}"
            )
        datasets[str(name)] = dict(v or {})
    return root, datasets


def world_config(overrides: dict[str, Any]) -> WorldConfig:
    """The world a run's ``world`` settings describe: a preset (``default`` or ``small``)
    with field overrides, every value checked (cheap: nothing is generated)."""
    from biasbench.config import settings_from
    from biasbench.world.config import WorldConfig

    values = dict(overrides)
    preset = values.pop("preset", "default")
    if preset not in ("default", "small"):
        raise ConfigError(f"world.preset={preset!r}: expected 'default' or 'small'")
    base = WorldConfig.small() if preset == "small" else WorldConfig()
    merged = {**base.to_dict(), **values}
    return WorldConfig.from_dict(settings_from(WorldConfig, merged, "world").to_dict())


@dataclass
class DataContext:
    """Resolves dataset names to folders/files, and builds the embedded world on demand."""

    data_root: Path | None = None
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    world_overrides: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    _world: WorldPaths | None = None
    _used: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg, progress: bool = True) -> DataContext:
        """Merge datasets.yaml with the run config's ``data`` and ``data_root``."""
        merged: dict[str, dict[str, Any]] = {}
        yaml_root = None
        f = _datasets_file()
        if f is not None:
            yaml_root, merged = read_datasets_file(f)
        for name, v in (cfg.data or {}).items():
            if not isinstance(v, dict):
                raise ConfigError(f"data.{name} must be a group, e.g. data.{name}.root=DIR")
            merged.setdefault(name, {}).update(v)
        for name, settings in merged.items():
            root = settings.get("root")
            if root is not None and not isinstance(root, (str, os.PathLike)):
                raise ConfigError(f"data.{name}.root={root!r}: expected a folder path")
        data_root = cfg.data_root or yaml_root
        root = Path(data_root).expanduser().resolve() if data_root else None
        return cls(root, merged, dict(cfg.world or {}), progress)

    def dataset(self, name: str, default_folder: str, layout: str) -> dict[str, Any]:
        """Settings of dataset ``name`` with ``root`` resolved to an existing folder."""
        settings = dict(self.datasets.get(name, {}))
        if "root" in settings:
            root = Path(settings["root"]).expanduser().resolve()
        elif self.data_root is not None:
            root = self.data_root / default_folder
        else:
            raise MissingDatasetError(
                name, "(no --data-root given)", layout, [f"{name}: no root configured"]
            )
        if not root.is_dir():
            raise MissingDatasetError(name, root.parent, layout, [str(root)])
        settings["root"] = root
        self._used[name] = str(root)
        return settings

    def used_roots(self) -> dict[str, str]:
        """Absolute root of every dataset opened so far (the embedded world included)."""
        return dict(sorted(self._used.items()))

    def world(self) -> WorldPaths:
        """The embedded world, built (and cached) on first use."""
        if self._world is None:
            from biasbench.world.build import build_world

            cfg = world_config(self.world_overrides)
            self._world = build_world(cfg, progress=self.progress)
            self._used["world"] = str(Path(self._world.root).resolve())
        return self._world
