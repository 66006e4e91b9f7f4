"""Tests for the translate task's data: folder layouts, paired crops, derived conditions."""

from __future__ import annotations

from pathlib import Path

import kornia
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from imgen.data.transforms import sample_rng
from imgen.errors import DataError, UsageError
from imgen_translate.conditions import CONDITIONS, blur, edges, gray, make_condition, mask, sketch
from imgen_translate.data import (
    PairedDataset,
    PhotoDataset,
    build_dataset,
    find_layout,
    hole_mask,
)

SOURCES = ("astronaut", "coffee", "chelsea", "rocket")


def photo(i: int = 0, height: int = 40, width: int = 48) -> np.ndarray:
    """A small crop of a real photo (uint8 RGB); i picks one of four sample photos."""
    image = np.asarray(getattr(skdata, SOURCES[i % len(SOURCES)])())
    top, left = image.shape[0] // 3, image.shape[1] // 3
    return np.ascontiguousarray(image[top : top + height, left : left + width])


def save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def make_pairs(root: Path, a_name: str, b_name: str, n: int = 3, **size) -> None:
    """n pairs whose B is the exact inverse of A (B = 255 - A), as PNG files 0.png, 1.png..."""
    for i in range(n):
        a = photo(i, **size)
        save(root / a_name / f"{i}.png", a)
        save(root / b_name / f"{i}.png", 255 - a)


def make_ab(folder: Path, n: int = 3, **size) -> None:
    """n pix2pix AB images: A on the left half, B = 255 - A on the right."""
    for i in range(n):
        a = photo(i, **size)
        save(folder / f"{i}.png", np.concatenate([a, 255 - a], axis=1))


def assert_inverse(item: dict) -> None:
    assert item["A"].dtype == torch.uint8 and item["A"].shape == item["B"].shape
    assert torch.equal(item["B"], 255 - item["A"])


# --- layouts ----------------------------------------------------------------------------------


def test_train_pairs_matched_by_name(tmp_path):
    make_pairs(tmp_path, "trainA", "trainB")
    save(tmp_path / "trainA" / "x.jpg", photo(1))  # JPEG in A, PNG in B: matched by stem
    save(tmp_path / "trainB" / "x.png", photo(2))
    layout = find_layout(tmp_path, "train")
    assert layout.kind == "pairs" and layout.a_dir == tmp_path / "trainA"
    assert [(a.name, b.name) for a, b in layout.files] == [
        ("0.png", "0.png"),
        ("1.png", "1.png"),
        ("2.png", "2.png"),
        ("x.jpg", "x.png"),
    ]
    ds = PairedDataset(tmp_path, "train", crop=None)
    assert len(ds) == 4
    item = ds[0]
    assert set(item) == {"A", "B", "index"} and item["A"].shape == (3, 40, 48)
    assert torch.equal(item["A"], torch.from_numpy(photo(0)).permute(2, 0, 1))
    assert_inverse(item)


def test_a_b_layout_any_split(tmp_path):
    make_pairs(tmp_path, "A", "B")
    for split in ("train", "test"):
        layout = find_layout(tmp_path, split)
        assert layout.kind == "pairs" and layout.b_dir == tmp_path / "B"
    assert_inverse(PairedDataset(tmp_path, "test", crop=None)[1])


def test_ab_layout_split_in_half(tmp_path):
    make_ab(tmp_path / "train")
    make_ab(tmp_path / "test", n=2)
    assert find_layout(tmp_path, "train").kind == "ab"
    train, test = PairedDataset(tmp_path, crop=32), PairedDataset(tmp_path, "test", crop=32)
    assert (len(train), len(test)) == (3, 2)
    item = train[2]
    assert item["A"].shape == (3, 40, 48)  # the full half, not a crop, for int indexing
    assert torch.equal(item["A"], torch.from_numpy(photo(2)).permute(2, 0, 1))
    assert_inverse(item)
    for seed in range(5):
        assert_inverse(train[(seed % 3, seed)])


def test_test_split_prefers_test_then_val(tmp_path):
    make_pairs(tmp_path, "trainA", "trainB", n=3)
    make_pairs(tmp_path, "valA", "valB", n=2)
    assert len(PairedDataset(tmp_path, "test", crop=None)) == 2  # valA/valB
    make_pairs(tmp_path, "testA", "testB", n=1)
    layout = find_layout(tmp_path, "test")
    assert layout.a_dir == tmp_path / "testA" and len(layout.files) == 1
    assert len(PairedDataset(tmp_path, "train", crop=None)) == 3

    ab = tmp_path / "ab"
    make_ab(ab / "val", n=2)
    assert find_layout(ab, "test").a_dir == ab / "val"


def test_single_folder_needs_a_condition(tmp_path):
    for i in range(3):
        save(tmp_path / f"p{i}.png", photo(i))
    assert find_layout(tmp_path, "train").kind == "single"
    with pytest.raises(DataError, match="--condition edges"):
        build_dataset(tmp_path, "train", condition=None, crop=32)
    with pytest.raises(DataError, match="trainA"):
        PairedDataset(tmp_path, crop=32)
    ds = build_dataset(tmp_path, "train", condition="gray", crop=32)
    assert isinstance(ds, PhotoDataset) and len(ds) == 3
    item = ds[(1, 7)]
    assert set(item) == {"image", "index"} and item["image"].shape == (3, 32, 32)
    with pytest.raises(UsageError, match="choose one of edges"):
        build_dataset(tmp_path, "train", condition="canny", crop=32)


def test_condition_on_pairs_uses_the_target_side(tmp_path):
    make_pairs(tmp_path, "trainA", "trainB", n=2)
    make_ab(tmp_path / "ab" / "train", n=2)
    for root in (tmp_path, tmp_path / "ab"):
        ds = build_dataset(root, "train", condition="edges", crop=None)
        expected = 255 - torch.from_numpy(photo(1)).permute(2, 0, 1)
        assert torch.equal(ds[1]["image"], expected)  # B
        ds = build_dataset(root, "train", condition="blur", crop=None, direction="BtoA")
        assert torch.equal(ds[1]["image"], 255 - expected)  # A is the target


def test_direction_swaps_a_and_b(tmp_path):
    make_pairs(tmp_path, "trainA", "trainB", n=2)
    ab = PairedDataset(tmp_path, crop=16)
    ba = PairedDataset(tmp_path, crop=16, direction="BtoA")
    for item in (0, (1, 3)):
        assert torch.equal(ab[item]["A"], ba[item]["B"])
        assert torch.equal(ab[item]["B"], ba[item]["A"])
    with pytest.raises(UsageError, match="AtoB"):
        PairedDataset(tmp_path, crop=16, direction="A2B")


# --- errors -----------------------------------------------------------------------------------


def test_missing_partners_are_listed(tmp_path):
    make_pairs(tmp_path, "trainA", "trainB", n=2)
    for name in ("3.jpg", "7.jpg"):
        save(tmp_path / "trainA" / name, photo(0))
    with pytest.raises(DataError) as info:
        find_layout(tmp_path, "train")
    message = str(info.value)
    assert "3.jpg, 7.jpg" in message and "trainB" in message and "same name" in message

    for i in range(20):
        save(tmp_path / "trainA" / f"m{i:02d}.png", photo(0, 8, 8))
    with pytest.raises(DataError, match=r"and 12 more \(22 of 24"):
        find_layout(tmp_path, "train")


def test_unpaired_b_images_warn(tmp_path):
    make_pairs(tmp_path, "trainA", "trainB", n=2)
    save(tmp_path / "trainB" / "extra.png", photo(0))
    warnings: list[str] = []
    ds = PairedDataset(tmp_path, crop=None, warn=warnings.append)
    assert len(ds) == 2 and len(warnings) == 1 and "extra.png" in warnings[0]


def test_half_a_pair_of_folders_is_an_error(tmp_path):
    make_pairs(tmp_path, "trainA", "trainB", n=1)
    (tmp_path / "trainB" / "0.png").unlink()
    (tmp_path / "trainB").rmdir()
    with pytest.raises(DataError, match="trainA/ but no trainB/"):
        find_layout(tmp_path, "train")


def test_split_missing_is_an_error(tmp_path):
    make_pairs(tmp_path, "trainA", "trainB", n=1)
    with pytest.raises(DataError, match="none for split 'test'"):
        find_layout(tmp_path, "test")


def test_mismatched_pair_sizes(tmp_path):
    save(tmp_path / "A" / "1.png", photo(0, 40, 48))
    save(tmp_path / "B" / "1.png", photo(0, 40, 40))
    for cache in (True, False):
        with pytest.raises(DataError, match=r"1\.png \(40x48\).*1\.png \(40x40\) differ"):
            PairedDataset(tmp_path, crop=32, cache=cache)
    # With load_size both images are resized to the same square anyway.
    assert PairedDataset(tmp_path, crop=32, load_size=36)[0]["B"].shape == (3, 32, 32)


