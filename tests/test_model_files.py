"""Model files made elsewhere (issue 13): each official layout is built from documented key
names with random weights, saved as the official files are saved, then detected, loaded
strictly and checked to give the same outputs as imgen's network with the same weights;
through imgen.load, predict --weights, eval --weights, import (then --init and --resume) and
export (ONNX, TorchScript) with its parity check."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import imgen
from imgen.cli import cli
from imgen.errors import ImgenError
from imgen.nn.image_function import ImageFunction
from imgen.plugins import create_model
from imgen.testing import layouts
from imgen.weights import read_state_dict
from imgen.weights.loading import detect_file

pytestmark = pytest.mark.usefixtures("clean_plugin_env")


def run_cli(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def seeded(seed: int = 0) -> None:
    torch.manual_seed(seed)


# -- the official layouts, from their documented key names ----------------------------------------
esrgan_old_keys = layouts.esrgan_old_keys
hook_spectral_norm = layouts.hook_spectral_norm_keys
with_instance_norm_stats = layouts.with_instance_norm_statistics
dcgan_example_d = layouts.dcgan_example_discriminator


# name: (make the network, the file's state dict from the network's, file name,
#        expected task, a piece of the detected architecture, the input)
def _sr(factory, **kwargs):
    def make():
        seeded()
        return create_model(factory, "generator", **kwargs).eval()

    return make


LAYOUTS = {
    "esrgan-old": (
        _sr("rrdbnet", num_feat=8, num_block=2, num_grow_ch=4),
        esrgan_old_keys,
        "RRDB_ESRGAN_x4.pth",
        "sr",
        "RRDBNet x4, 2 blocks, 8 features (ESRGAN (original keys))",
    ),
    "realesrgan-params-ema": (
        _sr("rrdbnet", num_feat=8, num_block=2, num_grow_ch=4),
        lambda s: {"params_ema": {f"module.{k}": v for k, v in s.items()}, "params": {}},
        "RealESRGAN_x4plus.pth",
        "sr",
        "RRDBNet x4",
    ),
    "realesrgan-x2plus": (
        _sr("rrdbnet", num_feat=8, num_block=1, num_grow_ch=4, scale=2),
        lambda s: {"params_ema": s},
        "RealESRGAN_x2plus.pth",
        "sr",
        "RRDBNet x2",
    ),
    "rrdbnet-x1": (
        _sr("rrdbnet", num_feat=8, num_block=1, num_grow_ch=4, scale=1),
        lambda s: {"params": s},
        "x1.pth",
        "sr",
        "RRDBNet x1",
    ),
    "msrresnet": (
        _sr("srresnet", num_feat=8, num_block=2, upscale=4),
        lambda s: {"params": s},
        "MSRResNet_x4.pth",
        "sr",
        "MSRResNet x4, 2 blocks",
    ),
    "compact": (
        _sr("compact", num_feat=8, num_conv=4, upscale=4),
        lambda s: {"params": s},
        "realesr-general-x4v3.pth",
        "sr",
        "SRVGGNetCompact x4, 4 convs",
    ),
    "swinir-spandrel": (
        _sr("swinir", scale=2, embed_dim=12, depths=[1], num_heads=[2], window_size=4),
        lambda s: {"params": {k.removeprefix("model."): v for k, v in s.items()}},
        "001_classicalSR_x2.pth",
        "sr",
        "SwinIR x2",
    ),
    "pix2pix-unet-256": (
        lambda: (seeded(), create_model("unet", "generator", depth=8, ngf=4).eval())[1],
        lambda s: s,
        "latest_net_G.pth",
        "translate",
        "pix2pix U-Net (unet_256, batch norm)",
    ),
    "cyclegan-resnet-9-pre04": (
        lambda: (seeded(), create_model("resnet", "generator", blocks=9, ngf=4).eval())[1],
        None,  # with_instance_norm_stats, which needs the network
        "latest_net_G_A.pth",
        "translate",  # alone: a one-direction translator
        "ResNet generator (resnet_9blocks, instance norm)",
    ),
    "dcgan-netG": (
        lambda: (seeded(), create_model("dcgan", "generator", image_size=32, ngf=8).eval())[1],
        lambda s: s,
        "netG_epoch_24.pth",
        "dcgan",
        "DCGAN generator, 32x32",
    ),
}


def save_layout(name: str, folder: Path) -> tuple[torch.nn.Module, Path]:
    make, to_file, filename, *_ = LAYOUTS[name]
    net = make()
    state = net.state_dict()
    state = with_instance_norm_stats(state, net) if to_file is None else to_file(state)
    path = folder / filename
    torch.save(state, path)  # as the official files are saved
    return net, path


def reference_output(name: str, net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    signed = LAYOUTS[name][3] in ("translate", "style")
    with torch.no_grad():
        return ImageFunction(net, signed=signed)(x)


def example_input(name: str) -> torch.Tensor:
    size = 256 if "unet-256" in name else 24
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", [n for n in LAYOUTS if not n.startswith("dcgan")])
def test_each_layout_is_detected_loaded_strictly_and_gives_the_same_outputs(name, tmp_path):
    net, path = save_layout(name, tmp_path)
    found = detect_file(path)
    assert found.task == LAYOUTS[name][3]
    assert LAYOUTS[name][4] in found.architecture
    model = imgen.load(path, device="cpu")
    x = example_input(name)
    with torch.inference_mode():
        got = model.predict_tensor(x)
    torch.testing.assert_close(got, reference_output(name, net, x), atol=1e-5, rtol=0)


def test_dcgan_example_files_load_as_generator_and_discriminator(tmp_path):
    net, path = save_layout("dcgan-netG", tmp_path)
    model = imgen.load(path, device="cpu")
    assert model.task == "dcgan" and not model.takes_image
    z = torch.randn(3, 100, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model.loaded.nets["G"](z), net(z), atol=1e-6, rtol=0)
    seeded()
    d = create_model("dcgan", "discriminator", image_size=32, ndf=8)
    torch.save(dcgan_example_d(d.state_dict()), tmp_path / "netD_epoch_24.pth")
    found = detect_file(tmp_path / "netD_epoch_24.pth")
    assert found.architecture.startswith("DCGAN discriminator, 32x32") and set(found.weights) == {
        "D"
    }
    d.load_state_dict(found.weights["D"])  # strict: every key renamed


def test_cyclegan_pair_side_by_side_is_a_style_run(tmp_path):
    seeded()
    g_a = create_model("resnet", "generator", blocks=6, ngf=4).eval()
    g_b = create_model("resnet", "generator", blocks=6, ngf=4).eval()
    torch.save(with_instance_norm_stats(g_a.state_dict(), g_a), tmp_path / "latest_net_G_A.pth")
    torch.save(g_b.state_dict(), tmp_path / "latest_net_G_B.pth")
    model = imgen.load(tmp_path / "latest_net_G_B.pth", device="cpu")
    assert model.task == "style" and "resnet_6blocks" in model.architecture
    x = example_input("style")
    with torch.inference_mode():
        a_to_b = model.predict_tensor(x, direction="AtoB")
        b_to_a = model.predict_tensor(x, direction="BtoA")
    torch.testing.assert_close(a_to_b, ImageFunction(g_a, signed=True)(x), atol=1e-5, rtol=0)
    torch.testing.assert_close(b_to_a, ImageFunction(g_b, signed=True)(x), atol=1e-5, rtol=0)
    with pytest.raises(ImgenError, match="a style run needs both"):
        (tmp_path / "latest_net_G_B.pth").unlink()
        imgen.load(tmp_path / "latest_net_G_A.pth", task="style")


def test_realesrgan_discriminator_with_hook_spectral_norm_keys(tmp_path):
    seeded()
    d = create_model("unet", "discriminator")
    torch.save({"params": hook_spectral_norm(d.state_dict())}, tmp_path / "netD.pth")
    found = detect_file(tmp_path / "netD.pth")
    assert found.options["discriminator"] == "unet"
    fresh = create_model("unet", "discriminator")
    fresh.load_state_dict(found.weights["D"])  # strict
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        d.eval(), fresh.eval()
        torch.testing.assert_close(fresh(x), d(x))


# -- what is not a model file -------------------------------------------------------------------
class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_a_pickle_with_code_is_refused(tmp_path):
    torch.save({"params": {"conv.weight": torch.zeros(1)}, "x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ImgenError, match=r"refusing to load .*evil\.pth.*could run code"):
        read_state_dict(tmp_path / "evil.pth")


def test_an_unknown_layout_is_one_sentence_naming_its_keys(tmp_path):
    torch.save({"encoder.w": torch.zeros(2), "decoder.w": torch.zeros(2)}, tmp_path / "x.pth")
    result = run_cli("predict", "--weights", tmp_path / "x.pth", tmp_path, "-o", tmp_path / "o")
    assert result.exit_code == 1
    assert "is no model layout imgen knows (top-level keys: decoder, encoder)" in result.output
    assert "imgen formats" in result.output and "Traceback" not in result.output


def test_formats_lists_the_readers_in_order():
    result = run_cli("formats", "--json")
    assert result.exit_code == 0, result.output
    names = [row["name"] for row in json.loads(result.output)]
    assert names[0] == "cyclegan" and names[-1] == "spandrel"
    assert {"rrdbnet", "compact", "pix2pix", "dcgan", "msrresnet"} <= set(names)


# -- the commands --------------------------------------------------------------------------------
@pytest.fixture
def photo(tmp_path) -> Path:
    import skimage.data

    path = tmp_path / "in" / "photo.png"
    path.parent.mkdir()
    Image.fromarray(skimage.data.astronaut()[100:140, 180:228]).save(path)
    return path


def read_png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(int)


@pytest.mark.parametrize(
    "name", ["esrgan-old", "realesrgan-params-ema", "compact", "swinir-spandrel"]
)
def test_predict_weights_writes_the_networks_output(name, tmp_path, photo):
    net, path = save_layout(name, tmp_path)
    result = run_cli("predict", "--weights", path, photo, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert LAYOUTS[name][4].split(" (")[0] in result.stderr
    written = read_png(tmp_path / "out" / "photo.png")
    x = torch.from_numpy(np.asarray(Image.open(photo))).permute(2, 0, 1)[None].float() / 255
    expected = reference_output(name, net, x)[0].permute(1, 2, 0).numpy()
    assert written.shape == expected.shape
    assert np.abs(written - np.rint(expected * 255)).max() <= 1


def test_import_then_eval_predict_export_init_and_resume(tmp_path, photo):
    _, generator = save_layout("realesrgan-params-ema", tmp_path)
    seeded(1)
    d = create_model("unet", "discriminator", num_feat=64)
    torch.save({"params": hook_spectral_norm(d.state_dict())}, tmp_path / "netD.pth")
    run = tmp_path / "runs" / "resr"
    result = run_cli("import", generator, "--discriminator", tmp_path / "netD.pth", "-o", run)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(run)
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "sr" and config["config"]["generator"] == "rrdbnet"
    assert (
        config["config"]["discriminator"] == "unet"
        and "RRDBNet x4" in config["imported"]["architecture"]
    )

    # predict --run equals predict --weights
    assert run_cli("predict", "--run", run, photo, "-o", tmp_path / "a").exit_code == 0
    assert run_cli("predict", "--weights", generator, photo, "-o", tmp_path / "b").exit_code == 0
    assert (read_png(tmp_path / "a" / "photo.png") == read_png(tmp_path / "b" / "photo.png")).all()

    # eval of the run and of the file give the same numbers
    hr = photo.parent
    by_run = run_cli("eval", "sr", "--run", run, "--data", hr, "--json")
    by_file = run_cli("eval", "sr", "--weights", generator, "--data", hr, "--json")
    assert by_run.exit_code == 0 and by_file.exit_code == 0, by_run.output + by_file.output
    assert json.loads(by_run.stdout)["metrics"] == json.loads(by_file.stdout)["metrics"]

    # GAN fine-tuning from the imported run: its architecture and both networks
    data = tmp_path / "data"
    data.mkdir()
    Image.open(photo).resize((64, 64)).save(data / "a.png")
    Image.open(photo).rotate(90).resize((64, 64)).save(data / "b.png")
    tune = run_cli(
        "train", "sr", "--init", run, "--data", data, "--steps", "2", "--batch-size", "2",
        "--crop", "32", "--perceptual-weight", "0", "--sample-every", "0", "--out",
        tmp_path / "runs", "--name", "tuned",
    )  # fmt: skip
    assert tune.exit_code == 0, tune.output
    assert "--init: G, D from" in tune.output
    tuned = json.loads((tmp_path / "runs" / "tuned" / "config.json").read_text())["config"]
    assert tuned["generator"] == "rrdbnet" and tuned["num_block"] == 2 and tuned["num_feat"] == 8

    # --resume of the imported run starts at step 0 from its weights
    resumed = run_cli(
        "train", "sr", "--resume", run, "--data", data, "--steps", "1", "--batch-size", "2",
        "--crop", "32", "--perceptual-weight", "0", "--sample-every", "0",
    )  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    assert "from its imported weights (G, D)" in resumed.output
    assert (run / "checkpoints" / "step_00000001").is_dir()


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_dynamic_reports_parity_and_runs_again(fmt, tmp_path, photo):
    pytest.importorskip("onnxruntime") if fmt == "onnx" else None
    _, generator = save_layout("compact", tmp_path)
    out = tmp_path / f"model.{'onnx' if fmt == 'onnx' else 'pt'}"
    result = run_cli(
        "export", "--weights", generator, "--format", fmt, "-o", out, "--dynamic", "--size", "32"
    )
    assert result.exit_code == 0, result.output
    diffs = [float(d) for d in re.findall(r"max abs difference (\S+)", result.stderr)]
    assert len(diffs) == 2 and max(diffs) <= 1e-4  # two sizes with --dynamic
    assert "parity at 32x32" in result.stderr and "parity at 24x48" in result.stderr
    if fmt == "onnx":
        ran = run_cli("predict", "--weights", out, photo, "-o", tmp_path / "onnx")
        by_torch = run_cli("predict", "--weights", generator, photo, "-o", tmp_path / "torch")
        assert ran.exit_code == 0 and by_torch.exit_code == 0, ran.output
        a = read_png(tmp_path / "onnx" / "photo.png")
        b = read_png(tmp_path / "torch" / "photo.png")
        assert np.abs(a - b).max() <= 1


def test_export_of_a_pix2pix_unet_with_dynamic_sizes(tmp_path):
    pytest.importorskip("onnxruntime")
    _, path = save_layout("pix2pix-unet-256", tmp_path)
    result = run_cli("export", "--weights", path, "-o", tmp_path / "g.onnx", "--dynamic")
    assert result.exit_code == 0, result.output
    assert "parity at 256x256" in result.stderr and "parity at 256x512" in result.stderr


def test_export_without_onnx_is_one_sentence(tmp_path, monkeypatch):
    _, path = save_layout("compact", tmp_path)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = run_cli("export", "--weights", path, "-o", tmp_path / "m.onnx")
    assert result.exit_code == 2
    assert "pip install 'imgen[export]'" in result.output and "Traceback" not in result.output


def test_precision_falls_back_for_a_network_without_half_support(tmp_path):
    from imgen.api import inference_precision

    _, path = save_layout("swinir-spandrel", tmp_path)  # SwinIR: supports_half is False
    model = imgen.load(path, device="cpu", precision="fp32")
    dtype, notes = inference_precision("fp16", torch.device("cuda"), model.loaded.nets)
    assert dtype is None and "does not support fp16: running in fp32" in notes[0]
    dtype, notes = inference_precision("bf16", torch.device("cpu"), model.loaded.nets)
    assert dtype is torch.bfloat16 and notes == []
    with pytest.raises(ImgenError, match="fp16 is for CUDA"):
        inference_precision("fp16", torch.device("cpu"), {})


# -- the Python API: the kind of image in is the kind out ---------------------------------------
@pytest.fixture(scope="module")
def compact_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    _, path = save_layout("compact", folder)
    return imgen.load(path, device="cpu")


def test_load_predict_keeps_the_kind_of_image(compact_model):
    rgb = (np.random.default_rng(0).random((10, 12, 3)) * 255).astype(np.uint8)
    out = compact_model.predict(rgb)
    assert out.dtype == np.uint8 and out.shape == (40, 48, 3)
    assert compact_model.scale == 4 and compact_model.task == "sr"

    pil = compact_model.predict(Image.fromarray(rgb))
    assert isinstance(pil, Image.Image) and pil.size == (48, 40) and pil.mode == "RGB"
    assert (np.asarray(pil) == out).all()

    tensor = compact_model.predict(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)
    assert (
        tensor.shape == (3, 40, 48)
        and np.abs(tensor.permute(1, 2, 0).numpy() * 255 - out).max() <= 1
    )

    gray = compact_model.predict(rgb[:, :, 0])
    assert gray.shape == (40, 48) and gray.dtype == np.uint8

    deep = compact_model.predict(rgb.astype(np.uint16) * 257)
    assert deep.dtype == np.uint16 and deep.shape == (40, 48, 3)

    rgba = np.dstack([rgb, np.full((10, 12), 200, np.uint8)])
    with_alpha = compact_model.predict(Image.fromarray(rgba))
    assert with_alpha.mode == "RGBA" and (np.asarray(with_alpha)[:, :, 3] == 200).all()


def test_load_tiles_when_asked(compact_model):
    x = torch.rand(3, 30, 34, generator=torch.Generator().manual_seed(0))
    whole = compact_model.predict(x)
    tiled = compact_model.predict(x, tile=16, tile_overlap=16)  # half >= 6 convs of radius 1
    torch.testing.assert_close(whole, tiled, atol=1e-5, rtol=0)


def test_an_imported_swinir_fine_tunes_like_an_rrdbnet(tmp_path):
    _, path = save_layout("swinir-spandrel", tmp_path)
    run = tmp_path / "runs" / "swinir"
    assert run_cli("import", path, "-o", run).exit_code == 0
    stored = json.loads((run / "config.json").read_text())["config"]
    assert stored["generator"] == "swinir" and stored["generator_options"]["embed_dim"] == 12
    data = tmp_path / "data"
    from imgen.testing import tiny_image_folder

    tiny_image_folder(data, count=2, size=(40, 40))
    tune = run_cli(
        "train", "sr", "--init", run, "--data", data, "--steps", "2", "--batch-size", "2",
        "--crop", "32", "--gan-weight", "0", "--sample-every", "0", "--out", tmp_path / "runs",
        "--name", "tuned",
    )  # fmt: skip
    assert tune.exit_code == 0, tune.output
    assert "--init: G from" in tune.output
    tuned = imgen.load(tmp_path / "runs" / "tuned", device="cpu")
    assert tuned.scale == 2 and "SwinIR" in type(tuned.loaded.nets["G"].model).__name__
