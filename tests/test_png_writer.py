"""The streaming PNG writer: exact pixels at 8 and 16 bits in every channel layout, metadata that
Pillow reads back, files the size of Pillow's, and memory of a stripe rather than a copy."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import skimage.data
from PIL import Image

from imgen.data import png_writer
from imgen.data.picture import read_picture
from imgen.data.png_writer import write_png


def noisy(height: int, width: int, channels: int, dtype: type) -> np.ndarray:
    """Random levels with flat and ramped rows, so that every filter type wins some row."""
    rng = np.random.default_rng(channels)
    top = np.iinfo(dtype).max
    x = rng.integers(0, top, (height, width, channels), dtype=dtype, endpoint=True)
    x[height // 3 : height // 2] = x[height // 3]  # equal rows: Up
    x[height // 2 :, :, :] = np.linspace(0, top, width, dtype=np.float64)[None, :, None]
    return x


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_round_trip_is_exact(tmp_path, monkeypatch, channels: int, dtype: type) -> None:
    monkeypatch.setattr(png_writer, "STRIPE_BYTES", 500)  # several stripes
    monkeypatch.setattr(png_writer, "IDAT_BYTES", 256)  # several IDAT chunks
    pixels = noisy(41, 23, channels, dtype)
    write_png(tmp_path / "a.png", pixels)
    back = read_picture(tmp_path / "a.png").pixels
    assert back.dtype == dtype and back.shape == pixels.shape
    np.testing.assert_array_equal(back, pixels)


def test_strided_input_is_written_as_seen(tmp_path) -> None:
    chw = noisy(30, 20, 3, np.uint8).transpose(2, 0, 1).copy()
    view = chw.transpose(1, 2, 0)  # (H, W, C) with channel-first strides, as a tensor's permute
    assert not view.flags["C_CONTIGUOUS"]
    write_png(tmp_path / "a.png", view)
    with Image.open(tmp_path / "a.png") as img:
        assert img.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(img), view)


def test_icc_profile_and_exif_are_read_back_by_pillow(tmp_path) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "imgen-test-camera"  # Make
    tiff_block = exif.tobytes().removeprefix(b"Exif\x00\x00")
    write_png(tmp_path / "a.png", noisy(8, 8, 3, np.uint8), icc=icc, exif=tiff_block)
    with Image.open(tmp_path / "a.png") as img:
        img.load()
        assert img.info.get("icc_profile") == icc
        assert img.getexif().get(0x010F) == "imgen-test-camera"


def test_files_are_about_the_size_pillow_writes(tmp_path) -> None:
    photo = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((1024, 1024)))
    write_png(tmp_path / "ours.png", photo)
    Image.fromarray(photo).save(tmp_path / "pillow.png")
    ratio = (tmp_path / "ours.png").stat().st_size / (tmp_path / "pillow.png").stat().st_size
    assert 0.9 < ratio < 1.05, ratio  # adaptive filters, as Pillow's; no filter is ~1.3x


def test_writing_costs_a_stripe_not_a_copy(tmp_path) -> None:
    """Pillow would copy the 36 MB image twice (contiguous, then four bytes a pixel)."""
    image = noisy(3000, 4000, 3, np.uint8).transpose(2, 0, 1).copy().transpose(1, 2, 0)
    tracemalloc.start()
    try:
        write_png(tmp_path / "a.png", image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < image.nbytes / 4, (
        f"{peak / 2**20:.1f} MB for a {image.nbytes / 2**20:.0f} MB image"
    )


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((4, 4), np.uint8), r"\(H, W, C\) with C in 1..4"),
        (np.zeros((4, 4, 5), np.uint8), r"\(H, W, C\) with C in 1..4"),
        (np.zeros((0, 4, 3), np.uint8), r"\(H, W, C\) with C in 1..4"),
        (np.zeros((4, 4, 3), np.float32), "uint8 or uint16"),
    ],
)
def test_bad_arrays_are_refused(tmp_path, pixels: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_png(tmp_path / "a.png", pixels)
