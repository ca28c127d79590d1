"""One generic registry for every plugin kind (datasets, learners, methods, protocols).

Names map to ``"module:attr"`` strings so that listing what exists imports nothing heavy; the
target is imported on first use. Plugins register either in the built-in table below, with the
``@register`` decorator in their own module (used when that module is imported), or from other
packages through the ``biasbench.<kind>`` entry-point groups.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from biasbench.errors import DuplicateNameError, UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """A registered name: where it lives, a one-line summary, and names it answers to."""

    name: str
    target: str  # "package.module:attr"
    summary: str = ""
    aliases: tuple[str, ...] = ()


class Registry(Generic[T]):
    """A name -> lazily imported object table for one plugin kind."""

    def __init__(self, kind: str, group: str | None = None):
        self.kind = kind
        self.group = group or f"biasbench.{kind}s"
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        self._loaded: dict[str, T] = {}
        self._entry_points_read = False

    # -- registration -------------------------------------------------------------------
    def add(self, name: str, target: str, summary: str = "", aliases: tuple[str, ...] = ()) -> None:
        """Register ``name`` -> ``"module:attr"``. A name or alias taken twice is an error."""
        for n in (name, *aliases):
            if n in self._entries or n in self._aliases:
                existing = self._entries.get(n) or self._entries[self._aliases[n]]
                if existing.target == target:
                    return  # the same plugin seen twice (module imported twice): harmless
                raise DuplicateNameError(
                    f"{self.kind} name {n!r} is already registered to {existing.target}; "
                    f"cannot register it again for {target}"
                )
        self._entries[name] = Entry(name, target, summary, tuple(aliases))
        for a in aliases:
            self._aliases[a] = name

    def register(
        self, name: str, summary: str = "", aliases: tuple[str, ...] = ()
    ) -> Callable[[T], T]:
        """Decorator form of :meth:`add` for plugins defined outside the built-in table."""

        def deco(obj: T) -> T:
            target = f"{obj.__module__}:{obj.__qualname__}"  # type: ignore[attr-defined]
            self.add(name, target, summary or _first_line(obj.__doc__), aliases)
            self._loaded[name] = obj
            return obj

        return deco

    # -- lookup -------------------------------------------------------------------------
    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for ep in entry_points(group=self.group):
            self.add(ep.name, ep.value, summary=f"(plugin from {ep.dist.name if ep.dist else '?'})")

    def canonical(self, name: str) -> str:
        """Resolve aliases; raise :class:`UnknownNameError` with suggestions if unknown."""
        self._read_entry_points()
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        known = sorted(self._entries)
        pool = known + sorted(self._aliases)
        close = difflib.get_close_matches(name, pool, n=3, cutoff=0.5)
        raise UnknownNameError(self.kind, name, close, known)

    def entry(self, name: str) -> Entry:
        return self._entries[self.canonical(name)]

    def get(self, name: str) -> T:
        """Import (once) and return the object registered under ``name``."""
        key = self.canonical(name)
        if key not in self._loaded:
            module, _, attr = self._entries[key].target.partition(":")
            obj: Any = importlib.import_module(module)
            for part in filter(None, attr.split(".")):  # "pkg.mod:" names the module itself
                obj = getattr(obj, part)
            self._loaded[key] = obj
        return self._loaded[key]

    def names(self) -> list[str]:
        self._read_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._read_entry_points()
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[n] for n in self.names())


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""
