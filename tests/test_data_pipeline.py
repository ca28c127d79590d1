"""The clip source: sampling, decoding, transforms, dataset and loader, on tiny made-up videos.

Frame k of every test video is a flat grey of value ``8 + 15 k`` (k < 16), so the frames that
come back can be identified after lossy coding (mpeg4 is off by at most ~5 grey levels).
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from biasbench.data.decode import FrameCache, count_frames, frame_count, read_frames
from biasbench.data.loader import ClipDataset, auto_num_workers, collate_clips, make_loader
from biasbench.data.sampling import multiview_indices, segment_bounds, segment_indices
from biasbench.data.transforms import TrainAugment, crop_boxes, eval_views, train_clip
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import UnreadableInputError
from biasbench.models.backbone import DataConfig

SIZE = 32
CFG = DataConfig(num_frames=8, size=SIZE, resize=36)


def grey(k: int) -> int:
    return 8 + 15 * k


def frame_ids(frames: np.ndarray) -> list[int]:
    """Which frame k each decoded frame is, from its mean grey level."""
    return [round((float(f.mean()) - 8) / 15) for f in frames]


def write_mp4(path: Path, n: int = 16, codec: str = "mpeg4", first: int = 0) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=8)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for k in range(n):
            img = np.full((SIZE, SIZE, 3), grey((first + k) % 16), np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())
    return path


def write_folder(path: Path, n: int = 16, template: str = "frame{:06d}.jpg") -> Path:
    path.mkdir()
    for k in range(n):
        img = np.full((SIZE, SIZE, 3), grey(k), np.uint8)
        Image.fromarray(img).save(path / template.format(k + 1), quality=95)
    return path


def make_set(paths: list[Path], is_frames: bool = False) -> VideoSet:
    records = [VideoRecord(f"v{i}", p, i % 3) for i, p in enumerate(paths)]
    return VideoSet("tiny", "test", records, ["a", "b", "c"], paths[0].parent, is_frames=is_frames)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[Path]:
    """Eight 16-frame videos, each starting at a different grey so clips differ by video."""
    root = tmp_path_factory.mktemp("videos")
    return [write_mp4(root / f"v{i}.mp4", first=i) for i in range(8)]


# --- sampling --------------------------------------------------------------------------------


@pytest.mark.parametrize("total", [8, 9, 10, 16, 37, 300])
@pytest.mark.parametrize("num_frames", [1, 3, 8])
def test_segment_indices_one_per_segment(total, num_frames):
    start, end = segment_bounds(total, num_frames)
    assert start[0] == 0 and end[-1] == total and np.all(end > start)
    rng = np.random.default_rng(0)
    for idx in (segment_indices(total, num_frames, None), segment_indices(total, num_frames, rng)):
        assert idx.shape == (num_frames,) and idx.dtype == np.int64
        assert np.all((start <= idx) & (idx < end))


def test_segment_indices_test_is_centre_and_train_is_seeded():
    assert segment_indices(16, 8, None).tolist() == [1, 3, 5, 7, 9, 11, 13, 15]
    assert segment_indices(10, 3, None).tolist() == [1, 4, 8]
    a = segment_indices(300, 8, np.random.default_rng(5))
    assert np.array_equal(a, segment_indices(300, 8, np.random.default_rng(5)))
    assert not np.array_equal(a, segment_indices(300, 8, np.random.default_rng(6)))
    draws = np.stack([segment_indices(16, 8, np.random.default_rng(s)) for s in range(200)])
    assert all(set(draws[:, i]) == {2 * i, 2 * i + 1} for i in range(8))  # whole segment


def test_segment_indices_short_and_empty_videos():
    for rng in (None, np.random.default_rng(0)):
        idx = segment_indices(3, 8, rng)
        assert idx.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
        assert segment_indices(1, 8, rng).tolist() == [0] * 8
    with pytest.raises(ValueError):
        segment_indices(0, 8, None)


def test_multiview_indices():
    assert np.array_equal(multiview_indices(37, 8, 1)[0], segment_indices(37, 8, None))
    views = multiview_indices(48, 8, 3)  # segments of 6 frames: parts of 2, centres 1, 3, 5
    assert [v[:2].tolist() for v in views] == [[1, 7], [3, 9], [5, 11]]
    start, end = segment_bounds(48, 8)
    assert all(np.all((start <= v) & (v < end)) for v in views)
    assert all(np.array_equal(v, segment_indices(5, 8, None)) for v in multiview_indices(5, 8, 3))


# --- decoding --------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["mpeg4", "libx264"])
def test_read_frames_video(tmp_path, codec):
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec} encoder")
    path = write_mp4(tmp_path / "a.mp4", codec=codec)
    frames = read_frames(path, [5, 1, 1, 15, 0], is_frames=False)
    assert frames.shape == (5, SIZE, SIZE, 3) and frames.dtype == np.uint8
    assert frame_ids(frames) == [5, 1, 1, 15, 0]
    tolerance = 6 if codec == "mpeg4" else 2  # measured: 5 and 1 grey levels
    assert np.abs(frames[0].astype(int) - grey(5)).max() <= tolerance
    assert count_frames(path, False) == 16
    assert frame_count(VideoRecord("a", path, 0), is_frames=False) == 16


def test_read_frames_folder(tmp_path):
    folder = write_folder(tmp_path / "f", n=10, template="{:05d}.jpg")
    frames = read_frames(
        folder, np.array([9, 0, 4, 4]), is_frames=True, frame_template="{:05d}.jpg"
    )
    assert frames.shape == (4, SIZE, SIZE, 3) and frame_ids(frames) == [9, 0, 4, 4]
    assert count_frames(folder, True, "{:05d}.jpg") == 10
    rec = VideoRecord("f", folder, 0)
    assert frame_count(rec, is_frames=True, frame_template="{:05d}.jpg") == 10
    assert frame_count(VideoRecord("f", folder, 0, num_frames=7), is_frames=True) == 7


def test_unreadable_inputs_raise_one_error_type_with_the_path(tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    empty = tmp_path / "empty.mp4"
    empty.touch()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(write_mp4(tmp_path / "full.mp4").read_bytes()[:900])
    for path in (corrupt, empty, truncated, tmp_path / "missing.mp4"):
        with pytest.raises(UnreadableInputError) as err:
            read_frames(path, [0], is_frames=False)
        assert err.value.path == str(path)
    with pytest.raises(UnreadableInputError, match="outside 0..15"):
        read_frames(tmp_path / "full.mp4", [3, 16], is_frames=False)

    folder = write_folder(tmp_path / "frames", n=6)
    (folder / "frame000003.jpg").unlink()
    (folder / "frame000005.jpg").write_bytes(b"not a jpeg")
    for index, name in ((2, "frame000003.jpg"), (4, "frame000005.jpg")):
        with pytest.raises(UnreadableInputError, match=name) as err:
            read_frames(folder, [0, index], is_frames=True)
        assert err.value.path == str(folder)
    assert count_frames(folder, True) == 2  # the run of frames from 1
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(UnreadableInputError, match="no frames"):
        count_frames(tmp_path / "empty_folder", True)
    with pytest.raises(UnreadableInputError, match="no such"):
        count_frames(tmp_path / "absent", True)


# --- transforms ------------------------------------------------------------------------------


def test_eval_views_shapes_and_normalisation():
    c = (200, 100, 30)
    frames = np.broadcast_to(np.array(c, np.uint8), (8, 48, 64, 3))
    for views in (1, 3):
        out = eval_views(frames, CFG, spatial_views=views)
        assert out.shape == (views, 8, 3, SIZE, SIZE) and out.dtype == torch.float32
        want = (torch.tensor(c) / 255 - torch.tensor(CFG.mean)) / torch.tensor(CFG.std)
        assert torch.allclose(out, want.view(3, 1, 1).expand_as(out), atol=1e-5)
    assert crop_boxes(36, 48, 32, 3) == [(2, 0), (2, 8), (2, 16)]  # landscape: along width
    assert crop_boxes(48, 36, 32, 3) == [(0, 2), (8, 2), (16, 2)]  # portrait: along height


def test_eval_views_three_crops_differ_along_the_long_side():
    ramp = np.broadcast_to(np.arange(64, dtype=np.uint8)[None, None, :, None] * 4, (8, 48, 64, 3))
    out = eval_views(np.ascontiguousarray(ramp), CFG, spatial_views=3)
    left, centre, right = (float(v.mean()) for v in out)
    assert left < centre < right


def test_train_clip_same_augmentation_for_every_frame():
    image = np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    frames = np.repeat(image[None], 8, axis=0)
    out = train_clip(frames, CFG, np.random.default_rng(3))
    assert out.shape == (8, 3, SIZE, SIZE)
    assert all(torch.equal(out[0], out[t]) for t in range(8))
    assert torch.equal(out, train_clip(frames, CFG, np.random.default_rng(3)))
    assert not torch.equal(out, train_clip(frames, CFG, np.random.default_rng(4)))


def test_train_clip_without_augmentation_is_the_centre_view():
    frames = np.random.default_rng(2).integers(0, 256, (8, 40, 56, 3), dtype=np.uint8)
    off = TrainAugment(random_crop=False, flip_p=0.0, brightness=0, contrast=0, saturation=0)
    plain = train_clip(frames, CFG, np.random.default_rng(0), off)
    assert torch.equal(plain, eval_views(frames, CFG)[0])
    flipped = train_clip(frames, CFG, np.random.default_rng(0), TrainAugment(False, 1.0, 0, 0, 0))
    assert torch.equal(flipped, plain.flip(-1))


# --- dataset, collate, loader ----------------------------------------------------------------


def test_dataset_items_and_error_records(videos, tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00" * 1000)
    vset = make_set([videos[0], corrupt, tmp_path / "missing.mp4", videos[1]])
    ds = ClipDataset(vset, CFG, train=False, temporal_views=2, spatial_views=3)
    good = ds[0]
    assert good["frames"].shape == (6, 8, 3, SIZE, SIZE) and good["label"] == 0
    bad = ds[1]
    assert "frames" not in bad and bad["index"] == 1 and bad["label"] == 1
    assert bad["error"].startswith(f"{corrupt}: ")
    batch = collate_clips([ds[i] for i in range(4)])
    assert batch["frames"].shape == (2, 6, 8, 3, SIZE, SIZE)
    assert batch["indices"].tolist() == [0, 3] and batch["labels"].tolist() == [0, 0]
    assert [i for i, _ in batch["errors"]] == [1, 2] and "missing.mp4" in batch["errors"][1][1]
    empty = collate_clips([ds[1], ds[2]])
    assert empty["frames"] is None and empty["labels"].numel() == 0 and len(empty["errors"]) == 2


def test_eval_dataset_reads_the_sampled_frames(tmp_path):
    folder = write_folder(tmp_path / "f", n=16)
    vset = make_set([folder], is_frames=True)
    cfg = DataConfig(num_frames=8, size=SIZE, resize=SIZE)  # no resize: values pass through
    frames = ClipDataset(vset, cfg, train=False)[0]["frames"][0]
    mean, std = torch.tensor(cfg.mean).view(3, 1, 1), torch.tensor(cfg.std).view(3, 1, 1)
    pixels = ((frames * std + mean) * 255).mean(dim=(1, 2, 3)).numpy()
    assert frame_ids(pixels[:, None]) == segment_indices(16, 8, None).tolist()


def test_scufo_repeats_one_seeded_frame(videos):
    vset = make_set(videos)

    def clips(seed: int) -> list[torch.Tensor]:
        ds = ClipDataset(vset, CFG, train=False, temporal_views=2, seed=seed, repeat_one_frame=True)
        return [ds[i]["frames"] for i in range(len(ds))]

    first, again, other = clips(0), clips(0), clips(1)
    for clip in first:
        assert clip.shape == (2, 8, 3, SIZE, SIZE)
        assert torch.equal(clip, clip[:1, :1].expand_as(clip))  # one frame everywhere
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert sum(not torch.equal(a, b) for a, b in zip(first, other, strict=True)) >= 5
    train = ClipDataset(vset, CFG, train=True, repeat_one_frame=True)[0]["frames"]
    assert all(torch.equal(train[0], train[t]) for t in range(8))


def test_frame_cache_gives_the_same_clips(videos):
    vset = make_set(videos[:3])
    cache = FrameCache()
    cached = ClipDataset(vset, CFG, train=True, seed=4, frame_cache=cache)
    plain = ClipDataset(vset, CFG, train=True, seed=4)
    for _ in range(2):
        assert all(torch.equal(cached[i]["frames"], plain[i]["frames"]) for i in range(3))
    assert len(cache) == 3 and cache.nbytes == 3 * 16 * SIZE * SIZE * 3
    small = FrameCache(max_bytes=2 * 16 * SIZE * SIZE * 3)
    ClipDataset(vset, CFG, train=False, frame_cache=small)[0]
    for i in range(3):
        small.put(f"k{i}", np.zeros((16, SIZE, SIZE, 3), np.uint8))
    assert len(small) == 2 and small.get(str(videos[0])) is None


def run_epochs(ds: ClipDataset, workers: int, epochs: int = 2) -> list[dict]:
    loader = make_loader(ds, 3, shuffle=True, num_workers=workers, seed=11)
    batches = []
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        batches.append(list(loader))
    return batches


def clips_by_index(batches: list[dict]) -> dict[int, torch.Tensor]:
    return {
        int(i): clip
        for b in batches
        if b["frames"] is not None
        for i, clip in zip(b["indices"], b["frames"], strict=True)
    }


def test_loader_is_independent_of_worker_count(videos, tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"garbage" * 100)
    vset = make_set([*videos[:6], corrupt])
    serial = run_epochs(ClipDataset(vset, CFG, train=True, seed=2), workers=0)
    parallel = run_epochs(ClipDataset(vset, CFG, train=True, seed=2), workers=2)
    for a, b in zip(sum(serial, []), sum(parallel, []), strict=True):
        assert a["indices"].tolist() == b["indices"].tolist() and a["errors"] == b["errors"]
        assert torch.equal(a["labels"], b["labels"])
        assert (a["frames"] is None and b["frames"] is None) or torch.equal(
            a["frames"], b["frames"]
        )
    for epoch in serial:
        assert sorted(i for b in epoch for i, _ in b["errors"]) == [6]  # the corrupt video
        assert sorted(clips_by_index(epoch)) == list(range(6))
    # set_epoch changes order and clips; it reached the persistent workers too
    first, second = (clips_by_index(epoch) for epoch in parallel)
    assert all(not torch.equal(first[i], second[i]) for i in range(6))
    order = [[i for b in epoch for i in b["indices"].tolist()] for epoch in parallel]
    assert order[0] != order[1]


def test_loader_options():
    assert 0 <= auto_num_workers() <= 4 and auto_num_workers(num_batches=1) <= 1
    loader = make_loader(list(range(10)), 4, shuffle=False, num_workers="auto", seed=0)
    assert loader.num_workers == auto_num_workers(num_batches=3)
    explicit = make_loader(list(range(10)), 4, shuffle=False, num_workers=8, seed=0)
    assert explicit.num_workers == 3  # never more workers than batches


def test_auto_workers_count_the_cores_this_process_may_use(monkeypatch):
    """A SLURM job given 2 CPUs of a 64-core node gets 1 worker, not 4; torchrun's 2 ranks
    on those 2 CPUs get none each (the run's resolved count is the loader's count)."""
    from biasbench.resolve import resolve_workers

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert resolve_workers("auto") == auto_num_workers() == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert resolve_workers("auto") == 0
    assert resolve_workers(3) == 3
    with pytest.raises(ValueError, match="sampler"):
        make_loader([], 2, shuffle=True, num_workers=0, seed=0, sampler=[0])
