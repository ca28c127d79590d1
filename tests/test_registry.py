"""Registry behaviour: lazy targets, duplicates, suggestions, entry points, cheap listing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from biasbench.errors import DuplicateNameError, UnknownNameError
from biasbench.plugins import REGISTRIES
from biasbench.registry import Registry


def test_lazy_target_is_imported_on_get_only():
    reg = Registry("thing")
    reg.add("json-dumps", "json:dumps", "serialise")
    import json

    assert reg.get("json-dumps") is json.dumps
    assert reg.names() == ["json-dumps"]


def test_module_target_without_attribute():
    reg = Registry("thing")
    reg.add("mod", "json:")
    import json

    assert reg.get("mod") is json


def test_duplicate_name_is_an_error_but_same_target_is_idempotent():
    reg = Registry("thing")
    reg.add("a", "json:dumps")
    reg.add("a", "json:dumps")  # the same plugin registered twice is harmless
    with pytest.raises(DuplicateNameError, match="already registered"):
        reg.add("a", "json:loads")
    reg.add("b", "json:loads", aliases=("bee",))
    with pytest.raises(DuplicateNameError):
        reg.add("bee", "os:getcwd")


def test_unknown_name_suggests_closest_including_aliases():
    reg = Registry("method")
    reg.add("zero-shot", "json:dumps", aliases=("frozen-clip",))
    reg.add("open-vclip", "json:loads")
    with pytest.raises(UnknownNameError) as e:
        reg.get("frozn-clip")
    assert e.value.suggestions[0] == "frozen-clip"
    assert "Did you mean: frozen-clip" in str(e.value)
    assert reg.canonical("frozen-clip") == "zero-shot"


def test_decorator_registers_and_keeps_object():
    reg = Registry("learner")

    @reg.register("mine", summary="my learner")
    class Mine:
        """Doc."""

    assert reg.get("mine") is Mine
    assert reg.entry("mine").summary == "my learner"


def test_entry_point_plugins_are_discovered(monkeypatch):
    class EP:
        name, value, dist = "ext", "json:dumps", None

    import biasbench.registry as R

    monkeypatch.setattr(
        R, "entry_points", lambda group: [EP()] if group == "biasbench.things" else []
    )
    reg = Registry("thing")
    import json

    assert reg.get("ext") is json.dumps


def test_every_builtin_entry_resolves():
    """Contract: every registered name imports to a real object (no dangling table rows)."""
    for reg in REGISTRIES.values():
        for entry in reg:
            assert reg.get(entry.name) is not None, entry


def test_listing_imports_neither_torch_nor_open_clip():
    code = (
        "import sys; from biasbench.cli import main; main(['list']); main(['--help']);"
        "bad = [m for m in ('torch', 'open_clip') if m in sys.modules]; print('HEAVY', bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout
