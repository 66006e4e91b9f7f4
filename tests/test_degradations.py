"""Real-ESRGAN's degradations (issue 15): the kernels against their closed forms, noise
statistics, JPEG against Pillow's encoder, USM, the parameters and their TOML files,
determinism per seed, and ``imgen degrade``."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from click.testing import CliRunner
from PIL import Image
from torch.utils.data import default_collate

from imgen.cli import cli
from imgen.data.degradations import (
    DegradationOptions,
    degrade,
    draw_kernel,
    draw_params,
    load_options,
    resolve_degradation,
    usm_sharp,
)
from imgen.data.degradations.jpeg import jpeg
from imgen.data.degradations.kernels import (
    covariance,
    gaussian_kernel,
    generalized_gaussian_kernel,
    mesh_grid,
    plateau_kernel,
    pulse_kernel,
    sinc_kernel,
)
from imgen.data.degradations.noise import gaussian_noise, poisson_noise
from imgen.errors import UsageError


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the pipeline is many small ops, and on a busy 2-core machine two
    contending threads make each of them wait (20x slower here). No assertion depends on it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def photo(name: str = "astronaut", size: int = 128) -> np.ndarray:
    image = np.asarray(getattr(skimage.data, name)())
    h, w = image.shape[:2]
    return np.ascontiguousarray(
        image[(h - size) // 2 : (h + size) // 2, (w - size) // 2 :][:, :size]
    )


def as_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255)


def moments(kernel: torch.Tensor) -> torch.Tensor:
    """The kernel's covariance as a distribution over the grid, (x, y) order."""
    xx, yy = mesh_grid(kernel.shape[-1])
    exx, eyy, exy = (kernel * xx * xx).sum(), (kernel * yy * yy).sum(), (kernel * xx * yy).sum()
    return torch.stack([torch.stack([exx, exy]), torch.stack([exy, eyy])])


# -- kernels ----------------------------------------------------------------------------------
def test_isotropic_gaussian_has_covariance_sigma_squared():
    kernel = gaussian_kernel(21, 1.5)
    assert kernel.shape == (21, 21) and math.isclose(float(kernel.sum()), 1.0, abs_tol=1e-12)
    assert torch.allclose(kernel, kernel.T) and torch.allclose(kernel, kernel.flip(0))
    assert torch.allclose(moments(kernel), torch.eye(2, dtype=torch.float64) * 1.5**2, atol=1e-6)


def test_anisotropic_gaussian_has_the_rotated_covariance():
    theta = 0.6
    kernel = gaussian_kernel(21, 2.0, 1.0, theta)
    sigma = covariance(2.0, 1.0, theta)
    assert torch.allclose(moments(kernel), sigma, atol=1e-3)
    # its long axis points along theta
    values, vectors = torch.linalg.eigh(moments(kernel))
    axis = vectors[:, values.argmax()]
    assert (
        abs(abs(math.atan2(axis[1], axis[0])) - theta) < 1e-3
        or abs(abs(math.atan2(-axis[1], -axis[0])) - theta) < 1e-3
    )
    xx, yy = mesh_grid(21)  # the closed form itself, at every grid point
    inverse = torch.linalg.inv(sigma)
    q = inverse[0, 0] * xx**2 + 2 * inverse[0, 1] * xx * yy + inverse[1, 1] * yy**2
    expected = torch.exp(-q / 2)
    assert torch.allclose(kernel, expected / expected.sum(), atol=1e-12)


def test_generalized_gaussian_is_the_gaussian_at_beta_one_and_heavier_tailed_below():
    # BasicSR's form exp(-q^beta / 2): beta = 1 is the Gaussian (see kernels.py)
    assert torch.allclose(
        generalized_gaussian_kernel(21, 2.0, 1.2, 0.3, beta=1.0), gaussian_kernel(21, 2.0, 1.2, 0.3)
    )
    gauss = gaussian_kernel(21, 2.0)
    heavy, flat = (
        generalized_gaussian_kernel(21, 2.0, beta=0.5),
        generalized_gaussian_kernel(21, 2.0, beta=2.0),
    )
    ratio = lambda k: float(k[10, 16] / k[10, 10])  # noqa: E731 - six pixels out / centre
    assert ratio(heavy) > ratio(gauss) > ratio(flat)
    q = 6.0**2 / 2.0**2
    assert math.isclose(ratio(heavy), math.exp(-0.5 * q**0.5), rel_tol=1e-9)
    assert math.isclose(float(heavy.sum()), 1.0, abs_tol=1e-12)


