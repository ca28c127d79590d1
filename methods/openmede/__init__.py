"""Open-MeDe: cross-batch meta-optimization with Gaussian weight averaging (the headline method).

``biasbench run --method openmede --protocol ucf-scuba`` trains the default learner (``vclip``)
with :class:`~biasbench.methods.openmede.method.OpenMeDe`; ``--learner`` picks any other
trainable learner. The math is in :mod:`.gwa` (Eqs. 11-13), :mod:`.sampler` (Table 5) and
:mod:`biasbench.training.meta` (Eqs. 5-10, shared with the ``meta-unseen`` control).
"""
