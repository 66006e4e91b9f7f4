"""sr's two-phase ESRGAN recipe (pixel loss, then the GAN) and re-planned schedules."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from imgen.cli import cli
from imgen.config import from_dict
from imgen.engine.schedule import lr_factor, phase_factors
from imgen.engine.trainer import Trainer
from imgen.errors import UsageError
from imgen.plugins import create_task
from tests.test_engine import tiny_sr_config

# Engine tests' tiny sr run, with a pixel-loss phase of 3 of its 6 steps, every step logged
# and saved.
PHASED = {"pretrain_steps": 3, "log_every": 1, "save_every": 1, "keep": 10}


def tiny(data: Path, out: Path, **changes):
    return tiny_sr_config(data, out, **{**PHASED, **changes})


def events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def checkpoint(run: Path, step: int | None = None) -> dict[str, torch.Tensor]:
    """The weights of the run's newest checkpoint, or of step ``step``'s."""
    if step is None:
        return load_file(str(run / "checkpoints" / "last.safetensors"))
    return load_file(str(run / "checkpoints" / f"step_{step:08d}" / "weights.safetensors"))


# -- defaults ----------------------------------------------------------------------------------
def test_default_pretrain_share_follows_esrgan():
    cfg = create_task("sr").Config(steps=1400)
    assert cfg.resolved_pretrain_steps() == 1000  # 1,000k PSNR + 400k GAN iterations
    assert cfg.resolved_gan_lr() == pytest.approx(cfg.lr / 2)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"gan_weight": 0.0}, 0),  # a PSNR model: no GAN phase at all
        ({"init": "runs/psnr"}, 0),  # the generator comes trained
        ({"pretrain_steps": 0}, 0),  # the GAN from step 0, as before the recipe
        ({"pretrain_steps": 40}, 40),
    ],
)
def test_pretrain_steps_default(changes, expected):
    cfg = create_task("sr").Config(steps=100, **changes)
    assert cfg.resolved_pretrain_steps() == expected
    lr = cfg.resolved_gan_lr()
    assert lr == (cfg.lr / 2 if expected else cfg.lr)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"pretrain_steps": 5, "gan_weight": 0.0}, "no effect with --gan-weight 0"),
        ({"pretrain_steps": 200}, "is more than --steps 100"),
        ({"pretrain_steps": -1}, "--pretrain-steps"),
        ({"gan_lr": 1e-4, "gan_weight": 0.0}, "--gan-lr 0.0001 has no effect"),
        ({"gan_lr": float("nan")}, "--gan-lr"),
    ],
)
def test_bad_phase_options_are_sentences(changes, words):
    with pytest.raises(UsageError, match=words.replace("-", r"\-").replace(".", r"\.")):
        create_task("sr").Config(steps=100, **changes)


def test_runs_from_before_the_option_keep_the_gan_from_step_0():
    task = create_task("sr")
    cfg = from_dict(task.Config, {"steps": 100, "gan_weight": 0.01}, source="config.json")
    assert cfg.pretrain_steps == 0 and cfg.resolved_pretrain_steps() == 0


def test_phase_factors():
    g, d = phase_factors("cosine", 10, pretrain=4, warmup=2, gan_ratio=0.5)
    first = lr_factor("cosine", 4, 2)
    second = lr_factor("cosine", 6)
    assert [g(s) for s in range(4)] == [first(s) for s in range(4)]
    assert [g(s) for s in range(4, 10)] == [0.5 * second(s) for s in range(6)]
    assert [d(s) for s in range(6)] == [second(s) for s in range(6)]
    # No pixel-loss phase: today's rule for both (times the GAN LR's ratio for G).
    g, d = phase_factors("linear", 10, start=5)
    assert g is d and g(7) == lr_factor("linear", 10, start=5)(7)


# -- one run, two phases -----------------------------------------------------------------------
def test_two_phases_in_one_run(photo_folder, tmp_path, capsys):
    task, cfg = tiny(photo_folder, tmp_path)
    trainer = Trainer(task, cfg, quiet=True)
    assert "D" not in trainer.nets and trainer.phase == "pretrain"
    run = trainer.fit()
    said = capsys.readouterr().err
    assert "two phases: steps 1-3 train the pixel loss alone" in said
    assert "step 3: the pixel-loss phase is done; the GAN phase begins" in said
    records = events(run)
    train = [e for e in records if e["event"] == "train"]
    assert [e["phase"] for e in train] == ["pretrain"] * 3 + ["gan"] * 3
    assert all("gan" not in e for e in train[:3]) and all("gan" in e for e in train[3:])
    switch = [e for e in records if e["event"] == "phase"]
    assert switch == [dict(switch[0], step=3, phase="gan")]
    # Each phase its own schedule: G's LR starts again at --gan-lr (half of --lr).
    assert train[0]["lr"] == pytest.approx(cfg.lr)
    assert train[3]["lr"] == pytest.approx(cfg.lr / 2)
    # The discriminator exists from the switch on: not in step 3's checkpoint, in step 4's.
    assert not any(k.startswith("D.") for k in checkpoint(run, 3))
    assert any(k.startswith("D.") for k in checkpoint(run, 4))
    config = json.loads((run / "config.json").read_text())
    assert "D" in config["nets"] and config["config"]["pretrain_steps"] == 3


def test_the_gan_phase_starts_from_the_ema_weights(photo_folder, tmp_path):
    task, cfg = tiny(photo_folder, tmp_path, steps=3, pretrain_steps=2, ema=0.9)
    trainer = Trainer(task, cfg, quiet=True)
    seen = {}

    def at_switch(t: Trainer) -> None:
        if t.step == 2:
            seen["ema"] = {k: v.clone() for k, v in t.ema.nets["G"].state_dict().items()}

    trainer.callbacks.append(at_switch)
    original = trainer._enter_gan_phase

    def enter(**kwargs):
        original(**kwargs)
        seen["G"] = {k: v.clone() for k, v in trainer.nets["G"].state_dict().items()}
        seen["moments"] = len(trainer.optimizers["G"].state)

    trainer._enter_gan_phase = enter
    trainer.fit()
    assert seen["G"].keys() == seen["ema"].keys()
    assert all(torch.equal(seen["G"][k], seen["ema"][k]) for k in seen["G"])
    assert seen["moments"] == 0  # fresh Adam moments, as a second ESRGAN run has


def test_pretrain_steps_0_is_the_gan_from_step_0(photo_folder, tmp_path):
    task, cfg = tiny(photo_folder, tmp_path, steps=2, pretrain_steps=0)
    trainer = Trainer(task, cfg, quiet=True)
    assert "D" in trainer.nets and trainer.phase is None
    run = trainer.fit()
    train = [e for e in events(run) if e["event"] == "train"]
    assert all("phase" not in e and "gan" in e for e in train)


class Kill:
    """Stops the run after a step, as a SIGKILL after that step's checkpoint would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def __call__(self, trainer: Trainer) -> None:
        if trainer.step == self.step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("stop", [2, 3, 4], ids=["pixel-phase", "at-the-switch", "gan-phase"])
