"""Tests for imgen.inference: padding to a multiple, tiled == untiled, argument checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data as skdata
from torch import nn

from imgen.inference import predict_fitting, predict_tiled, quantize, to_uint8_image


def tiny_sr_net() -> nn.Module:
    """Three 3x3 convs then pixel shuffle x2: receptive-field radius 3 input pixels."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 12, 3, padding=1),
        nn.PixelShuffle(2),
    ).eval()


def strided_net() -> nn.Module:
    """Down by 2, conv, up by 2: needs even sizes and is only shift-equivariant by 2."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(8, 3, 3, padding=1),
    ).eval()


def photo_tensor(height: int, width: int) -> torch.Tensor:
    crop = skdata.astronaut()[60 : 60 + height, 150 : 150 + width]
    return torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255.0


@pytest.mark.parametrize(("tile", "overlap"), [(16, 8), (20, 6), (32, 16), (7, 6), (10, 40)])
def test_tiled_equals_untiled(tile: int, overlap: int) -> None:
    net = tiny_sr_net()
    image = photo_tensor(67, 45)
    with torch.inference_mode():
        whole = predict_tiled(net, image, scale=2)
        tiled = predict_tiled(net, image, scale=2, tile=tile, overlap=overlap)
    assert whole.shape == tiled.shape == (3, 134, 90)
    assert (whole - tiled).abs().max() < 1e-5


def test_tiled_equals_untiled_for_strided_net_with_multiple() -> None:
    net = strided_net()
    image = photo_tensor(37, 29).unsqueeze(0).repeat(2, 1, 1, 1)
    with torch.inference_mode():
        whole = predict_tiled(net, image, multiple=4)
        tiled = predict_tiled(net, image, tile=9, overlap=16, multiple=4)
    assert whole.shape == tiled.shape == (2, 3, 37, 29)
    assert (whole - tiled).abs().max() < 1e-5


def test_multiple_pads_and_crops_back_exactly() -> None:
    net = tiny_sr_net()
    seen: list[tuple[int, int]] = []

    def needs_multiple_of_8(x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2] % 8 == 0 and x.shape[-1] % 8 == 0
        seen.append(tuple(x.shape[-2:]))
        return net(x)

    image = photo_tensor(67, 45)
    with torch.inference_mode():
        out = predict_tiled(needs_multiple_of_8, image, scale=2, multiple=8)
        assert out.shape == (3, 134, 90) and seen == [(72, 48)]
        tiled = predict_tiled(needs_multiple_of_8, image, scale=2, multiple=8, tile=24, overlap=8)
    assert tiled.shape == (3, 134, 90)


def test_identity_with_multiple_returns_input() -> None:
    image = photo_tensor(13, 5)  # smaller than the padding: reflect falls back to replicate
    for mode in ("reflect", "replicate", "constant", "circular"):
        assert torch.equal(predict_tiled(lambda x: x, image, multiple=8, pad_mode=mode), image)
    tiled = predict_tiled(lambda x: x, image, multiple=8, tile=4, overlap=2)
    assert (tiled - image).abs().max() < 1e-6


def test_small_overlap_still_runs_without_large_seams() -> None:
    net = tiny_sr_net()
    image = photo_tensor(40, 40)
    with torch.inference_mode():
        whole = predict_tiled(net, image, scale=2)
        for overlap in (0, 1, 2):
            tiled = predict_tiled(net, image, scale=2, tile=16, overlap=overlap)
            assert tiled.shape == whole.shape and torch.isfinite(tiled).all()
            assert (tiled - whole).abs().max() < 0.5


def test_tiles_do_not_build_a_graph() -> None:
    net = tiny_sr_net()
    out = predict_tiled(net, photo_tensor(20, 20), scale=2, tile=8, overlap=4)
    assert not out.requires_grad


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tile": 0}, "tile"),
        ({"overlap": -1}, "overlap"),
        ({"multiple": 0}, "multiple"),
        ({"scale": 0}, "scale"),
        ({"scale": 1.5}, "scale"),
        ({"pad_mode": "mirror"}, "pad_mode"),
        ({"scale": 3}, "expected batch 1 and size 30x30"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        predict_tiled(lambda x: x, torch.zeros(3, 10, 10), **kwargs)


def test_bad_images() -> None:
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        predict_tiled(lambda x: x, torch.zeros(10, 10))
    with pytest.raises(ValueError, match="empty"):
        predict_tiled(lambda x: x, torch.zeros(3, 0, 10))


def test_to_uint8_image() -> None:
    t = torch.tensor([[[-0.1, 0.5, 1.2, float("nan")]]]).repeat(3, 1, 1)
    out = to_uint8_image(t)
    assert out.dtype == np.uint8 and out.shape == (1, 4, 3)
    assert out[0, :, 0].tolist() == [0, 128, 255, 0]
    assert to_uint8_image(t[:1]).shape == (1, 4, 3)
    assert to_uint8_image(t.unsqueeze(0)).shape == (1, 4, 3)
    assert to_uint8_image(torch.full((2, 2), 1.0)).tolist() == [[[255] * 3] * 2] * 2
    with pytest.raises(ValueError, match="single image"):
        to_uint8_image(torch.zeros(2, 3, 4, 4))


# -- uint8 output blended in stripes; memory; out-of-memory retries --------------------------------


@pytest.mark.parametrize(("tile", "overlap"), [(16, 8), (7, 6), (10, 40), (64, 0)])
def test_uint8_output_is_the_quantized_float_output(tile: int, overlap: int) -> None:
    net = tiny_sr_net()
    image = photo_tensor(67, 45)
    with torch.inference_mode():
        floats = predict_tiled(net, image, scale=2, tile=tile, overlap=overlap)
        levels = predict_tiled(
            net, image, scale=2, tile=tile, overlap=overlap, out_dtype=torch.uint8
        )
    assert levels.dtype == torch.uint8 and levels.shape == floats.shape
    assert torch.equal(levels, quantize(floats, torch.uint8))
    assert torch.equal(
        torch.from_numpy(to_uint8_image(floats)).permute(2, 0, 1), levels
    )  # one rounding rule for every writer


def test_quantize_rounds_half_to_even_and_maps_nan_to_zero() -> None:
    t = torch.tensor([-1.0, 0.5 / 255, 1.5 / 255, 0.5, 1.0, 2.0, float("nan")])
    assert quantize(t, torch.uint8).tolist() == [0, 0, 2, 128, 255, 255, 0]
    with pytest.raises(ValueError, match="out_dtype must be a float dtype or one of uint8"):
        quantize(t, torch.int64)


def test_tiled_uint8_prediction_never_holds_a_float_copy_of_the_output(tmp_path) -> None:
    """Peak memory of a tiled x4 prediction of a 750x1000 image: a float32 output is 144 MB
    (blending into whole-image float buffers grew the peak by 339 MB); uint8 stripes need the
    36 MB output and a float stripe of ~(tile + overlap) * 4 rows (89 MB in all, measured).
    Measured in a fresh process by its peak resident set."""
    import subprocess
    import sys

    script = """
