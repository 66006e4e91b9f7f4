"""Checkpoints that never run code, never mix steps, survive a full disk and stop on NaN;
signals that save; strict weight loading with one sentence."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from imgen.cli import cli
from imgen.engine import checkpoint as ckpt
from imgen.engine.trainer import NonFiniteError, Trainer
from imgen.plugins import create_task

TINY = ["--steps", "2", "--batch-size", "2", "--crop", "32", "--scale", "2", "--num-feat", "8"]
TINY += ["--num-block", "1", "--workers", "0", "--gan-weight", "0", "--perceptual-weight", "0"]
TINY += ["--sample-every", "0", "--log-every", "1"]


def tiny_config(data: Path, out: Path, **changes):
    task = create_task("sr")
    cfg = task.Config(
        data=str(data),
        out=str(out),
        name="run",
        steps=4,
        batch_size=2,
        crop=32,
        scale=2,
        num_feat=8,
        num_block=1,
        workers=0,
        log_every=1,
        sample_every=0,
        save_every=2,
        seed=1,
        gan_weight=0.0,
        perceptual_weight=0.0,
    )
    return task, dataclasses.replace(cfg, **changes)


@pytest.fixture(scope="module")
def trained(photo_folder, tmp_path_factory) -> Path:
    task, cfg = tiny_config(photo_folder, tmp_path_factory.mktemp("runs"), keep=2)
    return Trainer(task, cfg, quiet=True).fit()


@pytest.fixture
def run_copy(trained, tmp_path) -> Path:
    import shutil

    shutil.copytree(trained, tmp_path / "run")
    return tmp_path / "run"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


# -- the state format ------------------------------------------------------------------------
def test_state_round_trips_without_pickle(tmp_path):
    state = {
        "step": 3,
        "opt": {"state": {0: {"step": torch.tensor(2.0), "exp_avg": torch.ones(2, 2)}}},
        "groups": [{"params": [0, 1], "betas": (0.5, 0.999), "lr": float("inf")}],
        "rng": {"numpy": np.random.get_state(), "python": __import__("random").getstate()},
        "task": None,
    }
    ckpt.write_state(tmp_path / "s.safetensors", state)
    back = ckpt.read_state(tmp_path / "s.safetensors")
    assert back["step"] == 3 and back["task"] is None
    assert list(back["opt"]["state"]) == [0]  # int keys stay ints (optimizers need them)
    torch.testing.assert_close(back["opt"]["state"][0]["exp_avg"], torch.ones(2, 2))
    assert back["groups"][0]["betas"] == (0.5, 0.999) and back["groups"][0]["lr"] == float("inf")
    np.random.set_state(back["rng"]["numpy"])  # accepted as numpy's own state
    assert back["rng"]["numpy"][1].dtype == np.uint32


def test_checkpoint_folder_is_complete_and_pruned(trained):
    folders = ckpt.step_folders(trained / "checkpoints")
    assert [p.name for p in folders] == ["step_00000004", "step_00000002"]  # --keep 2
    assert not list((trained / "checkpoints").glob("*.tmp"))
    last = load_file(str(trained / "checkpoints" / "last.safetensors"))
    newest = load_file(str(folders[0] / "weights.safetensors"))
    assert last.keys() == newest.keys()
    assert all(torch.equal(last[k], newest[k]) for k in last)


# -- security ---------------------------------------------------------------------------------
class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _as_legacy(run: Path, state: dict) -> None:
    """Turn a run into imgen 0.1.0's layout: last.safetensors + last.state.pt."""
    import shutil

    folder = run / "checkpoints"
    for step in ckpt.step_folders(folder):
        shutil.rmtree(step)
    torch.save(state, folder / "last.state.pt")


def test_resume_refuses_a_pickle_that_runs_code(run_copy, tmp_path):
    marker = tmp_path / "pwned"
    _as_legacy(run_copy, {"step": 0, "x": _Evil(marker)})
    result = invoke("train", "sr", "--resume", str(run_copy))
    assert not marker.exists()
    assert result.exit_code == 1
    assert "refusing to load" in result.output and "could run code" in result.output
    assert "Traceback" not in result.output


def test_legacy_state_with_numpy_rng_still_resumes(photo_folder, run_copy):
    _, state = ckpt.load_checkpoint(run_copy)
    state["rng"]["numpy"] = np.random.get_state()  # as 0.1.0 stored it: an ndarray inside
    _as_legacy(run_copy, state)
    task, cfg = tiny_config(photo_folder, run_copy.parent, steps=5, resume=str(run_copy))
    trainer = Trainer(task, cfg, quiet=True)
    assert trainer.step == 4
    trainer.fit()
    assert ckpt.load_checkpoint(run_copy)[1]["step"] == 5


