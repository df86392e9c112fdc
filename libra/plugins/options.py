"""``PluginOptions``: the base of a plugin's ``config_model``.

The builder validates a plugin's options with its ``config_model`` at boot, before anything
connects. Options are frozen and reject unknown keys, so a misspelt option
(``periodd = 20``) stops the kernel with a ``ConfigError`` naming the field path instead of
being ignored. The builder refuses unknown keys for a plain ``pydantic.BaseModel`` too; a
model that sets ``extra="allow"`` (or ``"ignore"``) itself keeps its choice.
"""

from __future__ import annotations

from libra.core.config import LibraModel


class PluginOptions(LibraModel):
    """Base of a plugin's options model: frozen, unknown keys rejected.

    Example::

        class MyOptions(PluginOptions):
            fast: int = Field(10, gt=0)
            slow: int = Field(30, gt=0)

        class MyStrategy(StrategyPlugin):
            config_model: ClassVar[type[MyOptions]] = MyOptions
    """
