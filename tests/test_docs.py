"""Meta-tests of docs/plugins.md: every hook of imgen/hookspecs.py is documented there with its
signature and its register callback, and exercised (by its documented example, and by a
plugin implementing every hook); its code blocks parse and its commands exist."""

from __future__ import annotations

import ast
import inspect
import re
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from imgen import hookspecs
from imgen.plugins import REGISTER_HOOKS, PluginHost

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
TEXT = DOC.read_text()

pytestmark = pytest.mark.usefixtures("clean_plugin_env")


def hooks() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(fn)
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("imgen_")
    }


def section(title: str, text: str = TEXT, level: str = "##") -> str:
    """The text under the heading ``title`` up to the next heading of the same level."""
    match = re.search(rf"^{level} {re.escape(title)}\n(.*?)(?=^{level} |\Z)", text, re.M | re.S)
    assert match, f"{DOC.name} has no section {level} {title}"
    return match.group(1)


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


REFERENCE = section("Hook reference")


def hook_section(name: str) -> str:
    return section(f"`{name}{hooks()[name]}`", REFERENCE, level="###")


# -- documented ---------------------------------------------------------------------------------
def test_hookspecs_has_hooks():
    assert set(hooks()) >= {"imgen_register_tasks", "imgen_register_commands"}


def test_every_hook_is_documented_with_its_signature():
    documented = set(re.findall(r"^### `(.+)`$", REFERENCE, re.M))
    assert documented == {f"{name}{signature}" for name, signature in hooks().items()}


@pytest.mark.parametrize("name", sorted(hooks()))
def test_the_register_callback_is_documented_as_hookspecs_says(name):
    """The ``register(...)`` call a hook's docstring gives is the one the docs give."""
    calls = re.findall(r"``(register\(.*?\))``", inspect.getdoc(getattr(hookspecs, name)) or "")
    if name in REGISTER_HOOKS:
        assert calls, f"hookspecs.{name} does not document its register callback"
    for call in calls:
        assert f"`{call}`" in hook_section(name)


# -- exercised ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(hooks()))
def test_each_hooks_documented_example_works(name, make_plugin):
    (example,) = blocks(hook_section(name), "python")
    host = PluginHost(
        entry_points=[make_plugin("doc", "import imgen\n" + example)], report=pytest.fail
    )
    info = host.plugins["doc"]
    if name in REGISTER_HOOKS:
        registered = host.registries  # collects the registrations
        assert info.status == "ok", info.error
        assert info.hooks == [name]
        kind, names = next(iter(info.registered.items()))
        assert len(info.registered) == 1 and len(names) == 1
        assert names[0] in getattr(registered, kind)
    else:
        cli = click.Group()
        host.add_commands(cli)
        assert info.status == "ok", info.error
        (command,) = cli.commands.values()
        assert CliRunner().invoke(cli, [command.name]).output == "hello\n"


def test_the_host_calls_every_hook_with_its_arguments(make_plugin):
    """A plugin implementing every hook of hookspecs.py: each is called once by the host with
    exactly the arguments its signature names (a new hook that nothing calls fails here)."""
    source = ["from imgen import hookimpl", "CALLS = []"]
    for name, signature in hooks().items():
        args = list(signature.parameters)
        source += [
            "@hookimpl",
            f"def {name}({', '.join(args)}):",
            f"    CALLS.append(({name!r}, {{{', '.join(f'{a!r}: {a}' for a in args)}}}))",
        ]
    ep = make_plugin("every", "\n".join(source) + "\n")
    host = PluginHost(entry_points=[ep], report=pytest.fail)
    host.registries  # noqa: B018 - runs the register hooks
    cli = click.Group()
    host.add_commands(cli)

    calls = sys.modules[ep.value].CALLS
    assert sorted(name for name, _ in calls) == sorted(hooks())
    for name, arguments in calls:
        assert list(arguments) == list(hooks()[name].parameters)
        if "register" in arguments:
            assert callable(arguments["register"])
        if "cli" in arguments:
            assert arguments["cli"] is cli
    assert host.plugins["every"].hooks == sorted(hooks())


# -- the rest of the page -----------------------------------------------------------------------
@pytest.mark.parametrize("index", range(len(blocks(TEXT, "python"))))
def test_python_blocks_parse(index):
    ast.parse(blocks(TEXT, "python")[index])


def test_imgen_commands_in_the_docs_exist():
    from imgen.cli import cli

    used = {
        line.split()[1]
        for block in blocks(TEXT, "bash")
        for line in block.splitlines()
        if line.startswith("imgen ")
    }
    assert used >= {"new-plugin", "install", "uninstall", "plugins", "tasks", "train", "eval"}
    assert used <= set(cli.commands)


def test_the_docs_are_linked_from_hookspecs():
    assert "docs/plugins.md" in inspect.getdoc(hookspecs)
