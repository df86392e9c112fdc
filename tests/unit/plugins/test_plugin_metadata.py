"""PluginMetadata: an immutable, hashable value; ``requires`` is always a tuple."""

from __future__ import annotations

import dataclasses

import pytest

from libra.plugins.base import PluginMetadata


def test_assignment_raises():
    meta = PluginMetadata.create(name="p", version="1.0.0", description="d")
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.version = "2.0.0"  # type: ignore[misc]
    assert meta.version == "1.0.0"


def test_create_with_author_and_requires_left_out():
    meta = PluginMetadata.create(name="p", version="1.0.0", description="d")
    assert (meta.author, meta.requires) == ("", ())


def test_create_stores_a_requires_list_as_a_tuple():
    meta = PluginMetadata.create(
        name="p", version="1", description="d", author="me", requires=["numpy>=1.20", "scipy"]
    )
    assert meta.requires == ("numpy>=1.20", "scipy")
    assert isinstance(meta.requires, tuple)


def test_create_accepts_any_iterable_of_requirements():
    meta = PluginMetadata.create(
        name="p", version="1", description="d", requires=(r for r in ["a", "b"])
    )
    assert meta.requires == ("a", "b")


def test_direct_construction_with_a_list_stores_a_tuple():
    meta = PluginMetadata(name="p", version="1", description="d", requires=["a"])  # type: ignore[arg-type]
    assert meta.requires == ("a",)
    assert isinstance(meta.requires, tuple)


def test_equal_values_are_equal_and_hash_alike():
    a = PluginMetadata.create(name="p", version="1", description="d", requires=["x"])
    b = PluginMetadata(name="p", version="1", description="d", author="", requires=("x",))
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != dataclasses.replace(a, version="2")


def test_empty_name_is_rejected():
    with pytest.raises(ValueError, match="invalid plugin name"):
        PluginMetadata.create(name="", version="1", description="d")


def test_a_single_requirement_string_is_one_requirement():
    created = PluginMetadata.create(name="p", version="1", description="d", requires="numpy>=1.20")
    direct = PluginMetadata(name="p", version="1", description="d", requires="numpy")  # type: ignore[arg-type]
    assert created.requires == ("numpy>=1.20",)
    assert direct.requires == ("numpy",)