@pytest.mark.parametrize("damage", ["no_generator", "wrong_shape", "extra_key"])
def test_weights_that_do_not_fit_stop_with_one_sentence(run_copy, photo_folder, tmp_path, damage):
    path = ckpt.step_folders(run_copy / "checkpoints")[0] / "weights.safetensors"
    flat = load_file(str(path))
    if damage == "no_generator":
        flat = {k: v for k, v in flat.items() if not k.startswith(("G.", "ema.G."))}
    elif damage == "wrong_shape":
        key = next(k for k in flat if k.startswith("ema.G.") and flat[k].ndim == 4)
        flat[key] = torch.zeros(*flat[key].shape[:-1], flat[key].shape[-1] + 2)
    else:
        flat["ema.G.surprise"] = torch.zeros(1)
    save_file(flat, str(path), metadata={"step": "4"})
    image = next(photo_folder.iterdir())
    result = invoke("predict", "--run", str(run_copy), str(image), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output
    assert "network 'G' (MSRResNet" in result.output
    expected = {"no_generator": "has no weights", "wrong_shape": "shape", "extra_key": "surprise"}
    assert expected[damage] in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


# -- consistency ------------------------------------------------------------------------------
def test_a_mixed_checkpoint_is_skipped_for_the_one_before(run_copy, photo_folder):
    newest, previous = ckpt.step_folders(run_copy / "checkpoints")
    # step-4 weights with a step-2 state: what replacing two files one by one could leave
    (newest / "state.safetensors").write_bytes((previous / "state.safetensors").read_bytes())
    said: list[str] = []
    flat, state = ckpt.load_checkpoint(run_copy, warn=said.append)
    assert state["step"] == 2 and "weights are of step 4, its state of step 2" in said[0]
    assert torch.equal(
        flat["G.conv_first.weight"],
        load_file(str(previous / "weights.safetensors"))["G.conv_first.weight"],
    )


def test_stale_tmp_files_go_on_the_next_start(run_copy, photo_folder):
    folder = run_copy / "checkpoints"
    (folder / "step_00000006.tmp").mkdir()
    (folder / "step_00000006.tmp" / "weights.safetensors").write_bytes(b"half")
    (folder / "last.safetensors.tmp").write_bytes(b"x")
    task, cfg = tiny_config(photo_folder, run_copy.parent, steps=4, resume=str(run_copy))
    assert Trainer(task, cfg, quiet=True).step == 4
    assert not list(folder.glob("*.tmp"))


def test_resume_of_a_run_without_checkpoint_starts_at_step_zero(photo_folder, tmp_path):
    task, cfg = tiny_config(photo_folder, tmp_path, steps=2)
    first = Trainer(task, cfg, quiet=True)  # made its run directory, then "was killed"
    run = first.run_dir
    assert ckpt.load_checkpoint(run) is None
    result = invoke("train", "sr", "--resume", str(run))
    assert result.exit_code == 0, result.output
    assert "no checkpoint yet; starting it from step 0" in result.output
    assert ckpt.load_checkpoint(run)[1]["step"] == 2


def test_disk_full_keeps_the_previous_checkpoint(run_copy, photo_folder, monkeypatch):
    before = {p.name for p in ckpt.step_folders(run_copy / "checkpoints")}
    task, cfg = tiny_config(photo_folder, run_copy.parent, steps=5, resume=str(run_copy))
    trainer = Trainer(task, cfg, quiet=True)

    def full(tensors, path, metadata=None):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "save_file", full)
    with pytest.raises(ckpt.CheckpointError, match="the disk is full: could not write the step 5"):
        trainer.fit()
    monkeypatch.undo()
    assert {p.name for p in ckpt.step_folders(run_copy / "checkpoints")} == before
    assert not list((run_copy / "checkpoints").glob("*.tmp"))
    assert ckpt.load_checkpoint(run_copy)[1]["step"] == 4


# -- divergence ---------------------------------------------------------------------------------
def _poison(task, from_step: int):
    """Make the task's generator loss NaN from the trainer's step ``from_step`` on."""
    g_loss = task.g_loss

    def poisoned(nets, batch, out):
        loss, logs = g_loss(nets, batch, out)
        if poisoned.trainer.step + 1 >= from_step:
            loss = loss * float("nan")
        return loss, logs

    task.g_loss = poisoned
    return poisoned


