"""Learner architectures: ``encode_video`` / ``encode_text`` / ``logit_scale`` / ``data_config``."""