def test_odd_ab_width(tmp_path):
    save(tmp_path / "train" / "odd.png", photo(0, 40, 63))
    for cache in (True, False):
        with pytest.raises(DataError, match=r"odd\.png is 63 pixels wide"):
            PairedDataset(tmp_path, crop=16, cache=cache)


def test_images_smaller_than_crop(tmp_path):
    make_pairs(tmp_path, "trainA", "trainB", n=2)
    with pytest.raises(DataError, match="smaller than the required 48x48"):
        PairedDataset(tmp_path, crop=48)
    make_ab(tmp_path / "ab" / "train", n=1)  # halves are 40x48
    with pytest.raises(DataError, match="smaller than the required 48x96"):
        PairedDataset(tmp_path / "ab", crop=48)
    assert len(PairedDataset(tmp_path, crop=48, load_size=64)) == 2
    with pytest.raises(UsageError, match="crop <= load_size"):
        PairedDataset(tmp_path, crop=48, load_size=40)


# --- sampling ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cache", [True, False])
def test_random_crop_and_flip_stay_aligned(tmp_path, cache):
    make_pairs(tmp_path, "trainA", "trainB")
    ds = PairedDataset(tmp_path, crop=24, cache=cache)
    flipped = 0
    for seed in range(24):
        item = ds[(seed % 3, seed)]
        assert item["A"].shape == (3, 24, 24) and item["index"] == seed % 3
        assert_inverse(item)
        full = torch.from_numpy(photo(seed % 3)).permute(2, 0, 1)
        windows = full.unfold(1, 24, 1).unfold(2, 24, 1)  # (3, 17, 25, 24, 24)
        a = item["A"]
        plain = (windows == a[:, None, None]).flatten(3).all(-1).all(0).any()
        mirrored = (windows == a.flip(-1)[:, None, None]).flatten(3).all(-1).all(0).any()
        assert bool(plain or mirrored)
        flipped += int(bool(mirrored and not plain))
    assert 0 < flipped < 24  # the flip happens, sometimes


def test_no_flip_without_augment(tmp_path):
    make_pairs(tmp_path, "trainA", "trainB", n=1)
    ds = PairedDataset(tmp_path, crop=40, augment=False)  # crop = height: only left moves
    full = torch.from_numpy(photo(0)).permute(2, 0, 1)
    for seed in range(10):
        a = ds[(0, seed)]["A"]
        assert any(torch.equal(a, full[:, :, x : x + 40]) for x in range(9))


def test_seed_determines_the_sample(tmp_path):
    make_pairs(tmp_path, "trainA", "trainB")
    ds = PairedDataset(tmp_path, crop=16)
    other = PairedDataset(tmp_path, crop=16, cache=False)
    for seed in (0, 1, 12345):
        first, again, uncached = ds[(1, seed)], ds[(1, seed)], other[(1, seed)]
        assert torch.equal(first["A"], again["A"]) and torch.equal(first["A"], uncached["A"])
        assert torch.equal(first["B"], again["B"])
    crops = {ds[(1, seed)]["A"].numpy().tobytes() for seed in range(8)}
    assert len(crops) > 1
    assert torch.equal(ds[-1]["A"], ds[2]["A"])
    with pytest.raises(IndexError):
        ds[3]


def test_load_size_resizes_then_crops(tmp_path):
    make_pairs(tmp_path, "trainA", "trainB", n=2, height=40, width=56)
    ds = PairedDataset(tmp_path, crop=32, load_size=48)
    train = ds[(0, 5)]
    assert train["A"].shape == train["B"].shape == (3, 32, 32)
    evaluation = ds[0]  # pix2pix test phase: resized straight to crop x crop
    assert evaluation["A"].shape == (3, 32, 32)
    expected = Image.fromarray(photo(0, 40, 56)).resize((32, 32), Image.Resampling.BICUBIC)
    assert torch.equal(evaluation["A"], torch.from_numpy(np.array(expected)).permute(2, 0, 1))
    whole = PairedDataset(tmp_path, crop=None, load_size=48)
    assert whole[(1, 0)]["A"].shape == whole[1]["B"].shape == (3, 48, 48)