def test_plateau_kernel_is_flat_topped_with_heavy_tails():
    kernel = plateau_kernel(21, 2.0, beta=2.0)
    assert math.isclose(float(kernel.sum()), 1.0, abs_tol=1e-12)
    for d in (1, 3, 7):  # 1 / (1 + q^beta), q = d^2 / sigma^2
        assert math.isclose(float(kernel[10, 10 + d] / kernel[10, 10]), 1 / (1 + (d * d / 4) ** 2))
    gauss = gaussian_kernel(21, 2.0)
    top = lambda k: float(k[10, 11] / k[10, 10])  # noqa: E731
    tail = lambda k: float(k[10, 20] / k[10, 10])  # noqa: E731
    assert top(kernel) > top(gauss) and tail(kernel) > 100 * tail(gauss)


def test_sinc_kernel_matches_its_formula_and_is_a_circular_low_pass():
    from scipy.special import j1

    omega, size = math.pi / 3, 21
    kernel = sinc_kernel(size, omega)
    assert math.isclose(float(kernel.sum()), 1.0, abs_tol=1e-12)
    for y, x in ((10, 13), (4, 15), (0, 0)):
        r = math.hypot(x - 10, y - 10)
        expected = (omega * j1(omega * r) / (2 * math.pi * r)) / (omega**2 / (4 * math.pi))
        assert math.isclose(float(kernel[y, x] / kernel[10, 10]), expected, rel_tol=1e-6)
    # its spectrum: ~1 well inside the disc of radius omega, ~0 well outside (truncated ideal)
    spectrum = torch.fft.fftshift(torch.fft.fft2(kernel, s=(256, 256))).abs()
    f = torch.fft.fftshift(torch.fft.fftfreq(256)) * 2 * math.pi
    radius = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    assert float(spectrum[radius < 0.6 * omega].mean()) > 0.9
    assert float(spectrum[(radius > 1.5 * omega) & (radius < math.pi)].mean()) < 0.1


def test_drawn_kernels_are_normalised_symmetric_and_padded():
    rng = np.random.default_rng(0)
    opts = DegradationOptions()
    for _ in range(60):
        kernel = draw_kernel(
            rng,
            sizes=[7, 9, 11, 13, 15, 17, 19, 21],
            sinc_prob=0.2,
            kinds=opts.kernel_list,
            probs=opts.kernel_prob,
            sigma=opts.blur_sigma,
            betag=opts.betag_range,
            betap=opts.betap_range,
        )
        assert kernel.shape == (21, 21) and kernel.dtype == torch.float32
        assert abs(float(kernel.sum()) - 1) < 1e-5
        assert torch.allclose(kernel, kernel.flip(0).flip(1), atol=1e-7)  # point-symmetric
    assert torch.equal(pulse_kernel(5).argmax(), torch.tensor(12))


# -- noise ------------------------------------------------------------------------------------
def test_gaussian_noise_statistics_colour_and_gray():
    image = torch.full((1, 3, 256, 256), 0.5)
    g = torch.Generator().manual_seed(0)
    noise = gaussian_noise(image, 20.0, generator=g)
    assert abs(float(noise.std()) * 255 - 20) < 0.3 and abs(float(noise.mean()) * 255) < 0.3
    assert not torch.equal(noise[:, 0], noise[:, 1])
    gray = gaussian_noise(image, 20.0, gray=True, generator=g)
    assert torch.equal(gray[:, 0], gray[:, 2]) and abs(float(gray.std()) * 255 - 20) < 0.5


