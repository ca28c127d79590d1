"""The training engine: one loop for every recipe, on 1 CPU, 1 GPU or N GPUs/nodes.

A recipe (:class:`~biasbench.training.recipe.Recipe`, a trainable Method) supplies small
parts — ``setup``, ``compute_grads`` over the batches of one update, ``on_epoch_end``,
``finalize`` — and :func:`~biasbench.training.loop.train` owns everything else: data sharding,
the one cross-rank gradient reduction per update, clipping, AdamW and the warm-up + cosine
schedule, autocast, checkpoints, resume, logs and the per-epoch evaluation hook.
See ``docs/training.md``.
"""
