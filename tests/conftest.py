"""Shared fixtures: an isolated cache, and the small embedded world built once per session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Tests never touch the user's cache and never reach a model hub.
_SESSION_CACHE = Path(tempfile.mkdtemp(prefix="biasbench-test-cache-"))
os.environ["BIASBENCH_CACHE"] = str(_SESSION_CACHE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("BIASBENCH_OFFLINE", "1")


@pytest.fixture(scope="session")
def small_world():
    """The reduced embedded world (generation + tiny-CLIP pretraining), built once."""
    from biasbench.world.build import build_world
    from biasbench.world.config import WorldConfig

    return build_world(WorldConfig.small(), cache_dir=_SESSION_CACHE, progress=False)


def pytest_sessionfinish(session, exitstatus):
    """Remove the session's private cache (worlds, classifiers) so runs do not pile up."""
    shutil.rmtree(_SESSION_CACHE, ignore_errors=True)