def test_poisson_noise_variance_is_mean_over_levels():
    # 100 distinct 8-bit levels -> v = 128; Var(noise) = scale^2 * x / v at a pixel of value x
    levels = torch.arange(100, 200).float() / 255
    image = levels.repeat_interleave(600).view(1, 1, 200, 300).expand(1, 3, 200, 300).contiguous()
    scale = 2.0
    noise = poisson_noise(image, scale, generator=torch.Generator().manual_seed(0))
    assert abs(float(noise.mean())) < 2e-3
    expected = scale**2 * float(image.mean()) / 128
    assert abs(float(noise.var()) / expected - 1) < 0.03
    gray = poisson_noise(image, scale, gray=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(gray[:, 0], gray[:, 1])


# -- JPEG ------------------------------------------------------------------------------------
def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(255**2 / float(np.mean((a.astype(float) - b.astype(float)) ** 2)))


@pytest.mark.parametrize("quality", [30, 60, 95])
def test_jpeg_is_close_to_pillows_jpeg_at_the_same_quality(quality):
    # Measured on 128x128 crops of astronaut, coffee, chelsea and rocket at q 30-95: kornia vs
    # Pillow 40.6-47.1 dB, while either is 28.8-39.9 dB from the original; so the bounds have
    # margin, and the second one shows the artifacts are reproduced, not just left out.
    for name in ("astronaut", "coffee"):
        image = photo(name)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
        pil = np.asarray(Image.open(buffer).convert("RGB"))
        ours = jpeg(as_tensor(image), torch.tensor([float(quality)]))[0]
        ours = (ours.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        assert psnr(ours, pil) > 38.0
        assert psnr(ours, pil) > psnr(pil, image) + 5.0


def test_jpeg_takes_one_quality_per_image_and_any_size():
    images = torch.rand(2, 3, 19, 37)
    out = jpeg(images, torch.tensor([10.0, 100.0]))
    assert out.shape == images.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert psnr(out[1].numpy() * 255, images[1].numpy() * 255) > psnr(
        out[0].numpy() * 255, images[0].numpy() * 255
    )


# -- USM -------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [96, 20])  # 20: smaller than the kernel, mirrored again
def test_usm_matches_the_direct_formula(size):
    from scipy.ndimage import correlate

    image = as_tensor(photo("coffee", size)).double()
    out = usm_sharp(image)
    x = np.arange(51) - 25.0
    g = np.exp(-(x**2) / (2 * 8.0**2))  # OpenCV's sigma for 51 taps: 0.3 * (25 - 1) + 0.8
    k2 = np.outer(g, g) / g.sum() ** 2
    img = image[0].numpy()

    def blur(a):
        return np.stack([correlate(c, k2, mode="mirror") for c in a])

    residual = img - blur(img)
    soft = blur((np.abs(residual) * 255 > 10).astype(np.float64))
    sharp = np.clip(img + 0.5 * residual, 0, 1)
    expected = soft * sharp + (1 - soft) * img
    assert np.abs(out[0].numpy() - expected).max() < 1e-9
    flat = torch.full((1, 3, 64, 64), 0.3)
    assert torch.equal(usm_sharp(flat), flat)


# -- parameters and files ---------------------------------------------------------------------
def test_defaults_are_real_esrgans():
    o = DegradationOptions()
    assert (o.kernel_range, o.sinc_prob, o.blur_sigma, o.betag_range, o.betap_range) == (
        (7, 21),
        0.1,
        (0.2, 3.0),
        (0.5, 4.0),
        (1.0, 2.0),
    )
    assert o.kernel_prob == (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    assert (o.resize_prob, o.resize_range, o.noise_range, o.poisson_scale_range) == (
        (0.2, 0.7, 0.1),
        (0.15, 1.5),
        (1.0, 30.0),
        (0.05, 3.0),
    )
    assert (o.resize_prob2, o.resize_range2, o.noise_range2, o.poisson_scale_range2) == (
        (0.3, 0.4, 0.3),
        (0.3, 1.2),
        (1.0, 25.0),
        (0.05, 2.5),
    )
    assert (o.second_blur_prob, o.skip_stage2_prob, o.final_sinc_prob, o.blur_sigma2) == (
        0.8,
        0.0,
        0.8,
        (0.2, 1.5),
    )
    assert o.jpeg_range == o.jpeg_range2 == (30.0, 95.0)
    assert o.gaussian_noise_prob == o.gaussian_noise_prob2 == 0.5
    assert o.gray_noise_prob == o.gray_noise_prob2 == 0.4


def test_toml_file_sets_parameters_and_refuses_unknown_ones(tmp_path):
    path = tmp_path / "deg.toml"
    path.write_text(
        "[degradation]\njpeg_range = [60, 95]\nsinc-prob = 0.0\nnoise_range2 = [1, 5]\n"
    )
    kind, params = resolve_degradation(str(path))
    assert kind == "realesrgan" and params.jpeg_range == (60.0, 95.0) and params.sinc_prob == 0.0
    assert params.noise_range2 == (1.0, 5.0) and params.blur_sigma == (0.2, 3.0)
    assert DegradationOptions.from_dict(params.to_dict(), source="x") == params
    path.write_text("jpeg_rnage = [60, 95]\n")
    with pytest.raises(UsageError, match=r"unknown degradation parameter 'jpeg_rnage'.*jpeg_range"):
        load_options(path)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sinc_prob": 1.5}, "'sinc_prob' must be in [0, 1]"),
        ({"jpeg_range": [95, 30]}, "'jpeg_range' must be [low, high] with 1 <= low"),
        ({"kernel_range": [8, 21]}, "'kernel_range' must be two odd sizes"),
        ({"kernel_list": ["iso", "gauss"]}, "unknown 'gauss'"),
        ({"kernel_prob": [1, 0]}, "2 probabilities for the 6 kernels"),
        ({"resize_prob": [0, 0, 0]}, "positive sum"),
        ({"resize_modes": ["nearest"]}, "unknown 'nearest'"),
        ({"noise_range": "big"}, "must be a list of 2 numbers"),
    ],
)
def test_bad_parameters_are_one_sentence(values, message):
    with pytest.raises(UsageError) as info:
        resolve_degradation("realesrgan", values)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_unknown_preset_suggests_the_close_one():
    with pytest.raises(UsageError, match="did you mean 'realesrgan'"):
        resolve_degradation("realesrgn")
    with pytest.raises(UsageError, match="does not exist"):
        resolve_degradation("nope.toml")


# -- the pipeline -----------------------------------------------------------------------------
def params_for(seeds, opts=None) -> dict[str, torch.Tensor]:
    opts = opts or DegradationOptions()
    return default_collate([draw_params(opts, np.random.default_rng(s)) for s in seeds])


def test_draws_are_a_function_of_the_seed():
    a, b, c = params_for([5]), params_for([5]), params_for([6])
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_degrade_is_deterministic_and_independent_of_the_batch():
    hr = torch.stack([as_tensor(photo(n, 64))[0] for n in ("astronaut", "coffee", "rocket")])
    params = params_for([1, 2, 3])
    lr = degrade(hr, params, 2)
    assert lr.shape == (3, 3, 32, 32) and torch.equal(lr, degrade(hr, params, 2))
    assert torch.equal((lr * 255).round() / 255, lr)  # 8-bit levels
    alone = degrade(hr[1:2], {k: v[1:2] for k, v in params.items()}, 2)
    assert torch.equal(alone[0], lr[1])
    order = [2, 0, 1]
    shuffled = degrade(hr[order], {k: v[order] for k, v in params.items()}, 2)
    assert torch.equal(shuffled, lr[order])
    other = degrade(hr, params_for([4, 5, 6]), 2)
    assert not torch.equal(other, lr)


def test_degrade_with_nothing_drawn_is_close_to_a_plain_downscale():
    quiet = DegradationOptions(
        kernel_range=(1, 1),
        sinc_prob=0.0,
        sinc_prob2=0.0,
        resize_prob=(0, 0, 1),
        resize_prob2=(0, 0, 1),
        gaussian_noise_prob=1.0,
        gaussian_noise_prob2=1.0,
        noise_range=(0, 0),
        noise_range2=(0, 0),
        jpeg_range=(100, 100),
        jpeg_range2=(100, 100),
        final_sinc_prob=0.0,
        resize_modes=("area",),
    )
    hr = as_tensor(photo("chelsea", 64))
    lr = degrade(hr, params_for([0], quiet), 2)
    area = torch.nn.functional.avg_pool2d(hr, 2)
    assert psnr(lr[0].numpy() * 255, area[0].numpy() * 255) > 40


def test_tiny_crops_and_every_final_order_work():
    hr = torch.rand(8, 3, 16, 16)
    lr = degrade(hr, params_for(range(8), DegradationOptions(resize_range=(0.15, 1.5))), 4)
    assert lr.shape == (8, 3, 4, 4) and float(lr.min()) >= 0 and float(lr.max()) <= 1


# -- imgen degrade ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hr")
    (folder / "sub").mkdir()
    Image.fromarray(photo("astronaut", 72)).save(folder / "a.png")
    Image.fromarray(photo("coffee", 64)).save(folder / "sub" / "b.jpg", quality=95)
    return folder


def run(*args) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["degrade", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.png")}


def test_degrade_writes_the_same_bytes_for_the_same_seed(hr_folder, tmp_path):
    args = ["--data", hr_folder, "--preset", "realesrgan", "--scale", "4", "--seed", "3"]
    assert run(*args, "-o", tmp_path / "one")[0] == 0
    assert run(*args, "-o", tmp_path / "two")[0] == 0
    one, two = tree(tmp_path / "one"), tree(tmp_path / "two")
    assert sorted(one) == ["a.png", "sub/b.png"] and one == two
    assert Image.open(tmp_path / "one" / "a.png").size == (18, 18)
    assert run(*args[:-1], "4", "-o", tmp_path / "three")[0] == 0
    assert tree(tmp_path / "three") != one


def test_degrade_crop_writes_hr_and_lr_an_eval_reads(hr_folder, tmp_path):
    code, stdout, _ = run("--data", hr_folder, "--preset", "realesrgan", "--scale", "2",
                          "--crop", "32", "-o", tmp_path)  # fmt: skip
    assert code == 0 and stdout.strip() == str(tmp_path)
    assert sorted(tree(tmp_path)) == ["HR/a.png", "HR/sub/b.png", "LR/a.png", "LR/sub/b.png"]
    assert Image.open(tmp_path / "HR" / "a.png").size == (32, 32)
    assert Image.open(tmp_path / "LR" / "sub" / "b.png").size == (16, 16)
    result = CliRunner().invoke(
        cli, ["eval", "sr", "--generator", "bicubic", "--scale", "2", "--data", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output


def test_degrade_bicubic_is_matlab_imresize(hr_folder, tmp_path):
    from imgen.data.resize import imresize

    assert run("--data", hr_folder, "--scale", "4", "-o", tmp_path)[0] == 0
    image = torch.from_numpy(np.array(Image.open(hr_folder / "a.png"))).permute(2, 0, 1)[None]
    expected = imresize(image, 0.25)[0].permute(1, 2, 0).numpy()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "realesrgn"], "did you mean 'realesrgan'"),
        (["--scale", "4", "--crop", "30"], "--crop 30 is not a positive multiple of --scale 4"),
    ],
)
def test_degrade_usage_errors(hr_folder, tmp_path, args, message):
    code, _, stderr = run("--data", hr_folder, "-o", tmp_path / "out", *args)
    assert code == 2 and message in stderr and not (tmp_path / "out").exists()


