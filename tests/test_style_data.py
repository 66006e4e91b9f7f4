"""Tests for the style task's data: unpaired domain folders and CycleGAN's image pool."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from imgen.errors import DataError, UsageError
from imgen_style.data import UnalignedDataset, find_domains, test_pairs
from imgen_style.pool import ImagePool

SOURCES = ("astronaut", "coffee", "chelsea", "rocket")


def photo(i: int = 0, height: int = 40, width: int = 48) -> np.ndarray:
    """A small crop of a real photo (uint8 RGB); i shifts the crop within one of four photos."""
    image = np.asarray(getattr(skdata, SOURCES[i % len(SOURCES)])())
    top, left = image.shape[0] // 3 + 7 * i, image.shape[1] // 3 + 5 * i
    return np.ascontiguousarray(image[top : top + height, left : left + width])


def save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def make_domains(root: Path, a: str = "trainA", b: str = "trainB") -> tuple[Path, Path]:
    """Domain A: 3 images of 40x48; domain B: 5 images of assorted sizes (36..50 pixels)."""
    for i in range(3):
        save(root / a / f"{i}.png", photo(i, 40, 48))
    for i, (h, w) in enumerate([(36, 44), (50, 40), (40, 40), (44, 50), (38, 42)]):
        save(root / b / f"b{i}.png", photo(i + 3, h, w))
    return root / a, root / b


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("domains")
    make_domains(root)
    return root


# -- find_domains -----------------------------------------------------------------------------


def test_find_domains_train_and_fallback(domains, tmp_path):
    assert find_domains(domains, "train") == (domains / "trainA", domains / "trainB")
    make_domains(tmp_path, "A", "B")
    assert find_domains(tmp_path, "train") == (tmp_path / "A", tmp_path / "B")
    assert find_domains(tmp_path, "test") == (tmp_path / "A", tmp_path / "B")


def test_find_domains_test_split(tmp_path):
    make_domains(tmp_path)
    make_domains(tmp_path, "testA", "testB")
    assert find_domains(tmp_path, "test") == (tmp_path / "testA", tmp_path / "testB")
    # "test" does not fall back to trainA/trainB.
    only_train = tmp_path / "only_train"
    make_domains(only_train)
    with pytest.raises(DataError, match=r"testA/\+testB/ or A/\+B/.*--data-a X --data-b Y"):
        find_domains(only_train, "test")


def test_find_domains_explicit_wins(domains, tmp_path):
    a, b = make_domains(tmp_path, "x", "y")
    for split in ("train", "test"):
        assert find_domains(domains, split, data_a=a, data_b=b) == (a, b)
        assert find_domains(None, split, data_a=str(a), data_b=str(b)) == (a, b)
    with pytest.raises(DataError, match="--data-a was given without --data-b"):
        find_domains(None, "train", data_a=a)
    assert find_domains(domains, "train", data_a="", data_b="") == find_domains(domains, "train")
    with pytest.raises(DataError, match=r"--data-b folder .*nope"):
        find_domains(None, "train", data_a=a, data_b=tmp_path / "nope")


def test_find_domains_missing_folder_errors(tmp_path):
    save(tmp_path / "trainA" / "0.png", photo())
    with pytest.raises(DataError, match=r"has trainA/ but no trainB/.*--data DIR with trainA/"):
        find_domains(tmp_path, "train")
    with pytest.raises(DataError, match="does not exist"):
        find_domains(tmp_path / "missing", "train")
    with pytest.raises(DataError, match="No data given"):
        find_domains(None, "train")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"no trainA/\+trainB/ or A/\+B/"):
        find_domains(empty, "train")


# -- UnalignedDataset -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def train_ds(domains) -> UnalignedDataset:
    return UnalignedDataset(
        domains / "trainA", domains / "trainB", crop=32, load_size=None, augment=True
    )


def test_length_and_eval_items(train_ds):
    assert len(train_ds) == 5  # max(3, 5)
    assert len(train_ds.paths_a) == 3 and len(train_ds.paths_b) == 5
    item = train_ds[4]
    assert item["index"] == 4
    expected_a = np.array(Image.open(train_ds.paths_a[4 % 3]))
    expected_b = np.array(Image.open(train_ds.paths_b[4]))
    assert item["A"].dtype == torch.uint8
    assert torch.equal(item["A"], torch.from_numpy(expected_a).permute(2, 0, 1))
    assert torch.equal(item["B"], torch.from_numpy(expected_b).permute(2, 0, 1))
    # Full size, deterministic, sizes may differ between the domains.
    assert tuple(train_ds[1]["B"].shape) == (3, 50, 40)
    assert torch.equal(train_ds[1]["A"], train_ds[1]["A"])
    with pytest.raises(IndexError):
        train_ds[5]


def test_train_items_are_seed_determined(train_ds):
    first, again = train_ds[(2, 123)], train_ds[(2, 123)]
    assert torch.equal(first["A"], again["A"]) and torch.equal(first["B"], again["B"])
    for key in ("A", "B"):
        assert tuple(first[key].shape) == (3, 32, 32)
        assert first[key].dtype == torch.uint8
    assert first["index"] == 2
    # A is A[i % nA] (a crop of it); B is drawn by the seed, so it varies across seeds.
    b_images = {train_ds[(2, seed)]["B"].float().mean().item() for seed in range(40)}
    assert len(b_images) > 3
    a_full = torch.from_numpy(np.array(Image.open(train_ds.paths_a[2]))).permute(2, 0, 1)
    crop = first["A"]
    windows = [a_full[:, t : t + 32, s : s + 32] for t in range(40 - 31) for s in range(48 - 31)]
    assert any(torch.equal(crop, w) or torch.equal(crop, w.flip(-1)) for w in windows)


def test_crop_and_flip_are_independent_for_a_and_b(tmp_path):
    # The same image in both domains: separate corners/flips make A and B differ for some seed.
    save(tmp_path / "A" / "0.png", photo(0, 40, 48))
    save(tmp_path / "B" / "0.png", photo(0, 40, 48))
    ds = UnalignedDataset(tmp_path / "A", tmp_path / "B", crop=24, load_size=None, augment=True)
    assert any(not torch.equal(ds[(0, s)]["A"], ds[(0, s)]["B"]) for s in range(10))


def test_load_size_path(domains):
    ds = UnalignedDataset(
        domains / "trainA", domains / "trainB", crop=24, load_size=30, augment=False, cache=False
    )
    train = ds[(1, 7)]
    assert tuple(train["A"].shape) == (3, 24, 24) and tuple(train["B"].shape) == (3, 24, 24)
    evaluation = ds[3]
    assert tuple(evaluation["A"].shape) == (3, 24, 24)
    assert tuple(evaluation["B"].shape) == (3, 24, 24)
    # Lazy decoding gives the same pixels as the cached dataset.
    cached = UnalignedDataset(
        domains / "trainA", domains / "trainB", crop=24, load_size=30, augment=False
    )
    assert torch.equal(cached[(1, 7)]["B"], train["B"])
    with pytest.raises(UsageError, match="larger than load_size"):
        UnalignedDataset(
            domains / "trainA", domains / "trainB", crop=40, load_size=30, augment=False
        )


def test_image_smaller_than_crop_names_the_file(domains):
    with pytest.raises(DataError, match=r"b0\.png is 36x44"):
        UnalignedDataset(
            domains / "trainA", domains / "trainB", crop=38, load_size=None, augment=False
        )
    # With load_size everything is resized first, so small images are fine.
    UnalignedDataset(domains / "trainA", domains / "trainB", crop=38, load_size=48, augment=False)


def test_test_pairs_match_by_stem(tmp_path):
    save(tmp_path / "testA" / "1.png", photo(0))
    save(tmp_path / "testA" / "2.png", photo(1))
    save(tmp_path / "testA" / "only_a.png", photo(2))
    save(tmp_path / "testB" / "1.jpg", photo(3))
    save(tmp_path / "testB" / "2.png", photo(0))
    pairs = test_pairs(tmp_path / "testA", tmp_path / "testB")
    assert [(a.name, b.name) for a, b in pairs] == [("1.png", "1.jpg"), ("2.png", "2.png")]
    save(tmp_path / "other" / "zzz.png", photo(0))
    assert test_pairs(tmp_path / "testA", tmp_path / "other") == []


# -- ImagePool --------------------------------------------------------------------------------


def batch(start: int, n: int = 2) -> torch.Tensor:
    """n images, image k filled with the value start + k (identifies it when it comes back)."""
    return torch.arange(start, start + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 4, 4)


def test_pool_size_zero_passes_through():
    pool = ImagePool(0)
    images = torch.rand(2, 3, 4, 4, requires_grad=True)
    assert pool.query(images) is images


def test_pool_fills_then_mixes():
    pool = ImagePool(size=10, seed=3)
    for start in range(0, 10, 2):  # filling: the images come back as they are
        out = pool.query(batch(start))
        assert torch.equal(out, batch(start))
    assert len(pool) == 10
    older, total = 0, 0
    for start in range(10, 810, 2):
        out = pool.query(batch(start))
        assert out.shape == (2, 3, 4, 4)
        values = out[:, 0, 0, 0]
        older += int((values < start).sum())
        total += 2
    assert 0.4 < older / total < 0.6
    # Everything returned was seen before; stored images are what was queried.
    assert all(img.min() == img.max() for img in pool.images)


def test_pool_returns_detached_and_stores_clones():
    pool = ImagePool(size=2, seed=0)
    source = torch.rand(2, 3, 4, 4, requires_grad=True)
    images = source * 2
    out = pool.query(images)
    assert not out.requires_grad
    assert all(not img.requires_grad for img in pool.images)
    before = pool.images[0].clone()
    with torch.no_grad():
        images.zero_()
    assert torch.equal(pool.images[0], before)
    for _ in range(5):
        assert not pool.query(torch.rand(2, 3, 4, 4, requires_grad=True) * 2).requires_grad


def test_pool_state_dict_round_trip():
    pool = ImagePool(size=6, seed=11)
    for start in range(0, 20, 2):
        pool.query(batch(start))
    state = pool.state_dict()
    restored = ImagePool(size=6, seed=999)
    restored.load_state_dict(state)
    for start in range(20, 60, 2):
        assert torch.equal(pool.query(batch(start)), restored.query(batch(start)))
    with pytest.raises(ValueError, match="more than this pool's size"):
        ImagePool(size=2).load_state_dict(state)


def test_pool_leaves_global_rng_alone():
    pool = ImagePool(size=2, seed=5)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    for start in range(0, 40, 2):
        pool.query(batch(start))
    assert torch.equal(torch.get_rng_state(), state)
