"""The engine: exact resume, update order, accumulation, schedules, EMA, atomic checkpoints."""

from __future__ import annotations

import dataclasses
import os
import signal
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from imgen.engine.checkpoint import atomic_write
from imgen.engine.ema import EMA
from imgen.engine.schedule import lr_factor
from imgen.engine.trainer import Trainer
from imgen.plugins import create_task


def tiny_sr_config(data: Path, out: Path, **changes):
    task = create_task("sr")
    cfg = task.Config(
        data=str(data),
        out=str(out),
        name="run",
        steps=6,
        batch_size=2,
        crop=32,
        scale=2,
        num_feat=8,
        num_block=1,
        workers=0,
        log_every=2,
        sample_every=3,
        save_every=3,
        deterministic=True,
        seed=3,
        gan_weight=0.01,
        perceptual_weight=0.0,
    )
    return task, dataclasses.replace(cfg, **changes)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "checkpoints" / "last.safetensors"))


class StopAt:
    """Interrupts training at a step: by raising KeyboardInterrupt from a callback (between
    steps), or by a real SIGINT (Ctrl-C) either between steps or in the middle of one."""

    def __init__(self, step: int, how: str) -> None:
        self.step, self.how = step, how

    def install(self, trainer: Trainer) -> None:
        if self.how == "sigint-mid-step":
            forward = trainer.task.forward

            def forward_then_sigint(nets, batch):
                out = forward(nets, batch)
                if trainer.step == self.step - 1 and nets["G"].training:
                    signal.raise_signal(signal.SIGINT)  # arrives before D and G updates
                return out

            trainer.task.forward = forward_then_sigint
        else:
            trainer.callbacks.append(self)

    def __call__(self, trainer: Trainer) -> None:
        if trainer.step == self.step:
            if self.how == "callback":
                raise KeyboardInterrupt
            signal.raise_signal(signal.SIGINT)


