"""The sr task end to end through the CLI: train, eval, predict (tiled), resume, TOML."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from imgen.cli import cli
from imgen.engine.checkpoint import load_checkpoint

TINY = [
    "--steps",
    "3",
    "--batch-size",
    "2",
    "--crop",
    "32",
    "--num-feat",
    "8",
    "--num-block",
    "1",
    "--workers",
    "0",
    "--log-every",
    "1",
    "--sample-every",
    "3",
    "--save-every",
    "3",
]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def trained_run(photo_folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    stdout = invoke(
        "train",
        "sr",
        "--data",
        str(photo_folder),
        "--out",
        str(out),
        "--scale",
        "2",
        "--gan-weight",
        "0",
        *TINY,
    )
    return Path(stdout.strip().splitlines()[-1])


def test_train_writes_a_run_directory(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["task"] == "sr"
    assert config["config"]["scale"] == 2 and config["config"]["steps"] == 3
    assert config["nets"]["G"]["class"] == "MSRResNet"
    assert (trained_run / "checkpoints" / "last.safetensors").exists()
    grid = Image.open(trained_run / "samples" / "step_000003.png")
    assert grid.width > 3 * 32  # input | output | target
    events = [json.loads(x) for x in (trained_run / "metrics.jsonl").read_text().splitlines()]
    train = [e for e in events if e["event"] == "train"]
    assert [e["step"] for e in train] == [1, 2, 3]
    assert all(0 <= e["data_wait"] <= 1 and e["pixel"] > 0 for e in train)


def test_gan_training_with_unet_discriminator(photo_folder, tmp_path):
    stdout = invoke(
        "train",
        "sr",
        "--data",
        str(photo_folder),
        "--out",
        str(tmp_path),
        "--scale",
        "4",
        "--discriminator",
        "unet",
        "--gan-loss",
        "hinge",
        *TINY,
    )
    events = (Path(stdout.strip()) / "metrics.jsonl").read_text()
    assert '"d_loss"' in events and '"gan"' in events


def test_eval_json_on_hr_folder(trained_run, photo_folder):
    result = json.loads(
        invoke("eval", "sr", "--run", str(trained_run), "--data", str(photo_folder), "--json")
    )
    assert result["images"] == 4 and result["scale"] == 2
    assert set(result["metrics"]) >= {"psnr_y", "ssim_y"}
    assert 10 < result["metrics"]["psnr_y"] < 60


def test_eval_bicubic_baseline_on_benchmark_layout(photo_folder, tmp_path):
    """X2/HR + X2/LR folders are read as pairs; bicubic of the given LR is the baseline."""
    from imgen.data.resize import imresize

    for sub in ("HR", "LR"):
        (tmp_path / "X2" / sub).mkdir(parents=True)
    for path in sorted(photo_folder.iterdir()):
        hr = np.array(Image.open(path).convert("RGB"))
        lr = imresize(torch.from_numpy(hr).permute(2, 0, 1)[None], 0.5)[0]
        Image.fromarray(hr).save(tmp_path / "X2" / "HR" / path.name)
        Image.fromarray(lr.permute(1, 2, 0).numpy()).save(tmp_path / "X2" / "LR" / path.name)
    paired = json.loads(
        invoke(
            "eval",
            "sr",
            "--generator",
            "bicubic",
            "--scale",
            "2",
            "--data",
            str(tmp_path),
            "--json",
        )
    )
    derived = json.loads(
        invoke(
            "eval",
            "sr",
            "--generator",
            "bicubic",
            "--scale",
            "2",
            "--data",
            str(photo_folder),
            "--json",
        )
    )
    assert paired["images"] == 4
    assert paired["metrics"]["psnr_y"] == pytest.approx(derived["metrics"]["psnr_y"])
    assert not any("untrained" in n for n in paired["notes"])


def test_eval_rejects_contradicting_scale(trained_run, photo_folder):
    result = CliRunner().invoke(
        cli, ["eval", "sr", "--run", str(trained_run), "--data", str(photo_folder), "--scale", "4"]
    )
    assert result.exit_code == 2
    assert f"--scale 4 contradicts {trained_run}, which has 2" in result.output


def test_predict_keeps_any_size_and_tiles_match(trained_run, tmp_path):
    image = np.random.default_rng(0).integers(0, 256, size=(29, 37, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "odd.png")
    whole = tmp_path / "whole"
    tiled = tmp_path / "tiled"
    invoke("predict", "--run", str(trained_run), str(tmp_path / "odd.png"), "-o", str(whole))
    invoke(
        "predict",
        "--run",
        str(trained_run),
        str(tmp_path / "odd.png"),
        "-o",
        str(tiled),
        "--tile",
        "12",
        "--tile-overlap",
        "16",
    )
    a = np.asarray(Image.open(whole / "odd.png")).astype(int)
    b = np.asarray(Image.open(tiled / "odd.png")).astype(int)
    assert a.shape == (58, 74, 3)
    assert np.abs(a - b).max() <= 1  # equal up to uint8 rounding of float noise


def test_resume_through_cli_trains_on(trained_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    invoke("train", "sr", "--resume", str(run), "--steps", "5")
    _, state = load_checkpoint(run)
    assert state["step"] == 5
    assert json.loads((run / "config.json").read_text())["config"]["steps"] == 5


def test_config_toml_supplies_options(photo_folder, tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text(
        f'data = "{photo_folder}"\nscale = 2\ngan-weight = 0.0\nsteps = 1\n'
        f"[train]\nbatch_size = 2\ncrop = 32\nnum_feat = 8\nnum_block = 1\n"
    )
    stdout = invoke("train", "sr", "--config", str(toml), "--out", str(tmp_path), "--steps", "2")
    config = json.loads((Path(stdout.strip()) / "config.json").read_text())["config"]
    assert config["scale"] == 2 and config["num_feat"] == 8
    assert config["steps"] == 2  # the command line wins over the file


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scale", "9"], "--scale 9 is not supported; use 1 to 8"),
        (["--crop", "30"], "not a multiple of --scale"),
        (["--generator", "rrdbnett"], "did you mean 'rrdbnet'"),
        (["--crop", "512"], "smaller --crop"),
    ],
)
def test_bad_options_are_sentences(photo_folder, tmp_path, args, message):
    result = CliRunner().invoke(
        cli, ["train", "sr", "--data", str(photo_folder), "--out", str(tmp_path), *TINY, *args]
    )
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_vgg_weights_disable_perceptual_loudly(photo_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-hub"))
    result = CliRunner().invoke(
        cli,
        ["train", "sr", "--data", str(photo_folder), "--out", str(tmp_path), *TINY, "--steps", "1"],
    )
    assert result.exit_code == 0, result.output
    # The test suite runs with IMGEN_OFFLINE=1: the sentence names the file, URL and place.
    assert "perceptual loss off" in result.stderr
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in result.stderr
    assert str(tmp_path / "empty-hub" / "hub" / "checkpoints") in result.stderr
    explicit = CliRunner().invoke(
        cli,
        [
            "train",
            "sr",
            "--data",
            str(photo_folder),
            "--out",
            str(tmp_path),
            *TINY,
            "--vgg-weights",
            str(tmp_path / "nope.pth"),
        ],
    )
    assert explicit.exit_code == 2
    assert "nope.pth" in explicit.output


def test_init_starts_from_another_runs_generator(trained_run, photo_folder, tmp_path):
    """--init RUN_DIR: GAN fine-tuning starts from the PSNR run's (EMA) generator."""
    from safetensors.torch import load_file

    stdout = invoke(
        "train",
        "sr",
        "--data",
        str(photo_folder),
        "--out",
        str(tmp_path),
        "--scale",
        "2",
        "--init",
        str(trained_run),
        "--lr",
        "0",
        "--ema",
        "0",
        "--gan-weight",
        "0.01",
        "--perceptual-weight",
        "0",
        *TINY,
        "--steps",
        "1",
    )
    before = load_file(str(trained_run / "checkpoints" / "last.safetensors"))
    after = load_file(str(Path(stdout.strip()) / "checkpoints" / "last.safetensors"))
    g_keys = [k for k in after if k.startswith("G.")]
    assert g_keys and any(k.startswith("D.") for k in after)
    for key in g_keys:
        assert torch.equal(after[key], before["ema." + key]), key


