"""Tests for imgen.plugins: loading, failure isolation, clashes, allow/block lists, entry points.

Each host here is isolated: it sees only the core's registrations and the entry points a test
builds (modules written to tmp_path), never the installed plugins. The last tests check the
real, installed entry points.
"""

from __future__ import annotations

import sys
from importlib import metadata

import pytest

from imgen import __version__
from imgen.errors import RegistryError
from imgen.plugins import (
    CORE_PLUGIN,
    ENTRY_POINT_GROUP,
    PluginHost,
    create_model,
    create_task,
    get_host,
)

pytestmark = pytest.mark.usefixtures("clean_plugin_env")

TOY = """
    from imgen import hookimpl
    from imgen.task import Task


    class ToyTask(Task):
        name = "toy"
        help = "a toy task"


    def toynet(**kwargs):
        return kwargs


    def picky(scale=4, width=8):
        return {"scale": scale, "width": width}


    @hookimpl
    def imgen_register_tasks(register):
        register(ToyTask())


    @hookimpl
    def imgen_register_models(register):
        register("toynet", f"{__name__}:toynet", role="generator", help="tiny")
        register("picky", f"{__name__}:picky")
        register("toycritic", f"{__name__}:toynet", role="discriminator")


    @hookimpl
    def imgen_register_losses(register):
        register("toyloss", f"{__name__}:toynet")


    @hookimpl
    def imgen_register_metrics(register):
        register("toymetric", f"{__name__}:toynet", higher_is_better=False)
"""

BROKEN_IMPORT = """
    raise ImportError("imgen-broken needs libfoo >= 2")
"""


def registers(kind: str, *names: str, role: str | None = None, fail: str = "") -> str:
    """Source of a plugin whose ``imgen_register_{kind}`` registers ``names`` (then raises)."""
    option = f", role={role!r}" if role else ""
    lines = "\n".join(f"        register({n!r}, 'builtins:dict'{option})" for n in names)
    raise_line = f"        raise RuntimeError({fail!r})" if fail else ""
    return (
        "from imgen import hookimpl\n\n"
        "@hookimpl\n"
        f"def imgen_register_{kind}(register):\n{lines}\n{raise_line}\n"
    )


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def host_of(lines):
    """``host_of(*entry_points)``: an isolated host that reports into ``lines``."""

    def build(*entry_points: metadata.EntryPoint) -> PluginHost:
        return PluginHost(entry_points=list(entry_points), report=lines.append)

    return build


def plugin_names(registry) -> list[str]:
    """Names registered by plugins (the core registers shared models such as resnet too)."""
    return [e.name for e in registry.entries() if e.plugin != "imgen"]


# -- registering ---------------------------------------------------------------------------------
def test_plugin_registrations_show_up_in_registries_and_plugin_info(make_plugin, host_of, lines):
    host = host_of(make_plugin("toy", TOY, distribution="imgen-toy", version="1.2.3"))
    registries = host.registries

    assert registries.tasks.names() == ["toy"]
    assert registries.tasks.entry("toy").help == "a toy task"
    assert plugin_names(registries.generators) == ["picky", "toynet"]
    assert plugin_names(registries.discriminators) == ["toycritic"]
    assert "toyloss" in registries.losses and "l1" in registries.losses  # core's too
    assert registries.metrics.names(higher_is_better=False) == ["l1", "lpips", "toymetric"]
    assert registries.generators.entry("toynet").plugin == "toy"

    info = host.plugins["toy"]
    assert (info.status, info.version, info.distribution) == ("ok", "1.2.3", "imgen-toy")
    assert info.registered == {
        "tasks": ["toy"],
        "generators": ["toynet", "picky"],
        "discriminators": ["toycritic"],
        "losses": ["toyloss"],
        "metrics": ["toymetric"],
    }
    assert info.hooks == [
        "imgen_register_losses",
        "imgen_register_metrics",
        "imgen_register_models",
        "imgen_register_tasks",
    ]
    assert lines == []


def test_core_plugin_is_always_there(host_of):
    host = host_of()
    core = host.plugins[CORE_PLUGIN]
    assert (core.name, core.version, core.distribution, core.status) == (
        "imgen",
        __version__,
        "imgen",
        "ok",
    )
    assert list(host.plugins) == ["imgen"]
    host.registries  # noqa: B018 - registrations are collected on first use
    losses = ["l1", "l2", "charbonnier", "perceptual", "gan"]
    assert core.as_dict()["registered"]["losses"] == losses
    assert set(core.as_dict()) == {
        "name",
        "version",
        "distribution",
        "hooks",
        "registered",
        "status",
        "error",
        "notes",
    }


def test_registries_are_collected_once(make_plugin, host_of):
    host = host_of(make_plugin("toy", TOY))
    assert host.registries is host.registries


