"""Tests for imgen.data: scanning, decoding every common mode, crops, datasets, sampling."""

from __future__ import annotations

import itertools
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from imgen.data import (
    IMAGE_EXTENSIONS,
    ImageFolderDataset,
    SampleStream,
    decode_image,
    image_size,
    load_images,
    paired_augment,
    paired_random_crop,
    read_image_tensor,
    sample_rng,
    save_image_tensor,
    scan_images,
    to_tensor_uint8,
)
from imgen.errors import DataError


def photo(height: int = 48, width: int = 64) -> np.ndarray:
    """A small crop of a real photo (uint8 RGB)."""
    return np.ascontiguousarray(skdata.astronaut()[100 : 100 + height, 180 : 180 + width])


def write_png16(path: Path, arr: np.ndarray) -> None:
    """A minimal 16-bit PNG writer (PIL cannot write 16-bit RGB)."""
    height, width, channels = arr.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(tag + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# --- decoding -------------------------------------------------------------------------------


def test_decode_rgb_png_is_exact(tmp_path: Path) -> None:
    img = photo()
    Image.fromarray(img).save(tmp_path / "a.png")
    out = decode_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    np.testing.assert_array_equal(out, img)


def test_decode_grayscale_l_and_1(tmp_path: Path) -> None:
    gray = photo()[..., 0]
    Image.fromarray(gray).save(tmp_path / "g.png")
    out = decode_image(tmp_path / "g.png")
    assert out.shape == (48, 64, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)
    Image.fromarray(gray > 128).save(tmp_path / "bw.png")  # mode "1"
    bw = decode_image(tmp_path / "bw.png")
    assert set(np.unique(bw)) <= {0, 255}


def test_decode_la_and_rgba_composite_onto_black(tmp_path: Path) -> None:
    la = np.zeros((2, 2, 2), np.uint8)
    la[..., 0] = 100
    la[..., 1] = [[255, 128], [0, 255]]
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    out = decode_image(tmp_path / "la.png")
    assert out[0, 0].tolist() == [100] * 3
    assert out[0, 1].tolist() == [50] * 3  # round(100 * 128 / 255) = 50
    assert out[1, 0].tolist() == [0] * 3

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = [200, 100, 50]
    rgba[..., 3] = [[255, 0], [255, 255]]
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    out = decode_image(tmp_path / "rgba.png")
    assert out[0, 0].tolist() == [200, 100, 50]
    assert out[0, 1].tolist() == [0, 0, 0]


def test_decode_palette_with_transparency(tmp_path: Path) -> None:
    pal = Image.new("P", (3, 1))
    pal.putpalette([0, 255, 0, 255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    pal.putdata([0, 1, 2])
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p.png", transparency=0)
    out = decode_image(tmp_path / "p.png")
    assert out[0].tolist() == [[0, 0, 0], [255, 0, 0], [0, 0, 255]]


def test_decode_palette_without_transparency(tmp_path: Path) -> None:
    img = Image.fromarray(photo()).quantize(16)
    img.save(tmp_path / "p.png")
    out = decode_image(tmp_path / "p.png")
    np.testing.assert_array_equal(out, np.asarray(img.convert("RGB")))


def test_decode_16bit_gray_scales_instead_of_clipping(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 32896, 65535, 128, 129]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    out = decode_image(tmp_path / "g16.png")
    # round(v / 257): 1000 -> 4 (clipping would give 255), 128 -> 0, 129 -> 1
    assert out[0, :, 0].tolist() == [0, 4, 128, 255, 0, 1]
    write_png16(tmp_path / "g16b.png", values.reshape(1, 6, 1))
    np.testing.assert_array_equal(decode_image(tmp_path / "g16b.png"), out)


def test_decode_16bit_rgb_png(tmp_path: Path) -> None:
    rgb = np.zeros((2, 3, 3), np.uint16)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 65535, 0, 32896
    write_png16(tmp_path / "rgb16.png", rgb)
    out = decode_image(tmp_path / "rgb16.png")
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [255, 0, 128]


def test_decode_float_tiff(tmp_path: Path) -> None:
    values = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    Image.fromarray(values, mode="F").save(tmp_path / "f.tif")
    assert decode_image(tmp_path / "f.tif")[0, :, 0].tolist() == [0, 128, 255]


def test_decode_cmyk_jpeg(tmp_path: Path) -> None:
    cmyk = np.zeros((16, 16, 4), np.uint8)
    cmyk[:, :8] = [0, 255, 255, 0]  # red
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "c.jpg", quality=95)
    out = decode_image(tmp_path / "c.jpg").astype(int)
    assert out.shape == (16, 16, 3)
    assert np.abs(out[4, 2] - [255, 0, 0]).max() < 12
    assert np.abs(out[4, 12] - [255, 255, 255]).max() < 12


def test_decode_applies_exif_orientation(tmp_path: Path) -> None:
    img = photo(8, 12)
    pil = Image.fromarray(img)
    exif = pil.getexif()
    exif[0x0112] = 6  # stored rotated: display needs a 90 degree clockwise turn
    pil.save(tmp_path / "o.png", exif=exif.tobytes())
    out = decode_image(tmp_path / "o.png")
    assert out.shape == (12, 8, 3)
    np.testing.assert_array_equal(out, np.rot90(img, -1))
    assert image_size(tmp_path / "o.png") == (12, 8)


def test_decode_rejects_corrupt_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "x.jpg").write_text("not an image")
    with pytest.raises(DataError, match=r"x\.jpg.*corrupt or not an image"):
        decode_image(tmp_path / "x.jpg")
    with pytest.raises(DataError, match="does not exist"):
        decode_image(tmp_path / "nope.png")


def test_tensor_round_trip(tmp_path: Path) -> None:
    img = photo()
    Image.fromarray(img).save(tmp_path / "a.png")
    t = read_image_tensor(tmp_path / "a.png")
    assert t.dtype == torch.float32 and t.shape == (3, 48, 64)
    assert t.min() >= 0.0
    assert t.max() <= 1.0
    target = tmp_path / "deep" / "er" / "b.png"
    save_image_tensor(t, target)
    np.testing.assert_array_equal(decode_image(target), img)
    save_image_tensor(torch.full((1, 2, 2), 2.0), tmp_path / "clamped")
    assert decode_image(tmp_path / "clamped").max() == 255


# --- scanning and loading -------------------------------------------------------------------


def test_scan_is_recursive_sorted_and_case_insensitive(tmp_path: Path) -> None:
    img = Image.fromarray(photo(8, 8))
    for rel in ["b.png", "a/z.JPG", "a/c/d.webp", "a.TIFF", ".hidden.png", ".git/e.png"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(tmp_path / rel)
    (tmp_path / "notes.txt").write_text("hi")
    found = [p.relative_to(tmp_path).as_posix() for p in scan_images(tmp_path)]
    assert found == ["a.TIFF", "a/c/d.webp", "a/z.JPG", "b.png"]
    flat = [p.name for p in scan_images(tmp_path, recursive=False)]
    assert flat == ["a.TIFF", "b.png"]
    assert ".png" in IMAGE_EXTENSIONS


def test_scan_missing_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere does not exist"):
        scan_images(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    with pytest.raises(DataError, match=r"No images found .*empty.*\.png"):
        scan_images(tmp_path / "empty")


def test_load_skips_corrupt_files_with_one_warning(tmp_path: Path) -> None:
    Image.fromarray(photo()).save(tmp_path / "good.png")
    good_bytes = (tmp_path / "good.png").read_bytes()
    (tmp_path / "broken.png").write_bytes(good_bytes[: len(good_bytes) // 2])
    (tmp_path / "text.jpg").write_text("this is text")
    warnings: list[str] = []
    images, paths = load_images(scan_images(tmp_path), warn=warnings.append)
    assert [p.name for p in paths] == ["good.png"] and len(images) == 1
    assert len(warnings) == 1
    assert "broken.png" in warnings[0] and "text.jpg" in warnings[0]
    assert "2 of 3" in warnings[0]


def test_load_fails_when_nothing_decodes(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"\x89PNG junk")
    with pytest.raises(DataError, match=r"None of the 1 .*a\.png"):
        load_images([tmp_path / "a.png"], warn=lambda m: None)


def test_load_too_small_names_the_smallest_file(tmp_path: Path) -> None:
    Image.fromarray(photo(64, 64)).save(tmp_path / "big.png")
    Image.fromarray(photo(40, 50)).save(tmp_path / "small.png")
    Image.fromarray(photo(30, 20)).save(tmp_path / "tiny.png")
    with pytest.raises(DataError, match=r"tiny\.png is 30x20 .*2 of 3.*smaller --crop"):
        load_images(scan_images(tmp_path), min_size=48)
    images, _ = load_images(scan_images(tmp_path), min_size=(30, 20))
    assert len(images) == 3


# --- transforms -----------------------------------------------------------------------------


def test_paired_crop_aligns_lr_and_hr() -> None:
    lr = np.random.default_rng(0).integers(0, 256, (16, 20, 3), dtype=np.uint8)
    hr = np.kron(lr, np.ones((4, 4, 1), np.uint8))
    for seed in range(20):
        for scales in ([1, 4], None):
            lr_c, hr_c = paired_random_crop([lr, hr], 32, sample_rng(seed), scales=scales)
            assert lr_c.shape == (8, 8, 3) and hr_c.shape == (32, 32, 3)
            np.testing.assert_array_equal(hr_c, np.kron(lr_c, np.ones((4, 4, 1), np.uint8)))
    # Tensors (C, H, W) follow the same draws as arrays.
    lr_t, hr_t = to_tensor_uint8(lr), to_tensor_uint8(hr)
    a = paired_random_crop([lr, hr], (16, 24), sample_rng(3))
    b = paired_random_crop([lr_t, hr_t], (16, 24), sample_rng(3))
    for arr, ten in zip(a, b, strict=True):
        assert torch.equal(to_tensor_uint8(arr), ten.contiguous())


def test_paired_crop_rejects_bad_sizes() -> None:
    lr = np.zeros((16, 16, 3), np.uint8)
    hr = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="divisible by 4"):
        paired_random_crop([lr, hr], 30, sample_rng(0))
    with pytest.raises(ValueError, match="smaller than"):
        paired_random_crop([lr, hr], 68, sample_rng(0))
    with pytest.raises(ValueError, match="do not match"):
        paired_random_crop([lr, hr[:60]], 32, sample_rng(0), scales=[1, 4])


def test_paired_augment_same_ops_for_all_and_numpy_matches_torch() -> None:
    lr = np.random.default_rng(1).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    hr = np.kron(lr, np.ones((2, 2, 1), np.uint8))
    seen = set()
    for seed in range(32):
        lr_a, hr_a = paired_augment([lr, hr], sample_rng(seed))
        np.testing.assert_array_equal(hr_a, np.kron(lr_a, np.ones((2, 2, 1), np.uint8)))
        (t_a,) = paired_augment([to_tensor_uint8(lr)], sample_rng(seed))
        assert torch.equal(to_tensor_uint8(lr_a), t_a.contiguous())
        seen.add(lr_a.tobytes())
    assert len(seen) == 8  # all symmetries of the square occur
    (same,) = paired_augment([lr], sample_rng(0), hflip=False, vflip=False, rot90=False)
    np.testing.assert_array_equal(same, lr)


def test_to_tensor_uint8_is_contiguous_chw() -> None:
    img = photo(5, 7)[::-1, ::-1]
    t = to_tensor_uint8(img)
    assert t.shape == (3, 5, 7) and t.dtype == torch.uint8 and t.is_contiguous()
    assert torch.equal(t.permute(1, 2, 0), torch.from_numpy(img.copy()))
    assert to_tensor_uint8(img[..., 0]).shape == (3, 5, 7)


# --- dataset and sampler --------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i, (h, w) in enumerate([(48, 64), (40, 40), (50, 45)]):
        Image.fromarray(photo(h, w)[:, ::-1] if i else photo(h, w)).save(tmp_path / f"{i}.png")
    return tmp_path


def test_dataset_is_a_pure_function_of_index_and_seed(folder: Path) -> None:
    ds = ImageFolderDataset(folder, 32)
    lazy = ImageFolderDataset(folder, 32, cache=False)
    assert len(ds) == len(lazy) == 3
    a, b = ds[(1, 123)], ds[(1, 123)]
    assert a["image"].shape == (3, 32, 32) and a["image"].dtype == torch.uint8
    assert a["index"] == 1 and torch.equal(a["image"], b["image"])
    assert torch.equal(a["image"], lazy[(1, 123)]["image"])
    others = {ds[(0, seed)]["image"].numpy().tobytes() for seed in range(6)}
    assert len(others) > 1
    # An int index is the deterministic centre crop with no augmentation.
    center = ds[0]["image"].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(center, photo(48, 64)[8:40, 16:48])


def test_dataset_whole_images_and_multiple(folder: Path) -> None:
    ds = ImageFolderDataset(folder, None, multiple=8, augment=False)
    shapes = sorted(tuple(ds[i]["image"].shape) for i in range(len(ds)))
    assert shapes == [(3, 40, 40), (3, 48, 40), (3, 48, 64)]
    assert torch.equal(ds[(2, 5)]["image"], ds[2]["image"])  # no augmentation, no crop
    with pytest.raises(IndexError):
        ds[3]


def test_dataset_rejects_small_images_at_construction(folder: Path) -> None:
    with pytest.raises(DataError, match=r"1\.png is 40x40.*smaller --crop"):
        ImageFolderDataset(folder, 44)
    with pytest.raises(DataError, match=r"1\.png is 40x40"):
        ImageFolderDataset(folder, 44, cache=False)
    with pytest.raises(ValueError, match="multiple of 8"):
        ImageFolderDataset(folder, 20, multiple=8)


def test_dataset_in_a_dataloader(folder: Path) -> None:
    ds = ImageFolderDataset(folder, 16)
    loader = torch.utils.data.DataLoader(
        ds, sampler=SampleStream(len(ds), base_seed=7, length=5), batch_size=2
    )
    batches = list(loader)
    assert [b["image"].shape[0] for b in batches] == [2, 2, 1]
    again = list(loader)
    assert all(torch.equal(x["image"], y["image"]) for x, y in zip(batches, again, strict=True))


def test_sample_stream_resumes_exactly() -> None:
    n = 7
    full = list(itertools.islice(SampleStream(n, base_seed=11), 2 * n))
    for k in range(2 * n + 1):
        resumed = list(itertools.islice(SampleStream(n, base_seed=11, start=k), 2 * n - k))
        assert full[:k] + resumed == full
    stream = SampleStream(n, base_seed=11)
    assert all(stream.item_at(p) == full[p] for p in range(2 * n))
    far = SampleStream(n, base_seed=11, start=10**12)
    assert next(iter(far)) == stream.item_at(10**12)  # seeking is O(1), not a replay


def test_sample_stream_epochs_are_permutations_with_unique_seeds() -> None:
    n = 10
    items = list(SampleStream(n, base_seed=3, length=4 * n))
    assert len(SampleStream(n, length=4 * n)) == 4 * n
    epochs = [[index for index, _ in items[e * n : (e + 1) * n]] for e in range(4)]
    assert all(sorted(order) == list(range(n)) for order in epochs)
    assert len({tuple(order) for order in epochs}) == 4
    assert len({seed for _, seed in items}) == 4 * n
    assert list(SampleStream(n, base_seed=4, length=n)) != items[:n]
    with pytest.raises(TypeError):
        len(SampleStream(n))


def test_sample_stream_ranks_partition_the_global_stream() -> None:
    n = 5
    full = list(SampleStream(n, base_seed=2, start=3, length=12))
    ranks = [
        list(SampleStream(n, base_seed=2, start=3, length=4, rank=r, world_size=3))
        for r in range(3)
    ]
    assert [ranks[p % 3][p // 3] for p in range(12)] == full
