"""The ``biasbench`` command: a thin shell over library calls.

Heavy modules (torch, open_clip) are imported inside commands, so ``--help`` and ``list`` stay
fast. ``main(argv)`` takes an argument list so tests can call it in-process. Exit codes: 0 ok,
1 a run failed for a reason stated in one line (missing data, unreadable weights, a machine
that cannot hold the run: read-only or full disk, no CUDA device), 2 bad arguments or
settings. Neither prints a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from biasbench import __version__
from biasbench.errors import BiasbenchError, ConfigError, UnknownNameError

KINDS = ("protocols", "methods", "learners", "datasets")
#: commands that live in plugin folders, imported only when invoked (``--help`` stays fast and
#: the core never imports a plugin folder): name -> "module:attr"
LAZY_COMMANDS = {
    "compare": "biasbench.reports.commands:compare",
    "report": "biasbench.reports.commands:report",
    "sweep": "biasbench.sweep.commands:sweep",
}
RUN_TABLE = "biasbench.reports.table:metrics_table"


def _load(target: str):
    """The object a ``"module:attr"`` string names (imported on use)."""
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


class _Group(click.Group):
    """Turns project errors into one-line messages with the right exit code, and finds the
    report commands lazily (:data:`LAZY_COMMANDS`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS and name not in self.commands:
            self.add_command(_load(LAZY_COMMANDS[name]), name)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (UnknownNameError, ConfigError) as e:
            raise click.UsageError(str(e), ctx) from None
        except BiasbenchError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="biasbench")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def cli(verbose: bool) -> None:
    """Static-bias benchmark for open-vocabulary action recognition.

    \b
    biasbench run --method frozen-clip --protocol synth-scuba
    biasbench list protocols
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@cli.command("list")
@click.argument("kind", required=False, type=click.Choice(KINDS))
@click.option(
    "--learner",
    "-l",
    default=None,
    help="With `methods`: say which methods can train this learner, and why not.",
)
def list_cmd(kind: str | None, learner: str | None) -> None:
    """List registered protocols, methods, learners and dataset formats."""
    from biasbench.plugins import REGISTRIES

    if learner is not None:
        if kind not in (None, "methods"):
            raise click.UsageError("--learner goes with `biasbench list methods`")
        _list_methods_for(learner)
        return
    for k in [kind] if kind else KINDS:
        click.echo(f"{k}:")
        reg = REGISTRIES[k]
        for e in reg:
            alias = f" (alias: {', '.join(e.aliases)})" if e.aliases else ""
            click.echo(f"  {e.name:<14} {e.summary}{alias}")
            if k == "protocols":
                click.echo(f"  {'':<14} needs: {_needs_line(reg, e.name)}")


def _list_methods_for(learner: str) -> None:
    """Every method with "ok" or the reason it refuses ``learner`` (imports the plugins)."""
    from biasbench.plugins import LEARNERS, METHODS

    name = LEARNERS.canonical(learner)
    learner_cls = LEARNERS.get(name)
    click.echo(f"methods for learner {name}:")
    for e in METHODS:
        reason = METHODS.get(e.name)().refusal(learner_cls)
        click.echo(f"  {e.name:<14} {'refused: ' + reason if reason else 'ok'}")


def _needs_line(reg, name: str) -> str:
    """A protocol's datasets: ``name (format)``, marked when train-only or optional."""
    try:
        needs = reg.get(name).needs  # protocol modules import numpy, never torch
    except Exception as e:  # a broken outside plugin must not break the listing
        return f"(cannot import: {e})"
    parts = []
    for n in needs:
        mark = " [train only]" if n.train_only else " [optional]" if n.optional else ""
        parts.append(f"{n.name} ({n.format}){mark}")
    return "; ".join(parts) or "-"