import resource, torch
import torch.nn.functional as F
torch.set_num_threads(1)
x = torch.rand(1, 3, 750, 1000)
up = lambda t: F.interpolate(t, scale_factor=4, mode="nearest")
from imgen.inference import predict_tiled
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with torch.inference_mode():
    before = peak_mb()
    out = predict_tiled(up, x, scale=4, tile=128, overlap=32, out_dtype=torch.uint8)
    after = peak_mb()
assert out.shape == (1, 3, 3000, 4000) and out.dtype == torch.uint8
print(after - before)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    growth_mb = float(result.stdout.strip().splitlines()[-1])
    assert growth_mb < 144, f"peak grew by {growth_mb:.0f} MB"


class FakeOOM:
    """A network that runs out of memory on inputs of more than ``limit`` pixels."""

    def __init__(self, limit: int) -> None:
        self.limit, self.sizes = limit, []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(x.shape[-2:]))
        if x.shape[-2] * x.shape[-1] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
        return x * 0.5


def test_out_of_memory_retries_in_halved_tiles_and_says_so() -> None:
    image = photo_tensor(100, 90)
    said: list[str] = []
    net = FakeOOM(limit=40 * 40)
    out = predict_fitting(net, image, say=said.append, overlap=4, min_tile=8)
    assert torch.equal(out, predict_tiled(lambda t: t * 0.5, image, tile=25, overlap=4))
    assert said == [
        "out of memory on cpu for the whole image; trying --tile 50",
        "out of memory on cpu with --tile 50; trying --tile 25",
    ]


def test_out_of_memory_below_the_smallest_tile_is_one_sentence() -> None:
    with pytest.raises(torch.OutOfMemoryError, match="even in tiles of 16 pixels"):
        predict_fitting(FakeOOM(limit=1), photo_tensor(64, 64), tile=16, min_tile=16)


@pytest.mark.parametrize(
    ("available_gb", "tile"),
    [(2, 224), (8, 352), (64, 352), (1024, 352)],  # half of 2 GB; then the 2 GB bound
)
def test_auto_tile_bounds_the_activations_however_much_memory_there_is(available_gb, tile):
    from imgen.inference import MAX_ACTIVATION_BYTES, auto_tile

    per_pixel = 12288.0  # srresnet x4, as activation_bytes probes it
    chosen = auto_tile(3000, 4000, per_pixel, available_gb * 1024**3, overlap=32)
    assert chosen == tile
    assert (chosen + 64) ** 2 * per_pixel <= MAX_ACTIVATION_BYTES
    # An image whose activations fit the bound and the memory stays whole.
    assert auto_tile(200, 300, per_pixel, available_gb * 1024**3, overlap=32) is None
