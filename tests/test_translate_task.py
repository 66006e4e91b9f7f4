"""The translate task end to end: layouts, derived conditions, losses, any-size predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imgen.cli import cli

TINY = [
    "--steps",
    "2",
    "--batch-size",
    "2",
    "--crop",
    "32",
    "--depth",
    "5",
    "--ngf",
    "8",
    "--ndf",
    "8",
    "--workers",
    "0",
    "--log-every",
    "1",
    "--sample-every",
    "2",
    "--save-every",
    "2",
]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def pairs_folder(photo_folder, tmp_path_factory) -> Path:
    """trainA/testA photos and trainB/testB their negatives, paired by file name."""
    root = tmp_path_factory.mktemp("pairs")
    for split in ("train", "test"):
        (root / f"{split}A").mkdir()
        (root / f"{split}B").mkdir()
        for path in sorted(photo_folder.iterdir()):
            photo = np.asarray(Image.open(path).convert("RGB"))
            Image.fromarray(photo).save(root / f"{split}A" / path.name)
            Image.fromarray(255 - photo).save(root / f"{split}B" / path.name)
    return root


@pytest.fixture(scope="module")
def pairs_run(pairs_folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    return Path(
        invoke("train", "translate", "--data", str(pairs_folder), "--out", str(out), *TINY).strip()
    )


def test_paired_training_writes_run_and_samples(pairs_run):
    config = json.loads((pairs_run / "config.json").read_text())
    assert config["task"] == "translate" and config["nets"]["D"]["class"] == "PatchGAN"
    assert (pairs_run / "samples" / "step_000002.png").exists()
    events = [json.loads(x) for x in (pairs_run / "metrics.jsonl").read_text().splitlines()]
    assert {"d_loss", "gan", "pixel"} <= set(next(e for e in events if e["event"] == "train"))


def test_eval_reports_rgb_metrics(pairs_run, pairs_folder):
    result = json.loads(
        invoke("eval", "translate", "--run", str(pairs_run), "--data", str(pairs_folder), "--json")
    )
    assert result["images"] == 4
    assert set(result["metrics"]) >= {"psnr", "ssim", "l1"}
    assert 0 <= result["metrics"]["l1"] <= 1
    assert any("lpips" in n for n in result["notes"]) or "lpips" in result["metrics"]


@pytest.mark.parametrize(("height", "width"), [(45, 37), (32, 32), (70, 20)])
def test_predict_keeps_the_input_size(pairs_run, tmp_path, height, width):
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "in.png")
    invoke("predict", "--run", str(pairs_run), str(tmp_path / "in.png"), "-o", str(tmp_path / "o"))
    assert Image.open(tmp_path / "o" / "in.png").size == (width, height)


@pytest.mark.parametrize("condition", ["edges", "gray", "blur", "mask", "sketch"])
def test_derived_condition_trains_and_predicts_without_pairs(photo_folder, tmp_path, condition):
    run = Path(
        invoke(
            "train",
            "translate",
            "--data",
            str(photo_folder),
            "--out",
            str(tmp_path),
            "--condition",
            condition,
            *TINY,
            "--steps",
            "1",
        ).strip()
    )
    photo = np.asarray(Image.open(sorted(photo_folder.iterdir())[0]))[:41, :29]
    Image.fromarray(photo).save(tmp_path / "photo.png")
    invoke("predict", "--run", str(run), str(tmp_path / "photo.png"), "-o", str(tmp_path / "o"))
    assert Image.open(tmp_path / "o" / "photo.png").size == (29, 41)


def test_wgan_gp_with_several_critic_steps(pairs_folder, tmp_path):
    run = Path(
        invoke(
            "train",
            "translate",
            "--data",
            str(pairs_folder),
            "--out",
            str(tmp_path),
            "--gan-loss",
            "wgan-gp",
            "--n-critic",
            "2",
            *TINY,
        ).strip()
    )
    events = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [e for e in events if e["event"] == "train"]
    assert all(e["gp"] >= 0 for e in train)


def test_resnet_generator_and_pixelgan(pairs_folder, tmp_path):
    run = Path(
        invoke(
            "train",
            "translate",
            "--data",
            str(pairs_folder),
            "--out",
            str(tmp_path),
            "--generator",
            "resnet",
            "--blocks",
            "2",
            "--discriminator",
            "pixelgan",
            "--norm",
            "instance",
            *TINY,
        ).strip()
    )
    nets = json.loads((run / "config.json").read_text())["nets"]
    assert nets["G"]["class"] == "ResnetGenerator" and nets["D"]["class"] == "PixelGAN"


def test_unet_timm_says_it_starts_from_scratch(pairs_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "translate",
            "--data",
            str(pairs_folder),
            "--out",
            str(tmp_path),
            "--generator",
            "unet-timm",
            "--encoder",
            "resnet18",
            *TINY,
            "--steps",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "starting from scratch" in result.stderr


def test_no_pairs_and_no_condition_is_a_sentence(photo_folder, tmp_path):
    result = CliRunner().invoke(
        cli, ["train", "translate", "--data", str(photo_folder), "--out", str(tmp_path), *TINY]
    )
    assert result.exit_code != 0
    assert "--condition" in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())  # no run directory left behind