def test_degrade_skips_images_smaller_than_the_crop_and_says_so(hr_folder, tmp_path):
    code, _, stderr = run("--data", hr_folder, "--scale", "2", "--crop", "68", "-o", tmp_path)
    assert code == 1 and "b.jpg" in stderr and "smaller than --crop 68" in stderr
    assert sorted(tree(tmp_path)) == ["HR/a.png", "LR/a.png"]


def test_bicubic_prob_gives_plain_bicubic_and_keeps_the_other_draws():
    from torch.utils.data import default_collate

    from imgen.data.degradations import DegradationOptions, degrade, draw_params
    from imgen.data.resize import imresize

    plain = draw_params(DegradationOptions(), np.random.default_rng(3))
    clean = draw_params(DegradationOptions(bicubic_prob=1.0), np.random.default_rng(3))
    assert not plain["bicubic"] and clean["bicubic"]
    for key in plain:
        if key != "bicubic":
            assert torch.equal(plain[key], clean[key]), key
    hr = torch.rand(2, 3, 32, 32)
    params = default_collate([clean, plain])
    lr = degrade(hr, params, 4)
    expected = (imresize(hr[:1], 1 / 4) * 255).round().clamp(0, 255) / 255
    torch.testing.assert_close(lr[:1], expected)
    assert not torch.allclose(lr[1:], (imresize(hr[1:], 1 / 4) * 255).round().clamp(0, 255) / 255)