def test_create_task_and_create_model_use_the_global_host(make_plugin, isolated_host):
    isolated_host([make_plugin("toy", TOY)])

    first, second = create_task("toy"), create_task("toy")
    assert type(first).__name__ == "ToyTask"
    assert first is not second  # tasks keep per-run state: a fresh one each time
    # offered options reach a factory only when it accepts them (or takes **kwargs) ...
    offered = {"scale": 2, "num_feat": 64}
    assert create_model("picky", offered=offered) == {"scale": 2, "width": 8}
    assert create_model("toynet", offered=offered) == {"scale": 2, "num_feat": 64}
    assert create_model("toycritic", role="discriminator", a=1) == {"a": 1}
    # ... while a keyword argument it does not take is a typo, named with what it accepts
    with pytest.raises(RegistryError, match=r"takes no argument 'num_feat'; it accepts: scale"):
        create_model("picky", scale=2, num_feat=64)
    assert create_model("picky", scale=3, offered={"scale": 2}) == {"scale": 3, "width": 8}
    with pytest.raises(RegistryError, match="did you mean 'toynet'"):
        create_model("toynt")


def test_duplicate_entry_points_load_once(make_plugin, host_of, lines):
    ep = make_plugin("toy", TOY)
    host = host_of(ep, ep)  # editable installs can list an entry point twice
    assert host.plugins["toy"].status == "ok"
    assert host.registries.tasks.names() == ["toy"]
    assert lines == []


# -- failures -------------------------------------------------------------------------------------
def test_plugin_failing_on_import_is_reported_in_one_line(make_plugin, host_of, lines):
    broken = make_plugin("broken", BROKEN_IMPORT, distribution="imgen-broken", version="0.3")
    host = host_of(broken, make_plugin("toy", TOY))

    assert len(lines) == 1
    assert "\n" not in lines[0]
    assert "'broken'" in lines[0]
    assert "(imgen-broken 0.3)" in lines[0]
    assert "failed to load" in lines[0]
    assert "ImportError: imgen-broken needs libfoo >= 2" in lines[0]

    info = host.plugins["broken"]
    assert info.status == "error"
    assert info.error == "ImportError: imgen-broken needs libfoo >= 2"
    # the others still load
    assert host.plugins["toy"].status == "ok"
    assert host.registries.tasks.names() == ["toy"]
    assert host.plugins[CORE_PLUGIN].status == "ok"


def test_plugin_without_distribution_is_named_alone(make_plugin, host_of, lines):
    host_of(make_plugin("broken", BROKEN_IMPORT))
    assert lines == [
        "imgen: plugin 'broken' failed to load: ImportError: imgen-broken needs libfoo >= 2"
    ]


def test_failing_hook_is_reported_and_its_registrations_rolled_back(make_plugin, host_of, lines):
    half = make_plugin(
        "half",
        registers("tasks", "halftask")
        + registers("models", "halfnet", "halfnet2", fail="no weights\nfor halfnet"),
    )
    host = host_of(half, make_plugin("toy", TOY))
    registries = host.registries

    assert len(lines) == 1
    assert lines[0] == (
        "imgen: plugin 'half' hook imgen_register_models raised: "
        "RuntimeError: no weights for halfnet"
    )
    # what the failing hook registered, and what its earlier hook registered, is gone
    assert "halfnet" not in registries.generators
    assert "halfnet2" not in registries.generators
    assert "halftask" not in registries.tasks
    info = host.plugins["half"]
    assert (info.status, info.registered, info.hooks) == ("error", {}, [])
    assert registries.tasks.names() == ["toy"]
    assert host.plugins["toy"].status == "ok"


def test_bad_registration_is_a_hook_failure(make_plugin, host_of, lines):
    host = host_of(make_plugin("odd", registers("models", "oddnet", role="critic")))
    assert plugin_names(host.registries.generators) == []
    assert host.plugins["odd"].status == "error"
    assert "unknown model role 'critic'" in lines[0]


def test_name_clash_names_both_plugins_and_first_survives(make_plugin, host_of, lines):
    alpha = make_plugin("alpha", registers("models", "dupnet", "alphanet"))
    beta = make_plugin("beta", registers("models", "betanet", "dupnet"))
    host = host_of(beta, alpha)  # loaded by name: alpha first, whatever the order found
    registries = host.registries

    assert len(lines) == 1
    assert "'alpha'" in lines[0] and "'beta'" in lines[0] and "'dupnet'" in lines[0]
    assert registries.generators.entry("dupnet").plugin == "alpha"
    assert plugin_names(registries.generators) == ["alphanet", "dupnet"]  # betanet rolled back
    assert host.plugins["alpha"].status == "ok"
    assert host.plugins["beta"].status == "error"
    assert "registered by both plugin 'alpha' and plugin 'beta'" in host.plugins["beta"].error


