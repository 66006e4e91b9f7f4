"""`imgen predict` gives back what it was given (issue 16): names, formats, bit depth, gray,
alpha, ICC profile, EXIF; it never overwrites an input and replaces an output only when told.

The model is a tiny SRVGGNetCompact x2 saved as a Real-ESRGAN file, run through --weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from click.testing import CliRunner
from PIL import Image

from imgen.cli import cli
from imgen.data.picture import read_picture
from imgen.plugins import create_model

pytestmark = pytest.mark.usefixtures("clean_plugin_env")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    net = create_model("compact", "generator", num_feat=4, num_conv=1, upscale=2)
    path = tmp_path_factory.mktemp("model") / "compact_x2.pth"
    torch.save({"params": net.state_dict()}, path)
    return path


def photo(height: int = 12, width: int = 10, seed: int = 0) -> np.ndarray:
    import skimage.data

    y = 100 + 5 * seed
    return np.ascontiguousarray(skimage.data.astronaut()[y : y + height, 200 : 200 + width])


def predict(model_file: Path, *args: object):
    return CliRunner().invoke(
        cli, ["predict", "--weights", str(model_file), "--quiet", *map(str, args)]
    )


def test_names_mirror_subfolders_and_keep_the_format(model_file, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(photo()).save(src / "a.png")
    Image.fromarray(photo(seed=1)).save(src / "sub" / "b.jpg", quality=95)
    result = predict(model_file, src, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")
    ) == [
        "a.png",
        "sub/b.jpg",
    ]
    with Image.open(tmp_path / "out" / "sub" / "b.jpg") as img:
        assert img.format == "JPEG" and img.size == (20, 24)


def test_collisions_keep_the_input_extension_in_the_name(model_file, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo()).save(src / "small.png")
    Image.fromarray(photo(seed=1)).save(src / "small.jpg")
    result = predict(model_file, src, "-o", tmp_path / "out", "--ext", "png")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "small_jpg.png",
        "small_png.png",
    ]


def test_same_folder_gets_the_task_suffix_and_never_replaces_an_input(model_file, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo()).save(src / "small.png")
    before = (src / "small.png").read_bytes()
    result = predict(model_file, src / "small.png", "-o", src)
    assert result.exit_code == 0, result.output
    assert (src / "small_x2.png").exists() and (src / "small.png").read_bytes() == before
    refused = predict(model_file, src / "small.png", "-o", src, "--suffix", "")
    assert refused.exit_code == 2 and "is an input; predict never overwrites" in refused.output
    assert (src / "small.png").read_bytes() == before


def test_an_existing_output_is_replaced_only_with_overwrite(model_file, tmp_path):
    Image.fromarray(photo()).save(tmp_path / "a.png")
    out = tmp_path / "out"
    assert predict(model_file, tmp_path / "a.png", "-o", out).exit_code == 0
    again = predict(model_file, tmp_path / "a.png", "-o", out)
    assert again.exit_code == 2 and "exist already; pass --overwrite" in again.output
    assert predict(model_file, tmp_path / "a.png", "-o", out, "--overwrite").exit_code == 0


def test_rgba_keeps_its_alpha(model_file, tmp_path):
    rgba = np.dstack([photo(), np.linspace(0, 255, 120, dtype=np.uint8).reshape(12, 10)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert predict(model_file, tmp_path / "a.png", "-o", tmp_path / "out").exit_code == 0
    with Image.open(tmp_path / "out" / "a.png") as img:
        assert img.mode == "RGBA" and img.size == (20, 24)
        alpha = np.asarray(img)[:, :, 3].astype(int)
    assert alpha[0].mean() < 40 and alpha[-1].mean() > 215  # the ramp, resized, not black


def test_alpha_in_a_jpeg_is_written_as_png_with_a_note(model_file, tmp_path):
    rgba = np.dstack([photo(), np.full((12, 10), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    CliRunner()
    result = CliRunner().invoke(
        cli,
        ["predict", "--weights", str(model_file), str(tmp_path / "a.png"), "-o",
         str(tmp_path / "out"), "--ext", "jpg"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a.png").exists()
    assert "JPEG has no alpha: written as PNG" in result.output


def test_sixteen_bit_png_and_tiff_stay_sixteen_bit(model_file, tmp_path):
    import png

    deep = photo().astype(np.uint16) * 257 + 3  # values no 8-bit image can hold
    with open(tmp_path / "deep.png", "wb") as f:
        png.Writer(10, 12, greyscale=False, bitdepth=16).write(f, deep.reshape(12, 30))
    tifffile.imwrite(tmp_path / "deep.tif", deep, photometric="rgb")
    result = predict(model_file, tmp_path / "deep.png", tmp_path / "deep.tif", "-o", tmp_path / "o")
    assert result.exit_code == 0, result.output
    for name in ("deep.png", "deep.tif"):
        out = read_picture(tmp_path / "o" / name)
        assert out.depth == 16 and out.pixels.shape == (24, 20, 3), name
        assert (out.pixels % 257 != 0).any(), name  # not 8-bit levels scaled up


def test_sixteen_bit_is_computed_without_8_bit_quantisation(model_file, tmp_path):
    import imgen

    deep = photo().astype(np.uint16) * 257 + 100
    tifffile.imwrite(tmp_path / "deep.tif", deep, photometric="rgb")
    assert predict(model_file, tmp_path / "deep.tif", "-o", tmp_path / "o").exit_code == 0
    written = read_picture(tmp_path / "o" / "deep.tif").pixels.astype(np.float64)
    model = imgen.load(model_file, device="cpu")
    x = torch.from_numpy(deep.astype(np.float32) / 65535).permute(2, 0, 1)
    with torch.inference_mode():
        expected = model.predict(x).clamp(0, 1).permute(1, 2, 0).numpy() * 65535
    assert np.abs(written - expected).max() <= 0.5 + 1e-6


def test_gray_in_gray_out_8_and_16_bit(model_file, tmp_path):
    Image.fromarray(photo()[:, :, 0]).save(tmp_path / "g8.png")
    Image.fromarray(photo()[:, :, 1].astype(np.uint16) * 257).save(tmp_path / "g16.png")
    assert (
        predict(
            model_file, tmp_path / "g8.png", tmp_path / "g16.png", "-o", tmp_path / "o"
        ).exit_code
        == 0
    )
    with Image.open(tmp_path / "o" / "g8.png") as img:
        assert img.mode == "L" and img.size == (20, 24)
    g16 = read_picture(tmp_path / "o" / "g16.png")
    assert g16.gray and g16.depth == 16 and g16.pixels.shape == (24, 20, 1)


def test_icc_profile_and_exif_are_carried_over(model_file, tmp_path):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "imgen-test-camera"  # Make
    Image.fromarray(photo()).save(tmp_path / "a.jpg", icc_profile=icc, exif=exif.tobytes())
    assert predict(model_file, tmp_path / "a.jpg", "-o", tmp_path / "o").exit_code == 0
    with Image.open(tmp_path / "o" / "a.jpg") as img:
        assert img.info.get("icc_profile") == icc
        assert img.getexif().get(0x010F) == "imgen-test-camera"


def test_outscale_sets_the_final_size(model_file, tmp_path):
    Image.fromarray(photo()).save(tmp_path / "a.png")
    result = predict(model_file, tmp_path / "a.png", "-o", tmp_path / "o", "--outscale", "1.5")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "o" / "a.png") as img:
        assert img.size == (15, 18)


def test_progress_bar_goes_to_stderr_and_quiet_silences_it(model_file, tmp_path, monkeypatch):
    monkeypatch.setenv("IMGEN_PROGRESS", "1")  # shown off a terminal too (CliRunner's stderr)
    Image.fromarray(photo()).save(tmp_path / "a.png")
    loud = CliRunner().invoke(
        cli,
        [
            "predict",
            "--weights",
            str(model_file),
            str(tmp_path / "a.png"),
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert loud.exit_code == 0
    assert "predict" in loud.stderr and "1/1" in loud.stderr and "MP/s" in loud.stderr
    assert loud.stdout.strip() == str(tmp_path / "o" / "a.png")  # data alone on stdout
    quiet = predict(model_file, tmp_path / "a.png", "-o", tmp_path / "q")
    assert "1/1" not in quiet.stderr
