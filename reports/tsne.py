"""t-SNE of video embeddings (paper Fig. 4): two methods x in-context / out-of-context.

Embeddings are stored at evaluation time only when a run asks for them
(``--set eval.store_embeddings=true``); runs without them are skipped. Each panel embeds
the same videos for both methods (common ids, a seeded sample of at most ``max_points``)
and colours them by class; at most ``max_classes`` classes (the most frequent in the
in-context set) are shown so colours stay distinguishable. Embeddings are L2-normalised
first (CLIP compares them by cosine). t-SNE: scikit-learn (Barnes-Hut, PCA init, seeded,
one OpenMP thread), about 5 s per panel of 500 points on one core.
"""

from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from biasbench.reports.plots import mpl_text, short_label
from biasbench.reports.records import Run
from biasbench.results import SetResult


def context_sets(run: Run) -> tuple[tuple[str, str], tuple[str, str]] | None:
    """``(episode, key)`` of the first in-context and first out-of-context set (SCUFO's
    repeated-frame set excluded), read from the run's config; None if it lacks either."""
    found: dict[str, tuple[str, str]] = {}
    for episode, key in run.set_keys():
        info = run.set_info(episode, key)
        ctx = info.get("context") or {"ic": "in", "oc": "out"}.get(key)
        if ctx in ("in", "out") and not info.get("repeat_one_frame") and ctx not in found:
            found[ctx] = (episode, key)
    return (found["in"], found["out"]) if len(found) == 2 else None


def embed_2d(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of row vectors (L2-normalised first)."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = np.asarray(x, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
    tsne = TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    # one OpenMP thread: on shared CPUs the threaded gradient is up to 20x slower
    with threadpool_limits(limits=1, user_api="openmp"):
        return tsne.fit_transform(x)


def _pick(sets: list[SetResult], classes: np.ndarray, max_points: int, seed: int) -> list[str]:
    """Video ids present in every set, of the chosen classes, a seeded sample of them."""
    common = set.intersection(*(set(s.ids) for s in sets))
    wanted = set(classes.tolist())
    first = sets[0]
    ids = sorted(
        i
        for i, lab in zip(first.ids, first.labels.tolist(), strict=True)
        if i in common and lab in wanted
    )
    if len(ids) > max_points:
        rng = np.random.default_rng(seed)
        ids = sorted(rng.choice(ids, size=max_points, replace=False).tolist())
    return ids


def tsne_figure(
    panels: dict[str, tuple[SetResult, SetResult]],
    set_names: tuple[str, str] = ("in context", "out of context"),
    max_points: int = 500,
    max_classes: int = 10,
    seed: int = 0,
) -> Figure:
    """Rows: entries (``label -> (in-context set, out-of-context set)``); columns: contexts.

    Every set must hold embeddings. Points are coloured by class, one legend for all.
    """
    first_ic = next(iter(panels.values()))[0]
    names = first_ic.class_names
    counts = np.bincount(first_ic.labels, minlength=len(names))
    classes = np.argsort(-counts, kind="stable")[: min(max_classes, int((counts > 0).sum()))]
    colours = sns.color_palette("tab10" if len(classes) <= 10 else "husl", len(classes))
    colour_of = {int(c): colours[i] for i, c in enumerate(classes)}

    rows = len(panels)
    fig = Figure(figsize=(7.2, 3.3 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, 2, squeeze=False)
    for col in range(2):
        chosen = _pick([pair[col] for pair in panels.values()], classes, max_points, seed)
        for row, (label, pair) in enumerate(panels.items()):
            s = pair[col]
            if s.embeddings is None:
                raise ValueError(f"{label}: set {s.key!r} has no stored embeddings")
            index = {vid: i for i, vid in enumerate(s.ids)}
            rows_idx = np.asarray([index[v] for v in chosen], dtype=int)
            xy = embed_2d(s.embeddings[rows_idx], seed) if len(rows_idx) > 2 else np.zeros((0, 2))
            labs = s.labels[rows_idx]
            ax = axes[row, col]
            ax.scatter(
                xy[:, 0],
                xy[:, 1],
                s=7,
                linewidths=0,
                alpha=0.85,
                c=[colour_of[int(lab)] for lab in labs],
            )
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_color("0.75")
            ax.set_title(mpl_text(f"{short_label(label)} · {set_names[col]}"), fontsize=10)
    handles = [
        Line2D([], [], marker="o", linestyle="", color=colour_of[int(c)], markersize=5)
        for c in classes
    ]
    fig.legend(
        handles,
        [mpl_text(short_label(names[int(c)], 22)) for c in classes],
        loc="outside lower center",
        ncol=min(5, len(classes)),
        frameon=False,
        fontsize=7,
    )
    return fig
