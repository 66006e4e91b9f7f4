"""``imgen install`` / ``imgen uninstall``: the pip command lines (pip mocked), and real
installs into a throwaway environment (tests/childenv.py, no network): a broken plugin, the
example plugin examples/imgen-denoise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from childenv import REPO, ChildEnv
from click.testing import CliRunner

from imgen.cli import cli
from imgen.cli import install as cli_install

PIP = [sys.executable, "-m", "pip"]


@pytest.fixture
def pip_calls(monkeypatch):
    """Record the commands imgen would run instead of running pip; ``pip_calls.status`` is
    the exit status the fake pip returns."""

    class Calls(list):
        status = 0

    calls = Calls()

    def fake_run(command, check=False, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, calls.status)

    monkeypatch.setattr(cli_install.subprocess, "run", fake_run)
    return calls


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


# -- the pip command lines ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "pip_args"),
    [
        (["imgen-foo"], ["install", "imgen-foo"]),
        (["-U", "imgen-foo", "imgen-bar"], ["install", "--upgrade", "imgen-foo", "imgen-bar"]),
        (["-e", "a", "--editable", "b"], ["install", "--editable", "a", "--editable", "b"]),
        (["-e", "a", "imgen-foo"], ["install", "--editable", "a", "imgen-foo"]),
        (
            [
                "--force-reinstall",
                "--no-deps",
                "--no-build-isolation",
                "--pre",
                "--no-cache-dir",
                "x",
            ],
            [
                "install",
                "--force-reinstall",
                "--no-deps",
                "--no-build-isolation",
                "--pre",
                "--no-cache-dir",
                "x",
            ],
        ),
        (
            ["./local/path", "https://example.org/p.whl"],
            ["install", "./local/path", "https://example.org/p.whl"],
        ),
    ],
    ids=["name", "upgrade", "editable", "editable-and-name", "flags", "paths-and-urls"],
)
def test_install_runs_pip_of_this_python(pip_calls, args, pip_args):
    result = invoke("install", *args)
    assert result.exit_code == 0, result.output
    assert pip_calls == [PIP + pip_args]
    assert f"imgen: {' '.join(PIP + pip_args)}" in result.stderr  # says what it runs


@pytest.mark.parametrize(
    ("args", "pip_args"),
    [
        (["imgen-foo"], ["uninstall", "imgen-foo"]),
        (["-y", "imgen-foo", "imgen-bar"], ["uninstall", "--yes", "imgen-foo", "imgen-bar"]),
    ],
)
def test_uninstall_runs_pip_of_this_python(pip_calls, args, pip_args):
    result = invoke("uninstall", *args)
    assert result.exit_code == 0, result.output
    assert pip_calls == [PIP + pip_args]


@pytest.mark.parametrize("command", ["install", "uninstall"])
def test_pips_exit_status_is_imgens(pip_calls, command):
    pip_calls.status = 3
    assert invoke(command, "imgen-foo").exit_code == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["install"], "name at least one package to install (or -e PATH)"),
        (["uninstall"], "Missing argument 'PACKAGES...'"),
        (["uninstall", "imgen"], "removes plugins, not imgen itself; run `python -m pip uninstall"),
        (
            ["uninstall", "sr"],
            "plugin 'sr' is built into imgen; disable it with IMGEN_DISABLE_PLUGINS=sr",
        ),
    ],
    ids=["install-nothing", "uninstall-nothing", "uninstall-imgen", "uninstall-builtin"],
)
def test_usage_errors_run_no_pip(pip_calls, args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert pip_calls == []


def test_install_help_has_examples():
    result = invoke("install", "--help")
    assert result.exit_code == 0
    assert "imgen install -e examples/imgen-denoise" in result.output


# -- real installs, no network ------------------------------------------------------------------
BROKEN_PYPROJECT = """
    [build-system]
    requires = ["hatchling"]
    build-backend = "hatchling.build"

    [project]
    name = "imgen-broken"
    version = "0.3.0"

    [project.entry-points.imgen]
    broken = "imgen_broken"

    [tool.hatch.build.targets.wheel]
    packages = ["imgen_broken"]
"""


@pytest.fixture
def broken_env(tmp_path) -> ChildEnv:
    """An environment with imgen-broken installed: its entry point raises on import."""
    project = tmp_path / "imgen-broken"
    (project / "imgen_broken").mkdir(parents=True)
    (project / "pyproject.toml").write_text(textwrap.dedent(BROKEN_PYPROJECT))
    (project / "imgen_broken" / "__init__.py").write_text(
        'raise ImportError("imgen-broken needs libfoo >= 2")\n'
    )
    env = ChildEnv(tmp_path / "env")
    env.install_local(project)
    return env


REPORT = (
    "imgen: plugin 'broken' (imgen-broken 0.3.0) failed to load: "
    "ImportError: imgen-broken needs libfoo >= 2"
)


def test_a_broken_plugin_leaves_every_light_command_working(broken_env):
    help_ = broken_env.imgen("--help")
    assert help_.returncode == 0, help_.stderr
    assert "Commands:" in help_.stdout and "uninstall" in help_.stdout
    assert help_.stderr.splitlines() == [REPORT]  # one line, on stderr

    tasks = broken_env.imgen("tasks", "--json")
    assert tasks.returncode == 0, tasks.stderr
    assert "sr" in {row["name"] for row in json.loads(tasks.stdout)}

    plugins = broken_env.imgen("plugins")
    assert plugins.returncode == 0, plugins.stderr
    assert "broken 0.3.0 (error: ImportError: imgen-broken needs libfoo >= 2)" in plugins.stdout
    assert "sr 0.1.0 (ok)" in plugins.stdout


def test_uninstall_removes_a_broken_plugin_by_its_plugin_name(broken_env):
    assert list(broken_env.site_packages.glob("imgen_broken*"))  # installed for real

    result = broken_env.imgen("uninstall", "-y", "broken")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "plugin 'broken' comes from imgen-broken" in result.stderr
    assert "failed to load" not in result.stderr  # the plugin was not even imported
    assert "Successfully uninstalled imgen-broken-0.3.0" in result.stdout
    assert not list(broken_env.site_packages.glob("imgen_broken*"))
    plugins = broken_env.imgen("plugins")
    assert plugins.returncode == 0 and "broken" not in plugins.stdout + plugins.stderr


def test_the_example_plugin_installs_and_is_listed_with_its_version(tmp_path):
    env = ChildEnv(tmp_path / "env")
    env.install_local(REPO / "examples" / "imgen-denoise", editable=True)

    rows = {row["name"]: row for row in json.loads(env.imgen("tasks", "--json").stdout)}
    assert (rows["denoise"]["plugin"], rows["denoise"]["version"]) == ("denoise", "0.1.0")
    text = env.imgen("tasks").stdout
    assert any(
        line.startswith("denoise ") and line.endswith("[denoise 0.1.0]")
        for line in text.splitlines()
    )
    plugins = {row["name"]: row for row in json.loads(env.imgen("plugins", "--json").stdout)}
    assert plugins["denoise"]["distribution"] == "imgen-denoise"
    assert plugins["denoise"]["registered"] == {"tasks": ["denoise"], "generators": ["dncnn"]}

    uninstall = env.imgen("uninstall", "-y", "imgen-denoise")
    assert uninstall.returncode == 0, uninstall.stderr
    assert "denoise" not in env.imgen("tasks").stdout


NO_TORCH = """
import sys
from imgen.cli import main

sys.argv = ["imgen", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
print(f"exit={code} torch={'torch' in sys.modules}", file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args", [["install", "--help"], ["uninstall", "--help"], ["new-plugin", "--help"]], ids=str
)
def test_plugin_commands_do_not_import_torch(args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGEN_")}
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.stderr.strip().splitlines()[-1] == "exit=0 torch=False", proc.stderr
    assert "Examples:" in proc.stdout
