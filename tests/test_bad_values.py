"""Option values out of range (issue 12): each is a one-sentence usage error (exit status 2),
raised by the config dataclass that declares the option, before a run directory exists."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from imgen.cli import cli
from imgen.config import TrainConfig, from_dict
from imgen.errors import UsageError
from imgen.testing import tiny_image_folder

pytestmark = pytest.mark.usefixtures("clean_plugin_env")


def run_cli(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_usage_error(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.output  # one sentence, on one line
    assert message in errors[0], result.output


# -- imgen train: the options every task shares, and the GAN options -----------------------------
TRAIN_CASES = [
    (["--steps", "0"], "--steps must be at least 1, got 0"),
    (["--steps", "-1"], "--steps must be at least 1, got -1"),
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--crop", "0"], "--crop must be at least 1, got 0"),
    (["--crop", "-8"], "--crop must be at least 1, got -8"),
    (["--lr", "-1"], "--lr must be a finite number of at least 0, got -1.0"),
    (["--lr", "nan"], "--lr must be a finite number of at least 0, got nan"),
    (["--lr", "inf"], "--lr must be a finite number of at least 0, got inf"),
    (["--d-lr", "-0.1"], "--d-lr must be a finite number of at least 0"),
    (["--beta1", "1"], "--beta1 must be a finite number of at least 0 and less than 1"),
    (["--beta2", "-0.5"], "--beta2 must be a finite number of at least 0 and less than 1"),
    (["--weight-decay", "-1"], "--weight-decay must be a finite number of at least 0"),
    (["--warmup", "-1"], "--warmup must be at least 0, got -1"),
    (["--grad-accum", "0"], "--grad-accum must be at least 1, got 0"),
    (["--batch-size", "4", "--grad-accum", "3"], "--batch-size 4 is not divisible by"),
    (["--ema", "1"], "--ema must be a finite number of at least 0 and less than 1, got 1.0"),
    (["--ema", "-0.5"], "--ema must be a finite number of at least 0 and less than 1"),
    (["--seed", "-1"], "--seed must be at least 0, got -1"),
    (["--workers", "-2"], "--workers must be at least -1, got -2"),
    (["--log-every", "0"], "--log-every must be at least 1, got 0"),
    (["--sample-every", "-1"], "--sample-every must be at least 0, got -1"),
    (["--save-every", "-1"], "--save-every must be at least 0, got -1"),
    (["--eval-every", "-5"], "--eval-every must be at least 0, got -5"),
    (["--keep", "0"], "--keep must be at least 1, got 0"),
    (["--skip-nonfinite", "-1"], "--skip-nonfinite must be at least 0, got -1"),
    (["--time-limit", "-1"], "--time-limit must be a finite number of at least 0, got -1.0"),
    (["--time-limit", "nan"], "--time-limit must be a finite number of at least 0, got nan"),
    (["--n-critic", "0"], "--n-critic must be at least 1, got 0"),
    (["--gp-weight", "nan"], "--gp-weight must be a finite number of at least 0, got nan"),
    (["--r1-weight", "-1"], "--r1-weight must be a finite number of at least 0"),
    (["--pixel-weight", "-1"], "--pixel-weight must be a finite number of at least 0"),
    (["--gan-weight", "inf"], "--gan-weight must be a finite number of at least 0, got inf"),
]

SR_CASES = [
    (["--scale", "9"], "--scale 9 is not supported; use 1 to 8"),
    (["--scale", "5"], "--generator srresnet: MSRResNet supports upscale 2, 3 or 4, got 5"),
    (["--generator-options", "[1]"], "is not a JSON object"),
    (["--generator-options", "{x"], "is not valid JSON"),
    (["--scale", "3", "--crop", "128"], "--crop 128 is not a multiple of --scale 3"),
    (["--scale", "4", "--crop", "30"], "--crop 30 is not a multiple of --scale 4; pass --crop 28"),
    (["--num-feat", "0"], "--num-feat must be at least 1, got 0"),
    (["--num-block", "0"], "--num-block must be at least 1, got 0"),
    (["--perceptual-weight", "-1"], "--perceptual-weight must be a finite number of at least 0"),
    (["--scale", "2", "--crop", "16"], "--crop 16 is too small for --discriminator vgg"),
    (
        ["--discriminator", "unet", "--scale", "2", "--crop", "36"],
        "--crop 36 does not fit --discriminator unet (needs a multiple of 8); pass --crop 32",
    ),
    (
        ["--generator", "rrdbnet", "--scale", "2", "--crop", "34", "--gan-weight", "0"],
        "--crop 34 does not fit --generator rrdbnet at --scale 2",
    ),
]


@pytest.mark.parametrize(("args", "message"), TRAIN_CASES + SR_CASES, ids=lambda v: " ".join(v))
def test_train_sr_bad_value_is_a_usage_error_before_any_run(photo_folder, tmp_path, args, message):
    out = tmp_path / "runs"
    result = run_cli("train", "sr", "--data", photo_folder, "--out", out, *args)
    assert_usage_error(result, message)
    assert not out.exists()  # nothing written: no run directory, not even --out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--crop", "64"],
            "--crop 64 is too small for the U-Net of --depth 8 (needs a multiple of 256); "
            "pass --depth 6 or a larger --crop",
        ),
        (
            ["--crop", "320"],
            "--crop 320 does not fit the U-Net of --depth 8 (needs a multiple of 256); "
            "pass --depth 6 or a --crop that is a multiple of 256",
        ),
        (["--crop", "100", "--depth", "5"], "needs a multiple of 32); pass a --crop that is"),
        (["--crop", "16", "--depth", "5"], "needs a multiple of 32); pass a larger --crop"),
        (["--depth", "4"], "--depth must be at least 5, got 4"),
        (["--blocks", "0"], "--blocks must be at least 1, got 0"),
        (["--ngf", "0"], "--ngf must be at least 1, got 0"),
        (["--d-layers", "0"], "--d-layers must be at least 1, got 0"),
        (["--steps", "0"], "--steps must be at least 1, got 0"),
    ],
    ids=lambda v: " ".join(v),
)
def test_train_translate_bad_value_is_a_usage_error(tmp_path, args, message):
    out = tmp_path / "runs"
    data = tmp_path / "photos"
    data.mkdir()
    args = ["--data", data, "--condition", "gray", "--out", out, *args]
    result = run_cli("train", "translate", *args)
    assert_usage_error(result, message)
    assert not out.exists()


def test_bad_value_in_a_config_file_is_a_usage_error(photo_folder, tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text("steps = 0\n[train]\nlr = -1.0\n")
    out = tmp_path / "runs"
    result = run_cli("train", "sr", "--data", photo_folder, "--config", toml, "--out", out)
    assert_usage_error(result, "--steps must be at least 1, got 0")
    assert not out.exists()


def test_the_config_checks_python_callers_too():
    with pytest.raises(UsageError, match="--lr must be a finite number of at least 0, got nan"):
        TrainConfig(lr=float("nan"))
    with pytest.raises(UsageError, match="--steps must be at least 1"):
        from_dict(TrainConfig, {"steps": 0})
    TrainConfig(d_lr=None, time_limit=0.0, ema=0.0, sample_every=0)  # the "off" values are fine


# -- sr: the default crop follows --scale; eval has no crop to check ------------------------------
@pytest.mark.parametrize(("scale", "crop"), [(2, 128), (3, 120), (4, 128)])
def test_sr_default_crop_is_a_multiple_of_the_scale(scale, crop):
    from imgen_sr.task import SRConfig

    assert SRConfig(scale=scale).crop == crop
    assert SRConfig(scale=3, crop=126, gan_weight=0.0).crop == 126  # a given crop is kept


def test_train_sr_scale_3_with_the_default_crop(tmp_path):
    data = tiny_image_folder(tmp_path / "data", count=2, size=(128, 128))
    result = run_cli(
        "train", "sr", "--data", data, "--out", tmp_path / "runs", "--scale", "3",
        "--gan-weight", "0", "--steps", "1", "--batch-size", "1", "--num-feat", "4",
        "--num-block", "1", "--workers", "0", "--sample-every", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_eval_sr_bicubic_scale_3_has_no_crop_check(photo_folder):
    result = run_cli(
        "eval", "sr", "--generator", "bicubic", "--scale", "3", "--data", photo_folder, "--json"
    )
    assert result.exit_code == 0, result.output
    assert "--crop" not in result.output


# -- --tile of imgen eval and imgen predict -------------------------------------------------------
TILE_CASES = [
    (["--tile", "-5"], "--tile must be at least 1 (input pixels per tile) or 0 (never tile)"),
    (["--tile", "16", "--tile-overlap", "-1"], "--tile-overlap must be at least 0, got -1"),
]


@pytest.mark.parametrize(("args", "message"), TILE_CASES, ids=lambda v: " ".join(v))
def test_eval_bad_tile_is_a_usage_error(photo_folder, args, message):
    result = run_cli(
        "eval", "sr", "--generator", "bicubic", "--scale", "2", "--data", photo_folder, *args
    )
    assert_usage_error(result, message)


@pytest.fixture(scope="module")
def sr_run(tmp_path_factory) -> Path:
    data = tiny_image_folder(tmp_path_factory.mktemp("data"), count=2, size=(32, 32))
    out = tmp_path_factory.mktemp("runs")
    result = CliRunner().invoke(
        cli,
        [
            "train", "sr", "--data", str(data), "--out", str(out), "--scale", "2",
            "--gan-weight", "0", "--steps", "1", "--batch-size", "1", "--crop", "16",
            "--num-feat", "4", "--num-block", "1", "--workers", "0", "--sample-every", "0",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("args", "message"), TILE_CASES, ids=lambda v: " ".join(v))
def test_predict_bad_tile_is_a_usage_error_before_any_output(sr_run, tmp_path, args, message):
    image = tiny_image_folder(tmp_path / "in", count=1, size=(16, 16))
    out = tmp_path / "out"
    result = run_cli("predict", "--run", sr_run, image, "-o", out, *args)
    assert_usage_error(result, message)
    assert not out.exists()


def test_predict_tiles_by_itself_when_the_whole_image_would_not_fit(sr_run, tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    import imgen.engine.device

    image = tiny_image_folder(tmp_path / "in", count=1, size=(300, 300))
    whole = run_cli("predict", "--run", sr_run, image, "-o", tmp_path / "whole", "--tile", "0")
    assert whole.exit_code == 0, whole.output
    assert "predicting in tiles" not in whole.stderr
    # 20 MB available: the whole image's activations (~17 MB estimated) exceed half of it.
    monkeypatch.setattr(imgen.engine.device, "available_memory", lambda device=None: 20 * 2**20)
    tiled = run_cli("predict", "--run", sr_run, image, "-o", tmp_path / "tiled")
    assert tiled.exit_code == 0, tiled.output
    assert "300x300 would need about" in tiled.stderr
    assert "predicting in tiles of " in tiled.stderr
    a, b = (np.asarray(Image.open(tmp_path / d / "image_000.png")) for d in ("whole", "tiled"))
    assert a.shape == b.shape == (600, 600, 3)
    assert np.abs(a.astype(int) - b).max() <= 1  # tiles with 32 px of context: seamless


# -- a training batch the memory cannot hold (issue 24, item 5) ---------------------------------
TINY_SR = [
    "--scale", "2", "--crop", "16", "--gan-weight", "0", "--num-feat", "4", "--num-block", "1",
    "--workers", "0", "--sample-every", "0",
]  # fmt: skip


def test_train_batch_the_memory_cannot_hold_is_refused_before_any_run(tmp_path):
    data = tiny_image_folder(tmp_path / "data", count=2, size=(32, 32))
    out = tmp_path / "runs"
    args = ["train", "sr", "--data", data, "--out", out, *TINY_SR, "--steps", "1"]
    # Real memory: 10^9 samples of even this tiny model's activations fit on no machine.
    result = run_cli(*args, "--batch-size", "1000000000")
    assert_usage_error(result, "--batch-size 1000000000 needs at least ")
    assert "GB available; at most " in result.output
    assert not out.exists()


def test_train_batch_memory_counts_the_micro_batch(tmp_path, monkeypatch):
    import imgen.engine.device

    data = tiny_image_folder(tmp_path / "data", count=2, size=(32, 32))
    out = tmp_path / "runs"
    args = ["train", "sr", "--data", data, "--out", out, *TINY_SR, "--steps", "1"]
    # 64 KB free: this model keeps ~18 KB a 16x16 sample, so 8 at once do not fit...
    monkeypatch.setattr(imgen.engine.device, "available_memory", lambda device=None: 2**16)
    result = run_cli(*args, "--batch-size", "8")
    assert_usage_error(result, "--batch-size 8 needs at least ")
    assert not out.exists()
    # ... and in micro-batches of 2 they do: the batch is held a micro-batch at a time.
    result = run_cli(*args, "--batch-size", "8", "--grad-accum", "4")
    assert result.exit_code == 0, result.output
    # One sample that does not fit (a 32x32 crop, ~71 KB, in 40 KB) says what to lower instead.
    monkeypatch.setattr(imgen.engine.device, "available_memory", lambda device=None: 40 * 2**10)
    result = run_cli(*args, "--batch-size", "1", "--crop", "32")
    assert_usage_error(result, "one sample does not fit: lower --crop or the model's size")


@pytest.mark.parametrize(
    "task_args",
    [
        # realesrgan: the heaviest prepare(), degradations on the device
        ["sr", *TINY_SR, "--generator", "rrdbnet", "--degradation", "realesrgan"],
        # dcgan: the generator's input is noise; its networks have batch norm
        ["dcgan", "--image-size", "32", "--workers", "0", "--sample-every", "0"],
        # style: two generators, and task state (the image pools)
        ["style", "--crop", "32", "--blocks", "1", "--ngf", "4", "--ndf", "4", "--pool-size",
         "2", "--workers", "0", "--sample-every", "0"],
        # translate: a U-Net with batch norm, whose running statistics a forward would move
        ["translate", "--condition", "gray", "--crop", "32", "--depth", "5", "--ngf", "8",
         "--ndf", "8", "--workers", "0", "--sample-every", "0"],
    ],
    ids=["sr-realesrgan", "dcgan", "style", "translate"],
)  # fmt: skip
def test_measuring_the_batch_leaves_the_run_as_it_was(tmp_path, monkeypatch, task_args):
    """The measurement runs the generator once: the run's randomness and batch-norm
    statistics are those of a run that was not measured (unknown memory skips it)."""
    from safetensors.torch import load_file

    import imgen.engine.device

    task, *rest = task_args
    data = tmp_path / "data"
    for folder in ["trainA", "trainB"] if task == "style" else [""]:
        tiny_image_folder(data / folder, count=2, size=(64, 64))
    args = ["train", task, "--data", data, *rest, "--steps", "2", "--batch-size", "2"]
    measured = run_cli(*args, "--out", tmp_path / "a")
    assert measured.exit_code == 0, measured.output
    monkeypatch.setattr(imgen.engine.device, "available_memory", lambda device=None: 0)
    unmeasured = run_cli(*args, "--out", tmp_path / "b")
    assert unmeasured.exit_code == 0, unmeasured.output
    a, b = (load_file(next((tmp_path / d).glob("*/checkpoints/last.safetensors"))) for d in "ab")
    assert a.keys() == b.keys() and a
    for key in a:
        assert torch.equal(a[key], b[key]), key
