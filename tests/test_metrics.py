"""Tests for imgen.metrics: BasicSR-protocol PSNR/SSIM and offline LPIPS.

PSNR is checked against ``skimage.metrics.peak_signal_noise_ratio`` on the same 8-bit (or Y)
images. SSIM is checked two ways: against ``skimage.metrics.structural_similarity`` with
``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255`` (skimage
filters with padding but averages only the interior ``(win_size - 1) // 2 = 5`` pixels away
from the border, which is exactly the 'valid' region, so the two must agree to rounding), and
against a direct NumPy/SciPy port of BasicSR's ``_ssim`` (2-D correlation with the outer
product of the 11-tap Gaussian, then the ``[5:-5, 5:-5]`` crop).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import skimage.data
import torch
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from imgen.metrics import (
    PSNR,
    SSIM,
    MetricUnavailable,
    build_lpips,
    lpips_status,
    psnr,
    quantize,
    rgb_to_y,
    ssim,
)
from imgen.metrics import lpips as lpips_module


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """Two (2, 3, 40, 52) uint8 batches: astronaut crops and noisy/blurred versions."""
    img = skimage.data.astronaut()
    crops = np.stack([img[100:140, 150:202], img[300:340, 220:272]])  # (2, 40, 52, 3)
    rng = np.random.default_rng(0)
    noisy = crops.astype(np.int64) + rng.integers(-25, 26, crops.shape)
    noisy = ndimage.uniform_filter(noisy.astype(np.float64), size=(1, 2, 2, 1))
    degraded = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    return crops.transpose(0, 3, 1, 2), degraded.transpose(0, 3, 1, 2)


def to_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x.astype(np.float64) / 255)


def y_of(x8: np.ndarray) -> np.ndarray:
    """Y on [0, 255] of one (3, H, W) uint8 image, written out by hand."""
    r, g, b = x8.astype(np.float64) / 255
    return 16 + 65.481 * r + 128.553 * g + 24.966 * b


def basicsr_ssim_np(a: np.ndarray, b: np.ndarray) -> float:
    """BasicSR's _ssim on one 2-D float64 channel, with SciPy instead of cv2.filter2D."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    g /= g.sum()
    win = np.outer(g, g)

    def filt(x):
        return ndimage.correlate(x, win, mode="reflect")[5:-5, 5:-5]

    mu1, mu2 = filt(a), filt(b)
    s11 = filt(a * a) - mu1**2
    s22 = filt(b * b) - mu2**2
    s12 = filt(a * b) - mu1 * mu2
    num = (2 * mu1 * mu2 + c1) * (2 * s12 + c2)
    den = (mu1**2 + mu2**2 + c1) * (s11 + s22 + c2)
    return float((num / den).mean())


SK_SSIM = {
    "gaussian_weights": True,
    "sigma": 1.5,
    "use_sample_covariance": False,
    "data_range": 255,
}


# ----------------------------------------------------------------------------- rgb_to_y
@pytest.mark.parametrize(
    ("rgb", "expected"),
    [
        ((0, 0, 0), 16.0),
        ((1, 1, 1), 235.0),
        ((1, 0, 0), 81.481),
        ((0, 1, 0), 144.553),
        ((0, 0, 1), 40.966),
        ((0.5, 0.5, 0.5), 125.5),
        ((0.2, 0.4, 0.6), 16 + 0.2 * 65.481 + 0.4 * 128.553 + 0.6 * 24.966),
    ],
)
def test_rgb_to_y_hand_values(rgb, expected):
    x = torch.tensor(rgb, dtype=torch.float64).view(1, 3, 1, 1).expand(2, 3, 2, 3)
    y = rgb_to_y(x)
    assert y.shape == (2, 1, 2, 3) and y.dtype == torch.float64
    torch.testing.assert_close(y, torch.full_like(y, expected), rtol=0, atol=1e-12)


def test_rgb_to_y_rejects_bad_channels():
    with pytest.raises(ValueError, match="3"):
        rgb_to_y(torch.zeros(1, 1, 4, 4))