def test_no_data_trains_on_scikit_image_samples(tmp_path, monkeypatch):
    monkeypatch.setenv("IMGEN_CACHE", str(tmp_path / "cache"))
    result = CliRunner().invoke(
        cli, ["train", "sr", "--out", str(tmp_path), "--gan-weight", "0", *TINY, "--steps", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "scikit-image's sample photos" in result.stderr
    assert len(list((tmp_path / "cache" / "skimage-samples").glob("*.png"))) >= 10


def test_python_dash_m_imgen():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "imgen", "--version"], capture_output=True, text=True, check=True
    )
    assert "imgen, version" in result.stdout


# -- issue 15: degradations and paired data --------------------------------------------------
REAL = [
    "--num-feat",
    "4",
    "--num-block",
    "1",
    "--gan-weight",
    "0",
    "--crop",
    "32",
    "--batch-size",
    "2",
    "--scale",
    "2",
    "--lr-schedule",
    "constant",
    "--deterministic",
    "--sample-every",
    "0",
    "--workers",
    "0",
    "--log-every",
    "1",
]


def run_weights(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run / "checkpoints" / "last.safetensors"))


def test_realesrgan_resume_is_bitwise_exact(photo_folder, tmp_path):
    common = ["train", "sr", "--data", str(photo_folder), *REAL, "--degradation", "realesrgan"]
    common += ["--usm-gt", "--save-every", "2"]
    straight = Path(invoke(*common, "--out", str(tmp_path / "a"), "--steps", "4").strip())
    half = Path(invoke(*common, "--out", str(tmp_path / "b"), "--steps", "2").strip())
    invoke("train", "sr", "--resume", str(half), "--steps", "4")
    a, b = run_weights(straight), run_weights(half)
    assert a.keys() == b.keys() and any(k.startswith("ema.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    config = json.loads((half / "config.json").read_text())["config"]
    assert config["degradation"] == "realesrgan" and config["usm_gt"] is True
    assert config["degradation_options"]["jpeg_range"] == [30.0, 95.0]  # stored resolved


def test_degradation_file_is_stored_resolved_and_not_read_again(photo_folder, tmp_path):
    toml = tmp_path / "deg.toml"
    toml.write_text("[degradation]\njpeg_range = [60, 95]\nskip_stage2_prob = 1.0\n")
    common = ["train", "sr", "--data", str(photo_folder), *REAL, "--out", str(tmp_path)]
    run = Path(invoke(*common, "--degradation", str(toml), "--steps", "1").strip())
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["degradation"] == "realesrgan"
    params = config["degradation_options"]
    assert params["jpeg_range"] == [60.0, 95.0] and params["skip_stage2_prob"] == 1.0
    assert params["noise_range"] == [1.0, 30.0] and len(params) == 33  # every parameter
    toml.unlink()
    invoke("train", "sr", "--resume", str(run), "--steps", "2")
    assert load_checkpoint(run)[1]["step"] == 2


def sr_task(**options):
    from imgen.plugins import create_task

    task = create_task("sr")
    cfg = task.Config(**{"scale": 2, "crop": 32, "gan_weight": 0.0, **options})
    task.setup(cfg, torch.device("cpu"), train=True)
    return task, cfg


def test_bicubic_is_unchanged_matlab_imresize(photo_folder):
    from imgen.data.resize import imresize

    task, cfg = sr_task(data=str(photo_folder))
    assert cfg.degradation == "bicubic" and cfg.degradation_options is None
    item = task.dataset(cfg, cfg.data, "train")[(0, 7)]
    assert set(item) == {"image", "index"}  # nothing more drawn from the sample's generator
    batch = {"image": item["image"][None], "index": torch.tensor([0])}
    out = task.prepare(batch)
    assert set(out) == {"lr", "hr"}
    assert torch.equal(out["lr"], imresize(item["image"][None], 0.5).float() / 255)


def test_usm_gt_sharpens_the_target_but_not_the_discriminators_real_images(photo_folder):
    task, cfg = sr_task(data=str(photo_folder), degradation="realesrgan", usm_gt=True)
    ds = task.dataset(cfg, cfg.data, "train")
    from torch.utils.data import default_collate

    batch = default_collate([ds[(0, 1)], ds[(1, 2)]])
    out = task.prepare(batch)
    assert out["lr"].shape == (2, 3, 16, 16) and out["hr"].shape == (2, 3, 32, 32)
    assert not torch.equal(out["hr"], out["hr_real"])
    assert torch.equal(out["hr_real"], batch["image"].float() / 255)
    assert task.real_images(out) is out["hr_real"]


@pytest.fixture
def lr_folder(photo_folder, tmp_path) -> Path:
    """x2 LR images of the photos (2x2 means), in a subfolder layout, as JPEG-named PNGs."""
    folder = tmp_path / "lr"
    folder.mkdir()
    for path in photo_folder.glob("*.png"):
        hr = torch.from_numpy(np.array(Image.open(path))).permute(2, 0, 1).float()[None]
        lr = torch.nn.functional.avg_pool2d(hr, 2).round().byte()[0].permute(1, 2, 0).numpy()
        Image.fromarray(lr).save(folder / f"{path.stem}.webp", lossless=True)
    return folder


def test_paired_data_crops_are_aligned_at_the_scale(photo_folder, lr_folder):
    from imgen_sr.data import PairedSRDataset

    ds = PairedSRDataset(photo_folder, lr_folder, 32, 2)
    for seed in range(6):  # random corners, flips and rotations, the same for both
        item = ds[(seed % len(ds), seed)]
        assert item["image"].shape == (3, 32, 32) and item["lr"].shape == (3, 16, 16)
        means = torch.nn.functional.avg_pool2d(item["image"].float()[None], 2)[0]
        assert (means - item["lr"].float()).abs().max() <= 0.5
    first = ds[(0, 3)]
    assert all(torch.equal(first[k], ds[(0, 3)][k]) for k in ("image", "lr"))


def test_paired_data_trains(photo_folder, lr_folder, tmp_path):
    run = invoke(
        "train", "sr", "--data", str(photo_folder), "--data-lr", str(lr_folder), *REAL,
        "--steps", "1", "--out", str(tmp_path),
    )  # fmt: skip
    config = json.loads((Path(run.strip()) / "config.json").read_text())["config"]
    assert config["data_lr"] == str(lr_folder)


def test_paired_data_names_a_missing_or_mis_sized_partner(photo_folder, lr_folder, tmp_path):
    args = ["train", "sr", "--data", str(photo_folder), "--data-lr", str(lr_folder), *REAL]
    args += ["--steps", "1", "--out", str(tmp_path / "runs")]
    (lr_folder / "rocket.webp").unlink()
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "has no LR image for rocket.png" in result.output
    Image.new("RGB", (30, 32)).save(lr_folder / "rocket.png")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "rocket.png is 30x32 (width x height), but its HR image" in result.output
    assert "needs 32x32" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()  # nothing written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--degradation", "realesrgn"], "did you mean 'realesrgan'"),
        (["--degradation", "missing.toml"], "degradation file missing.toml does not exist"),
        (
            ["--degradation", "realesrgan", "--degradation-options", '{"sinc_prob": 2}'],
            "'sinc_prob' must be in [0, 1], got 2",
        ),
        (
            ["--degradation", "realesrgan", "--degradation-options", '{"jpeg": [1, 2]}'],
            "unknown degradation parameter 'jpeg'; did you mean jpeg_range",
        ),
        (["--data-lr", "x", "--degradation", "realesrgan"], "pass one of the two"),
        (
            ["--perceptual-layers", '{"conv5_5": 1}'],
            "'conv5_5' is not a VGG19 layer; did you mean 'conv5_4'?",
        ),
        (["--perceptual-layers", '{"conv1_2": -1}'], "the weight of conv1_2 must be a number"),
    ],
)
def test_bad_degradation_and_perceptual_options_are_usage_errors(
    photo_folder, tmp_path, args, message
):
    result = CliRunner().invoke(
        cli, ["train", "sr", "--data", str(photo_folder), "--out", str(tmp_path), *TINY, *args]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_data_lr_needs_data(tmp_path):
    result = CliRunner().invoke(cli, ["train", "sr", "--data-lr", str(tmp_path), *TINY])
    assert result.exit_code == 2 and "--data-lr LR_DIR goes with --data HR_DIR" in result.output


def test_perceptual_layers_reach_the_loss(tmp_path):
    # a VGG19 file with just the layers up to conv2_2 (random weights, torchvision's names)
    shapes = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128)}
    state = {}
    for index, (cout, cin) in shapes.items():
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3) * 0.05
        state[f"features.{index}.bias"] = torch.zeros(cout)
    torch.save(state, tmp_path / "vgg.pth")
    layers = {"conv1_2": 0.1, "conv2_2": 0.1}
    task, _ = sr_task(
        gan_weight=0.1, perceptual_layers=layers, vgg_weights=str(tmp_path / "vgg.pth")
    )
    assert task.perceptual.layer_weights == layers and len(task.perceptual.vgg) == 8


def test_degradation_options_round_trip_through_cli_toml_and_config_json(tmp_path):
    # (imgen.testing.check_config cannot check dict options yet: see generator_options)
    import click

    from imgen.config import click_options, from_dict, load_toml, to_dict
    from imgen.plugins import create_task

    cls = create_task("sr").Config
    cfg = cls(degradation="realesrgan", degradation_options={"jpeg_range": [60, 95]})
    assert cfg.degradation_options["jpeg_range"] == [60.0, 95.0]
    assert len(cfg.degradation_options) == 33
    command = click.Command("train", params=click_options(cls))
    full = json.dumps(cfg.degradation_options)
    args = ["--degradation-options", full, "--degradation", "realesrgan"]
    ctx = command.make_context("train", args)
    assert cls(**ctx.params) == cfg
    toml = tmp_path / "run.toml"
    toml.write_text('degradation = "realesrgan"\n[degradation_options]\njpeg_range = [60, 95]\n')
    assert cls(**load_toml(toml, cls)) == cfg
    assert from_dict(cls, json.loads(json.dumps(to_dict(cfg)))) == cfg
