"""Tests for imgen.data.resize: MATLAB bicubic imresize.

The references below are independent NumPy ports written loop-style: BasicSR's
``matlab_functions.imresize`` (explicit symmetric padding, then one dot product per output
row/column) and MATLAB's ``imresize.m`` (indices clamped to the edge). The implementation
under test folds the same taps into dense matrices instead, so agreement checks the weights,
the border handling and the dimension order.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch

from imgen.data.resize import Imresize, imresize, imresize_weights

SR_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sr"


# ----------------------------------------------------------------------------- references
def _np_cubic(x: np.ndarray) -> np.ndarray:
    absx = np.abs(x)
    absx2, absx3 = absx**2, absx**3
    return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (
        -0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2
    ) * ((absx > 1) & (absx <= 2))


def _np_weights_indices(in_len: int, out_len: int, scale: float, antialias: bool):
    """Port of BasicSR's calculate_weights_indices (1-based indices, zero columns dropped)."""
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width = kernel_width / scale
    x = np.linspace(1, out_len, out_len)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    p = math.ceil(kernel_width) + 2
    indices = left[:, None] + np.arange(p)[None, :]
    dist = u[:, None] - indices
    stretch = scale < 1 and antialias
    weights = scale * _np_cubic(dist * scale) if stretch else _np_cubic(dist)
    weights = weights / weights.sum(1, keepdims=True)
    zeros = (weights == 0).sum(0)
    if zeros[0] != 0:
        indices, weights = indices[:, 1:], weights[:, 1:]
    if zeros[-1] != 0:
        indices, weights = indices[:, :-1], weights[:, :-1]
    return weights, indices.astype(np.int64)


def _np_resize_dim(
    img: np.ndarray, axis: int, out_len: int, scale: float, border: str, antialias: bool
) -> np.ndarray:
    """Resize a (C, H, W) float64 array along ``axis`` (1 or 2), one output line at a time."""
    in_len = img.shape[axis]
    weights, indices = _np_weights_indices(in_len, out_len, scale, antialias)
    # Pad explicitly, as BasicSR does, then read a contiguous window per output line.
    sym_s = int(max(0, -indices.min() + 1))
    sym_e = int(max(0, indices.max() - in_len))
    pad = [(0, 0)] * 3
    pad[axis] = (sym_s, sym_e)
    padded = np.pad(img, pad, mode="symmetric" if border == "symmetric" else "edge")
    moved = np.moveaxis(padded, axis, -1)
    out = np.empty((*moved.shape[:-1], out_len), dtype=np.float64)
    for i in range(out_len):
        start = indices[i, 0] - 1 + sym_s
        window = moved[..., start : start + weights.shape[1]]
        out[..., i] = window @ weights[i]
    return np.moveaxis(out, -1, axis)


