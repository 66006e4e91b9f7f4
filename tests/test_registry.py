"""Tests for imgen.registry: names, glob patterns, lazy targets, clashes, suggestions, roles."""

from __future__ import annotations

import sys

import pytest

from imgen.errors import RegistryError
from imgen.registry import ROLES, Registries, Registry, resolve


@pytest.fixture
def generators() -> Registry:
    registry = Registry("generator")
    registry.add("rrdbnet", "pkg.models:RRDBNet", plugin="sr", help="ESRGAN generator")
    registry.add("srresnet", "pkg.models:MSRResNet", plugin="sr")
    registry.add("rrdb_lite", dict, plugin="imgen-lite")
    registry.add("unet256", list, plugin="translate")
    return registry


@pytest.fixture
def lazy_module(make_module) -> str:
    """A fresh module exposing ``Outer.Inner`` and ``VALUE``, not yet imported."""
    return make_module(
        """
        VALUE = 42

        class Outer:
            class Inner:
                pass
        """,
        stem="lazy",
    )


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (None, ["rrdb_lite", "rrdbnet", "srresnet", "unet256"]),
        ("rrdb*", ["rrdb_lite", "rrdbnet"]),
        ("*net", ["rrdbnet", "srresnet"]),
        ("unet???", ["unet256"]),
        ("RRDB*", []),  # case-sensitive
        ("nothing*", []),
    ],
)
def test_names_match_glob_patterns_sorted(generators, pattern, expected):
    assert generators.names(pattern) == expected


def test_names_filter_on_metadata():
    metrics = Registry("metric")
    metrics.add("psnr", "m:psnr", plugin="imgen", higher_is_better=True)
    metrics.add("lpips", "m:lpips", plugin="imgen", higher_is_better=False)
    metrics.add("ssim", "m:ssim", plugin="imgen", higher_is_better=True)

    assert metrics.names(higher_is_better=True) == ["psnr", "ssim"]
    assert metrics.names("*s*", higher_is_better=False) == ["lpips"]


def test_container_protocol_and_entries(generators):
    assert "rrdbnet" in generators
    assert "rrdbnt" not in generators
    assert len(generators) == 4
    assert list(generators) == ["rrdb_lite", "rrdbnet", "srresnet", "unet256"]
    entry = generators.entry("rrdbnet")
    assert (entry.name, entry.plugin, entry.help) == ("rrdbnet", "sr", "ESRGAN generator")
    assert generators.entry("srresnet").help == ""


def test_get_returns_objects_registered_directly(generators):
    assert generators.get("rrdb_lite") is dict


def test_lazy_target_is_imported_only_on_get(lazy_module):
    registry = Registry("loss")
    registry.add("inner", f"{lazy_module}:Outer.Inner", plugin="p")
    registry.add("value", f"{lazy_module}:VALUE", plugin="p")

    assert registry.names() == ["inner", "value"]
    assert registry.entry("inner").target == f"{lazy_module}:Outer.Inner"
    assert lazy_module not in sys.modules  # registering and listing import nothing

    inner = registry.get("inner")
    assert lazy_module in sys.modules
    assert inner is sys.modules[lazy_module].Outer.Inner
    assert registry.get("value") == 42


def test_lazy_target_that_does_not_exist_fails_only_on_get():
    registry = Registry("generator")
    registry.add("ghost", "imgen_no_such_module_xyz:Ghost", plugin="p")  # no error yet
    assert registry.names() == ["ghost"]
    with pytest.raises(ModuleNotFoundError, match="imgen_no_such_module_xyz"):
        registry.get("ghost")


def test_resolve_module_without_attribute_and_non_strings(lazy_module):
    assert resolve(lazy_module) is sys.modules[lazy_module]
    marker = object()
    assert resolve(marker) is marker


def test_duplicate_name_names_both_plugins(generators):
    with pytest.raises(RegistryError) as info:
        generators.add("rrdbnet", "other.models:RRDBNet", plugin="imgen-esrgan-plus")
    message = str(info.value)
    assert "'rrdbnet'" in message
    assert "'sr'" in message
    assert "'imgen-esrgan-plus'" in message
    assert generators.entry("rrdbnet").plugin == "sr"  # the first registration survives


def test_empty_name_is_refused():
    with pytest.raises(RegistryError, match="plugin 'p' registered a task without a name"):
        Registry("task").add("", object(), plugin="p")


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("rrdbnt", "rrdbnet"), ("srresnt", "srresnet"), ("unet", "unet256")],
)
def test_unknown_name_suggests_the_closest(generators, typo, suggestion):
    with pytest.raises(RegistryError) as info:
        generators.get(typo)
    message = str(info.value)
    assert message.startswith(f"unknown generator {typo!r}")
    assert f"did you mean {suggestion!r}" in message


def test_unknown_name_without_close_match_lists_registered(generators):
    with pytest.raises(RegistryError, match="registered: rrdb_lite, rrdbnet, srresnet, unet256"):
        generators.entry("pix2pixhd")
    with pytest.raises(RegistryError, match="unknown task 'sr'; registered: none"):
        Registry("task").get("sr")


def test_remove_forgets_a_name(generators):
    generators.remove("rrdbnet")
    generators.remove("never-registered")  # no error
    assert "rrdbnet" not in generators
    generators.add("rrdbnet", dict, plugin="other")  # the name is free again
    assert generators.entry("rrdbnet").plugin == "other"


@pytest.mark.parametrize(
    ("kind", "plural"),
    [("task", "tasks"), ("generator", "generators"), ("loss", "losses"), ("metric", "metrics")],
)
def test_plural_names_the_registries_attribute(kind, plural):
    assert Registry(kind).plural == plural
    assert getattr(Registries(), plural).kind == kind


def test_model_roles_are_separate_namespaces():
    registries = Registries()
    registries.models("generator").add("unet", "a:UNet", plugin="translate")
    registries.models("discriminator").add("unet", "b:UNetDiscriminator", plugin="sr")

    assert registries.models("generator") is registries.generators
    assert registries.models("discriminator") is registries.discriminators
    assert registries.generators.entry("unet").plugin == "translate"
    assert registries.discriminators.entry("unet").plugin == "sr"
    assert ROLES == ("generator", "discriminator")


@pytest.mark.parametrize("role", ["critic", "Generator", "", "generators"])
def test_unknown_model_role_is_an_error(role):
    with pytest.raises(RegistryError, match="use generator or discriminator"):
        Registries().models(role)


def test_each_registries_object_is_independent():
    first, second = Registries(), Registries()
    first.tasks.add("sr", object(), plugin="sr")
    assert "sr" not in second.tasks