def test_nan_stops_the_run_and_keeps_the_last_finite_checkpoint(photo_folder, tmp_path):
    task, cfg = tiny_config(photo_folder, tmp_path, steps=6, save_every=2)
    hook = _poison(task, from_step=4)
    trainer = Trainer(task, cfg, quiet=True)
    hook.trainer = trainer
    with pytest.raises(
        NonFiniteError, match="training diverged at step 4: the G update has a non-finite loss"
    ) as raised:
        trainer.fit()
    assert "the last checkpoint (step 2, finite) is kept" in str(raised.value)
    flat, state = ckpt.load_checkpoint(trainer.run_dir)
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in flat.values())
    events = [json.loads(x) for x in (trainer.run_dir / "metrics.jsonl").read_text().splitlines()]
    # The step the message names: metrics.jsonl and the sentence agree (issue 24).
    assert events[-1] == {**events[-1], "event": "diverged", "step": 4}
    assert all(
        np.isfinite(v) for e in events for v in e.values() if isinstance(v, float)
    )  # no NaN in the log


def test_nan_before_any_checkpoint_says_none_was_written(photo_folder, tmp_path):
    task, cfg = tiny_config(photo_folder, tmp_path, steps=6, save_every=0)
    hook = _poison(task, from_step=2)
    trainer = Trainer(task, cfg, quiet=True)
    hook.trainer = trainer
    with pytest.raises(NonFiniteError, match="no checkpoint was written"):
        trainer.fit()
    assert ckpt.load_checkpoint(trainer.run_dir) is None


def test_skip_nonfinite_skips_and_says_so(photo_folder, tmp_path, capsys):
    task, cfg = tiny_config(photo_folder, tmp_path, steps=4, skip_nonfinite=5)
    hook = _poison(task, from_step=3)
    trainer = Trainer(task, cfg, quiet=True)
    hook.trainer = trainer
    before = {k: v.clone() for k, v in trainer.nets["G"].state_dict().items()}
    trainer.step = 2  # from here every G update is NaN and skipped
    trainer.fit()
    assert "skipped the G update of step 3" in capsys.readouterr().err
    assert trainer.nonfinite_skipped == 2
    assert all(torch.equal(before[k], v) for k, v in trainer.nets["G"].state_dict().items())


def test_fp16_on_the_cpu_is_refused(photo_folder, tmp_path):
    result = invoke(
        "train",
        "sr",
        "--data",
        str(photo_folder),
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--precision",
        "fp16",
        *TINY,
    )
    assert result.exit_code == 2
    assert "--precision fp16 is for CUDA; on the CPU use --precision bf16" in result.output
    assert not any(tmp_path.iterdir())


# -- signals ------------------------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_sigterm_and_sigusr1_save_and_exit(photo_folder, tmp_path, signum):
    args = [sys.executable, "-m", "imgen", "train", "sr", "--data", str(photo_folder)]
    args += ["--out", str(tmp_path), "--name", "run", *TINY, "--steps", "100000"]
    args += ["--save-every", "0"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and '"event": "train"' not in (
        log.read_text() if log.exists() else ""
    ):
        time.sleep(0.2)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert f"{signal.Signals(signum).name}: stopping after this step" in err
    assert "--resume" in err and "Aborted!" not in err and "Traceback" not in err
    state = ckpt.load_checkpoint(tmp_path / "run")[1]
    assert state["step"] >= 1


def test_the_best_validation_checkpoint_is_kept(photo_folder, tmp_path, monkeypatch):
    task, cfg = tiny_config(photo_folder, tmp_path, steps=6, save_every=1, eval_every=2)
    cfg = dataclasses.replace(cfg, eval_data=str(photo_folder))
    scores = iter([30.0, 31.0, 29.0])  # psnr_y at steps 2, 4, 6: step 4 is the best
    monkeypatch.setattr(
        task, "evaluate", lambda nets, root, **kw: {"metrics": {"psnr_y": next(scores)}}
    )
    trainer = Trainer(task, cfg, quiet=True)
    trainer.fit()
    names = [p.name for p in ckpt.step_folders(trainer.run_dir / "checkpoints")]
    assert names == ["step_00000006", "step_00000004"]  # --keep 1 plus the best
    assert ckpt.load_checkpoint(trainer.run_dir)[1]["best"] == {
        "metric": "psnr_y",
        "value": 31.0,
        "step": 4,
    }


def test_checkpoints_follow_the_umask(photo_folder, tmp_path):
    """Checkpoint files get the permissions other outputs get (0644 under umask 022), not
    the owner-only ones safetensors' writes would leave."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        task, cfg = tiny_config(photo_folder, tmp_path, steps=1, save_every=1)
        run = Trainer(task, cfg, quiet=True).fit()
    finally:
        os.umask(old)
    files = [p for p in (run / "checkpoints").rglob("*") if p.is_file()]
    assert files and {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o644}
