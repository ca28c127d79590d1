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


@dataclass
class DataContext:
    """Resolves dataset names to folders/files, and builds the embedded world on demand."""

    data_root: Path | None = None
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    world_overrides: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    _world: WorldPaths | None = None

    @classmethod
    def from_config(cls, cfg, progress: bool = True) -> DataContext:
        """Merge datasets.yaml with the run config's ``data`` and ``data_root``."""
        import yaml

        merged: dict[str, dict[str, Any]] = {}
        f = _datasets_file()
        if f is not None:
            loaded = yaml.safe_load(f.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ConfigError(f"{f}: expected a mapping of dataset name -> settings")
            root = loaded.pop("data_root", None)
            for name, v in loaded.items():
                merged[name] = dict(v or {})
            if root and not cfg.data_root:
                cfg.data_root = str(Path(root).expanduser())
        for name, v in (cfg.data or {}).items():
            if not isinstance(v, dict):
                raise ConfigError(f"data.{name} must be a group, e.g. data.{name}.root=DIR")
            merged.setdefault(name, {}).update(v)
        root = Path(cfg.data_root).expanduser() if cfg.data_root else None
        return cls(root, merged, dict(cfg.world or {}), progress)

    def dataset(self, name: str, default_folder: str, layout: str) -> dict[str, Any]:
        """Settings of dataset ``name`` with ``root`` resolved to an existing folder."""
        settings = dict(self.datasets.get(name, {}))
        if "root" in settings:
            root = Path(settings["root"]).expanduser()
        elif self.data_root is not None:
            root = self.data_root / default_folder
        else:
            raise MissingDatasetError(
                name, "(no --data-root given)", layout, [f"{name}: no root configured"]
            )
        if not root.is_dir():
            raise MissingDatasetError(name, root.parent, layout, [str(root)])
        settings["root"] = root
        return settings

    def world(self) -> WorldPaths:
        """The embedded world, built (and cached) on first use."""
        if self._world is None:
            from biasbench.config import settings_from
            from biasbench.world.build import build_world
            from biasbench.world.config import WorldConfig

            overrides = dict(self.world_overrides)
            preset = overrides.pop("preset", "default")
            if preset not in ("default", "small"):
                raise ConfigError(f"world.preset must be 'default' or 'small', not {preset!r}")
            base = WorldConfig.small() if preset == "small" else WorldConfig()
            values = {**base.to_dict(), **overrides}
            cfg = WorldConfig.from_dict(settings_from(WorldConfig, values, "world").to_dict())
            self._world = build_world(cfg, progress=self.progress)
        return self._world
