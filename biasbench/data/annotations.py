"""Content identity of the annotation files a run reads.

Readers read every annotation, split and label-map file through :func:`read_annotation`.
While :func:`track_reads` is active (the harness wraps building a protocol's requests in it),
each file read is recorded as ``absolute path -> sha256``, so a run's identity covers the
exact bytes of its lists: editing a list, or pointing ``--data-root`` at another copy of a
dataset, makes a different run instead of silently reusing the old one.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

_READS: ContextVar[dict[str, str] | None] = ContextVar("biasbench_annotation_reads", default=None)


def read_annotation(path: str | Path) -> bytes:
    """The bytes of an annotation file, noted (path -> sha256) when reads are tracked."""
    data = Path(path).read_bytes()
    reads = _READS.get()
    if reads is not None:
        reads[str(Path(path).resolve())] = hashlib.sha256(data).hexdigest()
    return data


@contextlib.contextmanager
def track_reads() -> Iterator[dict[str, str]]:
    """Collect ``{absolute path: sha256}`` of every annotation file read inside the block."""
    reads: dict[str, str] = {}
    token = _READS.set(reads)
    try:
        yield reads
    finally:
        _READS.reset(token)