@pytest.mark.parametrize(
    ("how", "schedule"),
    [
        ("callback", "constant"),
        ("callback", "cosine"),
        ("sigint", "cosine"),
        ("sigint-mid-step", "cosine"),
    ],
)
def test_resume_after_interrupt_is_bitwise_identical(photo_folder, tmp_path, how, schedule):
    task, cfg = tiny_sr_config(photo_folder, tmp_path / "a", lr_schedule=schedule)
    straight = Trainer(task, cfg, quiet=True).fit()

    task, cfg = tiny_sr_config(photo_folder, tmp_path / "b", lr_schedule=schedule)
    trainer = Trainer(task, cfg, quiet=True)
    StopAt(4, how).install(trainer)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert trainer.step == 4  # the step in progress was finished, not torn
    run = tmp_path / "b" / "run"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    task, cfg = tiny_sr_config(photo_folder, tmp_path / "c", resume=str(run))
    cfg = dataclasses.replace(cfg, lr_schedule=schedule)
    resumed = Trainer(task, cfg, quiet=True).fit()

    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    assert any(k.startswith("D.") for k in a) and any(k.startswith("ema.G.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_with_more_steps_trains_on(photo_folder, tmp_path):
    task, cfg = tiny_sr_config(photo_folder, tmp_path, steps=2, gan_weight=0.0)
    run = Trainer(task, cfg, quiet=True).fit()
    task, cfg = tiny_sr_config(photo_folder, tmp_path, steps=4, gan_weight=0.0, resume=str(run))
    trainer = Trainer(task, cfg, quiet=True)
    assert trainer.step == 2
    trainer.fit()
    assert trainer.step == 4
    events = [line for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert sum('"event": "start"' in e for e in events) == 2


def test_run_directory_contents(photo_folder, tmp_path):
    task, cfg = tiny_sr_config(photo_folder, tmp_path, gan_weight=0.0)
    run = Trainer(task, cfg, quiet=True).fit()
    assert (run / "config.json").exists()
    assert [p.name for p in (run / "checkpoints").iterdir() if p.is_dir()] == ["step_00000006"]
    assert {p.name for p in (run / "checkpoints" / "step_00000006").iterdir()} == {
        "weights.safetensors",
        "state.safetensors",
    }
    assert (run / "checkpoints" / "last.safetensors").exists()
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step_000003.png",
        "step_000006.png",
    ]
    keys = weights(run).keys()
    assert not any(k.startswith("D.") for k in keys)  # --gan-weight 0: no discriminator
    assert not list(run.glob("checkpoints/*.tmp"))


# -- update order and accumulation, with a task that records what the engine does ----------


class RecordingTask:
    """A minimal task: G and D are 1x1 convolutions; it logs the engine's calls."""

    name = "recording"
    d_first = True

    def __init__(self, d_first: bool = True, d_steps: int = 1, with_d: bool = True):
        from imgen.task import Task

        self.__class__ = type("Recording", (RecordingTask, Task), {})
        self.d_first, self._d_steps, self.with_d = d_first, d_steps, with_d
        self.calls: list[str] = []
        # per update: were the other group's parameters frozen while its loss ran?
        self.other_frozen: list[bool] = []
        self.Config = Task.Config

    def setup(self, cfg, device, *, train=False):
        self.cfg, self.device = cfg, device

    def build(self, cfg):
        nets = {"G": nn.Conv2d(3, 3, 1)}
        if self.with_d:
            nets["D"] = nn.Conv2d(3, 1, 1)
        return nets

    def d_steps(self):
        return self._d_steps

    def dataset(self, cfg, root, split):
        return [{"image": torch.rand(3, 8, 8)} for _ in range(8)]

    def prepare(self, batch):
        return batch

    def forward(self, nets, batch):
        self.calls.append("forward")
        return {"fake": nets["G"](batch["image"])}

    def d_loss(self, nets, batch, out):
        self.calls.append("D")
        self.other_frozen.append(not any(p.requires_grad for p in nets["G"].parameters()))
        loss = nets["D"](out["fake"].detach()).mean() - nets["D"](batch["image"]).mean()
        return loss, {"d": loss}

    def g_loss(self, nets, batch, out):
        self.calls.append("G")
        if "D" in nets:
            self.other_frozen.append(not any(p.requires_grad for p in nets["D"].parameters()))
        return -nets["D"](out["fake"]).mean() if "D" in nets else out["fake"].abs().mean(), {}

    def sample_columns(self, batch, out):
        return [batch["image"], out["fake"]]


@pytest.fixture
def list_dataset(monkeypatch):
    """Let the trainer index a plain list with (index, seed) items."""
    import imgen.engine.trainer as trainer_module

    class Indexable(list):
        def __getitem__(self, item):
            return super().__getitem__(item[0] if isinstance(item, tuple) else item)

    def dataset(self, cfg, root, split):
        torch.manual_seed(0)
        return Indexable({"image": torch.rand(3, 8, 8)} for _ in range(8))

    monkeypatch.setattr(RecordingTask, "dataset", dataset)
    return trainer_module


@pytest.mark.parametrize(
    ("d_first", "d_steps", "with_d", "accum", "expected"),
    [
        (True, 1, True, 1, ["forward", "D", "G"]),
        (False, 1, True, 1, ["forward", "G", "D"]),
        (True, 3, True, 1, ["forward", "D", "forward", "D", "forward", "D", "G"]),
        (True, 1, False, 1, ["forward", "G"]),
        (True, 1, True, 2, ["forward", "forward", "D", "D", "forward", "G", "forward", "G"]),
    ],
)
def test_update_order(list_dataset, tmp_path, d_first, d_steps, with_d, accum, expected):
    from imgen.config import TrainConfig

    task = RecordingTask(d_first=d_first, d_steps=d_steps, with_d=with_d)
    cfg = TrainConfig(
        out=str(tmp_path),
        steps=1,
        batch_size=2,
        grad_accum=accum,
        workers=0,
        sample_every=0,
        ema=0.0,
    )
    trainer = Trainer(task, cfg, quiet=True)
    before = {k: p.detach().clone() for k, p in trainer.nets["G"].named_parameters()}
    task.calls.clear()
    trainer.train_step(iter(trainer.loader()))
    assert task.calls == expected
    assert all(task.other_frozen) and bool(task.other_frozen) == with_d  # groups stay apart
    assert all(p.requires_grad for net in trainer.nets.values() for p in net.parameters())
    assert any(not torch.equal(before[k], p) for k, p in trainer.nets["G"].named_parameters())


def test_batch_not_divisible_by_accumulation(list_dataset, tmp_path):
    from imgen.config import TrainConfig
    from imgen.errors import UsageError

    with pytest.raises(UsageError, match="not divisible"):
        Trainer(RecordingTask(), TrainConfig(out=str(tmp_path), batch_size=3, grad_accum=2))


# -- small parts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "step", "expected"),
    [
        ("constant", 50, 1.0),
        ("linear", 0, 1.0),
        ("linear", 50, 0.5),
        ("linear", 100, 0.0),
        ("cosine", 0, 1.0),
        ("cosine", 50, 0.5),
        ("cosine", 100, 0.0),
    ],
)
def test_lr_factor(kind, step, expected):
    assert lr_factor(kind, total=100)(step) == pytest.approx(expected)


def test_lr_warmup_and_late_linear_decay():
    f = lr_factor("linear", total=100, warmup=10, start=50)
    assert f(0) == pytest.approx(0.1)
    assert f(9) == pytest.approx(1.0)
    assert f(50) == pytest.approx(1.0)
    assert f(75) == pytest.approx(0.5)


def test_ema_follows_with_warmup():
    net = nn.Linear(2, 2, bias=False)
    ema = EMA({"G": net}, decay=0.999)
    with torch.no_grad():
        net.weight.fill_(1.0)
        ema.nets["G"].weight.fill_(0.0)
    ema.update({"G": net}, step=0)  # decay min(0.999, 1/10) = 0.1
    assert torch.allclose(ema.nets["G"].weight, torch.full((2, 2), 0.9))
    assert ema.current_decay(10**6) == pytest.approx(0.999)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "last.safetensors"
    target.write_text("old")

    def broken(tmp):
        Path(tmp).write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_atomic_write_gives_the_permissions_open_would(tmp_path):
    """Not the owner-only 0o600 of a temporary file: outputs are shared and served."""
    umask = os.umask(0o027)
    try:
        atomic_write(tmp_path / "new.png", lambda tmp: Path(tmp).write_text("x"))
        (tmp_path / "old.png").write_text("old")
        os.chmod(tmp_path / "old.png", 0o604)
        atomic_write(tmp_path / "old.png", lambda tmp: Path(tmp).write_text("y"))
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.png").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "old.png").stat().st_mode) == 0o604


def test_fixed_seed_gives_same_first_step(photo_folder, tmp_path):
    results = []
    for name in ("x", "y"):
        task, cfg = tiny_sr_config(photo_folder, tmp_path / name, steps=1, gan_weight=0.0)
        results.append(weights(Trainer(task, cfg, quiet=True).fit()))
    for key in results[0]:
        np.testing.assert_array_equal(results[0][key].numpy(), results[1][key].numpy())


@pytest.mark.parametrize(("option", "expected"), [(None, False), (True, True), (False, False)])
def test_channels_last_defaults_to_off_on_the_cpu(photo_folder, tmp_path, option, expected):
    # The default (None) means "on CUDA only": imgen bench measured it slower on the CPU.
    task, cfg = tiny_sr_config(photo_folder, tmp_path, channels_last=option)
    trainer = Trainer(task, cfg, quiet=True)
    assert trainer.channels_last is expected
    weight = next(p for p in trainer.nets["G"].parameters() if p.dim() == 4)
    assert weight.is_contiguous(memory_format=torch.channels_last) is expected
