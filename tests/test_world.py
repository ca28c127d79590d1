"""The embedded world: determinism, official formats, and that it is a valid laboratory."""

from __future__ import annotations

import numpy as np

from biasbench.world.build import build_world, is_complete
from biasbench.world.config import WorldConfig, world_id
from biasbench.world.generator import IC_TEST, IC_TRAIN, OC_TEST, generate_video, plan_world


def test_same_seed_same_videos_other_seed_different():
    cfg = WorldConfig.small()
    a, b = plan_world(cfg), plan_world(cfg)
    va, vb = generate_video(a.videos[IC_TRAIN][0], a), generate_video(b.videos[IC_TRAIN][0], b)
    assert np.array_equal(va.frames, vb.frames)
    c = plan_world(WorldConfig.small(seed=1))
    vc = generate_video(c.videos[IC_TRAIN][0], c)
    assert not np.array_equal(va.frames, vc.frames)
    assert world_id(cfg) != world_id(WorldConfig.small(seed=1))


def test_lists_are_in_official_formats(small_world):
    lists = small_world.ucf_root / "ucfTrainTestlist"
    raw = (lists / "classInd.txt").read_bytes()
    assert b"\r\n" in raw and raw.split(b"\r\n")[0].startswith(b"1 ")
    train = (lists / "trainlist01.txt").read_text().splitlines()
    path, label = train[0].split()
    assert path.endswith(".mp4") and "/v_" in path and int(label) >= 1
    test = (lists / "testlist01.txt").read_text().splitlines()
    assert len(test[0].split()) == 1
    scuba = (small_world.scuba_root / "ucf_scuba.txt").read_text().splitlines()
    frame_dir, n, lab = scuba[0].split()
    assert "__" in frame_dir and int(lab) >= 0
    assert (small_world.scuba_root / "frames" / frame_dir / "frame000001.jpg").is_file()
    assert (small_world.scuba_root / "frames" / frame_dir / f"frame{int(n):06d}.jpg").is_file()


def test_cache_is_reused(small_world):
    assert is_complete(small_world.root)
    again = build_world(WorldConfig.small(), cache_dir=small_world.root.parent, progress=False)
    assert again.root == small_world.root


def test_videos_decode_with_decord(small_world):
    import decord

    mp4 = next((small_world.ucf_root / "videos").rglob("*.mp4"))
    vr = decord.VideoReader(str(mp4))
    cfg = WorldConfig.small()
    assert len(vr) == cfg.num_frames
    assert vr[0].shape == (cfg.frame_size, cfg.frame_size, 3)


def test_actions_are_recognisable_from_motion_not_from_one_foreground_frame(small_world):
    from biasbench.world.probes import background_free_frame_probe, motion_probe

    motion = motion_probe(small_world, eval_splits=(OC_TEST,))[OC_TEST]
    frame = background_free_frame_probe(small_world)[IC_TEST]
    assert motion.top1 >= 6 * motion.chance, motion  # small world: 8 classes, chance 12.5
    assert frame.top1 <= 3 * frame.chance, frame


def test_frozen_tiny_clip_is_static_biased(small_world):
    from biasbench.world.probes import frozen_clip_zero_shot

    ic = frozen_clip_zero_shot(small_world, IC_TEST)
    oc = frozen_clip_zero_shot(small_world, OC_TEST)
    assert ic.top1 >= 2 * oc.top1, (ic, oc)
    assert ic.top1 >= 2 * ic.chance, ic  # small test world: short pretraining
