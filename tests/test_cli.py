"""Tests for the ``imgen`` command line (click.testing.CliRunner, plus subprocesses where the
question is what gets imported)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from imgen import __version__
from imgen.cli import cli

pytestmark = pytest.mark.usefixtures("clean_plugin_env")

BROKEN = 'raise ImportError("imgen-broken needs libfoo >= 2")\n'

TOY = """
    from dataclasses import dataclass

    import click

    from imgen import hookimpl
    from imgen.config import TrainConfig, option
    from imgen.task import Task


    @dataclass
    class ToyConfig(TrainConfig):
        toy_size: int = option(3, "Size of the toy.")


    class ToyTask(Task):
        name = "toy"
        help = "a toy task"
        Config = ToyConfig
        examples = ["imgen train toy --toy-size 5"]


    @hookimpl
    def imgen_register_tasks(register):
        register(f"{__name__}:ToyTask", name="toy", help="a toy task")


    @click.command()
    def hello():
        click.echo("hello from toy")


    @hookimpl
    def imgen_register_commands(cli):
        cli.add_command(hello)
"""

BROKEN_COMMANDS = """
    from imgen import hookimpl


    @hookimpl
    def imgen_register_commands(cli):
        raise RuntimeError("cannot add commands")
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(cli, list(args), prog_name="imgen")


# -- version and help ------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(runner, flag):
    result = invoke(runner, flag)
    assert result.exit_code == 0
    assert result.output.strip() == f"imgen, version {__version__}"


@pytest.mark.parametrize("flag", ["-h", "--help"])
@pytest.mark.parametrize(
    "command",
    [
        [],
        ["tasks"],
        ["plugins"],
        ["models"],
        ["env"],
        ["train"],
        ["eval"],
        ["predict"],
        ["degrade"],
        ["report"],
        ["import"],
        ["export"],
        ["formats"],
        ["train", "sr"],
        ["eval", "sr"],
    ],
    ids=" ".join,
)
def test_help_on_every_command_has_examples(runner, command, flag):
    result = invoke(runner, *command, flag)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: imgen {' '.join(command)}".rstrip())
    assert "Example" in result.output


def test_top_level_help_lists_the_commands(runner):
    result = invoke(runner, "--help")
    for name in ("train", "eval", "predict", "degrade", "report", "tasks", "plugins", "models"):
        assert f"  {name} " in result.output


def test_train_help_lists_the_tasks(runner):
    result = invoke(runner, "train", "--help")
    assert "  sr " in result.output


def test_train_sr_help_shows_the_generated_options(runner):
    result = invoke(runner, "train", "sr", "--help")
    text = " ".join(result.output.split())
    for option in (
        "--config",
        "--data",
        "--batch-size",
        "--scale",
        "--cache / --no-cache",
        "--gan-loss [vanilla|lsgan|hinge|wgan-gp|ragan]",
        "--resume",
    ):
        assert option in text
    assert "imgen train sr --steps 200" in result.output  # the task's own examples


def test_eval_sr_help_shows_only_eval_options(runner):
    result = invoke(runner, "eval", "sr", "--help")
    assert "--scale" in result.output and "--generator" in result.output
    assert "--run" in result.output and "--json" in result.output
    assert "--batch-size" not in result.output


