"""Sweeps: many ``biasbench run`` calls from one plan, resumable, locally or on SLURM.

A plan (:mod:`.plan`, checked by :mod:`.reader`) names a grid of methods x learners x protocols x seeds x ``--set``
values, with exclusions; it expands (:mod:`.expand`) into run specs, each with its argv for
``biasbench run``. A run's state (:mod:`.state`) comes from its record folder, whose path
resolution computes without running anything: complete runs are skipped, partial ones resume,
a held lock means another process is writing it, and the sweep log (:mod:`.logs`, under
``<out>/.sweep/<plan>/``) says which attempts failed and how. Launchers: :mod:`.local` (a
pool of processes) and :mod:`.slurm` (a submitit job array). :mod:`.driver` ties them
together and calls ``biasbench report`` once every run is done.

This package belongs to the core: it never imports a plugin folder.
"""
