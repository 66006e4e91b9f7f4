"""The style task (CycleGAN) end to end: two domains, both directions, pools, exact resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import load_file

from imgen.cli import cli
from imgen.engine.checkpoint import load_checkpoint
from imgen.engine.trainer import Trainer
from imgen.plugins import create_task

TINY = [
    "--steps",
    "2",
    "--crop",
    "32",
    "--blocks",
    "1",
    "--ngf",
    "8",
    "--ndf",
    "8",
    "--pool-size",
    "2",
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
def domains(photo_folder, tmp_path_factory) -> Path:
    """Domain A: photos; domain B: their negatives, with a different count and size."""
    root = tmp_path_factory.mktemp("domains")
    photos = sorted(photo_folder.iterdir())
    for split in ("train", "test"):
        (root / f"{split}A").mkdir()
        (root / f"{split}B").mkdir()
        for path in photos:
            photo = np.asarray(Image.open(path).convert("RGB"))
            Image.fromarray(photo).save(root / f"{split}A" / path.name)
        for path in photos[:3]:  # fewer, larger B images, paired by name with A's
            negative = 255 - np.asarray(Image.open(path).convert("RGB"))
            Image.fromarray(negative).resize((48, 40)).save(root / f"{split}B" / path.name)
    return root


@pytest.fixture(scope="module")
def style_run(domains, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    return Path(invoke("train", "style", "--data", str(domains), "--out", str(out), *TINY).strip())


def test_run_has_two_generators_two_discriminators(style_run):
    nets = json.loads((style_run / "config.json").read_text())["nets"]
    assert {k: v["class"] for k, v in nets.items()} == {
        "G_AB": "ResnetGenerator",
        "G_BA": "ResnetGenerator",
        "D_A": "PatchGAN",
        "D_B": "PatchGAN",
    }
    events = [json.loads(x) for x in (style_run / "metrics.jsonl").read_text().splitlines()]
    train = next(e for e in events if e["event"] == "train")
    assert {"gan_AB", "gan_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "d_A", "d_B"} <= set(train)
    grid = Image.open(style_run / "samples" / "step_000002.png")
    assert grid.width > 6 * 32  # real_A | fake_B | rec_A | real_B | fake_A | rec_B


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_predict_both_directions_any_size(style_run, tmp_path, direction):
    image = np.random.default_rng(1).integers(0, 256, (37, 45, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "x.png")
    invoke(
        "predict",
        "--run",
        str(style_run),
        "--direction",
        direction,
        str(tmp_path / "x.png"),
        "-o",
        str(tmp_path / direction),
    )
    assert Image.open(tmp_path / direction / "x.png").size == (45, 37)


def test_directions_use_different_generators(style_run):
    from imgen.engine.device import resolve_device
    from imgen.engine.loading import load_run

    task, _, nets = load_run(style_run, resolve_device("cpu"))
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        a = task.predict(nets, x, direction="AtoB")
        b = task.predict(nets, x, direction="BtoA")
    assert a.shape == b.shape == x.shape
    assert not torch.equal(a, b)


def test_eval_reports_cycle_paired_and_realism(style_run, domains):
    result = json.loads(
        invoke("eval", "style", "--run", str(style_run), "--data", str(domains), "--json")
    )
    metrics = result["metrics"]
    assert result["pairs"] == 3  # the B names that also exist in A
    for key in ("cycle_l1_A", "cycle_l1_B", "l1_AtoB", "l1_BtoA"):
        assert 0 <= metrics[key] <= 1
    assert 0 <= metrics["realism_A"] <= 1 and 0 <= metrics["realism_B"] <= 1
    assert metrics["realism_real_accuracy"] >= 0.9  # photos vs negatives: easy to tell apart
    rows = result["per_image"]  # one row per test image, the paired metrics on A's rows
    a_rows = [row for key, row in rows.items() if key.startswith("testA/")]
    assert a_rows and all("cycle_l1_A" in row for row in a_rows)
    assert sum("l1_AtoB" in row for row in a_rows) == 3
    assert any(key.startswith("testB/") and "cycle_l1_B" in row for key, row in rows.items())


def test_identity_loss_needs_matching_channels_and_is_weighted(domains, tmp_path):
    """identity = cycle_weight * identity_weight * (|G_BA(A) - A| + |G_AB(B) - B|)."""
    task = create_task("style")
    cfg = task.Config(
        data=str(domains),
        out=str(tmp_path),
        crop=32,
        blocks=1,
        ngf=8,
        ndf=8,
        cycle_weight=10.0,
        identity_weight=0.5,
    )
    task.setup(cfg, torch.device("cpu"), train=True)
    nets = task.build(cfg)
    batch = {"A": torch.rand(2, 3, 32, 32), "B": torch.rand(2, 3, 32, 32)}
    out = task.forward(nets, batch)
    with_idt, logs = task.g_loss(nets, batch, out)
    task.cfg = dataclasses.replace(cfg, identity_weight=0.0)
    without, _ = task.g_loss(nets, batch, out)
    expected = 10.0 * 0.5 * (logs["idt_A"] + logs["idt_B"])
    assert torch.allclose(with_idt - without, expected, atol=1e-5)
    assert out["fake_B"].shape == out["rec_A"].shape == batch["A"].shape


def test_resume_restores_four_networks_optimizers_and_pools(domains, tmp_path):
    def config(out: Path, **changes):
        task = create_task("style")
        cfg = task.Config(
            data=str(domains),
            out=str(out),
            name="run",
            steps=4,
            crop=32,
            blocks=1,
            ngf=8,
            ndf=8,
            pool_size=2,
            workers=0,
            sample_every=0,
            save_every=0,
            deterministic=True,
            **changes,
        )
        return task, cfg

    straight = Trainer(*config(tmp_path / "a"), quiet=True).fit()

    def stop_at_2(trainer: Trainer) -> None:
        if trainer.step == 2:
            raise KeyboardInterrupt

    task, cfg = config(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        Trainer(task, cfg, callbacks=[stop_at_2], quiet=True).fit()
    _, state = load_checkpoint(tmp_path / "b" / "run")
    assert set(state["optimizers"]) == {"G", "D"}
    assert len(state["optimizers"]["G"]["state"]) > 0 and state["task"]["A"]
    resumed = Trainer(*config(tmp_path / "c", resume=str(tmp_path / "b" / "run")), quiet=True).fit()
    a = load_file(str(straight / "checkpoints" / "last.safetensors"))
    b = load_file(str(resumed / "checkpoints" / "last.safetensors"))
    assert {k.split(".")[0] for k in a} >= {"G_AB", "G_BA", "D_A", "D_B", "ema"}
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_data_a_and_data_b_instead_of_data(domains, tmp_path):
    run = Path(
        invoke(
            "train",
            "style",
            "--data-a",
            str(domains / "trainA"),
            "--data-b",
            str(domains / "trainB"),
            "--out",
            str(tmp_path),
            *TINY,
            "--steps",
            "1",
        ).strip()
    )
    assert (run / "checkpoints" / "last.safetensors").exists()


def test_missing_domains_is_a_sentence(photo_folder, tmp_path):
    result = CliRunner().invoke(
        cli, ["train", "style", "--data", str(photo_folder), "--out", str(tmp_path), *TINY]
    )
    assert result.exit_code != 0 and "--data-a" in result.output
    assert "Traceback" not in result.output