NO_TORCH_SCRIPT = """
import sys
from imgen.cli import main

sys.argv = ["imgen", *sys.argv[1:]]
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code or 0
print(f"exit={code} torch={'torch' in sys.modules}", file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["tasks"],
        ["plugins"],
        ["report", "--help"],
        ["models", "--published"],
        ["pull", "--help"],
    ],
    ids=str,
)
def test_light_commands_do_not_import_torch(args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGEN_")}
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH_SCRIPT, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.stderr.strip().splitlines()[-1] == "exit=0 torch=False", proc.stderr
    assert proc.stdout  # it did print something


# -- tasks, plugins, models, env (the installed plugins) -------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "srr"], "unknown task 'srr'; did you mean 'sr'?"),
        (["eval", "rs"], "unknown task 'rs'; did you mean 'sr'?"),
        (["train", "pix2pixhd"], "unknown task 'pix2pixhd'; registered: dcgan, sr"),
    ],
)
def test_unknown_task_is_a_usage_error_with_suggestion(runner, args, message):
    result = invoke(runner, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_tasks_json_lists_sr_from_the_sr_plugin(runner):
    result = invoke(runner, "tasks", "--json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["sr"]["plugin"] == "sr"
    assert rows["sr"]["version"] == "0.1.0"
    assert "super-resolution" in rows["sr"]["help"]


def test_tasks_text(runner):
    result = invoke(runner, "tasks")
    assert result.exit_code == 0
    assert any(line.startswith("sr ") for line in result.output.splitlines())
    assert "[sr 0.1.0]" in result.output


def test_plugins_json_lists_the_core_and_sr(runner):
    result = invoke(runner, "plugins", "--json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert {"imgen", "sr"} <= set(rows)
    assert rows["imgen"]["status"] == rows["sr"]["status"] == "ok"
    assert rows["sr"]["registered"]["tasks"] == ["sr"]
    assert set(rows["sr"]["registered"]["generators"]) >= {"srresnet", "rrdbnet", "bicubic"}
    assert set(rows["sr"]["registered"]["discriminators"]) >= {"vgg", "unet"}
    assert "imgen_register_models" in rows["sr"]["hooks"]
    assert "l1" in rows["imgen"]["registered"]["losses"]


def test_plugins_text(runner):
    result = invoke(runner, "plugins")
    assert result.exit_code == 0
    assert "sr 0.1.0 (ok)" in result.output
    assert "  generators: srresnet, rrdbnet, compact, swinir" in result.output
    assert "  formats: rrdbnet, msrresnet, compact, sr-discriminators, spandrel" in result.output


def test_models_glob_json_counts_parameters(runner):
    result = invoke(runner, "models", "rrdb*", "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert (row["name"], row["role"], row["plugin"]) == ("rrdbnet", "generator", "sr")
    assert row["parameters"] == 16_697_987  # BasicSR's RRDBNet (64 feat, 23 blocks, x4)


def test_models_by_role(runner):
    result = invoke(runner, "models", "--role", "discriminator")
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.output.splitlines()]
    assert {"unet", "vgg", "patchgan", "pixelgan"} <= set(names)
    assert "srresnet" not in names and "resnet" not in names
    assert all(line.split()[1] == "discriminator" for line in result.output.splitlines())


def test_models_bad_role(runner):
    result = invoke(runner, "models", "--role", "critic")
    assert result.exit_code == 2


def test_env_json(runner):
    import torch

    result = invoke(runner, "env", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["packages"]["torch"] == torch.__version__
    assert info["imgen"] == __version__
    assert {"torchvision", "timm", "kornia", "Pillow", "spandrel"} <= set(info["packages"])
    assert info["packages"]["spandrel"]  # installed: a version, not None
    plugins = {row["name"]: row for row in info["plugins"]}
    assert (plugins["sr"]["version"], plugins["sr"]["status"]) == ("0.1.0", "ok")
    assert plugins["imgen"]["version"] == __version__


def test_env_prints_tables(runner):
    result = invoke(runner, "env")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("kornia ") for line in lines)
    assert any(line.split()[:3] == ["sr", "0.1.0", "ok"] for line in lines)


def test_models_glob_without_match_says_so(runner):
    result = invoke(runner, "models", "nope*")
    assert result.exit_code == 2
    assert "no model matches 'nope*'" in result.output


def test_unknown_generator_lists_only_the_tasks_models(runner, tmp_path):
    result = invoke(runner, "train", "sr", "--generator", "xyz", "--out", str(tmp_path))
    assert result.exit_code == 2  # a usage error (issue 24)
    assert "unknown generator 'xyz' for task 'sr'" in result.output
    assert "unet" not in result.output and "dcgan" not in result.output  # other tasks' models
    wrong = invoke(runner, "train", "sr", "--generator", "unet", "--out", str(tmp_path))
    assert "generator 'unet' is for task translate, not 'sr'" in wrong.output


def test_generator_values_and_task_names_complete(monkeypatch):
    import os
    import subprocess
    import sys

    env = {**os.environ, "_IMGEN_COMPLETE": "bash_complete", "COMP_CWORD": "4"}
    env["COMP_WORDS"] = "imgen train sr --generator rr"
    code = "from imgen.cli import main; main()"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "rrdbnet" in out.stdout
    env |= {"COMP_WORDS": "imgen train s", "COMP_CWORD": "2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "sr" in out.stdout.split() or "plain,sr" in out.stdout


def test_config_json_of_a_run_is_a_config_file(photo_folder, tmp_path):
    from click.testing import CliRunner

    from imgen.cli import cli

    args = [
        "train", "sr", "--data", str(photo_folder), "--out", str(tmp_path), "--name", "first",
        "--steps", "1", "--batch-size", "2", "--crop", "32", "--num-feat", "4", "--num-block",
        "1", "--gan-weight", "0", "--scale", "2", "--lr", "0.0003", "--sample-every", "0",
    ]  # fmt: skip
    assert CliRunner().invoke(cli, args).exit_code == 0
    again = [
        "train", "sr", "--config", str(tmp_path / "first" / "config.json"), "--out",
        str(tmp_path), "--name", "second",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, again)
    assert result.exit_code == 0, result.output
    second = json.loads((tmp_path / "second" / "config.json").read_text())["config"]
    assert (second["lr"], second["num_feat"], second["scale"]) == (0.0003, 4, 2)


# -- plugins through the CLI (isolated hosts) ------------------------------------------------------
@pytest.fixture
def broken_host(isolated_host, make_plugin):
    return isolated_host(
        [
            make_plugin("broken", BROKEN, distribution="imgen-broken", version="0.3"),
            make_plugin("toy", TOY),
        ]
    )


@pytest.mark.parametrize("args", [["tasks"], ["plugins"], ["--help"], ["train", "--help"]])
def test_broken_plugin_leaves_the_cli_working(runner, broken_host, args):
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output


def test_broken_plugin_is_shown_by_plugins(runner, broken_host):
    result = invoke(runner, "plugins")
    assert "broken 0.3 (error: ImportError: imgen-broken needs libfoo >= 2)" in result.output
    assert re.search(r"^toy\s+\(ok\)$", result.output, re.MULTILINE)  # no distribution

    rows = {row["name"]: row for row in json.loads(invoke(runner, "plugins", "--json").output)}
    assert rows["broken"]["status"] == "error"
    assert rows["broken"]["distribution"] == "imgen-broken"
    assert rows["broken"]["error"] == "ImportError: imgen-broken needs libfoo >= 2"


def test_broken_plugin_does_not_hide_other_tasks(runner, broken_host):
    result = invoke(runner, "tasks", "--json")
    assert [row["name"] for row in json.loads(result.output)] == ["toy"]


def test_plugin_task_gets_generated_options(runner, broken_host):
    result = invoke(runner, "train", "toy", "--help")
    assert result.exit_code == 0, result.output
    assert "--toy-size" in result.output
    assert "imgen train toy --toy-size 5" in result.output


def test_plugin_commands_are_added(runner, broken_host):
    result = invoke(runner, "hello")
    assert result.exit_code == 0
    assert result.output == "hello from toy\n"
    assert "  hello" in invoke(runner, "--help").output


def test_failing_command_hook_is_reported_not_fatal(runner, isolated_host, make_plugin):
    isolated_host([make_plugin("cmds", BROKEN_COMMANDS)])
    result = invoke(runner, "--help")
    assert result.exit_code == 0
    assert isolated_host.reports == [
        "imgen: plugin 'cmds' hook imgen_register_commands raised: "
        "RuntimeError: cannot add commands"
    ]
    rows = {row["name"]: row for row in json.loads(invoke(runner, "plugins", "--json").output)}
    assert rows["cmds"]["status"] == "error"


def test_isolated_host_is_restored(isolated_host, make_plugin):
    from imgen.plugins import get_host

    host = isolated_host([make_plugin("toy", TOY)])
    assert get_host() is host


def test_global_host_after_isolation_is_the_installed_one(runner):
    # runs after the isolated tests above: their hosts and commands are gone again
    assert "hello" not in invoke(runner, "--help").output
    result = invoke(runner, "tasks", "--json")
    assert {"sr", "translate"} <= {row["name"] for row in json.loads(result.output)}


# -- train --config ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stepz = 10\n", "unknown option 'stepz'; did you mean steps"),
        ("[train]\nbatch-sise = 4\n", "unknown option 'batch-sise'; did you mean batch_size"),
        ('steps = "ten"\n', "option 'steps' has an invalid value 'ten'"),
    ],
)
def test_train_config_file_errors_exit_2_before_training(runner, tmp_path, text, message):
    config = tmp_path / "run.toml"
    config.write_text(text)
    out = tmp_path / "runs"
    result = invoke(
        runner, "train", "sr", "--config", str(config), "--out", str(out), "--steps", "1"
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert str(config) in result.output
    assert not out.exists()  # no run directory: it failed before any training


def test_train_missing_config_file(runner, tmp_path):
    result = invoke(runner, "train", "sr", "--config", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


@pytest.mark.parametrize("task", ["dcgan"])  # style's: tests/test_style_task.py
def test_eval_json_has_per_image_rows_for_every_task(task, tmp_path):
    from click.testing import CliRunner

    from imgen.cli import cli
    from imgen.testing import tiny_image_folder

    data = tmp_path / "data"
    if task == "style":
        for seed, split in enumerate(("trainA", "trainB", "testA", "testB")):
            tiny_image_folder(data / split, count=2, size=(32, 32), seed=seed)
        args = ["--crop", "32", "--blocks", "1", "--ngf", "4", "--ndf", "4"]
    else:
        tiny_image_folder(data, count=3, size=(32, 32))
        args = ["--image-size", "32", "--z-dim", "4", "--ngf", "4", "--ndf", "4"]
    common = ["--steps", "1", "--batch-size", "1", "--sample-every", "0"]
    train = ["train", task, "--data", str(data), "--out", str(tmp_path), "--name", "r"]
    assert CliRunner().invoke(cli, [*train, *common, *args]).exit_code == 0
    result = CliRunner().invoke(
        cli, ["eval", task, "--run", str(tmp_path / "r"), "--data", str(data), "--json", "-q"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = report["per_image"]
    assert rows and all(isinstance(v, dict) and v for v in rows.values())
    if task == "style":
        assert {"testA/image_000.png", "testB/image_000.png"} <= set(rows)
        assert "cycle_l1_A" in rows["testA/image_000.png"]
