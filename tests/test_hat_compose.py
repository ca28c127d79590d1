"""Online Action-Swap composition (HAT) and the world's HAT export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from biasbench.data.hat_compose import (
    SwapSource,
    background_indices,
    compose,
    is_swap_set,
    mask_centre,
    mask_coverage,
    read_masks,
)
from biasbench.data.readers.hat import read_hat
from biasbench.errors import BiasbenchError, UnreadableInputError


def _square(t: int, size: int, y: int, x: int, side: int = 4) -> np.ndarray:
    masks = np.zeros((t, size, size), bool)
    masks[:, y : y + side, x : x + side] = True
    return masks


def test_background_frames_follow_relative_time():
    idx = np.array([0, 1, 2, 3])
    assert background_indices(idx, 4, 8).tolist() == [0, 2, 4, 6]
    assert background_indices(idx, 4, 2).tolist() == [0, 0, 1, 1]
    assert background_indices(np.array([9]), 10, 3).tolist() == [2]


def test_compose_aligns_mask_centres_and_keeps_foreground_motion():
    size, t = 32, 2
    fg = np.full((t, size, size, 3), 200, np.uint8)
    fg_masks = _square(t, size, 2, 2)
    fg_masks[1] = np.roll(fg_masks[1], 3, axis=1)  # the actor moves 3 px right
    bg = np.zeros((t, size, size, 3), np.uint8)
    bg_masks = _square(t, size, 20, 20)  # where the removed human stood
    out = compose(fg, fg_masks, bg, bg_masks)
    painted = out[..., 0] == 200
    assert painted.sum() == fg_masks.sum()
    centres = [np.argwhere(p).mean(0) for p in painted]
    assert centres[1][1] - centres[0][1] == pytest.approx(3.0)  # motion survives the shift
    shift = mask_centre(bg_masks) - mask_centre(fg_masks)
    assert np.mean(centres, axis=0) == pytest.approx(mask_centre(fg_masks) + np.round(shift))
    assert (out[~painted] == 0).all()


def test_compose_resizes_background_and_handles_empty_masks():
    fg = np.full((1, 16, 24, 3), 9, np.uint8)
    bg = np.full((1, 8, 12, 3), 50, np.uint8)
    out = compose(fg, np.zeros((1, 16, 24), bool), bg, None)
    assert out.shape == (1, 16, 24, 3) and (out == 50).all()


def test_read_masks_accepts_grey_binary_and_palette_pngs(tmp_path):
    grey = np.zeros((6, 6), np.uint8)
    grey[:3] = 255
    grey[3, 0] = 100  # a soft edge under one half: background
    Image.fromarray(grey).save(tmp_path / "000001.png")
    Image.fromarray((grey == 255).astype(np.uint8)).save(tmp_path / "000002.png")  # 0/1
    pal = Image.fromarray((grey == 255).astype(np.uint8), mode="P")
    pal.putpalette([0, 0, 0, 128, 0, 0])
    pal.save(tmp_path / "000003.png")
    masks = read_masks(tmp_path, [0, 1, 2], "{:06d}.png")
    assert masks.shape == (3, 6, 6) and all(m.sum() == 18 for m in masks)
    assert mask_coverage(tmp_path) == (0.5, 0.5)
    with pytest.raises(UnreadableInputError, match="000009.png"):
        read_masks(tmp_path, [8], "{:06d}.png")


@pytest.fixture(scope="module")
def export(small_world):
    from biasbench.world.hat_export import export_hat

    return export_hat(small_world)


def _close_set(export, small_world):
    meta = json.loads(small_world.world_json.read_text())
    vs = read_hat(
        export.pair_file("close", 1),
        root=export.root,
        class_names=meta["class_dirs"],
        video_list=export.video_list,
        check_files=True,
    )
    return vs, meta


def test_export_is_a_valid_hat_tree_and_cached(export, small_world):
    from biasbench.world.hat_export import export_hat

    vs, meta = _close_set(export, small_world)
    assert is_swap_set(vs) and not vs.problems
    assert len(vs) == len(meta["videos"]["ic_test"])
    close = export.info["close_classes"]
    for r in vs.records:
        assert r.meta["bg_label"] in close[r.label]
        assert r.meta["bg_video"].split("/")[1] in {
            v["id"]
            for v in meta["videos"]["ic_test"]
            if v["is_home"] and v["label"] == r.meta["bg_label"]
        }
    again = export_hat(small_world)
    assert again.root == export.root
    assert (export.root / "DONE").stat().st_mtime_ns == (again.root / "DONE").stat().st_mtime_ns
    far = json.loads(export.pair_file("far", 2).read_text())
    assert set(far) == {f"{r.meta['fg_video']}" for r in vs.records}


def test_swapping_a_video_onto_its_own_background_gives_it_back(export, small_world):
    vs, _ = _close_set(export, small_world)
    record = vs.records[0]
    fg = record.meta["fg_video"]
    same = type(record)(
        record.video_id,
        record.path,
        record.label,
        record.num_frames,
        {**record.meta, "bg_path": export.root / "inp" / fg, "bg_seg": export.root / "seg" / fg},
    )
    source = SwapSource(same, vs)
    idx = np.arange(source.num_frames)
    original = source.fg.read(idx).astype(float)
    assert np.abs(source.read(idx).astype(float) - original).mean() < 3.0  # jpeg noise only


def test_composed_clips_through_the_loader_and_missing_masks_are_listed(
    export, small_world, tmp_path
):
    import shutil

    from biasbench.data.loader import ClipDataset
    from biasbench.models.backbone import DataConfig

    vs, _ = _close_set(export, small_world)
    dc = DataConfig(num_frames=4, size=32, resize=32)
    ds = ClipDataset(vs, dc, train=False)
    item = ds[0]
    assert item["frames"].shape == (1, 4, 3, 32, 32)
    record = vs.records[1]
    broken = tmp_path / "broken-seg"
    shutil.copytree(record.meta["seg"], broken)
    (broken / "000003.png").unlink()
    vs.records[1] = type(record)(
        record.video_id,
        record.path,
        record.label,
        record.num_frames,
        {**record.meta, "seg": broken},
    )
    failed = ds[1]
    assert "error" in failed and str(broken) in failed["error"]


def test_export_refuses_a_world_it_cannot_reproduce(small_world, tmp_path):
    from biasbench.world.hat_export import HatExportSettings, _write_export

    manifest = json.loads(small_world.world_json.read_text())
    manifest["videos"]["ic_test"][0]["boxes"][0] = [0, 0, 1, 1]
    with pytest.raises(BiasbenchError, match="does not reproduce"):
        _write_export(tmp_path, manifest, HatExportSettings())
