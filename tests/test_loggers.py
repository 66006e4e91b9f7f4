"""``--logger``: metrics.jsonl always, TensorBoard through its optional extra, and loggers
from plugins (``imgen_register_loggers``) receiving the scalars and the sample grids."""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from imgen.cli import cli
from imgen.config import TrainConfig, click_options, load_toml
from imgen.engine.loggers import Logger, Tracker
from imgen.engine.rundir import MetricsLog

TINY = [
    "--num-feat", "4", "--num-block", "1", "--crop", "32", "--batch-size", "2", "--scale", "2",
    "--gan-weight", "0", "--workers", "0", "--log-every", "2", "--sample-every", "2",
]  # fmt: skip

RECORDER = """
import imgen
from imgen.engine.loggers import Logger

CALLS = []


class Recorder(Logger):
    def __init__(self):
        CALLS.append(("made",))

    def open(self, run_dir, config, step):
        CALLS.append(("open", run_dir, config, step))

    def log_scalars(self, step, values):
        CALLS.append(("scalars", step, dict(values)))

    def log_image(self, step, name, path):
        CALLS.append(("image", step, name, path, path.exists()))

    def close(self):
        CALLS.append(("close",))


class Broken(Recorder):
    def log_scalars(self, step, values):
        raise ConnectionError("tracker unreachable")


@imgen.hookimpl
def imgen_register_loggers(register):
    register("recorder", Recorder, help="records what it gets")
    register("broken", Broken, help="fails on the first scalars")
"""


def builtin(name: str) -> metadata.EntryPoint:
    return metadata.EntryPoint(name=name, value=f"imgen_{name}", group="imgen")


@pytest.fixture
def recorder(isolated_host, make_plugin):
    """The sr task and the plugin of the ``recorder`` and ``broken`` loggers; returns the
    list of calls its loggers receive."""
    ep = make_plugin("rec", RECORDER)
    isolated_host([builtin("sr"), ep])
    return sys.modules[ep.value].CALLS


def train(tmp_path: Path, *args: str, name: str = "run"):
    result = CliRunner().invoke(
        cli, ["train", "sr", "--out", str(tmp_path), "--name", name, *TINY, *args]
    )
    return result


# -- the option ---------------------------------------------------------------------------------
def parse(*args: str) -> str:
    import click

    command = click.Command("train", params=click_options(TrainConfig))
    return TrainConfig(**command.make_context("train", list(args)).params).logger


def test_logger_is_repeatable_or_comma_separated():
    assert parse() == "jsonl"
    assert parse("--logger", "tensorboard") == "tensorboard"
    assert parse("--logger", "jsonl", "--logger", "tensorboard") == "jsonl,tensorboard"
    assert parse("--logger", "tensorboard, wandb", "--logger", "wandb") == "tensorboard,wandb"


def test_logger_round_trips_through_toml_and_config_json(tmp_path):
    from imgen.task import Task
    from imgen.testing import check_config

    path = tmp_path / "run.toml"
    path.write_text('logger = "tensorboard,wandb"\n')
    assert load_toml(path, TrainConfig) == {"logger": "tensorboard,wandb"}

    class Plain(Task):
        name, Config = "plain", TrainConfig

    cfg = check_config(Plain, {"logger": "jsonl,tensorboard"})
    assert cfg.logger == "jsonl,tensorboard"


# -- the tracker --------------------------------------------------------------------------------
class Memory(Logger):
    def __init__(self) -> None:
        self.calls: list = []

    def log_scalars(self, step, values):
        self.calls.append((step, values))


def test_tracker_sends_the_numbers_of_train_and_eval_lines(tmp_path):
    memory = Memory()
    tracker = Tracker(MetricsLog(tmp_path), {"memory": memory})
    tracker.write("train", step=1, minutes=0.1, lr=1e-3, pixel=0.5)  # before open: jsonl only
    tracker.open(tmp_path, {}, 0)
    tracker.write("start", step=0, steps=4, device="cpu", resumed=False)
    tracker.write("train", step=2, minutes=0.2, lr=1e-3, pixel=0.25, steps_per_s=3)
    tracker.write("eval", step=2, minutes=0.2, psnr=30.5, ssim=0.9)
    tracker.write("best", step=2, psnr=30.5)
    assert memory.calls == [
        (2, {"train/lr": 1e-3, "train/pixel": 0.25, "train/steps_per_s": 3.0}),
        (2, {"eval/psnr": 30.5, "eval/ssim": 0.9}),
    ]
    assert [e["event"] for e in MetricsLog(tmp_path).read()] == [
        "train", "start", "train", "eval", "best",
    ]  # fmt: skip