def test_clash_with_the_core_blames_the_plugin(make_plugin, host_of, lines):
    host = host_of(make_plugin("zzz", registers("losses", "l1")))
    registries = host.registries

    assert registries.losses.entry("l1").plugin == "imgen"
    assert host.plugins["imgen"].status == "ok"
    assert "psnr" in registries.metrics  # the core's later hooks still ran
    assert host.plugins["zzz"].status == "error"
    assert "'zzz'" in lines[0] and "'imgen'" in lines[0]


# -- allow / block lists, strict mode -------------------------------------------------------------
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("IMGEN_LOAD_PLUGINS", "alpha"),
        ("IMGEN_LOAD_PLUGINS", " alpha , nothere,"),
        ("IMGEN_DISABLE_PLUGINS", "beta"),
        ("IMGEN_DISABLE_PLUGINS", "gamma, beta"),
    ],
)
def test_allow_and_block_lists(make_plugin, host_of, monkeypatch, lines, variable, value):
    monkeypatch.setenv(variable, value)
    alpha = make_plugin("alpha", registers("models", "alphanet"))
    beta = make_plugin("beta", registers("models", "betanet"))
    host = host_of(alpha, beta)

    assert host.plugins["alpha"].status == "ok"
    assert host.plugins["beta"].status == "disabled"
    assert beta.value not in sys.modules  # a disabled plugin is not even imported
    assert plugin_names(host.registries.generators) == ["alphanet"]
    assert host.registries.losses.names()  # the core is not an entry point: always loaded
    assert lines == []


def test_empty_allow_list_disables_every_entry_point(make_plugin, host_of, monkeypatch):
    monkeypatch.setenv("IMGEN_LOAD_PLUGINS", "")
    host = host_of(make_plugin("alpha", registers("models", "alphanet")))
    assert host.plugins["alpha"].status == "disabled"
    assert host.plugins["imgen"].status == "ok"


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_strict_mode_reraises_import_errors(make_plugin, host_of, monkeypatch, value):
    monkeypatch.setenv("IMGEN_STRICT_PLUGINS", value)
    with pytest.raises(ImportError, match="needs libfoo"):
        host_of(make_plugin("broken", BROKEN_IMPORT))


def test_strict_mode_reraises_hook_errors(make_plugin, host_of, monkeypatch):
    monkeypatch.setenv("IMGEN_STRICT_PLUGINS", "1")
    host = host_of(make_plugin("half", registers("models", "halfnet", fail="boom")))
    with pytest.raises(RuntimeError, match="boom"):
        host.registries  # noqa: B018


@pytest.mark.parametrize("value", ["0", "false", "no", ""])
def test_strict_mode_off(make_plugin, host_of, monkeypatch, lines, value):
    monkeypatch.setenv("IMGEN_STRICT_PLUGINS", value)
    host = host_of(make_plugin("broken", BROKEN_IMPORT))
    assert host.plugins["broken"].status == "error"
    assert len(lines) == 1


# -- hook signatures ----------------------------------------------------------------------------
def test_hookimpl_may_take_a_subset_of_the_arguments(make_plugin, host_of, lines):
    ep = make_plugin(
        "quiet",
        """
        from imgen import hookimpl

        CALLS = []


        @hookimpl
        def imgen_register_tasks():
            CALLS.append("tasks")
        """,
    )
    host = host_of(ep)
    host.registries  # noqa: B018
    assert sys.modules[ep.value].CALLS == ["tasks"]
    assert host.plugins["quiet"].status == "ok"
    assert host.plugins["quiet"].hooks == ["imgen_register_tasks"]
    assert lines == []


def test_hookimpl_asking_for_a_missing_argument_is_a_clear_error(make_plugin, host_of, lines):
    ep = make_plugin(
        "future",
        """
        from imgen import hookimpl


        @hookimpl
        def imgen_register_models(register, device):
            register("futurenet", "builtins:dict")
        """,
        distribution="imgen-future",
        version="9.0",
    )
    host = host_of(ep, make_plugin("toy", TOY))

    assert lines == [
        f"imgen: plugin 'future' (imgen-future 9.0) failed to load: RegistryError: "
        f"imgen_register_models asks for device, which imgen {__version__} does not provide; "
        f"upgrade imgen"
    ]
    assert host.plugins["future"].status == "error"
    assert "does not provide; upgrade imgen" in host.plugins["future"].error
    assert "futurenet" not in host.registries.generators
    assert "toynet" in host.registries.generators