def test_quantize():
    x = torch.tensor([-0.1, 0.0, 0.2, 0.5, 1.0, 1.7])
    expected = torch.tensor([0.0, 0.0, 51.0, 128.0, 255.0, 255.0], dtype=torch.float64)
    torch.testing.assert_close(quantize(x), expected)


# ----------------------------------------------------------------------------- PSNR
@pytest.mark.parametrize("crop", [0, 4])
@pytest.mark.parametrize("y_channel", [False, True])
def test_psnr_matches_skimage(pair, crop, y_channel):
    a8, b8 = pair
    got = psnr(to_tensor(a8), to_tensor(b8), crop_border=crop, y_channel=y_channel)
    assert got.shape == (2,) and got.dtype == torch.float64
    sl = np.s_[crop:-crop, crop:-crop] if crop else np.s_[:, :]
    for i in range(2):
        if y_channel:
            a, b = y_of(a8[i])[sl], y_of(b8[i])[sl]
        else:
            a, b = a8[i][(slice(None), *sl)], b8[i][(slice(None), *sl)]
        expected = peak_signal_noise_ratio(
            a.astype(np.float64), b.astype(np.float64), data_range=255
        )
        assert abs(got[i].item() - expected) < 1e-6


def test_psnr_quantizes_inputs(pair):
    a8, b8 = pair
    # Sub-level perturbations vanish after quantization, but not without it.
    a = to_tensor(a8) + 0.4 / 255
    ref = psnr(to_tensor(a8), to_tensor(b8))
    torch.testing.assert_close(psnr(a, to_tensor(b8)), ref)
    assert not torch.allclose(psnr(a, to_tensor(b8), quantize=False), ref)


def test_psnr_identical_is_inf(pair):
    x = to_tensor(pair[0])
    assert torch.isinf(psnr(x, x, crop_border=2, y_channel=True)).all()
    assert torch.isinf(PSNR()(x, x)).all()


def test_psnr_crop_border_ignores_the_border(pair):
    a8, b8 = pair
    a, b = to_tensor(a8), to_tensor(b8)
    spoiled = a.clone()
    spoiled[..., :3, :] = 1 - spoiled[..., :3, :]
    spoiled[..., :, -3:] = 0
    torch.testing.assert_close(psnr(spoiled, b, crop_border=3), psnr(a, b, crop_border=3))
    assert (psnr(spoiled, b) < psnr(a, b)).all()


# ----------------------------------------------------------------------------- SSIM
@pytest.mark.parametrize("crop", [0, 3])
@pytest.mark.parametrize("y_channel", [False, True])
def test_ssim_matches_skimage_and_basicsr_port(pair, crop, y_channel):
    a8, b8 = pair
    got = ssim(to_tensor(a8), to_tensor(b8), crop_border=crop, y_channel=y_channel)
    assert got.shape == (2,) and got.dtype == torch.float64
    sl = np.s_[crop:-crop, crop:-crop] if crop else np.s_[:, :]
    for i in range(2):
        if y_channel:
            chans = [(y_of(a8[i])[sl], y_of(b8[i])[sl])]
        else:
            chans = [
                (a8[i, c][sl].astype(np.float64), b8[i, c][sl].astype(np.float64)) for c in range(3)
            ]
        sk = np.mean([structural_similarity(a, b, **SK_SSIM) for a, b in chans])
        port = np.mean([basicsr_ssim_np(a, b) for a, b in chans])
        assert abs(got[i].item() - sk) < 1e-9
        assert abs(got[i].item() - port) < 1e-9


def test_ssim_identical_is_one(pair):
    x = to_tensor(pair[0])
    torch.testing.assert_close(ssim(x, x, y_channel=True), torch.ones(2, dtype=torch.float64))


def test_ssim_window_size_limit():
    x = torch.rand(1, 3, 21, 21)
    assert ssim(x, x, crop_border=5).shape == (1,)  # exactly 11x11 left
    with pytest.raises(ValueError, match="11x11"):
        ssim(x, x, crop_border=6)


