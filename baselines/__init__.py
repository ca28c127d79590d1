"""Baselines (installed as ``biasbench.baselines``): ``learners/`` holds the architectures
(frozen CLIP, VCLIP, ViFi-CLIP, ST-Adapter, X-CLIP, Vita-CLIP and the test dummy) and the
blocks they share; ``recipes/`` holds the training methods they are compared with
(zero-shot, plain, Open-VCLIP, FROSTER, grad-accum, meta-unseen)."""