@cli.command()
@click.option("--method", "-m", required=True, help="Method name (see `biasbench list methods`).")
@click.option("--protocol", "-p", required=True, help="Protocol name.")
@click.option("--learner", "-l", default=None, help="Learner (default: the method's own).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML/JSON file with run settings, or a shipped preset such as xclip-vit-b16 or "
    "xclip-embedded (command line wins).",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override any setting, e.g. --set eval.temporal_views=1 (repeatable).",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder holding the datasets in their official layouts.",
)
@click.option("--out", default=None, help="Where run records go (default: runs/).")
@click.option("--seed", type=int, default=None, help="Random seed (default 0).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.option(
    "--wait",
    is_flag=True,
    help="If another process is writing this run, wait for it instead of exiting.",
)
def run(method, protocol, learner, config_file, sets, data_root, out, seed, quiet, wait) -> None:
    """Train (if the method trains) and score METHOD on PROTOCOL; print the results table."""
    from biasbench.config import RunConfig, apply_overrides, from_dict, load_config_file
    from biasbench.plugins import LEARNERS, METHODS, PROTOCOLS

    # validate names before anything heavy happens
    METHODS.canonical(method)
    PROTOCOLS.canonical(protocol)
    if learner:
        LEARNERS.canonical(learner)
    cfg = from_dict(load_config_file(config_file)) if config_file else RunConfig()
    cli_values = {
        "method": method,
        "protocol": protocol,
        "learner": learner,
        "data_root": data_root,
        "out": out,
        "seed": seed,
    }
    cfg = apply_overrides(cfg, {k: v for k, v in cli_values.items() if v is not None})
    cfg = apply_overrides(cfg, list(sets))

    from biasbench.harness import run as run_harness

    metrics_table = _load(RUN_TABLE)

    outcome = run_harness(cfg, progress=not quiet, wait=wait)
    res = outcome.resolved
    title = f"{res.cfg.protocol} · {res.cfg.method} · {res.learner} · seed {res.seed}"
    if outcome.reused:
        title += " (complete run found; not recomputed)"
    click.echo(metrics_table(title, outcome.metrics, outcome.embedded, str(outcome.path)).to_text())
    if outcome.unreadable:
        click.echo(
            f"{outcome.unreadable} unreadable inputs skipped; listed in "
            f"{outcome.path / 'sets.json'}",
            err=True,
        )


@cli.group()
def world() -> None:
    """The embedded synthetic static-bias world."""


@world.command("build")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a WorldConfig field, e.g. --set seed=1.",
)
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None)
def world_build(sets, cache_dir) -> None:
    """Generate the world and pretrain its tiny CLIP (cached; instant when built)."""
    from biasbench.config import parse_assignment, settings_from
    from biasbench.world.build import build_world
    from biasbench.world.config import WorldConfig

    overrides = {}
    for s in sets:
        path, value = parse_assignment(s)
        overrides[".".join(path)] = value
    cfg = settings_from(WorldConfig, overrides, "world")
    paths = build_world(cfg, Path(cache_dir) if cache_dir else None, progress=True)
    click.echo(f"world ready: {paths.root}")


@cli.group()
def data() -> None:
    """Inspect and check datasets."""


@data.command("inspect")
@click.option(
    "--format", "fmt", required=True, help="Reader format (see `biasbench list datasets`)."
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
def data_inspect(fmt: str, paths) -> None:
    """Print a JSON summary of what the FORMAT reader parsed from PATHS."""
    from biasbench.plugins import DATASETS

    reader = DATASETS.get(fmt)
    sets = reader.inspect([Path(p) for p in paths])
    click.echo(json.dumps([vs.summary() for vs in sets], indent=2, default=str))


@data.command("check")
@click.option("--protocol", "-p", required=True, help="Protocol whose datasets to check.")
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder holding the datasets in their official layouts.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a setting, e.g. --set data.ucf101.root=DIR (repeatable).",
)
@click.option(
    "--samples",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="Videos decoded per set.",
)
@click.option("--no-train", is_flag=True, help="Skip the training set (methods that do not train).")
@click.option("--strict", is_flag=True, help="Also fail on missing or undecodable videos.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.pass_context
def data_check(ctx, protocol, data_root, sets, samples, no_train, strict, as_json) -> None:
    """Check that everything PROTOCOL needs exists and decodes; exit 1 if something is missing."""
    from biasbench.config import RunConfig, apply_overrides
    from biasbench.datacheck import check_protocol
    from biasbench.plugins import PROTOCOLS

    PROTOCOLS.canonical(protocol)
    values = {"protocol": protocol, **({"data_root": data_root} if data_root else {})}
    cfg = apply_overrides(apply_overrides(RunConfig(), values), list(sets))
    report = check_protocol(cfg, samples=samples, with_train=not no_train)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.render())
    if not report.ok(strict):
        ctx.exit(1)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code instead of exiting when called with ``argv``."""
    try:
        code = cli.main(args=argv, prog_name="biasbench", standalone_mode=False)
        if isinstance(code, int):  # click returns ctx.exit(n)'s code without standalone mode
            return code
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.UsageError as e:  # bad arguments: one line, exit code 2
        click.echo(f"error: {e.format_message()}", err=True)
        return 2
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    except OSError as e:  # last resort (full disk, read-only folder): one line, exit 1
        click.echo(f"error: {os_error_line(e)}", err=True)
        return 1
    return 0


def os_error_line(e: OSError) -> str:
    """An operating-system error in one line, naming the file(s): ``FILE: reason``."""
    reason = e.strerror or (str(e).splitlines() or [type(e).__name__])[0]
    files = " -> ".join(str(f) for f in (e.filename, e.filename2) if f)
    return f"{files}: {reason}" if files else reason


if __name__ == "__main__":
    sys.exit(main())
