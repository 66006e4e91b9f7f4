"""SR generators and discriminators: shapes, gradients, parameter counts, BasicSR checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from imgen.testing.layouts import hook_spectral_norm_keys
from imgen_sr.models import (
    Bicubic,
    MSRResNet,
    RRDBNet,
    UNetDiscriminatorSN,
    VGGStyleDiscriminator,
    load_basicsr_state_dict,
)

# Tiny configurations: enough to exercise every code path in well under a second.
TINY_GENERATORS: dict[str, Callable[[int], nn.Module]] = {
    "msrresnet": lambda s: MSRResNet(num_feat=8, num_block=1, upscale=s),
    "rrdbnet": lambda s: RRDBNet(scale=s, num_feat=8, num_block=1, num_grow_ch=4),
}
GENERATOR_CASES = [
    ("msrresnet", 2),
    ("msrresnet", 3),
    ("msrresnet", 4),
    ("rrdbnet", 1),
    ("rrdbnet", 2),
    ("rrdbnet", 3),
    ("rrdbnet", 4),
]
TINY_DISCRIMINATORS: dict[str, Callable[[], nn.Module]] = {
    "vgg": lambda: VGGStyleDiscriminator(num_feat=4),
    "unet_sn": lambda: UNetDiscriminatorSN(num_feat=4),
}


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize(("name", "scale"), GENERATOR_CASES)
def test_generator_output_shape(name: str, scale: int) -> None:
    net = TINY_GENERATORS[name](scale)
    assert net.scale == scale
    assert 8 % net.required_multiple == 0
    out = net(torch.rand(2, 3, 8, 12))
    assert out.shape == (2, 3, 8 * scale, 12 * scale)


@pytest.mark.parametrize(("name", "scale"), GENERATOR_CASES)
def test_generator_gradients_reach_every_parameter(name: str, scale: int) -> None:
    net = TINY_GENERATORS[name](scale)
    net(torch.rand(1, 3, 8, 8)).square().mean().backward()
    for key, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, key


def test_required_multiple_is_declared() -> None:
    for cls in (MSRResNet, RRDBNet, Bicubic, VGGStyleDiscriminator, UNetDiscriminatorSN):
        assert isinstance(cls.required_multiple, int)
    assert UNetDiscriminatorSN.required_multiple == 8
    expected = {1: 4, 2: 2, 3: 1, 4: 1}
    for scale, multiple in expected.items():
        assert RRDBNet(scale=scale, num_feat=4, num_block=0).required_multiple == multiple


def test_rrdbnet_rejects_sizes_its_unshuffle_cannot_take() -> None:
    net = RRDBNet(scale=1, num_feat=4, num_block=0, num_grow_ch=4)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.rand(1, 3, 6, 8))


def test_unsupported_scales_raise() -> None:
    with pytest.raises(ValueError, match="upscale 2, 3 or 4"):
        MSRResNet(upscale=8)
    with pytest.raises(ValueError, match="scale 1, 2, 3 or 4"):
        RRDBNet(scale=8)


def test_reference_parameter_counts() -> None:
    # Built on the meta device: no memory and no initialisation cost, only the shapes.
    with torch.device("meta"):
        assert _n_params(MSRResNet()) == 1_517_571
        assert _n_params(RRDBNet()) == 16_697_987


def test_rrdbnet_state_dict_keys_match_basicsr() -> None:
    with torch.device("meta"):
        keys = set(RRDBNet().state_dict())
    expected = set()
    for name in ("conv_first", "conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"):
        expected |= {f"{name}.weight", f"{name}.bias"}
    for n in range(23):
        for k in (1, 2, 3):
            for j in range(1, 6):
                expected |= {f"body.{n}.rdb{k}.conv{j}.weight", f"body.{n}.rdb{k}.conv{j}.bias"}
    assert keys == expected


def test_rrdbnet_x3_has_no_conv_up2() -> None:
    keys = RRDBNet(scale=3, num_feat=4, num_block=0).state_dict()
    assert not any(k.startswith("conv_up2") for k in keys)


def test_pixel_unshuffle_matches_basicsr_layout() -> None:
    # Real-ESRGAN x2 weights expect BasicSR's channel order for the unshuffled input.
    def basicsr_pixel_unshuffle(x: torch.Tensor, scale: int) -> torch.Tensor:
        b, c, hh, hw = x.size()
        h, w = hh // scale, hw // scale
        view = x.view(b, c, h, scale, w, scale)
        return view.permute(0, 1, 3, 5, 2, 4).reshape(b, c * scale**2, h, w)

    x = torch.rand(2, 3, 8, 12)
    for s in (2, 4):
        assert torch.equal(torch.nn.functional.pixel_unshuffle(x, s), basicsr_pixel_unshuffle(x, s))


@pytest.mark.parametrize("wrapper", ["params_ema", "params", None])
def test_load_basicsr_state_dict_wrappers(wrapper: str | None, tmp_path: Path) -> None:
    src = TINY_GENERATORS["rrdbnet"](4)
    dst = TINY_GENERATORS["rrdbnet"](4)
    sd = src.state_dict()
    payload = {wrapper: sd} if wrapper else sd
    if wrapper == "params_ema":
        # Real-ESRGAN files may carry both; the EMA weights win.
        payload["params"] = dst.state_dict()
    load_basicsr_state_dict(dst, payload)
    for key, value in sd.items():
        assert torch.equal(dst.state_dict()[key], value), key


def test_load_basicsr_state_dict_from_file_with_module_prefix(tmp_path: Path) -> None:
    src = TINY_GENERATORS["msrresnet"](4)
    path = tmp_path / "net_g.pth"
    torch.save({"params": {f"module.{k}": v for k, v in src.state_dict().items()}}, path)
    dst = load_basicsr_state_dict(TINY_GENERATORS["msrresnet"](4), path)
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(dst(x), src(x))


def test_load_old_style_spectral_norm_keys() -> None:
    src = UNetDiscriminatorSN(num_feat=4)
    old = hook_spectral_norm_keys(src.state_dict())  # Real-ESRGAN's netD layout
    assert {"conv1.weight_orig", "conv1.weight_u", "conv1.weight_v"} <= set(old)
    assert not any("parametrizations" in key for key in old)  # every key is renamed
    # The hook-based module's own keys: the same names, so this is the real layout.
    hooked = torch.nn.utils.spectral_norm(torch.nn.Conv2d(4, 8, 3))
    assert set(hooked.state_dict()) == {"bias", "weight_orig", "weight_u", "weight_v"}
    dst = load_basicsr_state_dict(UNetDiscriminatorSN(num_feat=4), {"params": old})
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value), key


def test_bicubic_has_no_parameters() -> None:
    up = Bicubic(upscale=3)
    assert up.scale == 3
    assert _n_params(up) == 0
    assert up.state_dict() == {}


def test_bicubic_output_shape_and_values() -> None:
    from imgen.data.resize import imresize

    x = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    out = Bicubic(upscale=3)(x)
    assert out.shape == (2, 3, 15, 21)
    torch.testing.assert_close(out, imresize(x, scale=3), atol=1e-6, rtol=0)
    flat = Bicubic(upscale=3)(torch.full((1, 3, 4, 4), 0.25))  # weights sum to one
    torch.testing.assert_close(flat, torch.full((1, 3, 12, 12), 0.25))


@pytest.mark.parametrize("name", list(TINY_DISCRIMINATORS))
@pytest.mark.parametrize("size", [32, 48, 128])
def test_discriminator_accepts_crops(name: str, size: int) -> None:
    d = TINY_DISCRIMINATORS[name]()
    out = d(torch.rand(2, 3, size, size))
    assert out.shape == ((2, 1) if name == "vgg" else (2, 1, size, size))


@pytest.mark.parametrize("name", list(TINY_DISCRIMINATORS))
def test_discriminator_gradients_reach_every_parameter(name: str) -> None:
    d = TINY_DISCRIMINATORS[name]()
    d(torch.rand(2, 3, 32, 32)).square().mean().backward()
    for key, p in d.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, key


def test_discriminator_size_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="multiples of 8"):
        UNetDiscriminatorSN(num_feat=4)(torch.rand(1, 3, 36, 32))
    with pytest.raises(ValueError, match="at least 32x32"):
        VGGStyleDiscriminator(num_feat=4)(torch.rand(2, 3, 16, 16))


def test_vgg_discriminator_at_128_has_basicsr_layout() -> None:
    # At 128x128 the adaptive pool is the identity, so BasicSR's 128 checkpoints fit.
    d = VGGStyleDiscriminator(num_feat=4)
    assert d.linear1.in_features == 4 * 8 * 4 * 4
    expected = {"conv0_0.weight", "conv0_0.bias"}
    for stage in range(5):
        for j in (0, 1):
            if (stage, j) == (0, 0):
                continue
            expected.add(f"conv{stage}_{j}.weight")
            bn = f"bn{stage}_{j}"
            stats = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
            expected |= {f"{bn}.{s}" for s in stats}
    expected |= {f"linear{i}.{s}" for i in (1, 2) for s in ("weight", "bias")}
    assert set(d.state_dict()) == expected


def test_shared_blocks() -> None:
    from imgen.nn import PixelShuffleUpsample, apply_spectral_norm

    for scale in (2, 3, 4):
        up = PixelShuffleUpsample(scale, num_feat=4)
        assert up(torch.rand(1, 4, 3, 5)).shape == (1, 4, 3 * scale, 5 * scale)
    with pytest.raises(ValueError, match="power of 2"):
        PixelShuffleUpsample(5, num_feat=4)

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(1))
    net(torch.rand(1, 3, 6, 6))  # materialise the lazy layer
    apply_spectral_norm(apply_spectral_norm(net))  # idempotent
    for layer in (net[0], net[3]):
        assert len(layer.parametrizations.weight) == 1
    assert net(torch.rand(2, 3, 6, 6)).shape == (2, 1)
