"""The ``biasbench sweep`` commands (added lazily to the CLI; ``--help`` imports no torch).

``biasbench sweep PLAN`` runs a plan (``sweep run PLAN`` spelled out), ``biasbench sweep
status PLAN`` shows its state, ``biasbench sweep list`` the shipped plans. PLAN is a YAML
file or the name of a shipped plan.
"""

from __future__ import annotations

import click

LAUNCHER_CHOICES = ("local", "slurm")


class _PlanGroup(click.Group):
    """A group whose first argument, when it is not a subcommand, is a plan to run."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


_out = click.option(
    "--out", default=None, help="Run folder for every run (default: the plan's out)."
)
_data_root = click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder holding the datasets in their official layouts (passed to every run).",
)


@click.group("sweep", cls=_PlanGroup, subcommand_metavar="PLAN [OPTIONS] | status PLAN | list")
def sweep() -> None:
    """Run a plan of many runs: skip complete ones, resume partial ones, report at the end.

    \b
    biasbench sweep embedded-study             # a shipped plan, local launcher
    biasbench sweep PLAN.yaml --dry-run        # every run, its state and its command
    biasbench sweep PLAN.yaml --launcher slurm # one submitit job array
    biasbench sweep status PLAN.yaml           # done / running / failed / pending
    biasbench sweep list                       # shipped plans
    """


@sweep.command("run")
@click.argument("plan")
@click.option("--dry-run", is_flag=True, help="Print the runs and their state; run nothing.")
@click.option(
    "--launcher", type=click.Choice(LAUNCHER_CHOICES), default=None, help="Default: the plan's."
)
@click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=None, help="Concurrent local runs."
)
@_out
@_data_root
@click.option("--no-report", is_flag=True, help="Do not call `biasbench report` at the end.")
@click.option("--no-wait", is_flag=True, help="slurm: submit and return (see `sweep status`).")
@click.pass_context
def run_cmd(ctx, plan, dry_run, launcher, jobs, out, data_root, no_report, no_wait) -> None:
    """Run every run of PLAN that is not complete (a file or a shipped plan name)."""
    from .driver import Sweep, SweepOptions, run_sweep

    options = SweepOptions(launcher, jobs, dry_run, not no_report, not no_wait)
    ctx.exit(run_sweep(Sweep.open(plan, out, data_root), options, click.echo))


@sweep.command("status")
@click.argument("plan")
@_out
@_data_root
@click.option(
    "--lines",
    "-n",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Log lines shown per failed run.",
)
@click.pass_context
def status_cmd(ctx, plan, out, data_root, lines) -> None:
    """Done, running, failed and pending runs of PLAN, with each failure's last log lines."""
    from .driver import Sweep, show_status

    ctx.exit(show_status(Sweep.open(plan, out, data_root), lines, click.echo))


@sweep.command("list")
def list_cmd() -> None:
    """The shipped plans and what each regenerates."""
    from .plan import load_plan, shipped_plans

    for name in shipped_plans():
        click.echo(f"  {name:<22} {load_plan(name).description}")
