"""Plugin options refuse unknown keys at boot, even with a plain pydantic ``BaseModel``."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from libra.core.config import KernelConfig, load_config
from libra.core.errors import ConfigError
from libra.kernel.builder import build_all, validate_options
from libra.plugins import GatewayPlugin, PluginMetadata, PluginOptions, StrategyPlugin


class PlainParams(BaseModel):
    """A plain model, as a plugin author writes one: pydantic's default ignores extra keys."""

    period: int = 20


class AllowingParams(BaseModel):
    model_config = ConfigDict(extra="allow")

    period: int = 20


class IgnoringParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    period: int = 20


class TypedParams(PluginOptions):
    period: int = 20


class _Strategy(StrategyPlugin):
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(name=cls.__name__.lower(), version="1", description="d")

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def symbols(self) -> list[str]:
        return ["BTC/USD"]

    async def initialize(self, context: Any) -> None:
        pass

    async def on_data(self, data: Any) -> None:
        pass


class Plain(_Strategy):
    config_model: ClassVar[type[BaseModel]] = PlainParams


class Allowing(_Strategy):
    config_model: ClassVar[type[BaseModel]] = AllowingParams


class Ignoring(_Strategy):
    config_model: ClassVar[type[BaseModel]] = IgnoringParams


class Venue(GatewayPlugin):
    config_model: ClassVar[type[BaseModel]] = PlainParams

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(name="venue", version="1", description="d")

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def submit_order(self, order: Any) -> None:
        pass

    async def cancel_order(self, order: Any) -> None:
        pass


MODULE = "options_test_plugins"


@pytest.fixture(autouse=True)
def _plugins_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugins above, importable as ``options_test_plugins:<Class>``."""
    module = types.ModuleType(MODULE)
    for cls in (Plain, Allowing, Ignoring, Venue):
        setattr(module, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, MODULE, module)


def config(plugin: str, params: dict[str, Any]) -> KernelConfig:
    return KernelConfig.model_validate({
        "gateways": [{"id": "paper", "plugin": "paper"}],
        "strategies": [{"id": "s", "plugin": f"{MODULE}:{plugin}", "params": params}],
    })


def test_an_unknown_key_of_a_plain_model_is_refused_with_its_field_path():
    with pytest.raises(ConfigError, match=r"field strategies\[0\]\.params\.periodd: unknown key"
                       ) as caught:
        build_all(config("Plain", {"periodd": 5}))

    assert caught.value.field == "strategies[0].params.periodd"


def test_a_plain_model_still_takes_its_known_keys():
    _, strategies = build_all(config("Plain", {"period": 5}))

    strategy, params = strategies["s"]
    assert params == {"period": 5}
    assert strategy.config == {"period": 5}


def test_every_problem_is_named_in_one_error():
    with pytest.raises(ConfigError) as caught:
        build_all(config("Plain", {"period": "soon", "periodd": 5}))

    message = str(caught.value)
    assert "strategies[0].params.period:" in message
    assert "strategies[0].params.periodd: unknown key" in message


def test_the_options_error_names_the_config_file(tmp_path: Path):
    path = tmp_path / "libra.toml"
    path.write_text(
        '[[gateways]]\nid = "paper"\nplugin = "paper"\n\n'
        f'[[strategies]]\nid = "s"\nplugin = "{MODULE}:Plain"\nparams = {{ periodd = 5 }}\n'
    )

    with pytest.raises(ConfigError) as caught:
        build_all(load_config(path, environ={}))

    assert str(caught.value) == f"{path}: field strategies[0].params.periodd: unknown key"
    assert caught.value.path == str(path)


def test_a_gateway_option_error_names_the_file_and_field(tmp_path: Path):
    path = tmp_path / "libra.yaml"
    path.write_text(f"gateways:\n  - id: v\n    plugin: {MODULE}:Venue\n    speedd: 2\n")

    with pytest.raises(ConfigError, match=r"libra\.yaml: field gateways\[0\]\.speedd: unknown key"):
        build_all(load_config(path, environ={}))


def test_a_model_that_allows_extra_keys_keeps_them():
    _, strategies = build_all(config("Allowing", {"period": 5, "note": "mine"}))

    assert strategies["s"][1] == {"period": 5, "note": "mine"}


def test_a_model_that_chose_to_ignore_extra_keys_keeps_its_choice():
    _, strategies = build_all(config("Ignoring", {"period": 5, "note": "dropped"}))

    assert strategies["s"][1] == {"period": 5}


def test_the_plugin_gets_an_instance_of_its_own_model():
    validated = validate_options(PlainParams, {"period": 3}, "gateways[0]")

    assert type(validated) is PlainParams


def test_the_source_file_is_not_part_of_the_config(tmp_path: Path):
    """Equality, dumps and copies of a loaded config are those of its fields."""
    path = tmp_path / "libra.toml"
    path.write_text('environment = "backtest"\n')
    loaded = load_config(path, environ={})
    built = KernelConfig.model_validate({"environment": "backtest"})

    assert (loaded.source_path, built.source_path) == (path, None)
    assert loaded == built
    assert loaded.model_dump() == built.model_dump()
    assert loaded.model_copy(update={"environment": "paper"}).source_path == path


def test_plugin_options_are_frozen_and_refuse_unknown_keys():
    with pytest.raises(ValidationError, match="periodd"):
        TypedParams.model_validate({"periodd": 1})
    options = TypedParams(period=2)
    with pytest.raises(ValidationError, match="frozen"):
        options.period = 3  # type: ignore[misc]
