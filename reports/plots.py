"""Figures from run records: class-wise gain (supplementary Fig. 1), epoch curves (Fig. 3).

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``), never pyplot,
so no display or GUI backend is involved: rendering is Agg, headless by construction.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from biasbench import metrics as M
from biasbench.reports.records import Run
from biasbench.results import SetResult

WIN, LOSS = "#2a7ab0", "#c44e52"
STYLE = {"axes.spines.top": False, "axes.spines.right": False}


def palette(labels: list[str]) -> dict[str, tuple[float, float, float]]:
    """One stable colour per entry label (sorted), shared by every figure of a report."""
    colours = sns.color_palette("colorblind", max(len(labels), 1))
    return {label: colours[i % len(colours)] for i, label in enumerate(sorted(labels))}


def class_accuracy(sets: list[SetResult], k: int = 1) -> np.ndarray:
    """Per-class top-k accuracy (%), averaged over runs (NaN for classes without videos)."""
    per_run = [
        M.per_class_accuracy(s.correct(k), s.labels, len(s.class_names)) for s in sets if s.n
    ]
    if not per_run:
        raise ValueError("no predictions to compute per-class accuracy from")
    with np.errstate(all="ignore"):
        return np.nanmean(np.vstack(per_run), axis=0) if len(per_run) > 1 else per_run[0]


def classwise_gain_data(
    sets_a: list[SetResult], sets_b: list[SetResult], k: int = 1
) -> pd.DataFrame:
    """Per class: accuracy of A and B and the gain B - A, sorted by gain (largest first).

    Classes with no videos in the set are left out.
    """
    names = sets_a[0].class_names
    if any(s.class_names != names for s in [*sets_a, *sets_b]):
        raise ValueError("class-wise gain needs the same vocabulary in both methods' sets")
    acc_a, acc_b = class_accuracy(sets_a, k), class_accuracy(sets_b, k)
    df = pd.DataFrame({"class": names, "acc_a": acc_a, "acc_b": acc_b})
    df["gain"] = df["acc_b"] - df["acc_a"]
    df = df.dropna(subset=["gain"]).assign(_key=lambda d: d["gain"].round(9))
    df = df.sort_values(["_key", "class"], ascending=[False, True], ignore_index=True)
    return df.drop(columns="_key")


def classwise_gain_figure(data: pd.DataFrame, name_a: str, name_b: str, set_name: str) -> Figure:
    """Sorted bars of B's per-class gain over A, titled with the count of classes won."""
    n = len(data)
    wins, losses = int((data["gain"] > 0).sum()), int((data["gain"] < 0).sum())
    labelled = n <= 60
    fig = Figure(
        figsize=(min(max(4.5, 0.28 * n + 1.5), 16.0), 3.8 if labelled else 3.2),
        layout="constrained",
    )
    with sns.axes_style("ticks", STYLE):
        ax = fig.add_subplot()
    x = np.arange(n)
    colours = [WIN if g > 0 else LOSS for g in data["gain"]]
    ax.bar(x, data["gain"], color=colours, width=0.75, linewidth=0)
    ax.axhline(0, color="0.2", linewidth=0.8)
    ax.set_xlim(-0.6, n - 0.4)
    if labelled:
        ax.set_xticks(x, [mpl_text(c) for c in data["class"]], rotation=60, ha="right", fontsize=7)
    else:
        ax.set_xticks([])
        ax.set_xlabel(f"{n} classes, sorted by gain")
    ax.set_ylabel("Δ top-1 accuracy (points)", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    a, b = short_label(name_a), short_label(name_b)
    score = f"{b} wins {wins} of {n} classes" + (f", loses {losses}" if losses else "")
    ax.set_title(mpl_text(f"{score}\n{b} vs {a} · {set_name}"), fontsize=9.5)
    ax.grid(axis="y", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig


def epoch_data(entries: dict[str, list[Run]]) -> pd.DataFrame:
    """Per-epoch evaluations of every run: entry, seed, episode, set, epoch, top1, top5, n."""
    frames = []
    for label, runs in entries.items():
        for r in runs:
            df = r.epoch_evals()
            if not df.empty:
                frames.append(df.assign(entry=label, seed=r.seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def epoch_curves_figure(
    data: pd.DataFrame,
    colours: dict[str, tuple[float, float, float]] | None = None,
    metric: str = "top1",
) -> Figure:
    """One panel per evaluation set: accuracy vs epoch, one line per entry (band: ± 1 std)."""
    sets = sorted(data["set"].unique())
    cols = min(len(sets), 4)
    rows = -(-len(sets) // cols)
    fig = Figure(figsize=(3.2 * cols + 1.8, 2.8 * rows), layout="constrained")
    colours = colours or palette(list(data["entry"].unique()))
    with sns.axes_style("ticks", STYLE):
        axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, sets, strict=False):
        sub = data[data["set"] == name]
        sns.lineplot(
            data=sub,
            x="epoch",
            y=metric,
            hue="entry",
            palette=colours,
            errorbar="sd",
            marker="o",
            markersize=4,
            linewidth=1.4,
            ax=ax,
            legend=False,
        )
        ax.set_title(mpl_text(name), fontsize=10)
        ax.set_xlabel("epoch", fontsize=9)
        ax.set_ylabel(f"{metric.replace('top', 'top-')} (%)", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(color="0.92", linewidth=0.6)
    for ax in list(axes.flat)[len(sets) :]:
        ax.set_visible(False)
    shown = [e for e in sorted(colours) if e in set(data["entry"])]
    handles = [Line2D([], [], color=colours[e], marker="o", linewidth=1.4) for e in shown]
    labels = [mpl_text(short_label(e)) for e in shown]
    fig.legend(handles, labels, loc="outside right center", frameon=False, fontsize=8)
    return fig


def save_figure(
    fig: Figure, path_stem: Path, formats: tuple[str, ...] = ("png", "pdf")
) -> list[Path]:
    """Write ``<stem>.png`` / ``.pdf`` (200 dpi PNG); returns the paths written."""
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in formats:
        p = path_stem.with_suffix(f".{ext}")
        fig.savefig(p, dpi=200 if ext == "png" else None, bbox_inches="tight")
        out.append(p)
    return out


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (for embedding in the leaderboard page)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def short_label(text: str, width: int = 28) -> str:
    """Long labels cut with an ellipsis, so a figure keeps its layout."""
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def mpl_text(text: str) -> str:
    """A run-record string made literal for matplotlib (``$`` would start math mode)."""
    return str(text).replace("$", r"\$")


#: the static-bias dial's axis: a world setting the runs of one protocol sweep
DIAL_KEY = "p_home"
DIAL_METRICS = ("ic_top1", "oc_top1", "scufo_top1", "contrasted")


def dial_data(runs: list[Run], key: str = DIAL_KEY) -> pd.DataFrame:
    """The static-bias dial's points: one row per (run, metric) of every run whose world sets
    ``key`` explicitly, with that value as ``x``. Entries are ``method (learner)``, joined by
    any other world setting that differs among those runs. Empty unless ``key`` takes at
    least two values (one world is not a dial)."""
    rows = []
    dialled = [r for r in runs if key in (r.identity.get("world") or {})]
    others = sorted(
        {k for r in dialled for k in r.identity["world"] if k != key}
        - {k for k in _common_world(dialled) if k != key}
    )
    for r in dialled:
        world = r.identity["world"]
        entry = f"{r.method} ({r.learner})"
        extra = ", ".join(f"{k}={world.get(k)}" for k in others)
        entry += f" [{extra}]" if extra else ""
        for m in r.metrics:
            if m.name in DIAL_METRICS:
                rows.append(dict(entry=entry, x=float(world[key]), metric=m.name, value=m.value,
                                 seed=r.seed, run_id=r.run_id, record=r.where))  # fmt: skip
    data = pd.DataFrame(rows, columns=["entry", "x", "metric", "value", "seed", "run_id", "record"])
    return data if data["x"].nunique() >= 2 else data.iloc[0:0]


def _common_world(runs: list[Run]) -> set[str]:
    """World settings with one value across ``runs`` (not worth naming in a label)."""
    values: dict[str, set[str]] = {}
    for r in runs:
        for k, v in r.identity["world"].items():
            values.setdefault(k, set()).add(repr(v))
    return {
        k for k, v in values.items() if len(v) == 1 and all(k in r.identity["world"] for r in runs)
    }


def dial_figure(
    data: pd.DataFrame, key: str = DIAL_KEY, colours: dict[str, tuple] | None = None
) -> Figure:
    """One panel per metric: accuracy against the dialled world setting, a line per entry
    (mean over seeds, band ± 1 std where a point has several); the title says how many seeds
    a point has, since the dial is often run with one."""
    metrics = [m for m in DIAL_METRICS if m in set(data["metric"])]
    colours = colours or palette(list(data["entry"].unique()))
    fig = Figure(figsize=(3.1 * len(metrics) + 2.2, 3.0), layout="constrained")
    with sns.axes_style("ticks", STYLE):
        axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, name in zip(axes, metrics, strict=True):
        sub = data[data["metric"] == name]
        sns.lineplot(data=sub, x="x", y="value", hue="entry", palette=colours, errorbar="sd",
                     marker="o", markersize=4, linewidth=1.4, ax=ax, legend=False)  # fmt: skip
        ax.set_title(DIAL_TITLES.get(name, name), fontsize=10)
        ax.set_xlabel(key, fontsize=9)
        ax.set_ylabel("accuracy (%)" if name != "contrasted" else "share of videos (%)", fontsize=9)
        ax.set_ylim(bottom=0, top=max(5.0, 1.1 * float(sub["value"].max())))  # no zoom on noise
        ax.tick_params(labelsize=8)
        ax.grid(color="0.92", linewidth=0.6)
    seeds = data.groupby(["entry", "x", "metric"])["seed"].nunique()
    each = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}"
    fig.suptitle(
        f"static-bias dial, embedded synthetic world ({each} seed(s) per point)", fontsize=10
    )
    shown = [e for e in sorted(colours) if e in set(data["entry"])]
    handles = [Line2D([], [], color=colours[e], marker="o", linewidth=1.4) for e in shown]
    labels = [mpl_text(short_label(e, 40)) for e in shown]
    fig.legend(handles, labels, loc="outside right center", frameon=False, fontsize=8)
    return fig


DIAL_TITLES = {
    "ic_top1": "in context (IC top-1)",
    "oc_top1": "out of context (OC top-1)",
    "scufo_top1": "one frame repeated (SCUFO)",
    "contrasted": "contrasted (OC right, SCUFO wrong)",
}
