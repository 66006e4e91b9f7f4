"""``imgen new-plugin NAME``: the skeleton it writes, its errors, and the real thing: the
skeleton installs (``imgen install -e``, no network), shows in ``imgen plugins`` and passes
its own tests."""

from __future__ import annotations

import ast
import shutil
import subprocess

import pytest
from childenv import ChildEnv
from click.testing import CliRunner

from imgen import __version__
from imgen.cli import cli
from imgen.cli.scaffold import plugin_names

FILES = [
    "README.md",
    "pyproject.toml",
    "src/imgen_{p}/__init__.py",
    "src/imgen_{p}/models.py",
    "src/imgen_{p}/task.py",
    "tests/test_imgen_{p}.py",
]


def new_plugin(*args: str):
    return CliRunner().invoke(cli, ["new-plugin", *args])


@pytest.mark.parametrize(
    ("name", "package", "dist", "model"),
    [
        ("demo", "imgen_demo", "imgen-demo", "demo-net"),
        ("my-task", "imgen_my_task", "imgen-my-task", "my-task-net"),
        ("deblur_2x", "imgen_deblur_2x", "imgen-deblur-2x", "deblur-2x-net"),
    ],
)
def test_the_skeleton_names_follow_the_plugin_name(tmp_path, name, package, dist, model):
    result = new_plugin(name, "--out", str(tmp_path / "p"))
    assert result.exit_code == 0, result.output

    files = sorted(
        str(p.relative_to(tmp_path / "p")) for p in (tmp_path / "p").rglob("*") if p.is_file()
    )
    assert files == sorted(f.format(p=package[len("imgen_") :]) for f in FILES)
    assert set(result.stdout.splitlines()) == {str(tmp_path / "p" / f) for f in files}
    pyproject = (tmp_path / "p" / "pyproject.toml").read_text()
    assert f'name = "{dist}"' in pyproject
    assert f'[project.entry-points.imgen]\n{name} = "{package}"' in pyproject
    assert f'"imgen>={__version__}"' in pyproject
    hooks = (tmp_path / "p" / "src" / package / "__init__.py").read_text()
    assert f'name="{name}"' in hooks and f'"{model}"' in hooks
    for path in (tmp_path / "p").rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))  # valid Python, no $placeholders left
        assert "$" not in path.read_text()
    assert f"imgen install -e {tmp_path / 'p'}" in result.stderr  # what to do next


def test_default_folder_is_the_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = new_plugin("demo")
    assert result.exit_code == 0, result.output
    assert "demo/pyproject.toml" in result.stdout.splitlines()
    assert (tmp_path / "demo" / "src" / "imgen_demo" / "task.py").exists()


@pytest.mark.parametrize("name", ["Demo", "9lives", "my task", "a--b", "x-", "imgen.foo", ""])
def test_invalid_names_are_refused(tmp_path, name):
    result = new_plugin(name, "--out", str(tmp_path / "p"))
    assert result.exit_code == 2
    assert f"plugin name {name!r} is not valid; use lowercase letters and digits" in result.output
    assert not (tmp_path / "p").exists()


def test_a_folder_with_files_is_not_overwritten(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "mine.txt").write_text("keep me")
    result = new_plugin("demo", "--out", str(tmp_path / "p"))
    assert result.exit_code == 2
    assert "exists and is not empty; pick another --out folder or --force" in result.output
    assert [p.name for p in (tmp_path / "p").iterdir()] == ["mine.txt"]

    forced = new_plugin("demo", "--out", str(tmp_path / "p"), "--force")
    assert forced.exit_code == 0
    assert (tmp_path / "p" / "mine.txt").read_text() == "keep me"
    assert (tmp_path / "p" / "pyproject.toml").exists()


def test_plugin_names_example():
    assert plugin_names("my-task") == {
        "name": "my-task",
        "package": "imgen_my_task",
        "dist": "imgen-my-task",
        "cls": "MyTask",
        "cls_config": "MyTaskConfig",
        "model": "my-task-net",
        "model_cls": "MyTaskNet",
        "imgen_version": __version__,
    }


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_the_skeleton_is_lint_clean(tmp_path):
    assert new_plugin("my-task", "--out", str(tmp_path / "p")).exit_code == 0
    ruff = shutil.which("ruff")
    rules = "E,F,W,I,B,UP,N,SIM,RUF"  # imgen's own selection
    check = subprocess.run(
        [ruff, "check", "--select", rules, "."], cwd=tmp_path / "p", capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run(
        [ruff, "format", "--check", "."], cwd=tmp_path / "p", capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout


def test_the_skeleton_installs_and_passes_its_own_tests(tmp_path):
    """imgen new-plugin demo -> imgen install -e demo -> imgen plugins -> pytest demo."""
    env = ChildEnv(tmp_path / "env")
    made = env.imgen("new-plugin", "demo", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    env.install_local(tmp_path / "demo", editable=True)

    plugins = env.imgen("plugins")
    assert plugins.returncode == 0, plugins.stderr
    assert (
        "demo 0.1.0 (ok)\n  hooks: imgen_register_models, imgen_register_tasks\n" in plugins.stdout
    )
    assert "  tasks: demo\n  generators: demo-net\n" in plugins.stdout

    tests = env.run("-m", "pytest", "-q", "-p", "no:cacheprovider", "demo", cwd=tmp_path)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