# ----------------------------------------------------------------------------- shared
@pytest.mark.parametrize("fn", [psnr, ssim])
def test_batched_equals_per_image(pair, fn):
    a, b = to_tensor(pair[0]), to_tensor(pair[1])
    batched = fn(a, b, crop_border=2, y_channel=True)
    for i in range(2):
        torch.testing.assert_close(
            batched[i : i + 1], fn(a[i : i + 1], b[i : i + 1], crop_border=2, y_channel=True)
        )


@pytest.mark.parametrize(("module", "fn"), [(PSNR, psnr), (SSIM, ssim)])
def test_module_twins(pair, module, fn):
    a, b = to_tensor(pair[0]), to_tensor(pair[1])
    m = module(crop_border=4, y_channel=True)
    torch.testing.assert_close(m(a, b), fn(a, b, crop_border=4, y_channel=True))
    assert "crop_border=4" in repr(m)


def test_float32_inputs_agree_with_float64(pair):
    a, b = to_tensor(pair[0]), to_tensor(pair[1])
    torch.testing.assert_close(psnr(a.float(), b.float()), psnr(a, b))
    torch.testing.assert_close(ssim(a.float(), b.float()), ssim(a, b))


@pytest.mark.parametrize("fn", [psnr, ssim])
@pytest.mark.parametrize(
    ("pred", "target", "kwargs", "error"),
    [
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17), {}, ValueError),
        (torch.rand(3, 16, 16), torch.rand(3, 16, 16), {}, ValueError),
        (torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), {"y_channel": True}, ValueError),
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), {"crop_border": -1}, ValueError),
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), {"crop_border": 8}, ValueError),
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), {"crop_border": 1.5}, TypeError),
        (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), torch.rand(1, 3, 16, 16), {}, TypeError),
        (np.zeros((1, 3, 16, 16)), torch.rand(1, 3, 16, 16), {}, TypeError),
    ],
)
def test_bad_input_raises(fn, pred, target, kwargs, error):
    with pytest.raises(error):
        fn(pred, target, **kwargs)


# ----------------------------------------------------------------------------- LPIPS
def test_lpips_unavailable_without_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ok, reason = lpips_status()
    assert ok is False
    assert lpips_module.ALEXNET_WEIGHTS in reason and str(tmp_path) in reason
    with pytest.raises(MetricUnavailable) as info:
        build_lpips("cpu")
    assert info.value.reason == reason


def test_lpips_unavailable_without_package(monkeypatch):
    monkeypatch.setattr(lpips_module.importlib.util, "find_spec", lambda name: None)
    ok, reason = lpips_status()
    assert ok is False and "pip install lpips" in reason
    with pytest.raises(MetricUnavailable):
        build_lpips()


def test_lpips_builds_offline_from_local_file(tmp_path, monkeypatch):
    import torchvision

    # A stand-in weights file (random AlexNet features; the classifier is not needed).
    torch.manual_seed(0)
    features = torchvision.models.alexnet(weights=None).features.state_dict()
    ckpt = tmp_path / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.save(
        {f"features.{k}": v for k, v in features.items()}, ckpt / lpips_module.ALEXNET_WEIGHTS
    )
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("LPIPS tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)

    assert lpips_status() == (True, "")
    metric = build_lpips("cpu")
    conv0 = metric._net.net.slice1[0].weight  # check the file was loaded
    torch.testing.assert_close(conv0, features["0.weight"])

    g = torch.Generator().manual_seed(1)
    a = torch.rand(2, 3, 32, 32, generator=g)
    b = torch.rand(2, 3, 32, 32, generator=g)
    d = metric(a, b)
    assert d.shape == (2,) and torch.isfinite(d).all() and (d > 0).all()
    torch.testing.assert_close(metric(a, a), torch.zeros(2), rtol=0, atol=1e-6)
    with pytest.raises(ValueError):
        metric(a, b[:, :1])
    assert math.isfinite(d.sum().item())