# -- a plugin's logger --------------------------------------------------------------------------
def test_a_plugin_logger_gets_the_scalars_and_the_sample_grids(recorder, tmp_path, photo_folder):
    result = train(
        tmp_path, "--steps", "4", "--logger", "recorder", "--eval-data", str(photo_folder)
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    kinds = [call[0] for call in recorder]
    assert kinds[0] == "made" and kinds[1] == "open" and kinds[-1] == "close"
    assert kinds.count("open") == kinds.count("close") == 1
    _, run_dir, config, step = recorder[1]
    assert (run_dir, config["logger"], config["steps"], step) == (run, "recorder", 4, 0)

    scalars = [call for call in recorder if call[0] == "scalars"]
    events = MetricsLog(run).read()
    expected = [
        (
            e["step"],
            {f"{e['event']}/{k}" for k in e if k not in ("event", "time", "step", "minutes")},
        )
        for e in events
        if e["event"] in ("train", "eval")
    ]
    assert [(step, set(values)) for _, step, values in scalars] == expected
    assert {"train/pixel", "train/lr", "train/steps_per_s"} <= set(scalars[0][2])
    assert "eval/psnr_y" in scalars[-1][2]
    train_lines = [e for e in events if e["event"] == "train"]
    assert scalars[0][2]["train/pixel"] == train_lines[0]["pixel"]

    images = [call for call in recorder if call[0] == "image"]
    grids = sorted((run / "samples").glob("step_*.png"))
    assert [(step, name, path) for _, step, name, path, _ in images] == [
        (2, "samples", grids[0]),
        (4, "samples", grids[1]),  # once, though the last grid is written again at the end
    ]
    assert all(exists for *_, exists in images)


def test_a_resumed_run_opens_its_loggers_at_its_step(recorder, tmp_path):
    assert train(tmp_path, "--steps", "2", "--save-every", "2").exit_code == 0
    recorder.clear()
    result = train(tmp_path, "--steps", "4", "--resume", str(tmp_path / "run"), "--logger",
                   "recorder")  # fmt: skip
    assert result.exit_code == 0, result.output
    (opened,) = [call for call in recorder if call[0] == "open"]
    assert opened[3] == 2
    assert [call[1] for call in recorder if call[0] == "scalars"] == [4]


def test_a_failing_logger_is_switched_off_and_training_goes_on(recorder, tmp_path):
    result = train(tmp_path, "--steps", "4", "--logger", "broken,recorder")
    assert result.exit_code == 0, result.output
    assert result.output.count("logger 'broken' failed in log_scalars()") == 1
    assert "ConnectionError: tracker unreachable" in result.output
    assert (tmp_path / "run" / "checkpoints").is_dir()
    steps = [call[1] for call in recorder if call[0] == "scalars"]
    assert steps == [2, 4]  # the recorder still got everything
    assert [call[0] for call in recorder].count("close") == 2  # both closed once


def test_an_unknown_logger_is_a_usage_error_before_anything_is_written(recorder, tmp_path):
    result = train(tmp_path, "--steps", "2", "--logger", "recordr")
    assert result.exit_code == 2
    assert "--logger: unknown logger 'recordr'; did you mean 'recorder'?" in result.output
    assert not (tmp_path / "run").exists()


# -- TensorBoard ----------------------------------------------------------------------------------
def test_tensorboard_missing_is_one_sentence_and_no_run_directory(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard fails
    result = train(tmp_path, "--steps", "2", "--logger", "tensorboard")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert lines == [
        "Error: --logger tensorboard needs the tensorboard package, which is not installed; "
        "install it with: pip install 'imgen[tensorboard]'"
    ]
    assert not (tmp_path / "run").exists()


def test_tensorboard_writes_scalars_images_and_the_config(tmp_path, photo_folder):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train(
        tmp_path, "--steps", "4", "--logger", "tensorboard", "--eval-data", str(photo_folder)
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / "run" / "tensorboard"
    assert list(folder.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(folder), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/pixel", "train/lr", "eval/psnr_y", "eval/ssim_y"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("train/pixel")] == [2, 4]
    assert tags["images"] == ["samples"]
    assert [e.step for e in events.Images("samples")][:2] == [2, 4]
    assert "config/text_summary" in tags["tensors"]
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["config"]["logger"] == "tensorboard"


def test_tensorboard_keeps_the_checkpoint_steps_events_on_resume(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert train(tmp_path, "--steps", "4", "--logger", "tensorboard").exit_code == 0
    run = tmp_path / "run"
    result = train(tmp_path, "--steps", "6", "--resume", str(run))  # the stored --logger
    assert result.exit_code == 0, result.output
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/pixel")] == [2, 4, 6]
