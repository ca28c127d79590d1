"""The project's error types.

Every error a user can cause derives from :class:`BiasbenchError`; the CLI turns those into a
one-line message and a non-zero exit code instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path


class BiasbenchError(Exception):
    """Base class for errors caused by input, configuration or environment."""


class UnknownNameError(BiasbenchError, KeyError):
    """A registry lookup for a name that is not registered; suggests the closest names."""

    def __init__(self, kind: str, name: str, suggestions: list[str], known: list[str]):
        self.kind, self.name, self.suggestions, self.known = kind, name, suggestions, known
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown {kind} {name!r}.{hint} Registered: {', '.join(known)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class DuplicateNameError(BiasbenchError):
    """Two plugins registered under one name."""


class UnreadableInputError(BiasbenchError):
    """A video file or frame folder that cannot be decoded. Carries the offending path."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"cannot read {self.path}: {reason}")


class AnnotationError(BiasbenchError):
    """An annotation or split file that does not match its documented format."""

    def __init__(self, path: str | Path, line: int | None, reason: str):
        self.path, self.line, self.reason = str(path), line, reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


class MissingDatasetError(BiasbenchError):
    """A dataset a protocol needs is not on disk; the message shows the expected layout."""

    def __init__(self, dataset: str, looked_in: str | Path, layout: str, missing: list[str]):
        self.dataset, self.looked_in, self.layout, self.missing = (
            dataset,
            str(looked_in),
            layout,
            missing,
        )
        lines = [f"dataset {dataset!r} not found under {self.looked_in}"]
        lines += [f"  missing: {m}" for m in missing]
        lines += ["expected layout:", *("  " + ln for ln in layout.strip("\n").splitlines())]
        lines += ["set its root with --data-root DIR or --set data.<name>.root=DIR"]
        super().__init__("\n".join(lines))


class WeightsNotFoundError(BiasbenchError):
    """Pretrained weights are neither in a local file nor in a cache, and we are offline."""


class ConfigError(BiasbenchError):
    """An invalid configuration value (bad --set key, wrong type, unknown field)."""


class RunEnvironmentError(BiasbenchError):
    """The machine, not the input, stops the run: a read-only or full disk, a file where a
    folder is needed, a missing device. The CLI prints one line and exits 1."""
