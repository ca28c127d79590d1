"""Baseline training recipes (methods) on the one training engine (``biasbench.training``)."""
