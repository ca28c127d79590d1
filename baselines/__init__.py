"""Learners and baseline training recipes (installed as ``biasbench.baselines``)."""
