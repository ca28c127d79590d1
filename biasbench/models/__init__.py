"""Backbones (open_clip) and the learner contract."""
