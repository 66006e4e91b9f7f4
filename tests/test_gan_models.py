"""pix2pix / CycleGAN networks: exact reference parameter counts, shapes, receptive field,
reference state-dict layout, gradients, and the timm-encoder U-Net's weight loading."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from imgen import plugins
from imgen.nn import (
    PatchGAN,
    PixelGAN,
    ResnetGenerator,
    init_gan_normal,
    norm_layer,
    receptive_field,
    uses_bias,
)
from imgen_translate.models import TimmUNet, UNetGenerator, UNetSkipBlock


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _n_params_meta(factory: Callable[[], nn.Module]) -> int:
    """Parameter count of a model built on the meta device: no memory, no initialisation."""
    with torch.device("meta"):
        return _n_params(factory())


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# -- norms ---------------------------------------------------------------------------------------


def test_norm_layer_kinds_follow_the_reference() -> None:
    bn = norm_layer("batch")(8)
    assert isinstance(bn, nn.BatchNorm2d) and bn.affine and bn.track_running_stats
    inorm = norm_layer("instance")(8)
    assert isinstance(inorm, nn.InstanceNorm2d)
    assert not inorm.affine and not inorm.track_running_stats
    assert isinstance(norm_layer("none")(8), nn.Identity)
    assert (uses_bias("batch"), uses_bias("instance"), uses_bias("none")) == (False, True, True)


def test_unknown_norm_suggests_the_closest() -> None:
    with pytest.raises(ValueError, match="Did you mean 'batch'"):
        norm_layer("btach")
    with pytest.raises(ValueError, match="Unknown norm"):
        PatchGAN(norm="group")


def test_init_gan_normal_matches_the_reference_init() -> None:
    net = init_gan_normal(nn.Sequential(nn.Conv2d(3, 64, 3), nn.BatchNorm2d(64)), gain=0.02)
    assert abs(net[0].weight.std().item() - 0.02) < 0.003
    assert net[0].bias.abs().sum() == 0 and net[1].bias.abs().sum() == 0
    assert abs(net[1].weight.mean().item() - 1.0) < 0.01


# -- exact parameter counts of the reference networks ---------------------------------------------


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        pytest.param(lambda: UNetGenerator(), 54_413_955, id="unet_256-batch"),
        pytest.param(lambda: ResnetGenerator(), 11_378_179, id="resnet_9blocks-instance"),
        pytest.param(lambda: ResnetGenerator(blocks=6), 7_837_699, id="resnet_6blocks-instance"),
        pytest.param(lambda: PatchGAN(6, norm="batch"), 2_768_705, id="patchgan-6ch-batch"),
        pytest.param(lambda: PatchGAN(3, norm="instance"), 2_764_737, id="patchgan-3ch-instance"),
        pytest.param(lambda: PixelGAN(6, norm="batch"), 9_024, id="pixelgan-6ch-batch"),
    ],
)
def test_reference_parameter_counts(factory: Callable[[], nn.Module], expected: int) -> None:
    assert _n_params_meta(factory) == expected


def test_resize_upsampling_has_the_same_parameter_count() -> None:
    # A 3x3 conv and a 3x3 transposed conv hold the same weights (up to a transpose).
    deconv = _n_params_meta(lambda: ResnetGenerator(upsample="deconv"))
    assert _n_params_meta(lambda: ResnetGenerator(upsample="resize")) == deconv == 11_378_179


def test_resnet_block_count_changes_only_the_residual_trunk() -> None:
    per_block = 2 * (256 * 256 * 9 + 256)  # two 3x3 convs with bias (instance norm), 4*ngf wide
    n9 = _n_params_meta(lambda: ResnetGenerator(blocks=9))
    n6 = _n_params_meta(lambda: ResnetGenerator(blocks=6))
    assert n9 - n6 == 3 * per_block


def test_state_dict_keys_follow_the_reference_layout() -> None:
    # Same module tree as junyanz/pytorch-CycleGAN-and-pix2pix, so its .pth files load as is.
    unet = UNetGenerator(ngf=2, depth=5)
    assert {"model.model.0.weight", "model.model.1.model.1.weight", "model.model.3.bias"} <= set(
        unet.state_dict()
    )
    with torch.device("meta"):
        resnet = ResnetGenerator()  # resnet_9blocks: the last conv is model.26
    assert {"model.1.weight", "model.18.conv_block.5.weight", "model.26.bias"} <= set(
        resnet.state_dict()
    )
    assert "model.0.weight" in PatchGAN(ndf=2).state_dict()
    assert "net.5.weight" in PixelGAN(ndf=2).state_dict()


# -- PatchGAN / PixelGAN ------------------------------------------------------------------------


@pytest.mark.parametrize(("n_layers", "size"), [(1, 64), (2, 128), (3, 128), (4, 256)])
def test_patchgan_receptive_field_matches_a_gradient_probe(n_layers: int, size: int) -> None:
    d = PatchGAN(ndf=4, n_layers=n_layers).eval()  # eval: batch norm acts pixel by pixel
    x = torch.randn(1, 3, size, size, requires_grad=True)
    out = d(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    seen = x.grad[0].abs().sum(0) != 0
    rows = seen.any(1).nonzero().flatten()
    cols = seen.any(0).nonzero().flatten()
    # the field must lie inside the image, or the probe would measure a clipped extent
    assert rows.min() > 0 and rows.max() < size - 1
    extents = (int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1))
    assert extents == (receptive_field(n_layers),) * 2 == (d.receptive_field,) * 2
    assert receptive_field(n_layers) == {1: 16, 2: 34, 3: 70, 4: 142}[n_layers]


@pytest.mark.parametrize(("size", "expected"), [((64, 96), (6, 10)), ((26, 30), (1, 1))])
def test_patchgan_output_shape(size: tuple[int, int], expected: tuple[int, int]) -> None:
    out = PatchGAN(in_channels=6, ndf=4)(torch.rand(2, 6, *size))
    assert out.shape == (2, 1, *expected)


def test_patchgan_rejects_bad_inputs() -> None:
    d = PatchGAN(ndf=4)
    with pytest.raises(ValueError, match="at least 24x24"):
        d(torch.rand(1, 3, 23, 64))
    with pytest.raises(ValueError, match="3 input channels, got 6"):
        d(torch.rand(1, 6, 64, 64))
    with pytest.raises(ValueError, match="n_layers >= 1"):
        PatchGAN(n_layers=0)


def test_pixelgan_output_size_equals_input_size() -> None:
    out = PixelGAN(ndf=4, norm="instance")(torch.rand(2, 3, 13, 7))
    assert out.shape == (2, 1, 13, 7)


# -- ResnetGenerator ------------------------------------------------------------------------------


@pytest.mark.parametrize("upsample", ["deconv", "resize"])
@pytest.mark.parametrize("padding", ["reflect", "zero"])
def test_resnet_generator_shapes(upsample: str, padding: str) -> None:
    net = ResnetGenerator(ngf=4, blocks=2, upsample=upsample, padding=padding)
    assert net.required_multiple == 4
    out = net(torch.rand(2, 3, 20, 36))
    assert out.shape == (2, 3, 20, 36)
    assert out.abs().max() <= 1


def test_resnet_generator_rejects_bad_inputs() -> None:
    net = ResnetGenerator(ngf=4, blocks=1)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match="at least 8"):
        net(torch.rand(1, 3, 4, 8))
    with pytest.raises(ValueError, match="upsample"):
        ResnetGenerator(upsample="pixelshuffle")
    with pytest.raises(ValueError, match="padding"):
        ResnetGenerator(padding="circular")


# -- UNetGenerator --------------------------------------------------------------------------------


@pytest.mark.parametrize(("depth", "size"), [(7, (128, 384)), (8, (256, 256))])
def test_unet_generator_depths(depth: int, size: tuple[int, int]) -> None:
    net = UNetGenerator(in_channels=1, out_channels=2, ngf=2, depth=depth)
    assert net.required_multiple == 2**depth
    n_dropout = sum(isinstance(m, nn.Dropout) for m in net.modules())
    assert n_dropout == depth - 5
    out = net(torch.rand(1, 1, *size))
    assert out.shape == (1, 2, *size)
    assert out.abs().max() <= 1


def test_unet_generator_rejects_bad_sizes() -> None:
    net = UNetGenerator(ngf=2, depth=5)
    with pytest.raises(ValueError, match="multiples of 32, got 48x64"):
        net(torch.rand(1, 3, 48, 64))
    with pytest.raises(ValueError, match="depth >= 5"):
        UNetGenerator(depth=4)


def test_unet_skip_carries_the_activated_input() -> None:
    # The reference's in-place LeakyReLU overwrites x before the concatenation.
    inner = UNetSkipBlock(4, 4, innermost=True)
    x = torch.randn(2, 4, 8, 8)
    out = inner(x.clone())
    assert torch.equal(out[:, :4], F.leaky_relu(x, 0.2))


# -- TimmUNet ---------------------------------------------------------------------------------


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HUGGINGFACE_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    return tmp_path


def test_timm_unet_shape_and_scratch_note(empty_hf_cache: Path) -> None:
    net = TimmUNet(encoder="resnet18", decoder_channels=(32, 16, 16, 8, 8))
    assert net.required_multiple == 32
    assert (
        net.weights_note == "encoder resnet18: no cached pretrained weights; starting from scratch"
    )
    out = net(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="multiples of 32"):
        net(torch.rand(1, 3, 48, 64))


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_timm_unet_loads_an_explicit_weights_file(
    empty_hf_cache: Path, suffix: str, tmp_path: Path
) -> None:
    source = timm.create_model("resnet18")  # the whole classifier, fc included
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        save_file(source.state_dict(), str(path))
    else:
        torch.save(source.state_dict(), path)
    net = TimmUNet(encoder="resnet18", decoder_channels=(8, 8, 8, 8, 8), encoder_weights=path)
    assert net.weights_note == f"encoder resnet18: pretrained weights from {path}; 0 missing keys"
    assert net.missing_keys == []
    assert torch.equal(net.encoder.conv1.weight, source.conv1.weight)
    assert torch.equal(net.encoder.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)


def test_timm_unet_uses_weights_found_in_the_hf_cache(empty_hf_cache: Path) -> None:
    # The hub cache layout: models--{org}--{name}/refs/main -> snapshots/{commit}/{file}
    repo = empty_hf_cache / "hf" / "hub" / "models--timm--resnet18.a1_in1k"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    source = timm.create_model("resnet18")
    save_file(source.state_dict(), str(snapshot / "model.safetensors"))

    net = TimmUNet(encoder="resnet18", decoder_channels=(8, 8, 8, 8, 8))
    assert net.weights_note.startswith("encoder resnet18: pretrained weights from ")
    assert "timm/resnet18.a1_in1k" in net.weights_note and net.missing_keys == []
    assert torch.equal(net.encoder.conv1.weight, source.conv1.weight)


def test_timm_unet_rejects_unknown_encoders_and_bad_configs(empty_hf_cache: Path) -> None:
    with pytest.raises(ValueError, match=r"Unknown timm encoder 'resnet343'.*resnet34"):
        TimmUNet(encoder="resnet343")
    with pytest.raises(ValueError, match="needs 5 decoder_channels, got 2"):
        TimmUNet(encoder="resnet18", decoder_channels=(16, 8))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TimmUNet(encoder="resnet18", encoder_weights=empty_hf_cache / "missing.safetensors")


# -- gradients ----------------------------------------------------------------------------------


GRADIENT_CASES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "patchgan": (lambda: PatchGAN(ndf=4, n_layers=2), (2, 3, 32, 32)),
    "patchgan-instance": (lambda: PatchGAN(ndf=4, norm="instance"), (2, 3, 32, 32)),
    "pixelgan": (lambda: PixelGAN(ndf=4), (2, 3, 8, 8)),
    "resnet-deconv": (lambda: ResnetGenerator(ngf=4, blocks=1, dropout=True), (2, 3, 16, 16)),
    "resnet-resize": (lambda: ResnetGenerator(ngf=4, blocks=1, upsample="resize"), (2, 3, 16, 16)),
    "unet": (lambda: UNetGenerator(ngf=2, depth=6, norm="instance"), (2, 3, 64, 64)),
    "timm-unet": (
        lambda: TimmUNet(encoder="resnet18", decoder_channels=(8, 8, 8, 8, 8)),
        (2, 3, 64, 64),
    ),
}


@pytest.mark.parametrize("name", list(GRADIENT_CASES))
def test_gradients_reach_every_parameter(name: str, empty_hf_cache: Path) -> None:
    factory, shape = GRADIENT_CASES[name]
    net = factory()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):  # timm zero-inits each block's last BN scale, which
            nn.init.ones_(m.weight)  # stops the gradient to the block's convs at step 0
    net(torch.rand(*shape)).square().mean().backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"no gradient reaches {dead}"


# -- registration ---------------------------------------------------------------------------


def test_core_registers_the_gan_models(isolated_host) -> None:
    isolated_host()  # the core's own registrations only
    reg = plugins.registries()
    assert reg.models("generator").entry("resnet").plugin == "imgen"
    for name in ("patchgan", "pixelgan"):
        assert reg.models("discriminator").entry(name).plugin == "imgen"
    d = plugins.create_model(
        "patchgan", role="discriminator", in_channels=6, ndf=4, offered={"scale": 4}
    )
    assert isinstance(d, PatchGAN) and d.in_channels == 6


def test_builtins_import_no_torch() -> None:
    code = "import sys, imgen.builtins; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
