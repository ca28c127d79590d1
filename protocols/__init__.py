"""Protocol plugins (installed as ``biasbench.protocols``): each builds evaluation requests."""
