"""Outside plugins registered through entry points are listed and run (docs/extending.md).

The worked examples of docs/extending.md — its ``# my_plugins/<module>.py`` code blocks and
its pyproject entry-point snippet — are written to a package in ``tmp_path`` next to a
``.dist-info`` folder declaring those entry points, as ``pip install`` would. Registries read
entry points once per process, so the listing and the run happen in subprocesses with that
folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "extending.md"
DIST = "my-plugins"


def doc_modules() -> dict[str, str]:
    """The docs' python blocks whose first line names a file: relative path -> code."""
    blocks = re.findall(r"```python\n# (\S+\.py)\n(.*?)```", DOC.read_text(), re.S)
    return dict(blocks)


def doc_entry_points() -> dict[str, dict[str, str]]:
    """Group -> {name: "module:attr"} from the docs' ``pyproject.toml`` snippet."""
    groups: dict[str, dict[str, str]] = {}
    for block in re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S):
        group = None
        for line in block.splitlines():
            if header := re.fullmatch(r'\[project\.entry-points\."([^"]+)"\]', line.strip()):
                group = groups.setdefault(header[1], {})
            elif (
                item := re.fullmatch(r'(\S+)\s*=\s*"([^"]+)"', line.strip())
            ) and group is not None:
                group[item[1]] = item[2]
    return groups


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    """A folder holding the docs' package and its ``.dist-info`` (what pip would install)."""
    root = tmp_path_factory.mktemp("site")
    for rel, code in doc_modules().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(code)
    info = root / "my_plugins-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in eps.items())
            for group, eps in doc_entry_points().items()
        )
    )
    return root


def run_python(args: list[str], plugin_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    """``python args`` with the plugin folder importable (the session's cache and offline
    flags are inherited from tests/conftest.py)."""
    path = os.pathsep.join(filter(None, [str(plugin_dir), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_docs_declare_one_plugin_of_each_kind():
    eps = doc_entry_points()
    assert set(doc_modules()) == {f"my_plugins/{m}.py" for m in ("protocol", "learner", "method")}
    assert {g: list(v) for g, v in eps.items()} == {
        "biasbench.protocols": ["world-oc"],
        "biasbench.learners": ["middle-frame"],
        "biasbench.methods": ["label-smooth"],
    }


def test_entry_point_plugins_are_listed_without_importing_torch(plugin_dir, tmp_path):
    code = (
        "import sys; from biasbench.cli import main; code = main(['list']);"
        "print('HEAVY', [m for m in ('torch', 'open_clip') if m in sys.modules], code)"
    )
    res = run_python(["-c", code], plugin_dir, tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    for group, eps in doc_entry_points().items():
        for name in eps:
            line = next((ln for ln in lines if ln.split()[:1] == [name]), None)
            assert line is not None, f"{group} {name} not listed:\n{res.stdout}"
            assert f"(plugin from {DIST})" in line
    needs = lines[lines.index(next(ln for ln in lines if ln.split()[:1] == ["world-oc"])) + 1]
    assert "needs: world (ucf101+scuba)" in needs  # the protocol module was imported
    assert "HEAVY [] 0" in res.stdout


def test_entry_point_method_learner_and_protocol_run_end_to_end(plugin_dir, small_world, tmp_path):
    out = tmp_path / "runs"
    args = ["run", "--method", "label-smooth", "--learner", "middle-frame"]
    args += ["--protocol", "world-oc", "--out", str(out), "-q"]
    for setting in ("world.preset=small", "num_workers=0", "method.epochs=1"):
        args += ["--set", setting]
    args += ["--set", "method.smoothing=0.2", "--set", "protocol.subsample=2"]
    args += ["--set", "learner.num_frames=2"]  # only the middle frame is encoded anyway
    res = run_python(["-m", "biasbench.cli", *args], plugin_dir, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr

    (marker,) = out.rglob("COMPLETE")
    record = marker.parent
    stored = json.loads((record / "metrics.json").read_text())
    metrics = {m["name"]: m for m in stored["metrics"]}
    assert list(metrics) == ["oc_top1", "oc_top5"]
    assert metrics["oc_top1"]["n"] == (oc_video_count(small_world) + 1) // 2  # every second
    assert 0 <= metrics["oc_top1"]["value"] <= metrics["oc_top5"]["value"] <= 100
    assert stored["embedded_world"] is True
    assert stored["report"] == {
        "family": "other",
        "dataset": "World",
        "metric_order": ["oc_top1", "oc_top5"],
    }
    identity = json.loads((record / "config.json").read_text())["identity"]
    assert identity["protocol_settings"] == {"subsample": 2}
    assert identity["learner_settings"] == {"num_frames": 2}
    resolved = json.loads(next(record.rglob("resolved_settings.json")).read_text())
    assert resolved["method"] == "label-smooth" and resolved["settings"]["smoothing"] == 0.2
    assert resolved["settings"]["epochs"] == 1
    steps = next(record.rglob("steps.csv")).read_text().splitlines()
    assert len(steps) == 1 + resolved["total_updates"]  # header + every update of the recipe
    assert "oc_top1" in res.stdout  # the results table


def oc_video_count(world) -> int:
    """How many videos the world's out-of-context set has, read with the real reader."""
    from biasbench.data.readers.scuba import read_scuba
    from biasbench.world.writer import SCUBA_LIST

    return len(read_scuba(world.scuba_root / SCUBA_LIST, world.scuba_root / "frames"))
