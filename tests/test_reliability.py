"""Issue 24: --resume never discards a run, paths stay inside --out and -o, write failures
are one sentence."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from imgen.cli import cli
from imgen.engine import checkpoint as ckpt
from imgen.engine.trainer import Trainer
from tests.test_checkpoints import tiny_config


@pytest.fixture(scope="module")
def trained(photo_folder, tmp_path_factory) -> Path:
    task, cfg = tiny_config(photo_folder, tmp_path_factory.mktemp("runs"), keep=2)
    return Trainer(task, cfg, quiet=True).fit()


@pytest.fixture
def run_copy(trained, tmp_path) -> Path:
    shutil.copytree(trained, tmp_path / "run")
    return tmp_path / "run"


def _damage(folder: Path, how: str) -> None:
    if how == "truncate":
        path = folder / "weights.safetensors"
        path.write_bytes(path.read_bytes()[:100])
    elif how == "junk":
        (folder / "state.safetensors").write_bytes(b"not a safetensors file at all")
    else:
        (folder / "state.safetensors").unlink()


# -- 1: resume never discards a run ----------------------------------------------------------
@pytest.mark.parametrize("how", ["truncate", "junk", "delete"])
def test_resume_falls_back_and_keeps_the_unreadable_folder(run_copy, photo_folder, how):
    folder = run_copy / "checkpoints"
    newest, _ = ckpt.step_folders(folder)
    _damage(newest, how)
    said: list[str] = []
    _, state = ckpt.load_checkpoint(run_copy, warn=said.append)
    assert state["step"] == 2
    assert str(newest) in said[0] and "step_00000004.unreadable" in said[0]
    # --keep 1 and a new save of step 4 never touch the folder that could not be read
    task, cfg = tiny_config(photo_folder, run_copy.parent, steps=4, keep=1, resume=str(run_copy))
    Trainer(task, cfg, quiet=True).fit()
    assert (folder / "step_00000004.unreadable").is_dir()
    assert [p.name for p in ckpt.step_folders(folder)] == ["step_00000004"]


def test_no_readable_checkpoint_stops_unless_restart(run_copy, photo_folder):
    folder = run_copy / "checkpoints"
    for path in ckpt.step_folders(folder):
        _damage(path, "junk")
    task, cfg = tiny_config(photo_folder, run_copy.parent, resume=str(run_copy))
    with pytest.raises(ckpt.CheckpointError, match="pass --restart"):
        Trainer(task, cfg, quiet=True)
    assert len(list(folder.glob("*.unreadable"))) == 2
    task, cfg = tiny_config(photo_folder, run_copy.parent, resume=str(run_copy), restart=True)
    Trainer(task, cfg, quiet=True).fit()
    assert len(list(folder.glob("*.unreadable"))) == 2
    assert ckpt.load_checkpoint(run_copy)[1]["step"] == 4


# -- 2: paths stay inside --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../escape", "/abs/x", "a/b", ".."])
def test_run_names_with_separators_are_refused(photo_folder, tmp_path, name):
    with pytest.raises(Exception, match="not a plain folder name") as info:
        tiny_config(photo_folder, tmp_path, name=name)
    assert getattr(info.value, "exit_code", 2) == 2
    assert not (tmp_path / "escape").exists()


def test_predict_suffix_with_a_path_is_refused(trained, photo_folder, tmp_path):
    image = next(photo_folder.iterdir())
    args = ["predict", "--run", str(trained), str(image), "-o", str(tmp_path / "o")]
    result = CliRunner().invoke(cli, [*args, "--suffix", "/../../x"])
    assert result.exit_code == 2 and "--suffix" in result.output
    assert not (tmp_path / "o").exists()


# -- 3: write failures are sentences ---------------------------------------------------------
def test_out_that_is_a_file_is_refused(photo_folder, tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(Exception, match="is a file, not a folder"):
        tiny_config(photo_folder, tmp_path / "f")


@pytest.mark.parametrize(
    "code, why",
    [(errno.EFBIG, "file-size limit"), (errno.EACCES, "permission"), (errno.EROFS, "read-only")],
)
def test_checkpoint_write_failures_are_one_sentence(run_copy, photo_folder, monkeypatch, code, why):
    before = {p.name for p in ckpt.step_folders(run_copy / "checkpoints")}
    task, cfg = tiny_config(photo_folder, run_copy.parent, steps=5, resume=str(run_copy))
    trainer = Trainer(task, cfg, quiet=True)

    def fail(tensors, path, metadata=None):
        raise OSError(code, "failed")

    monkeypatch.setattr(ckpt, "save_file", fail)
    with pytest.raises(ckpt.CheckpointError, match=f"{why}.*step 5 checkpoint in .*intact"):
        trainer.fit()
    monkeypatch.undo()
    assert {p.name for p in ckpt.step_folders(run_copy / "checkpoints")} == before


# -- 2: symbolic links that leave the data folder ------------------------------------------------
@pytest.fixture
def linked_folder(photo_folder, tmp_path) -> Path:
    """data/ with two photos, a link up to its parent, a link to a photo outside and one to
    a photo inside; beside it sibling/ with a photo a link could reach."""
    import os

    photos = sorted(photo_folder.iterdir())
    data, sibling = tmp_path / "data", tmp_path / "sibling"
    data.mkdir()
    sibling.mkdir()
    for photo in photos[:2]:
        shutil.copy(photo, data / photo.name)
    shutil.copy(photos[2], sibling / "secret.png")
    os.symlink("..", data / "up")
    os.symlink(sibling / "secret.png", data / "outside.png")
    os.symlink(photos[0].name, data / "again.png")  # inside: kept (listed once)
    return data


def test_links_out_of_the_data_folder_are_skipped_with_one_warning(linked_folder, capsys):
    from imgen.data.folder import scan_images

    found = scan_images(linked_folder)
    assert sorted(p.resolve().parent for p in found) == [linked_folder.resolve()] * 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "skipped 2 symbolic links" in err
    assert "outside it" in err


def test_predict_reads_no_folder_a_link_leads_to(trained, linked_folder, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["predict", "--run", str(trained), str(linked_folder), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert len(written) == 2 and not any("secret" in n or "up" in n for n in written)
    assert "symbolic link" in result.stderr


def test_a_file_size_limit_during_a_save_is_one_sentence(photo_folder, tmp_path):
    """EFBIG for real: RLIMIT_FSIZE below a checkpoint's size (Python ignores SIGXFSZ, so the
    write fails with EFBIG); exit 1, one sentence naming the folder, no traceback."""
    import resource
    import subprocess
    import sys

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    command = [
        sys.executable, "-m", "imgen", "train", "sr", "--data", str(photo_folder),
        "--out", str(tmp_path), "--name", "big", "--steps", "2", "--batch-size", "1",
        "--crop", "32", "--num-feat", "64", "--num-block", "2", "--gan-weight", "0",
        "--workers", "0", "--save-every", "1", "--sample-every", "0",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, preexec_fn=limit, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "a file-size limit was reached" in last and str(tmp_path / "big") in last
    assert not list((tmp_path / "big" / "checkpoints").glob("step_*"))


def test_two_ctrl_c_50_ms_apart_abort_without_saving(photo_folder, tmp_path):
    """Both arrive during one step (a native op holds the main thread, so Python runs the
    handler once); the wakeup fd counts them: the run aborts, exit 130, nothing saved."""
    import json
    import signal
    import subprocess
    import sys
    import time

    command = [
        sys.executable, "-m", "imgen", "train", "sr", "--data", str(photo_folder),
        "--out", str(tmp_path), "--name", "run", "--steps", "1000", "--batch-size", "4",
        "--crop", "64", "--gan-weight", "0", "--workers", "0", "--save-every", "0",
        "--sample-every", "0", "--log-every", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # a step has been logged: the loop is running
        if metrics.exists() and any(
            json.loads(line).get("event") == "train" for line in metrics.read_text().splitlines()
        ):
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert not list((tmp_path / "run" / "checkpoints").glob("step_*"))  # nothing was saved


@pytest.mark.parametrize(("signum", "code"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_during_start_up_is_one_sentence(
    photo_folder, tmp_path, monkeypatch, signum, code
):
    """A stop signal while the run is being set up (here: while its data is read) ends with
    the signal's exit code and one sentence, not a traceback or a silent kill."""
    import signal

    from imgen_sr.task import SuperResolution

    dataset = SuperResolution.dataset

    def interrupted(self, *args, **kwargs):
        signal.raise_signal(getattr(signal, signum))
        return dataset(self, *args, **kwargs)

    monkeypatch.setattr(SuperResolution, "dataset", interrupted)
    args = ["train", "sr", "--data", str(photo_folder), "--out", str(tmp_path), "--steps", "1"]
    result = CliRunner().invoke(
        cli, [*args, "--crop", "32", "--batch-size", "1", "--gan-weight", "0"]
    )
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert f"{signum} during start-up, before step 1" in result.stderr
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handlers are given back
