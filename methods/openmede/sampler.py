"""Batch samplers of cross-batch meta-optimization (supplementary Table 5).

Support and query of a task are consecutive batches of the epoch's order, so the sampler
decides what a task looks like:

- ``shuffle`` (default): the ordinary shuffled order; support and query have independent,
  balanced class distributions.
- ``initial``: no shuffling: the dataset's own order every epoch (annotation lists are grouped
  by class, so a task's two batches come from the same few classes).
- ``similar``: shuffled, then every query batch is built from the classes most similar to
  its support batch's classes — video ``j`` of the query batch belongs to the class closest
  (by text-embedding cosine, other than its own) to the class of video ``j`` of the support
  batch, falling back to the next closest class with videos left. Every video still appears
  once per epoch.
"""

from __future__ import annotations

import numpy as np

SAMPLERS = ("shuffle", "initial", "similar")


def initial_order(order: np.ndarray) -> np.ndarray:
    """The dataset's own order, ignoring the shuffle."""
    return np.sort(order)


def similar_order(
    order: np.ndarray, labels: np.ndarray, similarity: np.ndarray, batch_size: int
) -> np.ndarray:
    """Rearrange ``order`` into (support, query) batch pairs with similar classes.

    ``labels[i]`` is the class of dataset index ``i``; ``similarity`` is ``[K, K]``. Support
    batches follow ``order``; each query video is the next unused video (in ``order``) of the
    most similar class that still has one. The tail that cannot fill a pair keeps its order.
    """
    n, k = len(order), similarity.shape[0]
    ranking = np.argsort(-similarity, axis=1, kind="stable")
    # each class prefers the others by similarity, itself only as the last resort
    prefs = [np.concatenate([r[r != c], [c]]) for c, r in enumerate(ranking)]
    pointer = np.zeros(k, dtype=np.int64)  # first preference not known to be exhausted
    queues = [list(order[labels[order] == c][::-1]) for c in range(k)]  # pop() = next in order
    used = np.zeros(int(order.max()) + 1 if n else 0, dtype=bool)
    out: list[int] = []
    walk = iter(order.tolist())
    while n - len(out) >= 2 * batch_size:
        support = []
        for i in walk:
            if not used[i]:
                support.append(i)
                used[i] = True
                # both batches consume a class's videos in ``order``: ``i`` is its queue's next
                queues[labels[i]].pop()
                if len(support) == batch_size:
                    break
        query = []
        for i in support:
            c = labels[i]
            while not queues[prefs[c][pointer[c]]]:
                pointer[c] += 1
            j = queues[prefs[c][pointer[c]]].pop()
            used[j] = True
            query.append(j)
        out += support + query
    out += [i for i in order.tolist() if not used[i]]
    return np.asarray(out, dtype=order.dtype)