def ref_imresize(
    img: np.ndarray,
    scale: float | None = None,
    size=None,
    border="symmetric",
    antialias=True,
    uint8=False,
) -> np.ndarray:
    """Reference MATLAB bicubic resize of a (C, H, W) array; smaller scale first."""
    in_h, in_w = img.shape[1:]
    if scale is not None:
        out_h, out_w = math.ceil(in_h * scale), math.ceil(in_w * scale)
        sh = sw = scale
    else:
        out_h, out_w = size
        sh, sw = out_h / in_h, out_w / in_w
    x = img.astype(np.float64)
    steps = [(1, out_h, sh), (2, out_w, sw)]
    if sw < sh:
        steps.reverse()
    for axis, n, s in steps:
        x = _np_resize_dim(x, axis, n, s, border, antialias)
        if uint8:  # MATLAB's uint8 path: saturate and round half away after each pass
            x = np.floor(np.clip(x, 0, 255) + 0.5)
    return x


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A (3, 37, 45) float64 crop of astronaut in [0, 1]: odd sizes on purpose."""
    img = skimage.data.astronaut()[180:217, 190:235]
    return img.transpose(2, 0, 1).astype(np.float64) / 255


SCALES = [1 / 2, 1 / 3, 1 / 4, 2, 3, 4]


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("border", ["symmetric", "replicate"])
@pytest.mark.parametrize("scale", SCALES)
def test_matches_reference(photo, scale, border):
    expected = ref_imresize(photo, scale, border=border)
    got = imresize(torch.from_numpy(photo), scale=scale, border=border)
    assert got.dtype == torch.float64
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 3])
def test_no_antialias_matches_reference(photo, scale):
    expected = ref_imresize(photo, scale, antialias=False)
    got = imresize(torch.from_numpy(photo), scale=scale, antialias=False, border="symmetric")
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("size", [(20, 9), (9, 20), (50, 70), (37, 11)])
def test_size_argument_matches_reference(photo, size):
    # Different scales per dimension exercise MATLAB's "smaller scale first" order.
    expected = ref_imresize(photo, size=size, border="replicate")
    got = imresize(torch.from_numpy(photo), size=size)
    assert tuple(got.shape[-2:]) == size
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 3])
def test_uint8_path_matches_reference(photo, scale):
    img8 = np.round(photo * 255).astype(np.uint8)
    expected = ref_imresize(img8, scale, border="replicate", uint8=True)
    got = imresize(torch.from_numpy(img8), scale=scale)
    assert got.dtype == torch.uint8
    np.testing.assert_array_equal(got.numpy(), expected.astype(np.uint8))


@pytest.mark.skipif(not (SR_DATA / "Set5" / "X4").is_dir(), reason="SR test data not present")
def test_uint8_path_reproduces_set5_lr():
    from PIL import Image

    def read(path):
        with Image.open(path) as im:
            return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)

    hr = read(SR_DATA / "Set5" / "X4" / "HR" / "butterfly.png")
    lr = read(SR_DATA / "Set5" / "X4" / "LR" / "butterfly.png")
    assert torch.equal(imresize(hr, scale=1 / 4), lr)


@pytest.mark.parametrize(
    ("hw", "scale", "expected"),
    [
        ((37, 45), 1 / 2, (19, 23)),
        ((37, 45), 1 / 3, (13, 15)),
        ((37, 45), 1 / 4, (10, 12)),
        ((37, 45), 2, (74, 90)),
        ((37, 45), 3, (111, 135)),
        ((13, 7), 4, (52, 28)),
        ((510, 498), 1 / 3, (170, 166)),
    ],
)
def test_output_size_is_ceil(hw, scale, expected):
    out = imresize(torch.zeros(1, 1, *hw), scale=scale)
    assert tuple(out.shape[-2:]) == expected


@pytest.mark.parametrize("scale", [1 / 3, 2])
def test_batched_equals_per_image(scale):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 15, 22, generator=g, dtype=torch.float64)
    batched = imresize(x, scale=scale)
    for i in range(x.shape[0]):
        torch.testing.assert_close(batched[i], imresize(x[i], scale=scale), rtol=0, atol=1e-13)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("border", ["symmetric", "replicate"])
def test_constant_image_stays_constant(scale, border):
    x = torch.full((1, 2, 11, 14), 0.3, dtype=torch.float64)
    out = imresize(x, scale=scale, border=border)
    torch.testing.assert_close(out, torch.full_like(out, 0.3), rtol=0, atol=1e-12)
    x8 = torch.full((2, 11, 14), 77, dtype=torch.uint8)
    assert bool((imresize(x8, scale=scale, border=border) == 77).all())


def test_weights_rows_sum_to_one():
    for in_size, scale in [(10, 0.5), (9, 1 / 3), (7, 3.0), (1, 4.0)]:
        m = imresize_weights(in_size, math.ceil(in_size * scale), scale)
        torch.testing.assert_close(m.sum(1), torch.ones(m.shape[0], dtype=torch.float64))


def test_identity_at_scale_one(photo):
    x = torch.from_numpy(photo)
    torch.testing.assert_close(imresize(x, scale=1.0), x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [1 / 3, 4])
def test_float32_close_to_float64(photo, scale):
    x64 = torch.from_numpy(photo)
    out32 = imresize(x64.float(), scale=scale)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), imresize(x64, scale=scale), rtol=0, atol=1e-5)


def test_no_clamping_any_range():
    x = torch.linspace(-5, 300, 12 * 12, dtype=torch.float64).view(1, 1, 12, 12)
    out = imresize(x, scale=2)
    # Values outside [0, 1] pass through: nothing is clamped or rounded inside.
    assert out.min() < 0 and out.max() > 255


def test_module_twin(photo):
    x = torch.from_numpy(photo)[None]
    module = Imresize(scale=1 / 3)
    torch.testing.assert_close(module(x), imresize(x, scale=1 / 3))
    assert "scale=" in repr(module)
    assert Imresize(size=(8, 9))(x).shape == (1, 3, 8, 9)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"x": torch.zeros(4, 4), "scale": 2}, ValueError),
        ({"x": torch.zeros(1, 1, 1, 4, 4), "scale": 2}, ValueError),
        ({"x": torch.zeros(1, 4, 4, dtype=torch.int64), "scale": 2}, TypeError),
        ({"x": np.zeros((1, 4, 4)), "scale": 2}, TypeError),
        ({"x": torch.zeros(1, 4, 4)}, ValueError),
        ({"x": torch.zeros(1, 4, 4), "scale": 2, "size": (8, 8)}, ValueError),
        ({"x": torch.zeros(1, 4, 4), "scale": 0}, ValueError),
        ({"x": torch.zeros(1, 4, 4), "scale": -1.0}, ValueError),
        ({"x": torch.zeros(1, 4, 4), "scale": float("nan")}, ValueError),
        ({"x": torch.zeros(1, 4, 4), "scale": "2"}, TypeError),
        ({"x": torch.zeros(1, 4, 4), "size": (8,)}, TypeError),
        ({"x": torch.zeros(1, 4, 4), "size": (8.0, 8)}, TypeError),
        ({"x": torch.zeros(1, 4, 4), "size": (0, 8)}, ValueError),
        ({"x": torch.zeros(1, 4, 4), "scale": 2, "border": "reflect"}, ValueError),
        ({"x": torch.zeros(1, 0, 4), "scale": 2}, ValueError),
    ],
)
def test_bad_input_raises(kwargs, error):
    with pytest.raises(error):
        imresize(**kwargs)


def test_module_needs_scale_or_size():
    with pytest.raises(ValueError):
        Imresize()
    with pytest.raises(ValueError):
        Imresize(scale=2, size=(4, 4))
