"""Run configuration: precedence, --set parsing, validation errors."""

from __future__ import annotations

import pytest

from biasbench.config import RunConfig, apply_overrides, from_dict, load_config_file
from biasbench.errors import ConfigError


def test_set_parses_yaml_values_and_short_group_names():
    cfg = apply_overrides(
        RunConfig(),
        [
            "eval.temporal_views=1",
            "method.lr=1e-5",
            "seed=3",
            "data.ucf101.root=/x",
            "eval.store_embeddings=true",
        ],
    )
    assert cfg.eval.temporal_views == 1 and cfg.eval.store_embeddings is True
    assert cfg.method_cfg == {"lr": 1e-5}
    assert cfg.seed == 3 and cfg.data == {"ucf101": {"root": "/x"}}


def test_unknown_keys_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown setting 'bogus'"):
        apply_overrides(RunConfig(), ["bogus=1"])
    with pytest.raises(ConfigError, match="eval.views"):
        apply_overrides(RunConfig(), ["eval.views=3"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(RunConfig(), ["seed"])
    with pytest.raises(ConfigError, match="expects a number"):
        apply_overrides(RunConfig(), ["eval.temporal_views=many"])


def test_file_then_command_line(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("seed: 4\neval:\n  temporal_views: 2\nmethod_cfg:\n  epochs: 3\n")
    cfg = from_dict(load_config_file(f))
    assert cfg.seed == 4 and cfg.eval.temporal_views == 2 and cfg.method_cfg == {"epochs": 3}
    cfg = apply_overrides(cfg, ["seed=5"])
    assert cfg.seed == 5 and cfg.eval.temporal_views == 2
