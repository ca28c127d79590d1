"""The installed package: the wheel holds the whole source tree and runs on its own.

The wheel is built offline with ``pip wheel --no-deps --no-build-isolation -w DIR .`` run in
a pristine copy of the repository root (building in the checkout would write ``build/`` and
``*.egg-info`` into the working tree, and a stale ``build/lib`` would ship deleted modules).
It is checked against the source tree, then installed into a fresh virtual environment
outside the checkout and used from a folder outside it.

That environment must not see the checkout. A ``--system-site-packages`` venv would run the
editable install's ``.pth`` hook, whose import finder serves any ``biasbench.*`` module
missing from the wheel straight from the checkout — exactly the defect this test exists to
catch. So the venv has no system site packages; a ``.pth`` file in it lists the current
interpreter's site-packages folders as plain paths (a path line never runs the ``.pth``
files inside that folder), which makes torch and the other dependencies importable without
reinstalling them, while ``biasbench`` comes only from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from biasbench.plugins import REGISTRIES

REPO = Path(__file__).resolve().parents[1]
#: source folder -> where it lies inside the wheel
FOLDERS = {
    "biasbench": "biasbench",
    "protocols": "biasbench/protocols",
    "baselines": "biasbench/baselines",
    "methods": "biasbench/methods",
    "reports": "biasbench/reports",
}
#: package data the code reads at run time (source globs)
PACKAGE_DATA = (
    "biasbench/configs/*.yaml",
    "biasbench/models/configs/*.json",
    "reports/templates/*.html",
    "biasbench/py.typed",
)
#: build and run leftovers never copied into the build tree (any level / top level only)
LEFTOVERS = {".git", "build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache", ".venv"}
TOP_LEVEL_OUTPUTS = {"runs", "out", "report"}


def installed_name(source: Path) -> str:
    """Where a file of a mapped folder lies inside the wheel."""
    rel = source.relative_to(REPO)
    return "/".join([FOLDERS[rel.parts[0]], *rel.parts[1:]])


def _copy_ignore(folder: str, names: list[str]) -> set[str]:
    top = Path(folder) == REPO
    return {
        n
        for n in names
        if n in LEFTOVERS or n.endswith(".egg-info") or (top and n in TOP_LEVEL_OUTPUTS)
    }


def offline_env(**extra: str) -> dict[str, str]:
    """The test's environment without PYTHONPATH, user site or network use."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(
        PYTHONNOUSERSITE="1",
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        HF_HUB_OFFLINE="1",
        BIASBENCH_OFFLINE="1",
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the repository root."""
    base = tmp_path_factory.mktemp("wheel")
    tree = base / "src"
    shutil.copytree(REPO, tree, ignore=_copy_ignore)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    res = subprocess.run(
        [*cmd, "-w", str(base / "dist"), "."],
        cwd=tree,
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    (whl,) = (base / "dist").glob("biasbench-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel) -> Iterator[Path]:
    """A fresh venv outside the checkout with the wheel installed (``--no-deps``)."""
    root = Path(tempfile.mkdtemp(prefix="biasbench-venv-"))
    assert not root.resolve().is_relative_to(REPO)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        purelib = Path(venv_paths(root)["purelib"])
        third_party = [*site.getsitepackages()]
        if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
            third_party.append(site.getusersitepackages())
        (purelib / "_biasbench_test_third_party.pth").write_text("\n".join(third_party) + "\n")
        install = [str(python_of(root)), "-m", "pip", "install", "-q", "--no-deps"]
        install += ["--ignore-installed", "--no-warn-script-location", str(wheel)]
        res = subprocess.run(install, cwd=root, env=offline_env(), capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def python_of(venv_root: Path) -> Path:
    return venv_root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def venv_paths(venv_root: Path) -> dict[str, str]:
    """The venv's install scheme (``purelib``, ``scripts``) as its own interpreter sees it."""
    code = "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"
    out = subprocess.run([str(python_of(venv_root)), "-c", code], capture_output=True, text=True)
    return json.loads(out.stdout)


