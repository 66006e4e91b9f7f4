"""Prepared datasets: ``imgen prepare`` (tar shards + manifest) and training from them."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import load_file

from imgen.cli import cli
from imgen.data import datasets as datasets_module
from imgen.data.datasets import ImageSet, training_images
from imgen.data.folder import decode_image, scan_images
from imgen.data.prepared import (
    PreparedDataset,
    is_prepared,
    prepare_folder,
    subimage_positions,
)
from imgen.data.sampler import SampleStream
from imgen.engine.trainer import Trainer
from imgen.errors import DataError, UsageError
from tests.test_engine import tiny_sr_config

CROP, STEP = 128, 64
SIZES = {"astronaut": (450, 600), "coffee": (400, 600), "chelsea": (300, 451)}


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Three real photos resized to 300..600 pixels, and one file that is not an image."""
    folder = tmp_path_factory.mktemp("hr")
    for name, (height, width) in SIZES.items():
        image = Image.fromarray(np.asarray(getattr(skimage.data, name)()))
        image.resize((width, height), Image.BICUBIC).save(folder / f"{name}.png")
    (folder / "broken.png").write_bytes(b"not a png at all")
    return folder


@pytest.fixture(scope="module")
def prepared(photos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "ds"
    prepare_folder(
        photos, out, crop=CROP, step=STEP, scale=2, images_per_shard=2, workers=1, progress=False
    )
    return out


def _expected_count(crop: int = CROP, step: int = STEP, scale: int = 2) -> int:
    total = 0
    for height, width in SIZES.values():
        height, width = height - height % scale, width - width % scale
        total += len(subimage_positions(height, crop, step)) * len(
            subimage_positions(width, crop, step)
        )
    return total


def test_subimage_positions_follow_basicsr() -> None:
    # extract_subimages: every step, plus one flush with the edge when pixels are left over.
    assert subimage_positions(600, 480, 240) == [0, 120]
    assert subimage_positions(1356, 480, 240) == [0, 240, 480, 720, 876]
    assert subimage_positions(960, 480, 240) == [0, 240, 480]
    assert subimage_positions(100, 480, 240) == []
    assert subimage_positions(490, 480, 240, thresh_size=20) == [0]  # 10 left: no more
    assert subimage_positions(490, 480, 240) == [0, 10]


def test_manifest_counts_hashes_and_tar_members(prepared, photos) -> None:
    manifest = json.loads((prepared / "manifest.json").read_text())
    assert is_prepared(prepared) and not is_prepared(photos)
    assert manifest["samples"] == _expected_count() == len(manifest["index"])
    assert manifest["images"] == 3 and len(manifest["shards"]) == 2  # 4 files, 2 per shard
    assert sum(s["samples"] for s in manifest["shards"]) == manifest["samples"]
    for shard in manifest["shards"]:
        path = prepared / shard["name"]
        assert path.stat().st_size == shard["bytes"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == shard["sha256"]
    with tarfile.open(prepared / "shard-000000.tar") as tar:  # any tar reader takes it
        names = tar.getnames()
    assert names[:2] == ["astronaut_s000.hr.png", "astronaut_s000.lr.png"]
    # The first sub-image is the top-left crop of the source, pixel for pixel; its LR is half.
    ds = PreparedDataset(prepared, None, paired=True)
    item = ds[0]
    source = decode_image(photos / "astronaut.png")
    assert torch.equal(item["image"], torch.from_numpy(source[:CROP, :CROP]).permute(2, 0, 1))
    assert item["lr"].shape == (3, CROP // 2, CROP // 2)


def test_rerun_skips_finished_shards_and_rewrites_a_damaged_one(photos, tmp_path) -> None:
    out = tmp_path / "ds"
    kwargs = dict(crop=CROP, step=CROP, images_per_shard=2, workers=1, progress=False)
    first = prepare_folder(photos, out, **kwargs)
    assert first.written == first.shards == 2
    again = prepare_folder(photos, out, **kwargs)
    assert again.written == 0 and again.samples == first.samples
    shard = out / "shard-000001.tar"
    stat = shard.stat()
    data = bytearray(shard.read_bytes())
    data[1000] ^= 0xFF  # same size, other bytes: only the hash tells
    shard.write_bytes(bytes(data))
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even the same time
    assert prepare_folder(photos, out, **kwargs).written == 0  # size and time: unchanged
    repaired = prepare_folder(photos, out, verify=True, **kwargs)
    assert repaired.written == 1
    shard.write_bytes(bytes(data))  # a plain rewrite changes the time: hashed, rewritten
    assert prepare_folder(photos, out, **kwargs).written == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert hashlib.sha256(shard.read_bytes()).hexdigest() == manifest["shards"][1]["sha256"]
    changed = prepare_folder(photos, out, **{**kwargs, "step": STEP})  # other parameters
    assert changed.written == 2


def test_cli_lists_a_corrupt_file_and_goes_on(photos, tmp_path) -> None:
    out = tmp_path / "ds"
    result = CliRunner().invoke(
        cli,
        ["prepare", "--data", str(photos), "-o", str(out), "--crop", "128", "--step", "128"],
        prog_name="imgen",
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "skipped 1 of 4 images: broken.png" in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [name for name, _ in manifest["skipped"]] == ["broken.png"]
    assert result.stdout.strip() == str(out)


def test_cli_help_has_examples() -> None:
    result = CliRunner().invoke(cli, ["prepare", "--help"], prog_name="imgen")
    assert result.exit_code == 0
    assert "imgen prepare --data ./DIV2K_train_HR -o ./DIV2K-sub" in result.output
    assert "imgen train sr --data ./DIV2K-sub" in result.output


def test_items_follow_the_folder_contract(prepared) -> None:
    ds = training_images(prepared, 64)
    assert isinstance(ds, PreparedDataset) and len(ds) == _expected_count()
    a, b = ds[(5, 1234)], ds[(5, 1234)]
    assert torch.equal(a["image"], b["image"]) and a["image"].shape == (3, 64, 64)
    assert not torch.equal(a["image"], ds[(5, 99)]["image"])  # the seed draws the crop
    paired = training_images(prepared, 64, paired=True)[(7, 3)]
    hr = paired["image"].float().unsqueeze(0)
    lr = torch.nn.functional.avg_pool2d(hr, 2)  # the LR covers the same area as the HR
    assert (lr - paired["lr"].float()).abs().mean() < 6
    with pytest.raises(DataError, match="larger than the 128-pixel sub-images"):
        PreparedDataset(prepared, 256)


def test_ranks_read_disjoint_samples_that_together_are_one_stream(prepared) -> None:
    n = len(PreparedDataset(prepared, 64))
    one = list(SampleStream(n, base_seed=1, length=40))
    ranks = [list(SampleStream(n, base_seed=1, length=20, rank=r, world_size=2)) for r in (0, 1)]
    assert set(ranks[0]).isdisjoint(ranks[1])
    assert sorted(ranks[0] + ranks[1]) == sorted(one)


def test_other_tasks_refuse_a_prepared_dataset_in_one_sentence(prepared) -> None:
    with pytest.raises(DataError, match="made by imgen prepare, which this task does not read"):
        ImageSet(prepared)
    with pytest.raises(
        DataError, match=r"made by imgen prepare \(tar shards\), which this command does not"
    ):
        scan_images(prepared)  # eval, predict, the paired layouts


def test_a_large_plain_folder_suggests_prepare_and_is_not_cached_per_rank(
    photos, monkeypatch
) -> None:
    notes: list[str] = []
    monkeypatch.setattr(datasets_module, "LARGE_IMAGES", 2)
    monkeypatch.setattr(datasets_module, "_suggested", set())
    images = ImageSet(photos, cache=False, warn=notes.append)
    assert any("imgen prepare --data" in note for note in notes)
    assert images._images is None
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "0")
    notes.clear()
    images = ImageSet(photos, cache=True, warn=notes.append)
    assert images._images is None  # each of 4 ranks would hold a copy: decoded on access
    assert any("each of the 4 ranks would hold its own copy" in note for note in notes)


def _config(data: Path, out: Path, **changes):
    """The engine tests' tiny sr run, PSNR-oriented, at a constant LR (the same rates
    whatever the number of steps)."""
    options = dict(steps=4, log_every=2, sample_every=100, save_every=2, gan_weight=0.0)
    return tiny_sr_config(data, out, **{**options, "lr_schedule": "constant", **changes})


def _recording(trainer: Trainer) -> list[tuple[int, int]]:
    """The (index, seed) of every sample a training step consumes, in order."""
    seen: list[tuple[int, int]] = []
    prepare = trainer.task.prepare

    def record(batch: dict) -> dict:
        if "sample_seed" in batch:  # a training batch (sample pictures have none)
            seen.extend(zip(batch["index"].tolist(), batch["sample_seed"].tolist(), strict=True))
        return prepare(batch)

    trainer.task.prepare = record
    return seen


def test_training_from_it_resumes_in_the_same_sample_order(prepared, tmp_path) -> None:
    task, cfg = _config(prepared, tmp_path / "a")
    trainer = Trainer(task, cfg, quiet=True)
    assert isinstance(trainer.dataset, PreparedDataset) and trainer.dataset.paired
    straight_order = _recording(trainer)
    straight = trainer.fit()

    task, cfg = _config(prepared, tmp_path / "b", steps=2)
    trainer = Trainer(task, cfg, quiet=True)
    order = _recording(trainer)
    run = trainer.fit()
    task, cfg = _config(prepared, tmp_path / "b", resume=str(run))
    trainer = Trainer(task, cfg, quiet=True)
    assert trainer.step == 2
    after = _recording(trainer)
    resumed = trainer.fit()

    assert len(straight_order) == 8 and order + after == straight_order
    a = load_file(str(straight / "checkpoints" / "last.safetensors"))
    b = load_file(str(resumed / "checkpoints" / "last.safetensors"))
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_train_sr_cli_three_steps_from_a_prepared_folder(prepared, tmp_path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "train", "sr", "--data", str(prepared), "--out", str(tmp_path), "--steps", "3",
            "--batch-size", "2", "--crop", "32", "--scale", "2", "--num-feat", "8",
            "--num-block", "1", "--device", "cpu", "--workers", "0", "--gan-weight", "0",
            "--perceptual-weight", "0", "--degradation", "realesrgan",
        ],
        prog_name="imgen",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = Path(result.stdout.strip().splitlines()[-1])
    assert (run / "checkpoints" / "last.safetensors").is_file()
    steps = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(e.get("step", 0) for e in steps) == 3


def test_data_lr_with_a_prepared_folder_is_a_usage_error(prepared, tmp_path) -> None:
    task, cfg = _config(prepared, tmp_path, data_lr=str(tmp_path))
    with pytest.raises(UsageError, match="made by imgen prepare, and --data-lr pairs"):
        task.dataset(cfg, cfg.data, "train")


def test_long_names_in_subfolders_and_dots_make_valid_keys(tmp_path) -> None:
    deep = tmp_path / "hr" / ("a-rather-long-folder-name-" * 3) / "v1.2"
    deep.mkdir(parents=True)
    photo = np.asarray(skimage.data.astronaut())[:200, :200]
    Image.fromarray(photo).save(deep / ("photo.final." + "x" * 60 + ".png"))
    result = prepare_folder(tmp_path / "hr", tmp_path / "ds", crop=128, step=72, progress=False)
    assert result.samples == 4  # 2 x 2: 0 and 72
    with tarfile.open(tmp_path / "ds" / "shard-000000.tar") as tar:
        names = tar.getnames()
    assert len(names[0]) > 100 and names[0].endswith("_s000.hr.png")
    assert names[0].split("/")[-1].count(".") == 2  # the key ends at the first dot
    ds = PreparedDataset(tmp_path / "ds", None)
    assert torch.equal(ds[3]["image"], torch.from_numpy(photo[72:200, 72:200]).permute(2, 0, 1))


def test_loader_workers_read_the_same_items_and_pickle_no_pixels(prepared) -> None:
    import pickle

    ds = PreparedDataset(prepared, 64, paired=True)
    ds[(0, 0)]  # opens a descriptor here, which a worker must not inherit
    assert len(pickle.dumps(ds)) < 64 * 1024  # the index, not images: workers start cheap
    stream = SampleStream(len(ds), base_seed=5, length=8)
    direct = [ds[item]["image"] for item in stream]
    loader = torch.utils.data.DataLoader(ds, batch_size=4, sampler=stream, num_workers=2)
    batches = [batch["image"] for batch in loader]
    assert torch.equal(torch.cat(batches), torch.stack(direct))


def test_a_member_that_no_longer_decodes_is_stood_in_for_with_a_warning(photos, tmp_path) -> None:
    out = tmp_path / "ds"
    prepare_folder(photos, out, crop=CROP, step=CROP, workers=1, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    _, offset, size, _, _ = manifest["index"][0]
    shard = out / "shard-000000.tar"
    data = bytearray(shard.read_bytes())
    data[offset : offset + size] = bytes(size)  # same size: the start-up check passes
    shard.write_bytes(bytes(data))
    notes: list[str] = []
    ds = PreparedDataset(out, None, warn=notes.append)
    assert torch.equal(ds[0]["image"], ds[1]["image"])  # the next sample stands in
    assert len(notes) == 1 and "sample 0" in notes[0] and "can no longer be read" in notes[0]
    shard.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(DataError, match="not the size its manifest says; run imgen prepare"):
        PreparedDataset(out, None)


def test_the_webdataset_package_reads_the_shards(prepared) -> None:
    wds = pytest.importorskip("webdataset")
    manifest = json.loads((prepared / "manifest.json").read_text())
    samples = list(
        wds.WebDataset(str(prepared / "shard-000000.tar"), shardshuffle=False).decode("rgb8")
    )
    assert len(samples) == manifest["shards"][0]["samples"]
    assert samples[0]["__key__"] == "astronaut_s000"
    assert samples[0]["hr.png"].shape == (CROP, CROP, 3)
    assert samples[0]["lr.png"].shape == (CROP // 2, CROP // 2, 3)
