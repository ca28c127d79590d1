"""Methods shipped with biasbench (installed as ``biasbench.methods``)."""