def run_in_venv(venv_root: Path, args: list[str], cwd: Path, **env: str):
    """A command of the venv (``python`` or a console script) from a folder outside the
    checkout, with the editable install out of reach."""
    assert not cwd.resolve().is_relative_to(REPO)
    exe = Path(venv_paths(venv_root)["scripts"]) / args[0]
    return subprocess.run(
        [str(exe), *args[1:]],
        cwd=cwd,
        env=offline_env(**env),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_wheel_holds_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = [p for folder in FOLDERS for p in (REPO / folder).rglob("*.py")]
    expected = {installed_name(p) for p in sources}
    shipped = {n for n in names if n.endswith(".py")}
    assert not expected - shipped, f"modules missing from the wheel: {sorted(expected - shipped)}"
    assert not shipped - expected, f"modules not in the source tree: {sorted(shipped - expected)}"
    for pattern in PACKAGE_DATA:
        files = sorted(REPO.glob(pattern))
        assert files, f"no source file matches {pattern}"
        missing = [installed_name(f) for f in files if installed_name(f) not in names]
        assert not missing, f"package data missing from the wheel: {missing}"
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "biasbench = biasbench.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


#: run in the venv: import every registry target, report where every biasbench module came from
IMPORT_ALL = """
import json, sys
import biasbench
from biasbench.plugins import REGISTRIES
failed, count = {}, 0
for kind, reg in REGISTRIES.items():
    for name in reg.names():
        count += 1
        try:
            assert reg.get(name) is not None
        except Exception as e:
            failed[f"{kind}/{name}"] = repr(e)
modules = {
    n: getattr(m, "__file__", None)
    for n, m in sys.modules.items()
    if n == "biasbench" or n.startswith("biasbench.")
}
print(json.dumps({
    "file": biasbench.__file__, "prefix": sys.prefix, "count": count, "failed": failed,
    "modules": modules, "finders": [repr(f) for f in sys.meta_path],
}))
"""


def test_the_venv_imports_every_registry_target_from_the_wheel(venv, tmp_path):
    res = run_in_venv(venv, ["python", "-c", IMPORT_ALL], tmp_path)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.splitlines()[-1])
    purelib = Path(venv_paths(venv)["purelib"]).resolve()
    assert Path(got["prefix"]).resolve() == venv.resolve()
    assert Path(got["file"]).resolve() == purelib / "biasbench" / "__init__.py"
    assert not any("Editable" in f for f in got["finders"]), got["finders"]
    assert not got["failed"], got["failed"]
    assert got["count"] == sum(len(reg.names()) for reg in REGISTRIES.values())
    outside = {n: f for n, f in got["modules"].items() if not f or purelib not in Path(f).parents}
    assert not outside, f"biasbench modules not loaded from the wheel: {outside}"
    plugin_modules = [n for n in got["modules"] if n.startswith("biasbench.baselines.recipes.")]
    assert plugin_modules  # the registry targets really were imported


def test_the_installed_cli_lists_and_runs_the_small_world(venv, small_world, tmp_path):
    listed = run_in_venv(venv, ["biasbench", "list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    for kind, reg in REGISTRIES.items():
        for name in reg.names():
            assert f"  {name} " in listed.stdout, f"{kind} {name} not listed"

    cache = os.environ["BIASBENCH_CACHE"]  # the session cache small_world was built in
    assert Path(small_world.root).resolve().is_relative_to(Path(cache).resolve())
    out = tmp_path / "runs"
    args = ["biasbench", "run", "--method", "zero-shot", "--protocol", "synth-scuba"]
    args += ["--set", "world.preset=small", "--set", "num_workers=0", "--out", str(out), "-q"]
    res = run_in_venv(venv, args, tmp_path, BIASBENCH_CACHE=cache)
    assert res.returncode == 0, res.stdout + res.stderr
    (marker,) = out.rglob("COMPLETE")
    metrics = json.loads((marker.parent / "metrics.json").read_text())["metrics"]
    assert {"ic_top1", "oc_top1", "hm_top1", "scufo_top1"} <= {m["name"] for m in metrics}
    assert all(m["n"] for m in metrics)
    provenance = json.loads((marker.parent / "provenance.json").read_text())
    scripts = Path(venv_paths(venv)["scripts"]).resolve()
    assert Path(provenance["argv"][0]).resolve().parent == scripts
    assert str(small_world.root) in (marker.parent / "config.json").read_text()  # not rebuilt