def test_eval_returns_full_images(tmp_path):
    make_pairs(tmp_path, "trainA", "trainB", n=2, height=36, width=52)
    ds = PairedDataset(tmp_path, crop=16)
    assert ds[0]["A"].shape == ds[1]["B"].shape == (3, 36, 52)
    assert torch.equal(ds[1]["A"], torch.from_numpy(photo(1, 36, 52)).permute(2, 0, 1))


# --- masks ------------------------------------------------------------------------------------


def test_photo_dataset_mask(tmp_path):
    for i in range(2):
        save(tmp_path / f"p{i}.png", photo(i, 64, 64))
    ds = PhotoDataset(tmp_path, crop=48, condition="mask")
    item = ds[(0, 11)]
    assert item["image"].shape == (3, 48, 48)
    assert item["mask"].shape == (1, 48, 48) and item["mask"].dtype == torch.uint8
    assert torch.equal(item["mask"], ds[(0, 11)]["mask"])
    assert not torch.equal(item["mask"], ds[(0, 12)]["mask"])
    centre = ds[1]["mask"][0]  # evaluation: one centred hole, full 64x64 image
    assert centre.shape == (64, 64) and centre.sum() == 32 * 32
    assert centre[16:48, 16:48].all()
    assert "mask" not in PhotoDataset(tmp_path, crop=48, condition="gray")[0]


@pytest.mark.parametrize("size", [(64, 64), (48, 80), (33, 47)])
def test_mask_coverage(size):
    coverage = [hole_mask(*size, sample_rng(seed)).mean() for seed in range(300)]
    assert min(coverage) >= 0.10 and max(coverage) <= 0.40
    assert max(coverage) - min(coverage) > 0.15  # the amount varies
    assert 0.10 <= hole_mask(*size, None).mean() <= 0.40


# --- conditions -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    arrays = np.stack([photo(i, 48, 48) for i in range(2)])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 255


def test_conditions_shapes_and_ranges(batch):
    holes = torch.from_numpy(np.stack([hole_mask(48, 48, sample_rng(s)) for s in (0, 1)]))
    for name in CONDITIONS:
        out = make_condition(name, batch, {"mask": holes[:, None]})
        assert out.shape == batch.shape and out.dtype == batch.dtype, name
        assert out.min() >= 0 and out.max() <= 1, name
        assert not torch.equal(out, batch), name
    assert torch.equal(make_condition("sketch", batch, {}), sketch(batch))


def test_gray_matches_kornia(batch):
    out = gray(batch)
    expected = kornia.color.rgb_to_grayscale(batch)
    for c in range(3):
        assert torch.equal(out[:, c : c + 1], expected)


def test_edges():
    flat = torch.full((2, 3, 40, 40), 0.6)
    assert edges(flat).sum() == 0
    step = torch.zeros(1, 3, 40, 40)
    step[..., 20:] = 1
    out = edges(step)
    assert set(out.unique().tolist()) == {0.0, 1.0}
    columns = out[0, 0].sum(0).nonzero().flatten()
    assert len(columns) > 0 and columns.min() >= 17 and columns.max() <= 22
    assert out[0, 0, :, 19:21].sum() >= 40  # a continuous line down the boundary


def test_edges_of_photos_are_sparse(batch):
    density = edges(batch).mean().item()
    assert 0.005 < density < 0.25


def test_blur_keeps_constant_mean(batch):
    constant = torch.full((1, 3, 24, 24), 0.3)
    assert torch.allclose(blur(constant), constant, atol=1e-6)
    assert torch.allclose(blur(batch, sigma=1.0).mean(), batch.mean(), atol=1e-2)
    assert blur(batch).std() < batch.std()


def test_mask_zeroes_exactly_the_holes(batch):
    holes = torch.zeros(2, 1, 48, 48, dtype=torch.uint8)
    holes[0, :, 5:20, 10:30] = 1
    holes[1, :, 30:, :8] = 1
    out = mask(batch, holes)
    hole = holes.bool().expand_as(batch)
    assert (out[hole] == 0).all()
    assert torch.equal(out[~hole], batch[~hole])


def test_sketch_of_flat_is_white():
    assert torch.allclose(sketch(torch.full((1, 3, 16, 16), 0.4)), torch.ones(1, 3, 16, 16))


def test_condition_errors(batch):
    with pytest.raises(ValueError, match=r"Unknown condition 'canny'.*edges, gray"):
        make_condition("canny", batch, {})
    with pytest.raises(ValueError, match=r"batch\['mask'\]"):
        make_condition("mask", batch, {})
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        gray(batch[:, :1])
