"""``biasbench sweep``: plans, expansion, state, the local and submitit launchers, real SLURM.

Runs here use the ``dummy`` learner on the small embedded world (the session ``small_world``
fixture's cache, which child processes inherit through ``BIASBENCH_CACHE``), so a run takes
seconds. The shipped real-data plans are dry-run against tiny trees in the official layouts
(the helpers of ``test_protocols.py``) with a fake weights file: resolution must find every
dataset and hash every file without running anything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from test_protocols import official_trees

from biasbench.cli import main
from biasbench.config import parse_assignment
from biasbench.runrecord import RunLock
from biasbench.sweep.expand import expand, format_value
from biasbench.sweep.local import child_env
from biasbench.sweep.logs import SweepLog
from biasbench.sweep.plan import load_plan, shipped_plans
from biasbench.sweep.slurm import job_state
from biasbench.sweep.state import DONE, PENDING, RUNNING, run_status

REAL_PLANS = [p for p in shipped_plans() if p.startswith("openmede-")]
EMBEDDED_PLANS = [p for p in shipped_plans() if p.startswith("embedded-")]
#: runs of every shipped plan (the grid, its exclusions and its deduplication, pinned)
PLAN_RUNS = {
    "openmede-table1": 28,
    "openmede-table2": 21,
    "openmede-table3": 12,
    "openmede-table4": 24,
    "openmede-table5": 10,
    "openmede-supp-table9": 4,
    "openmede-epoch-curves": 6,
    "embedded-study": 30,
    "embedded-table4": 36,
    "embedded-dial": 18,
    "embedded-motion": 2,
}
SMALL = {"world.preset": "small"}


def write_plan(path: Path, out: Path, grid: dict, **extra) -> Path:
    doc = {"name": path.stem, "out": str(out), "grid": grid, **extra}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def tiny_grid(**kw) -> dict:
    """Two zero-shot runs of the dummy learner on the small world, seeds 0 and 1."""
    grid = {
        "methods": ["zero-shot"],
        "learners": ["dummy"],
        "protocols": ["synth-scuba"],
        "seeds": [0, 1],
        "sets": dict(SMALL),
    }
    return {**grid, **kw}


def records(out: Path) -> dict[str, list]:
    """Complete run folders under ``out`` (relative) -> their metrics."""
    return {
        str(p.parent.relative_to(out)): json.loads((p.parent / "metrics.json").read_text())[
            "metrics"
        ]
        for p in sorted(out.rglob("COMPLETE"))
    }


def _states(plan: Path):
    from biasbench.sweep.state import statuses

    p = load_plan(plan)
    return statuses(expand(p), SweepLog.of(Path(p.out).resolve(), p.name))


# -- plans -------------------------------------------------------------------------------


BROKEN = {
    "unknown-key": ("grdi: {}\nout: runs\n", "unknown key 'grdi'"),
    "no-grid": ("out: runs\n", "grid: missing"),
    "unknown-method": (
        "out: runs\ngrid: {methods: [openmed], protocols: [synth-scuba]}\n",
        "grid.methods: unknown method 'openmed'. Did you mean: openmede",
    ),
    "bad-seeds": (
        "out: runs\ngrid: {methods: [plain], protocols: [synth-scuba], seeds: [a]}\n",
        "grid.seeds: expected whole numbers",
    ),
    "unknown-setting": (
        "out: runs\ngrid: {methods: [plain], protocols: [synth-scuba], sets: {wrld.p_home: [1]}}\n",
        "grid.sets: unknown setting 'wrld.p_home'",
    ),
    "bad-rule": (
        "out: runs\ngrid: {methods: [plain], protocols: [synth-scuba]}\nexclude: [{methd: plain}]\n",
        "exclude[0].methd: unknown rule key",
    ),
    "bad-jobs": (
        "out: runs\ngrid: {methods: [plain], protocols: [synth-scuba]}\n"
        "launcher: {local: {jobs: two}}\n",
        "launcher.local.jobs: expected a whole number",
    ),
    "bad-preset": (
        "out: runs\ngrid: {methods: [plain], protocols: [synth-scuba], config: vclip-embeded}\n",
        "grid.config: config file vclip-embeded does not exist",
    ),
    "not-yaml": ("out: runs\ngrid: [\n", "not valid YAML/JSON (line"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_plan_errors_are_one_line_naming_file_and_key(case, tmp_path, capsys):
    text, expected = BROKEN[case]
    plan = tmp_path / f"{case}.yaml"
    plan.write_text(text)
    assert main(["sweep", str(plan), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(plan) in err and expected in err, err


def test_unknown_plan_name_suggests_shipped_plans(capsys):
    assert main(["sweep", "status", "embedded-studdy"]) == 2
    assert "did you mean embedded-study" in capsys.readouterr().err


def test_expansion_product_exclusions_and_duplicates(tmp_path):
    plan = write_plan(
        tmp_path / "grid.yaml",
        tmp_path / "runs",
        [
            {
                "methods": ["plain", "openmede"],
                "learners": ["vclip", "xclip"],
                "protocols": ["synth-scuba", "synth-xd"],
                "seeds": [0, 1, 2],
                "sets": {"method.epochs": [3, 6], "eval.temporal_views": 1},
                "exclude": [{"learner": "xclip", "method.epochs": 6}],
            },
            # a second grid repeating runs of the first: counted once
            {
                "methods": ["plain"],
                "learners": ["vclip"],
                "protocols": ["synth-scuba"],
                "sets": {"method.epochs": 3, "eval.temporal_views": 1},
            },
        ],
        exclude=[{"method": "openmede", "protocol": "synth-xd", "seed": [1, 2]}],
    )
    runs = expand(load_plan(plan))
    # 2 x 2 x 2 x 3 x 2 = 48; minus xclip at 6 epochs (12); minus openmede on synth-xd for
    # seeds 1 and 2 (8, of which 2 were xclip at 6 epochs already) = 30; the repeat adds none
    assert len(runs) == 30
    assert [r.seed for r in runs] == sorted(r.seed for r in runs)  # seeds outermost
    assert len({r.key for r in runs}) == 30
    assert all(r.out == str((tmp_path / "runs").resolve()) for r in runs)


@pytest.mark.parametrize("plan", sorted(PLAN_RUNS))
def test_shipped_plan_run_counts(plan):
    assert len(expand(load_plan(plan))) == PLAN_RUNS[plan]


def test_every_shipped_plan_is_pinned_and_listed(capsys):
    assert sorted(PLAN_RUNS) == shipped_plans()
    assert main(["sweep", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PLAN_RUNS)


@pytest.mark.parametrize("value", [1 / 28, 0.9, 1e-5, True, "small", [1, 2], None, 3])
def test_set_values_reach_the_run_unchanged(value):
    assert parse_assignment(f"k={format_value(value)}")[1] == value


def test_sweep_help_imports_no_torch():
    code = "import sys; from biasbench.cli import main; main(['sweep', '--help']); "
    code += "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "biasbench sweep embedded-study" in out.stdout
    assert out.stdout.strip().endswith("False")


# -- dry runs of the shipped plans ---------------------------------------------------------


@pytest.fixture(scope="module")
def reference_tree(small_world, tmp_path_factory) -> Path:
    """Every dataset the real protocols read, tiny, in its official layout."""
    root = official_trees(small_world, tmp_path_factory.mktemp("reference"))
    (root / "UCF-SCUBA").symlink_to(small_world.scuba_root)
    return root


@pytest.mark.parametrize("plan", REAL_PLANS)
def test_real_data_plan_dry_run_resolves_every_run(
    plan, reference_tree, tmp_path, monkeypatch, capsys
):
    weights = tmp_path / "ViT-B-16.pt"
    weights.write_bytes(b"not really weights: resolution only hashes the file")
    monkeypatch.setenv("BIASBENCH_WEIGHTS", str(weights))
    out = tmp_path / "runs"
    args = ["sweep", plan, "--dry-run", "--data-root", str(reference_tree), "--out", str(out)]
    assert main(args) == 0, capsys.readouterr()
    text = capsys.readouterr().out
    n = PLAN_RUNS[plan]
    assert f"{n} run(s) under {out}" in text and f"{n} pending" in text
    assert text.count("record: runs/") == n  # every run resolved to its folder
    assert "invalid" not in text
    assert not out.exists()  # nothing was run or written


@pytest.mark.parametrize("plan", EMBEDDED_PLANS)
def test_embedded_plan_dry_run_builds_nothing(plan, tmp_path, capsys):
    from biasbench.world.build import default_cache_dir

    worlds = sorted(default_cache_dir().glob("world-*"))
    assert main(["sweep", plan, "--dry-run", "--out", str(tmp_path / "runs")]) == 0
    text = capsys.readouterr().out
    assert f"{PLAN_RUNS[plan]} pending" in text and "invalid" not in text
    assert "not built yet" in text  # the plans' worlds are not the tests' small world
    assert sorted(default_cache_dir().glob("world-*")) == worlds
    assert not (tmp_path / "runs").exists()


# -- launching --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_sweep(small_world, tmp_path_factory):
    """The tiny plan run once by the local launcher (2 jobs); its report called at the end."""
    tmp = tmp_path_factory.mktemp("local")
    report = tmp / "report"
    plan = write_plan(
        tmp / "tiny.yaml",
        tmp / "runs",
        tiny_grid(),
        launcher={"local": {"jobs": 2}},
        report={
            "out": str(report),
            "tsne": False,
            "html": False,
            "tables": ["embedded-table5-ic-oc"],
        },
    )
    code = main(["sweep", str(plan)])
    return plan, tmp / "runs", report, code


def test_local_launcher_runs_the_plan_then_skips_it(local_sweep, capsys):
    plan, out, report, code = local_sweep
    assert code == 0
    done = records(out)
    assert sorted(done) == sorted(str(s.path.relative_to(out)) for s in _states(plan))
    assert len(done) == 2 and all(st.state == DONE for st in _states(plan))
    assert (report / "tables" / "embedded-table5-ic-oc.md").is_file()
    log = SweepLog.of(out.resolve(), "tiny")
    attempts = {s.key: log.read(s.key) for s in expand(load_plan(plan))}
    assert all(a.rc == 0 and a.launcher == "local" for a in attempts.values())
    # again: both skipped as done, nothing started
    assert main(["sweep", str(plan), "--no-report"]) == 0
    text = capsys.readouterr().out
    assert "2 done before, 0 finished now" in text
    assert {k: log.read(k) for k in attempts} == attempts


def test_threads_are_split_between_local_jobs(local_sweep):
    plan, out, _, _ = local_sweep
    log = SweepLog.of(out.resolve(), "tiny")
    cores = os.cpu_count() or 1
    assert {log.read(s.key).threads for s in expand(load_plan(plan))} == {max(1, cores // 2)}
    assert child_env(3)["OMP_NUM_THREADS"] == "3"


def test_failures_are_collected_and_shown_with_their_last_lines(small_world, tmp_path, capsys):
    plan = write_plan(
        tmp_path / "broken.yaml",
        tmp_path / "runs",
        [
            # refused when the run resolves: recorded as failed, no process started
            tiny_grid(seeds=[0], sets={**SMALL, "eval.aggregation": "bogus"}),
            # resolves, then fails once training starts (warm-up longer than the schedule)
            tiny_grid(methods=["plain"], seeds=[0], sets={**SMALL, "method.warmup_epochs": 5}),
        ],
        report=False,
    )
    assert main(["sweep", str(plan)]) == 1
    text = capsys.readouterr().out
    assert "0 finished now, 2 failed" in text
    assert main(["sweep", "status", str(plan), "--lines", "3"]) == 1
    status = capsys.readouterr().out
    assert status.count("failed   synth-scuba") == 2
    assert "| error: eval.aggregation='bogus': unknown view aggregation" in status
    assert "warmup_epochs=5" in status and "exceeds epochs" in status


def test_a_locked_record_reads_as_running(local_sweep, tmp_path):
    plan, out, _, _ = local_sweep
    spec = expand(load_plan(plan), out=str(tmp_path / "runs"))[0]
    log = SweepLog(tmp_path / "log")
    st = run_status(spec, log)
    assert st.state == PENDING and st.path is not None
    st.path.mkdir(parents=True)
    lock = RunLock(st.path)
    lock.acquire()
    try:
        held = run_status(spec, log)
        assert held.state == RUNNING and "pid" in held.note
    finally:
        lock.release()
    assert run_status(spec, log).state == PENDING
    (st.path / "config.json").write_text("{}")  # a partial record: started, never completed
    partial = run_status(spec, log)
    assert partial.state == PENDING and partial.note == "partial record: resumes where it stopped"


def test_submitit_local_executor_gives_the_local_launchers_records(local_sweep, tmp_path):
    pytest.importorskip("submitit")
    _, local_out, _, _ = local_sweep
    plan = write_plan(
        tmp_path / "tiny.yaml",
        tmp_path / "runs",
        tiny_grid(),
        launcher={
            "default": "slurm",
            "slurm": {"cluster": "local", "gpus_per_job": 0, "cpus_per_job": 1, "time": 10},
        },
        report=False,
    )
    assert main(["sweep", str(plan)]) == 0
    assert records(tmp_path / "runs") == records(local_out)
    log = SweepLog.of((tmp_path / "runs").resolve(), "tiny")
    assert all(log.read(s.key).launcher == "slurm" for s in expand(load_plan(plan)))


# -- real SLURM ------------------------------------------------------------------------------


def _slurm_partition() -> str:
    """The default partition of a reachable SLURM controller, or skip saying why not."""
    if shutil.which("sinfo") is None:
        pytest.skip("no SLURM here: sinfo not found (.ci/run starts slurm-wlm where apt-get works)")
    out = subprocess.run(["sinfo", "-h", "-o", "%P %a"], capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.strip():
        pytest.skip(f"SLURM not reachable: sinfo exited {out.returncode}: {out.stderr.strip()}")
    parts = [line.split() for line in out.stdout.splitlines()]
    up = [p.rstrip("*") for p, avail in parts if avail == "up"]
    if not up:
        pytest.skip(f"no SLURM partition is up: {out.stdout.strip()}")
    return next((p.rstrip("*") for p, _ in parts if p.endswith("*")), up[0])


def _until(what: str, check, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@pytest.mark.slow
def test_real_slurm_sweep_survives_a_requeue(small_world, tmp_path):
    """Two jobs through sbatch; one is signalled mid-training as on preemption, requeued by
    its checkpoint(), resumed from the record, and the records equal the local launcher's."""
    pytest.importorskip("submitit")
    partition = _slurm_partition()
    grid = tiny_grid(methods=["plain"], sets={**SMALL, "method.epochs": 30})
    slurm = {"partition": partition, "gpus_per_job": 0, "cpus_per_job": 1, "time": "01:00:00"}
    plan = write_plan(
        tmp_path / "requeue.yaml",
        tmp_path / "slurm",
        grid,
        launcher={"default": "slurm", "slurm": slurm},
        report=False,
    )
    assert main(["sweep", str(plan), "--no-wait"]) == 0
    p = load_plan(plan)
    specs = expand(p)
    log = SweepLog.of(Path(p.out).resolve(), p.name)
    victim = specs[0]
    job = log.read(victim.key).job_id
    run_dir = _until("the first run's record", lambda: run_status(victim, log).path, 60)
    _until(
        "training mid-way", lambda: (run_dir / "train/main/checkpoints/epoch_003.pt").is_file(), 180
    )
    subprocess.run(["scancel", "--signal=USR2", job], check=True)
    _until("the requeue", lambda: job_state(job) == "PENDING", 90)
    assert log.read(victim.key).status == "requeued"  # written by the job's checkpoint()
    # SLURM holds a requeued job back until the old credential expires (cred_expire: 120 s
    # by default, 10 s in the slurm.conf of .ci/run); releasing it earlier makes the node
    # refuse it ("Job credential revoked"), so the test waits like a user would
    keys = [s.key for s in specs]
    _until(
        "both jobs to finish",
        lambda: all((a := log.read(k)) is not None and a.status == "finished" for k in keys),
        400,
    )
    assert all(run_status(s, log).state == DONE for s in specs)
    assert {log.read(s.key).rc for s in specs} == {0}
    resumed = json.loads((run_dir / "provenance.json").read_text()).get("resumed", [])
    assert len(resumed) == 1  # the requeued job continued the killed run's record
    headers = [
        ln for ln in log.log_path(victim.key).read_text().splitlines() if ln.startswith("=== ")
    ]
    assert len(headers) == 2  # the killed attempt and the requeued one

    local = write_plan(tmp_path / "requeue-local.yaml", tmp_path / "local", grid, report=False)
    assert main(["sweep", str(local)]) == 0
    assert records(tmp_path / "slurm") == records(tmp_path / "local")