def test_resume_in_either_phase_is_bitwise(photo_folder, tmp_path, stop):
    task, cfg = tiny(photo_folder, tmp_path / "a")
    straight = Trainer(task, cfg, quiet=True).fit()

    task, cfg = tiny(photo_folder, tmp_path / "b")
    trainer = Trainer(task, cfg, quiet=True, callbacks=[Kill(stop)])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    run = tmp_path / "b" / "run"
    task, cfg = tiny(photo_folder, tmp_path / "b", resume=str(run))
    resumed = Trainer(task, cfg, quiet=True)
    assert resumed.step == stop and resumed.phase == ("gan" if stop > 3 else "pretrain")
    resumed.fit()

    a, b = load_file(str(straight / "checkpoints/last.safetensors")), checkpoint(run)
    assert a.keys() == b.keys() and any(k.startswith("D.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    kept = [e for e in events(run) if e["event"] == "train"]
    assert [e["phase"] for e in kept][-3:] == ["gan"] * 3


def test_report_names_the_phases(photo_folder, tmp_path):
    task, cfg = tiny(photo_folder, tmp_path, steps=2, pretrain_steps=1, save_every=0)
    run = Trainer(task, cfg, quiet=True).fit()
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "pixel loss 1-1, GAN 2-2" in page


# -- --resume RUN --steps N --------------------------------------------------------------------
def test_resume_with_more_steps_replans_the_schedule_and_says_so(photo_folder, tmp_path, capsys):
    task, cfg = tiny(photo_folder, tmp_path, steps=4, pretrain_steps=0, gan_weight=0.0)
    run = Trainer(task, cfg, quiet=True).fit()
    capsys.readouterr()
    task, cfg = tiny(photo_folder, tmp_path, steps=8, pretrain_steps=0, gan_weight=0.0)
    cfg = dataclasses.replace(cfg, resume=str(run))
    Trainer(task, cfg, quiet=True).fit()
    said = capsys.readouterr().err
    fresh = lr_factor("cosine", 8)
    assert "--steps 8 extends the run planned for 4 steps" in said
    assert f"goes from 0 to {cfg.lr * fresh(4):.3g}" in said
    records = events(run)
    note = next(e for e in records if e["event"] == "schedule_replanned")
    assert (note["planned_steps"], note["steps"], note["lr_before"]) == (4, 8, 0.0)
    # The steps after the resume follow the plan of a run started with --steps 8.
    train = [e for e in records if e["event"] == "train" and e["step"] > 4]
    assert [e["lr"] for e in train] == pytest.approx([cfg.lr * fresh(s) for s in range(4, 8)])


def test_resume_with_more_steps_keeps_the_phase_boundary(photo_folder, tmp_path):
    task, cfg = tiny(photo_folder, tmp_path, steps=4, pretrain_steps=None, save_every=0)
    run = Trainer(task, cfg, quiet=True).fit()
    stored = json.loads((run / "config.json").read_text())["config"]
    assert stored["pretrain_steps"] == 3  # round(4 * 5 / 7), stored worked out
    task, cfg = tiny(photo_folder, tmp_path, steps=8, pretrain_steps=3, resume=str(run))
    trainer = Trainer(task, cfg, quiet=True)
    assert trainer.phase == "gan" and trainer.pretrain_steps == 3
