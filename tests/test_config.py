"""Tests for imgen.config: dataclass -> Click options, TOML files, stored configs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, Optional

import click
import pytest
from click.testing import CliRunner

from imgen.config import (
    TrainConfig,
    cli_name,
    click_options,
    from_dict,
    load_toml,
    merge_options,
    option,
    to_dict,
)
from imgen.errors import UsageError


@dataclass
class ToyConfig(TrainConfig):
    """A task config with one field of every supported kind."""

    width: int = option(8, "Generator width.")
    ratio: float = option(0.5, "Mixing ratio.")
    label: str = option("toy", "Run label.", eval=True)
    fast: bool = option(False, "Go fast.")
    tidy: bool = option(True, "Keep things tidy.")
    mode: Literal["a", "b"] = option("a", "Mode.")
    scale: Literal[2, 3, 4] = option(4, "Upscaling factor.", eval=True)
    limit: int | None = option(None, "Optional limit.")
    weights: Optional[str] = option(None, "Weights file.", metavar="PATH")  # noqa: UP045
    lr: float = option(1e-3, "Re-declared with another default.")


@pytest.fixture
def options() -> dict[str, click.Option]:
    return {param.name: param for param in click_options(ToyConfig)}


@pytest.fixture
def command() -> click.Command:
    """A command built from ToyConfig that echoes the ToyConfig it would run with."""

    def callback(**values):
        click.echo(repr(ToyConfig(**values)))

    return click.Command("toy", params=click_options(ToyConfig), callback=callback)


def write(tmp_path, text: str):
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


# -- click options -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "click_type", "default"),
    [
        ("width", click.INT, 8),
        ("ratio", click.FLOAT, 0.5),
        ("label", click.STRING, "toy"),
        ("limit", click.INT, None),
        ("weights", click.STRING, None),
        ("steps", click.INT, 1000),
        ("lr", click.FLOAT, 1e-3),
    ],
)
def test_scalar_fields_become_typed_options(options, name, click_type, default):
    param = options[name]
    assert param.type == click_type
    assert param.default == default
    assert param.opts == [cli_name(name)]


def test_optional_fields_do_not_show_a_default(options):
    assert options["limit"].show_default is False
    assert options["width"].show_default is True


def test_bools_become_on_off_flags(options):
    fast, tidy = options["fast"], options["tidy"]
    assert fast.is_flag and tidy.is_flag
    assert (fast.opts, fast.secondary_opts, fast.default) == (["--fast"], ["--no-fast"], False)
    assert (tidy.opts, tidy.secondary_opts, tidy.default) == (["--tidy"], ["--no-tidy"], True)
    assert options["channels_last"].secondary_opts == ["--no-channels-last"]


def test_literals_become_choices(options):
    assert isinstance(options["mode"].type, click.Choice)
    assert list(options["mode"].type.choices) == ["a", "b"]
    assert list(options["precision"].type.choices) == ["auto", "fp32", "bf16", "fp16"]
    assert list(options["scale"].type.choices) == ["2", "3", "4"]


def test_metavar_and_help_come_from_the_field(options):
    assert options["weights"].metavar == "PATH"
    assert options["width"].help == "Generator width."


def test_dashed_option_names(options):
    assert options["batch_size"].opts == ["--batch-size"]
    assert options["log_every"].opts == ["--log-every"]


def test_only_eval_and_skip():
    assert [p.name for p in click_options(ToyConfig, only_eval=True)] == ["label", "scale"]
    names = [p.name for p in click_options(ToyConfig, skip={"data", "width"})]
    assert "data" not in names and "width" not in names and "out" in names


def test_defaults_round_trip_to_the_dataclass(command):
    result = CliRunner().invoke(command, [])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == repr(ToyConfig())


def test_parsed_values_have_the_field_types(command):
    result = CliRunner().invoke(
        command,
        [
            "--width",
            "3",
            "--ratio",
            "0.25",
            "--fast",
            "--no-tidy",
            "--mode",
            "b",
            "--scale",
            "2",
            "--limit",
            "7",
            "--batch-size",
            "4",
            "--precision",
            "bf16",
        ],
    )
    assert result.exit_code == 0, result.output
    expected = ToyConfig(
        width=3,
        ratio=0.25,
        fast=True,
        tidy=False,
        mode="b",
        scale=2,
        limit=7,
        batch_size=4,
        precision="bf16",
    )
    assert result.output.strip() == repr(expected)
    assert "scale=2," in result.output  # an int, not '2'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "c"], "'c' is not one of 'a', 'b'"),
        (["--scale", "8"], "'8' is not one of '2', '3', '4'"),
        (["--width", "wide"], "'wide' is not a valid integer"),
        (["--precision", "fp8"], "--precision"),
    ],
)
def test_bad_values_are_usage_errors(command, args, message):
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 2
    assert message in result.output


def test_help_lists_options_with_defaults(command):
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "--fast / --no-fast" in text
    assert "--mode [a|b]" in text
    assert "Generator width. [default: 8]" in text


@pytest.mark.parametrize(
    "name",
    [
        "data",
        "out",
        "steps",
        "batch_size",
        "crop",
        "lr",
        "device",
        "precision",
        "seed",
        "workers",
        "log_every",
        "sample_every",
        "save_every",
        "resume",
    ],
)
def test_train_config_shared_options(name):
    assert name in {f.name for f in dataclasses.fields(TrainConfig)}
    assert cli_name(name) in {opt for p in click_options(TrainConfig) for opt in p.opts}


# -- TOML ------------------------------------------------------------------------------------------
def test_load_toml_accepts_dashes_underscores_and_a_train_table(tmp_path):
    path = write(
        tmp_path,
        """
        batch-size = 4
        log_every = 10
        limit = 3

        [train]
        lr = 1
        fast = true
        mode = "b"
        scale = 2
        sample-every = 0
    """.replace("\n        ", "\n"),
    )
    values = load_toml(path, ToyConfig)
    assert values == {
        "batch_size": 4,
        "log_every": 10,
        "limit": 3,
        "lr": 1.0,
        "fast": True,
        "mode": "b",
        "scale": 2,
        "sample_every": 0,
    }
    assert isinstance(values["lr"], float)
    assert ToyConfig(**values).batch_size == 4


def test_train_table_wins_over_top_level(tmp_path):
    path = write(tmp_path, "steps = 5\n[train]\nsteps = 9\n")
    assert load_toml(path, ToyConfig) == {"steps": 9}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("batch_sise = 4", r"unknown option 'batch_sise'; did you mean batch_size\?"),
        ("[train]\nlog-evry = 4", r"unknown option 'log-evry'; did you mean log_every"),
        ("zzzzzz = 1", r"unknown option 'zzzzzz'$"),
    ],
)
def test_load_toml_rejects_unknown_keys_with_a_suggestion(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(UsageError, match=match) as info:
        load_toml(path, ToyConfig)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        'steps = "ten"',
        "steps = 1.5",
        "steps = true",
        'lr = "fast"',
        "lr = true",
        'fast = "yes"',
        "fast = 1",
        'mode = "c"',
        "scale = 8",
        "label = 3",
        "data = [1, 2]",
        "limit = 2.5",
    ],
)
def test_load_toml_rejects_wrong_types(tmp_path, text):
    key = text.split()[0]
    with pytest.raises(UsageError, match=f"option '{key}' has an invalid value"):
        load_toml(write(tmp_path, text), ToyConfig)


def test_load_toml_missing_and_invalid_files(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_toml(tmp_path / "missing.toml", ToyConfig)
    with pytest.raises(UsageError, match="is not valid TOML"):
        load_toml(write(tmp_path, "steps = = 3"), ToyConfig)


# -- stored configs -------------------------------------------------------------------------------
def test_from_dict_ignores_options_this_version_no_longer_has():
    cfg = from_dict(ToyConfig, {"steps": 5, "width": 3, "removed_option": True, "limit": None})
    assert cfg == ToyConfig(steps=5, width=3)


def test_from_dict_still_checks_types():
    with pytest.raises(UsageError, match="option 'steps' has an invalid value 'x'"):
        from_dict(ToyConfig, {"steps": "x"}, source="runs/a/config.json")


@dataclass
class RenamedConfig(TrainConfig):
    renamed = {"old_width": "width"}  # a ClassVar through TrainConfig's annotation
    width: int = option(4, "Width.")


def test_renamed_options_load_from_runs_toml_and_resumes(tmp_path):
    assert from_dict(RenamedConfig, {"old_width": 9}).width == 9
    assert load_toml(write(tmp_path, "old-width = 7"), RenamedConfig) == {"width": 7}
    merged = merge_options(RenamedConfig, {"width": 4, "resume": "r"}, {}, stored={"old_width": 2})
    assert merged["width"] == 2
    assert "renamed" not in {f.name for f in dataclasses.fields(RenamedConfig)}


def test_to_dict_from_dict_round_trip():
    cfg = ToyConfig(steps=7, fast=True, scale=3, weights="w.pt", lr=0.5)
    assert from_dict(ToyConfig, to_dict(cfg)) == cfg


# -- merging a run's sources --------------------------------------------------------------------
def test_merge_options_precedence_is_stored_then_toml_then_command_line(tmp_path):
    explicit = {"label": "cli", "steps": 300, "resume": "runs/a"}
    values = {**to_dict(ToyConfig()), **explicit}  # as parsed: defaults plus what was given
    stored = {"width": 16, "ratio": 0.25, "label": "stored", "steps": 100, "resume": None}
    stored["removed_option"] = True  # an option this version no longer has
    toml = write(tmp_path, 'ratio = 0.75\nlabel = "toml"\n')

    merged = merge_options(ToyConfig, values, explicit, stored=stored, config_file=toml)

    assert merged["width"] == 16  # stored over the default
    assert merged["ratio"] == 0.75  # TOML over stored
    assert merged["label"] == "cli"  # command line over TOML and stored
    assert merged["steps"] == 300  # command line over stored
    assert merged["fast"] is False  # nobody set it: the default
    assert merged["resume"] == "runs/a"
    assert "removed_option" not in merged
    assert ToyConfig(**merged) == ToyConfig(
        width=16, ratio=0.75, label="cli", steps=300, resume="runs/a"
    )


def test_merge_options_without_stored_config_or_file():
    values = to_dict(ToyConfig(width=3))
    assert merge_options(ToyConfig, values, {"width": 3}) == values


def test_merge_options_keeps_resume_from_the_command_line(tmp_path):
    """Neither a stored config nor a TOML file changes the run to continue."""
    values = to_dict(ToyConfig())
    toml = write(tmp_path, 'resume = "runs/other"\nwidth = 4\n')
    merged = merge_options(ToyConfig, values, {}, stored={"resume": "runs/old"}, config_file=toml)
    assert merged["resume"] is None
    assert merged["width"] == 4


def test_merge_options_checks_the_toml_file(tmp_path):
    toml = write(tmp_path, "widht = 4\n")
    with pytest.raises(UsageError, match="did you mean width"):
        merge_options(ToyConfig, to_dict(ToyConfig()), {}, config_file=toml)
