"""Shared fixtures: tiny real photos (crops of scikit-image's samples), no network."""

from __future__ import annotations

import importlib
import itertools
import os
import re
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

# Nothing in the suite may use the network: pretrained weights and published models are never
# downloaded (set here, at import, so that the CLI's subprocesses inherit it too). Tests of the
# download path unset it and serve files from a local http.server thread (tests/test_hub.py).
os.environ["IMGEN_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory) -> Path:
    """Four 64x64 crops of real photos (astronaut, coffee, chelsea, rocket) as PNG files."""
    folder = tmp_path_factory.mktemp("photos")
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        image = np.asarray(getattr(skimage.data, name)())
        h, w = image.shape[:2]
        crop = image[h // 2 - 32 : h // 2 + 32, w // 2 - 32 : w // 2 + 32]
        Image.fromarray(crop).save(folder / f"{name}.png")
    return folder


# -- plugin fixtures ------------------------------------------------------------------------------
_PLUGIN_ENV = ("IMGEN_LOAD_PLUGINS", "IMGEN_DISABLE_PLUGINS", "IMGEN_STRICT_PLUGINS")
_module_numbers = itertools.count()


@pytest.fixture
def clean_plugin_env(monkeypatch):
    """No IMGEN_LOAD_PLUGINS / IMGEN_DISABLE_PLUGINS / IMGEN_STRICT_PLUGINS from outside."""
    for name in _PLUGIN_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_module(tmp_path, monkeypatch):
    """``make_module(source, stem)`` writes a uniquely named module importable by the test.

    Returns the module name; the module is dropped from ``sys.modules`` afterwards.
    """
    folder = tmp_path / "modules"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    created: list[str] = []

    def make(source: str, stem: str = "mod") -> str:
        safe = re.sub(r"\W", "_", stem)
        name = f"imgen_test_{safe}_{next(_module_numbers)}"
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        created.append(name)
        return name

    yield make
    for name in created:
        sys.modules.pop(name, None)


@pytest.fixture
def make_plugin(tmp_path, make_module):
    """``make_plugin(name, source, distribution=None, version="1.0")`` -> an ``EntryPoint``.

    The entry point is in group ``imgen`` and points at a new module holding ``source``. With
    ``distribution`` it belongs to a real (not installed) distribution with that name/version.
    """
    dists = tmp_path / "dists"  # not on sys.path: the real host never sees these

    def make(
        name: str, source: str, distribution: str | None = None, version: str = "1.0"
    ) -> metadata.EntryPoint:
        module = make_module(source, stem=name)
        if distribution is None:
            return metadata.EntryPoint(name=name, value=module, group="imgen")
        info = dists / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
        )
        (info / "entry_points.txt").write_text(f"[imgen]\n{name} = {module}\n")
        (ep,) = metadata.PathDistribution(info).entry_points.select(group="imgen", name=name)
        return ep

    return make


class HostInstaller:
    """Installs a :class:`imgen.plugins.PluginHost` built from given entry points as the global
    host; what it reports is collected in ``reports``."""

    def __init__(self) -> None:
        self.reports: list[str] = []

    def __call__(self, entry_points=(), *, report=None):
        from imgen import plugins
        from imgen.cli import cli

        host = plugins.PluginHost(
            entry_points=list(entry_points), report=report or self.reports.append
        )
        plugins.set_host(host)
        cli._plugin_commands_added = False  # let this host's plugins add their commands
        return host


@pytest.fixture
def isolated_host(clean_plugin_env):
    """A function that installs a host built from the given entry points (only the core's
    own registrations besides); the previous host and the CLI's commands are restored after."""
    from imgen import plugins
    from imgen.cli import cli

    previous = plugins.set_host(None)
    commands = dict(cli.commands)
    added = cli.__dict__.get("_plugin_commands_added")
    try:
        yield HostInstaller()
    finally:
        plugins.set_host(previous)
        cli.commands.clear()
        cli.commands.update(commands)
        if added is None:
            cli.__dict__.pop("_plugin_commands_added", None)
        else:
            cli._plugin_commands_added = added