def test_hookimpl_of_a_hook_this_imgen_lacks_is_ignored_with_a_note(make_plugin, host_of, lines):
    ep = make_plugin(
        "newer",
        """
        from imgen import hookimpl


        @hookimpl
        def imgen_register_exporters(register):
            raise AssertionError("never called")


        @hookimpl
        def imgen_register_losses(register):
            register("newloss", "builtins:dict")
        """,
    )
    host = host_of(ep)
    assert "newloss" in host.registries.losses
    info = host.plugins["newer"]
    assert info.status == "ok"
    assert info.hooks == ["imgen_register_losses"]  # only hooks this imgen has
    assert info.notes == [
        f"imgen_register_exporters is not a hook of imgen {__version__} and is ignored "
        f"(a newer imgen may have it)"
    ]
    assert lines == []  # a note, not an error: nothing on stderr


def test_a_misspelt_hook_gets_a_suggestion(make_plugin, host_of):
    ep = make_plugin(
        "typo",
        """
        from imgen import hookimpl


        @hookimpl
        def imgen_register_model(register):
            register("typonet", "builtins:dict")
        """,
    )
    host = host_of(ep)
    assert "typonet" not in host.registries.generators
    (note,) = host.plugins["typo"].notes
    assert note.endswith("is ignored; did you mean imgen_register_models?")


FUTURE_SPECS = """
    import pluggy

    hookspec = pluggy.HookspecMarker("imgen")


    @hookspec
    def imgen_register_models(register, device):
        \"\"\"A later imgen passes the device too.\"\"\"
"""


def test_adding_an_argument_to_a_hook_does_not_break_older_plugins(make_module, make_plugin):
    """Play a future imgen whose imgen_register_models also takes ``device``: a plugin
    written for today's hook (``register`` only) loads and is called with what it asks for."""
    import importlib

    from imgen.plugins import call_hookimpl

    specs = importlib.import_module(make_module(FUTURE_SPECS, stem="specs"))
    old = make_plugin("old", registers("models", "oldnet"))
    host = PluginHost(entry_points=[old], report=pytest.fail, specs=specs)
    assert host.plugins["old"].status == "ok"

    (impl,) = [
        i for i in host.pm.hook.imgen_register_models.get_hookimpls() if i.plugin_name == "old"
    ]
    names: list[str] = []
    call_hookimpl(impl, {"register": lambda name, *a, **k: names.append(name), "device": "cpu"})
    # and through pluggy itself, which passes each implementation its own arguments
    host.pm.hook.imgen_register_models(
        register=lambda name, *a, **k: names.append(name), device="cpu"
    )
    assert names.count("oldnet") == 2


def test_every_hook_of_hookspecs_is_known_to_the_host(host_of):
    import inspect

    from imgen import hookspecs

    specified = {
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("imgen_")
    }
    assert set(host_of().hook_names()) == specified


def test_a_plugin_exiting_on_import_is_reported_not_fatal(make_plugin, host_of, lines):
    host = host_of(make_plugin("quitter", "import sys\nsys.exit('no GPU, bye')\n"))
    assert host.plugins["quitter"].status == "error"
    assert lines == ["imgen: plugin 'quitter' failed to load: SystemExit: no GPU, bye"]


COMMANDS_PLUGIN = """
    import click
    from imgen import hookimpl


    @hookimpl
    def imgen_register_commands(cli):
        cli.add_command(click.Command("hello", callback=lambda: None))
        cli.add_command(click.Command("{name}", callback=lambda: None))
"""


def test_a_plugin_cannot_replace_imgens_own_commands(make_plugin, host_of, lines):
    import click

    cli = click.Group(commands=[click.Command("uninstall"), click.Command("tasks")])
    original = dict(cli.commands)
    host = host_of(make_plugin("hijack", COMMANDS_PLUGIN.replace("{name}", "uninstall")))
    host.add_commands(cli)
    assert cli.commands == original  # "hello" is rolled back too
    assert lines == [
        "imgen: plugin 'hijack' hook imgen_register_commands raised: RegistryError: command "
        "'uninstall' exists already; give the plugin's command another name"
    ]

    ok = host_of(make_plugin("polite", COMMANDS_PLUGIN.replace("{name}", "bye")))
    ok.add_commands(cli)
    assert sorted(cli.commands) == ["bye", "hello", "tasks", "uninstall"]
    assert cli.commands["uninstall"] is original["uninstall"]


# -- the installed entry points -------------------------------------------------------------------
def test_installed_distribution_exposes_the_sr_entry_point():
    (ep,) = [e for e in metadata.entry_points(group=ENTRY_POINT_GROUP) if e.name == "sr"][:1]
    assert ep.value == "imgen_sr"
    assert ep.group == "imgen"
    assert ep.dist is not None and ep.dist.name == "imgen"
    assert ep.load().__name__ == "imgen_sr"


def test_default_host_loads_the_installed_plugins(isolated_host):
    host = PluginHost()  # from the installed entry points
    assert host.plugins["sr"].status == "ok"
    assert host.plugins["sr"].distribution == "imgen"
    assert host.registries.tasks.entry("sr").plugin == "sr"
    assert get_host() is not host and get_host() is get_host()
